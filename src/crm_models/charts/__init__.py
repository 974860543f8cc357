"""Standard charts of the reports, one module per report (presentation layer)."""
