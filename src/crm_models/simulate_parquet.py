"""Moved to ``crm_models.data.simulate_parquet``; this alias is the same module (kept while imports move)."""

import sys

from crm_models.data import simulate_parquet as _moved

sys.modules[__name__] = _moved
