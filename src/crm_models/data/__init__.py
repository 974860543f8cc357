"""Data in: everything that brings a dataset into crm-models, checked and cleaned.

- :mod:`~crm_models.data.dataset` — the :class:`Dataset` type every analysis takes;
- :mod:`~crm_models.data.privacy` — the one personal-data rule, age bands, keyed pseudonyms;
- :mod:`~crm_models.data.contract` — table schemas, conforming, every validation problem;
- :mod:`~crm_models.data.dates` — one date format per column, inferred from all its values;
- :mod:`~crm_models.data.quality` — warnings: data that loads but looks suspicious;
- :mod:`~crm_models.data.currency` — the ISO 4217 codes a dataset may state, their symbols;
- :mod:`~crm_models.data.mapping` — ``mapping.json`` and the paths it may name;
- :mod:`~crm_models.data.loading` — :func:`load_dataset`: built-ins, folders, recognised files;
- :mod:`~crm_models.data.database` — PostgreSQL datasets;
- :mod:`~crm_models.data.simulate`, :mod:`~crm_models.data.simulate_parquet` — the simulated
  retailer (any size) and its ground truth;
- :mod:`~crm_models.data.conditions` — data conditions an analysis cannot handle, in words.
"""

from crm_models.data.contract import DataError, Problem
from crm_models.data.dataset import TABLES, CleaningNote, Dataset, UnsupportedData
from crm_models.data.loading import dataset_summary, load_dataset
from crm_models.data.mapping import Mapping

__all__ = [
    "TABLES",
    "CleaningNote",
    "DataError",
    "Dataset",
    "Mapping",
    "Problem",
    "UnsupportedData",
    "dataset_summary",
    "load_dataset",
]
