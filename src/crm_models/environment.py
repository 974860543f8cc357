"""Environment variables a command hands to the processes it starts (notebook kernels inherit
the build's environment: the engine, the dataset snapshot, where to report progress)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def temporary_env(**values: str | None) -> Iterator[None]:
    """Set these variables (``None`` leaves one as it is) while the block runs; restore the
    earlier values afterwards."""
    saved = {var: os.environ.get(var) for var in values}
    os.environ.update({var: value for var, value in values.items() if value is not None})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
