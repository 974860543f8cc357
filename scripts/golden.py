"""Golden check: the ``--json`` output (and written files) of every verb on ``demo`` and ``cdnow``.

Run before and after a refactoring that must not change behaviour::

    .venv/bin/python scripts/golden.py record golden.json     # before
    .venv/bin/python scripts/golden.py compare golden.json    # after: lists every difference

Each command runs in its own process (as a user would run it); timings, paths and timestamps are
left out, written files are compared by content hash.  Exit 0 when nothing differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CLI = [sys.executable, "-m", "crm_models.cli"]
VOLATILE = ("elapsed", "seconds", "_at", "index", "path", "out", "source")


def commands(tmp: Path) -> dict[str, list[str]]:
    cmds: dict[str, list[str]] = {}
    for ds in ("demo", "cdnow"):
        cmds |= {
            f"{ds} data validate": ["data", "validate", ds, "--json"],
            f"{ds} data summary": ["data", "summary", ds, "--json"],
            f"{ds} view": ["view", ds, "--out", str(tmp / f"{ds}-view.csv"), "--json"],
            f"{ds} clv fit bgnbd": ["clv", "fit", ds, "--json"],
            f"{ds} clv fit pareto": ["clv", "fit", ds, "--model", "pareto_nbd", "--json"],
            f"{ds} segment": [
                "segment",
                ds,
                "--quick",
                "--out",
                str(tmp / f"{ds}-seg.csv"),
                "--json",
            ],
            f"{ds} forecast": ["forecast", ds, "--quick", "--json"],
            f"{ds} basket": ["basket", ds, "--json"],
            f"{ds} uplift": ["uplift", ds, "--json"],
            f"{ds} target": [
                "target",
                ds,
                "--budget",
                "500",
                "--out",
                str(tmp / f"{ds}-list.csv"),
                "--json",
            ],
        }
    return cmds


def _stable(value):
    """``value`` without keys that change from run to run (timings, paths, timestamps)."""
    if isinstance(value, dict):
        return {
            k: _stable(v)
            for k, v in value.items()
            if not any(part in str(k).lower() for part in VOLATILE)
        }
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def run_all() -> dict[str, dict]:
    env = {**os.environ, "CRM_MODELS_QUIET": "1", "CRM_MODELS_TRACKING": "off"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name, args in commands(tmp).items():
            print(f"running {name} …", file=sys.stderr, flush=True)
            proc = subprocess.run(CLI + args, env=env, capture_output=True, text=True)
            try:
                output = _stable(json.loads(proc.stdout)) if proc.stdout.strip() else None
            except ValueError:
                output = proc.stdout
            written = [Path(a) for a in args if a.startswith(str(tmp)) and Path(a).is_file()]
            files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in written}
            results[name] = {
                "exit": proc.returncode,
                "output": output,
                "error": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
                "files": files,
            }
    return results


def _diff(path: str, old, new, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(f"{path}.{key}", old.get(key, "<missing>"), new.get(key, "<missing>"), out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(f"{path}[{i}]", a, b, out)
    elif old != new:
        out.append(f"{path}: {str(old)[:200]} -> {str(new)[:200]}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, path = argv
    results = run_all()
    if mode == "record":
        Path(path).write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
        print(f"recorded {len(results)} commands in {path}")
        return 0
    golden = json.loads(Path(path).read_text())
    now = json.loads(json.dumps(results, default=str))
    differences: list[str] = []
    _diff("", golden, now, differences)
    for line in differences:
        print(line)
    print(f"{len(differences)} difference(s) in {len(results)} commands")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
