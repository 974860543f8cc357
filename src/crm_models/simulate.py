"""Moved to ``crm_models.data.simulate``; this alias is the same module (kept while imports move)."""

import sys

from crm_models.data import simulate as _moved

sys.modules[__name__] = _moved
