"""What every benchmark's child process needs: a memory cap and its peak memory; and the
whole-command runner of the CLI benchmarks (``ulimit -v`` + ``/usr/bin/time -v``).

Benchmarks run each measurement in its own process (a runaway step must not take the machine
down; there is no swap), capped with ``RLIMIT_AS`` before the data is loaded.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv" / "bin" / "crm-models"
STAGE = re.compile(r"^(\w[^…]*?) … done \(([\d.]+) s\)", re.M)


def cap_memory(gb: float) -> None:
    """Cap this process's address space at ``gb`` GiB (allocations beyond it fail)."""
    cap = int(gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def peak_gb() -> float:
    """Peak resident memory of this process so far, in GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed_cli(args: list[str], ulimit_kb: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``crm-models ARGS`` (which must print ``--json``) under ``ulimit -v`` and
    ``/usr/bin/time -v``: its JSON output, and the wall ``seconds``, peak resident memory
    (``peak_gb``) and the seconds of the CLI's own stages (``stages_s``)."""
    with tempfile.NamedTemporaryFile("w+", suffix=".json") as out:
        cmd = shlex.join([str(CLI), *args])
        shell = f"ulimit -v {ulimit_kb}; exec /usr/bin/time -v {cmd} > {out.name}"
        proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result = json.loads(Path(out.name).read_text())
    err = proc.stderr
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", err)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    return result, {
        "seconds": round(hours * 3600 + minutes * 60 + seconds, 1),
        "peak_gb": round(peak_kb / 1024**2, 2),
        "stages_s": {name.split()[0]: float(s) for name, s in STAGE.findall(err)},
    }


def _numbers(obj: Any, path: str = "") -> list[tuple[str, float]]:
    """Every number of a JSON value with its path, in order."""
    if isinstance(obj, dict):
        return [v for k in sorted(obj) for v in _numbers(obj[k], f"{path}/{k}")]
    if isinstance(obj, list):
        return [v for i, x in enumerate(obj) for v in _numbers(x, f"{path}[{i}]")]
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return [(path, float(obj))]
    return []


def largest_difference(a: dict, b: dict) -> dict[str, Any]:
    """The number of two ``--json`` outputs that differs most: relative to its size, or
    absolutely (below 1e-6) for numbers near zero such as a bias."""
    x, y = _numbers(a), _numbers(b)
    if [p for p, _ in x] != [p for p, _ in y]:
        return {"path": "(different keys)", "rel_diff": float("inf")}
    pairs = zip(x, y, strict=True)
    diffs = [(abs(p - q) / max(abs(p), 1e-6), path, p, q) for (path, p), (_, q) in pairs]
    rel, path, p, q = max(diffs, default=(0.0, "", 0.0, 0.0))
    return {"path": path, "rel_diff": rel, "values": [p, q]}


def compare_engines(engines: list[str], run_one: Callable[[str], dict[str, Any]]) -> None:
    """Run ``run_one(engine)`` for each engine (a row with the CLI's output under ``_result``),
    print each row as a JSON line, then how far the later engines' outputs are from the first's."""
    runs = []
    for engine in engines:
        row = run_one(engine)
        runs.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "_result"}), flush=True)
    if len(runs) > 1:
        base = runs[0]["_result"]
        diffs = {r["engine"]: largest_difference(base, r["_result"]) for r in runs[1:]}
        print(json.dumps({"same_output_as": runs[0]["engine"], "largest_difference": diffs}))


def engine_arguments(description: str) -> argparse.ArgumentParser:
    """The options of the engine-comparison benchmarks: the data folder, engines, DuckDB's
    memory cap and each run's ``ulimit -v``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, required=True, help="simulated folder")
    parser.add_argument("--engines", nargs="+", default=["duckdb", "pandas"])
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory cap")
    parser.add_argument("--ulimit-kb", type=int, default=8_000_000, help="ulimit -v of each run")
    return parser
