"""What every benchmark's child process needs: a memory cap and its peak memory; and the
whole-command runner of the CLI benchmarks (``ulimit -v`` + ``/usr/bin/time -v``).

Benchmarks run each measurement in its own process (a runaway step must not take the machine
down; there is no swap), capped with ``RLIMIT_AS`` before the data is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".venv" / "bin" / "crm-models"
STAGE = re.compile(r"^(\w[^…]*?) … done \(([\d.]+) s\)", re.M)


GB = 1024**3


def load_average() -> float:
    """The 1-minute load average (other jobs make timings noisy)."""
    return round(os.getloadavg()[0], 2)


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


class TreeWatch(threading.Thread):
    """Samples the resident memory of a process and its descendants; kills the tree (its own
    session, started by us) when it passes ``cap_gb``."""

    def __init__(self, pid: int, cap_gb: float, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.cap, self.every = pid, cap_gb * GB, every
        self.peak = 0
        self.samples: list[tuple[float, int]] = []  # (perf_counter, tree RSS in bytes)
        self.killed = False
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.is_set():
            rss = 0
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss
            self.peak = max(self.peak, rss)
            self.samples.append((time.perf_counter(), rss))
            if rss > self.cap and not self.killed:
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
            self.done.wait(self.every)


def run_child(
    cmd: list[str], cap_gb: float, as_gb: float, timeout: float, log: Path | None = None
) -> dict:
    """Run ``cmd`` in its own session under RLIMIT_AS ``as_gb`` and the resident-memory
    watchdog (``cap_gb``); its last JSON line (if any) with wall time, tree peak and load
    averages added."""

    def limit() -> None:  # in the child, before exec
        cap_memory(as_gb)

    load0, t0 = load_average(), time.perf_counter()
    quiet = "0" if log else os.environ.get("CRM_MODELS_QUIET", "1")  # progress goes to the log
    env = {**os.environ, "CRM_MODELS_QUIET": quiet}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        preexec_fn=limit,
    )
    watch = TreeWatch(proc.pid, cap_gb)
    watch.start()
    lines: list[str] = []
    stderr = ""
    try:
        if log:  # stream and time-stamp the progress output
            with log.open("w") as fh:
                timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
                timer.start()
                for line in proc.stdout:
                    fh.write(f"[{time.perf_counter() - t0:8.1f}s] {line}")
                    fh.flush()
                    lines.append(line)
                timer.cancel()
                proc.wait()
        else:
            out, stderr = proc.communicate(timeout=timeout)
            lines = out.splitlines()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    finally:
        watch.done.set()
        watch.join()
    wall = time.perf_counter() - t0
    result: dict[str, Any] = {}
    for line in reversed(lines):
        if line.startswith("{"):
            result = json.loads(line)
            break
    if proc.returncode or not result:
        result["failed"] = f"exit {proc.returncode}" + (" (tree RSS cap)" if watch.killed else "")
        if stderr:
            result["stderr_tail"] = stderr[-1500:]
    elif stderr:
        sys.stderr.write(stderr)
    result.update(
        wall_s=round(wall, 1),
        tree_peak_gb=round(watch.peak / GB, 2),
        load_before=load0,
        load_after=load_average(),
    )
    return result
