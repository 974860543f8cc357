"""What every benchmark's child process needs: a memory cap and its peak memory.

Benchmarks run each measurement in its own process (a runaway step must not take the machine
down; there is no swap), capped with ``RLIMIT_AS`` before the data is loaded.
"""

from __future__ import annotations

import resource


def cap_memory(gb: float) -> None:
    """Cap this process's address space at ``gb`` GiB (allocations beyond it fail)."""
    cap = int(gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
