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


# inside a report build, the file the build reads a notebook's progress from (its log shows it)
PROGRESS_LOG_ENV = "CRM_MODELS_PROGRESS_LOG"
_EVERY_S = 10.0  # a loop's progress goes to the build's log at most this often


def quiet() -> bool:
    return os.environ.get("CRM_MODELS_QUIET", "") not in ("", "0")


def tell_build(text: str) -> None:
    """One line of progress for the report build's log (nothing outside a build)."""
    path = os.environ.get(PROGRESS_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(text.replace("\n", " ") + "\n")


def track(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar on stderr (and, in a report build, a line to its log at
    most every ten seconds with how many are done and about how long is left)."""
    bar = tqdm(items, desc=desc, total=total, disable=quiet(), file=sys.stderr, leave=False)
    start = told = time.perf_counter()
    total = total if total is not None else getattr(items, "__len__", lambda: None)()
    for done, item in enumerate(bar, 1):
        yield item
        now = time.perf_counter()
        if now - told >= _EVERY_S:
            told = now
            left = f", about {(now - start) / done * (total - done):.0f} s left" if total else ""
            tell_build(f"{desc}: {done:,}{f' of {total:,}' if total else ''} done{left}")


@contextmanager
def stage(desc: str) -> Iterator[None]:
    """Print ``desc … done (1.2 s)`` around a step (also to a report build's log)."""
    start = time.perf_counter()
    tell_build(f"{desc} …")
    if not quiet():
        print(f"{desc} …", end="", file=sys.stderr, flush=True)
    try:
        yield
    except BaseException:
        if not quiet():
            print(" failed", file=sys.stderr, flush=True)
        raise
    took = time.perf_counter() - start
    tell_build(f"{desc} … done ({took:.1f} s)")
    if not quiet():
        print(f" done ({took:.1f} s)", file=sys.stderr, flush=True)
