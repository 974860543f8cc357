"""Moved to ``crm_models.engine.aggregates``; this alias is the same module (kept while imports move)."""

import sys

from crm_models.engine import aggregates as _moved

sys.modules[__name__] = _moved
