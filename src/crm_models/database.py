"""Moved to ``crm_models.data.database``; this alias is the same module (kept while imports move)."""

import sys

from crm_models.data import database as _moved

sys.modules[__name__] = _moved
