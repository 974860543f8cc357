"""Progress shown on stderr for long steps (tqdm bars and timed stage lines).

Set ``CRM_MODELS_QUIET=1`` to silence it (tests, cron jobs that only want errors).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

# the text bar, also in a notebook kernel: tqdm.auto there wants ipywidgets (not a dependency)
# and warns "TqdmWarning: IProgress not found" into the report's output without them
from tqdm.std import tqdm

T = TypeVar("T")


def quiet() -> bool:
    return os.environ.get("CRM_MODELS_QUIET", "") not in ("", "0")


def track(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on stderr."""
    yield from tqdm(items, desc=desc, total=total, disable=quiet(), file=sys.stderr, leave=False)


@contextmanager
def stage(desc: str) -> Iterator[None]:
    """Print ``desc … done (1.2 s)`` around a step."""
    start = time.perf_counter()
    if not quiet():
        print(f"{desc} …", end="", file=sys.stderr, flush=True)
    try:
        yield
    except BaseException:
        if not quiet():
            print(" failed", file=sys.stderr, flush=True)
        raise
    if not quiet():
        print(f" done ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
