"""crm-models: analytic CRM workbench."""

__version__ = "0.1.0"
