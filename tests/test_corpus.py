"""Every dataset verb on every case of the corpus (issue 14): no traceback, no exit 0 with a
wrong result, no message without a file or column where one applies.

The corpus (``tests/corpus/make_corpus.py``) is built once per session; each (case, verb) pair
runs ``crm_models.cli.main`` in process and is checked against the case's expected outcome:

* reject: ``data validate --json`` exits 2 naming every expected file and column; every other
  verb exits non-zero, and names the file (or column) in its error;
* warn: ``data validate --json`` exits 0 with the expected warnings and no problem; every other
  verb prints ``warning:`` lines naming them on stderr, each once;
* accept: no problem and no warning anywhere;
* accept and warn: ``data summary --json`` equals the numbers the generator computed from the
  values it wrote; verbs exit 0 (or refuse in plain words where the data cannot support the
  analysis) and never print a non-finite number; personal values are never printed or written.

Exit codes are always 0, 1 or 2, no pandas/numpy/pyarrow message reaches the user without the
file or column it is about, and no message shows a Python repr (``np.float64(...)``).

Time: the model verbs (clv, segment, uplift, target, forecast) of an accept case whose loaded
data has the fingerprint of an earlier accept case (e.g. day-first dates, a BOM, Latin-1 with
its encoding set: the same data as the baseline) reuse that earlier run: the analysis is a
function of the loaded data, and loading itself is checked on every case by the other verbs.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from corpus.make_corpus import BUILDERS, VERBS, Case, build_corpus

from crm_models.cli import main

pytestmark = pytest.mark.slow

# Messages of pandas, NumPy, pyarrow, the json module and Python itself: a user must never
# see one of these without the file or column it is about.
RAW_MESSAGES = re.compile(
    "|".join(
        [
            r"Mixed timezones detected",
            r"Expecting (property name|value|',' delimiter)",
            r"[Cc]annot convert",
            r"could not convert string to float",
            r"Length mismatch",
            r"index \d+ is out of bounds|index out of bounds|out of bounds for axis",
            r"unsupported operand",
            r"NoneType",
            r"not in index",
            r"truth value of",
            r"\bCannot\b",
            r"object has no attribute",
            r"unhashable type",
            r"invalid literal for int",
            r"Unknown (string|datetime string) format",
            r"doesn't match format|does not match format",
            r"Out of bounds nanosecond|OutOfBounds",
            r"Input (X )?contains (NaN|infinity)",
            r"Found array with 0 sample",
            r"zero-size array",
            r"division by zero",
            r"list index out of range",
            r"No objects to concatenate",
            r"Arrow(Invalid|TypeError)",
            r"tz-(naive|aware)|Tz-aware",
            r"Error tokenizing data",
            r"No columns to parse from file",
            r"must all be (the )?same length",
            r"single positional indexer",
            r"is not in list",
            r"Columns must be same length",
            r"argument of type",
            r"codec can't decode",
            r"\[Errno \d+\]",
            r"dtype",
            r"DataFrame|Series\b|ndarray",
            r"Traceback",
        ]
    )
)
# Python's own spelling of a value (NumPy 2 scalars, pandas timestamps) in a message meant
# for a reader: examples must show the value as the file had it.
REPRS = re.compile(r"\bnp\.\w+\(|\bnumpy\.\w+|\bTimestamp\(|\bTimedelta\(|\bdtype\(")
BARE_KEY = re.compile(r"^error: '[^']*'$")  # a KeyError's message: the key, nothing else
HEAVY = ("clv", "segment", "uplift", "target", "forecast")  # verbs that fit models


@dataclass
class Run:
    """What one command did: exit code, printed text, an exception that escaped ``main``."""

    argv: list[str]
    code: int | str | None
    out: str
    err: str
    escaped: str | None = None

    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]

    def warnings(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("warning: ")]

    def describe(self) -> str:
        shown = self.escaped or self.err.strip()[-1500:] or "(nothing on stderr)"
        return f"`crm-models {' '.join(self.argv)}` exited {self.code}:\n{shown}"


def argv_for(verb: str, case: Case, out: Path) -> list[str]:
    """The command line of ``verb`` on ``case`` (``out``: a folder for output files)."""
    p = str(case.path)
    argv = {
        "validate": ["data", "validate", p],
        "summary": ["data", "summary", p],
        "view": ["view", p, "--out", str(out / "view.parquet")],
        "clv": ["clv", "fit", p],
        "segment": ["segment", p, "--quick"],
        "basket": ["basket", p],
        "uplift": ["uplift", p, "--bootstrap", "20", "--repeats", "0"],
        "target": ["target", p, "--budget", "20", "--out", str(out / "contacts.csv")],
        "forecast": ["forecast", p, "--quick"],
    }[verb]
    return [*argv, *case.args, "--json"]


def run_cli(argv: list[str], capsys) -> Run:
    """``crm_models.cli.main(argv)`` in process, its output captured."""
    capsys.readouterr()
    escaped = None
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing the command line itself
        code = f"usage error (SystemExit {exc.code})"
    except Exception:  # a traceback the user would see
        code, escaped = None, traceback.format_exc()
    out, err = capsys.readouterr()
    return Run(argv, code, out, err, escaped)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("corpus")
    return {c.name: c for c in build_corpus(root)}


_RESULTS: dict[tuple, Run] = {}  # (verb, fingerprint, args) -> run, for identical loaded data


# --------------------------------------------------------------------------- checks
def where_named(text: str, file: str, column) -> bool:
    """True when ``text`` names ``file`` and (unless None) ``column`` or one of its
    alternatives."""
    if file not in text:
        return False
    if column is None:
        return True
    names = column if isinstance(column, tuple) else (column,)
    return any(re.search(rf"\b{re.escape(c)}\b", text) for c in names)


def item_matches(item: dict, file: str, column) -> bool:
    """A problem or warning of ``--json`` at ``file`` (and ``column``)."""
    if file not in str(item.get("file")):
        return False
    if column is None:
        return True
    names = column if isinstance(column, tuple) else (column,)
    got = [c.strip() for c in str(item.get("column") or "").split(",")]
    return any(c in got for c in names)


def names_case(text: str, case: Case) -> bool:
    """Does ``text`` name one of the case's files or one of its expected columns?"""
    root = case.path if case.path.is_dir() else case.path.parent
    files = {p.name for p in root.rglob("*")} | {case.path.name}
    columns = set()
    for _, col in case.where:
        columns.update(col if isinstance(col, tuple) else (col,) if col else ())
    return any(f in text for f in files) or any(
        re.search(rf"\b{re.escape(c)}\b", text) for c in columns
    )


def assert_plain_error(run: Run, case: Case, *, must_name: bool) -> None:
    """One ``error:`` line, not a bare library message (unless it names a file or column)."""
    errors = run.errors()
    assert errors, f"no 'error:' line\n{run.describe()}"
    line = errors[0]
    assert not BARE_KEY.match(line), f"a bare KeyError reached the user\n{run.describe()}"
    named = names_case(line, case)
    if RAW_MESSAGES.search(line):
        assert named, f"a pandas/numpy/pyarrow message without file or column\n{run.describe()}"
    if must_name:
        assert named, f"the error names no file or column of the case\n{run.describe()}"


def assert_plain_refusal(run: Run, case: Case, reason: str | None) -> None:
    """Exit 1 with one plain sentence (matching ``reason`` when given)."""
    assert run.code == 1, f"expected a plain refusal (exit 1)\n{run.describe()}"
    line = run.errors()[0] if run.errors() else ""
    assert line, f"no 'error:' line\n{run.describe()}"
    assert not BARE_KEY.match(line) and not RAW_MESSAGES.search(line), (
        f"the refusal is a library message, not a plain reason\n{run.describe()}"
    )
    if reason:
        assert re.search(reason, line, re.IGNORECASE), (
            f"the refusal should say why ({reason!r})\n{run.describe()}"
        )


def parse_json(run: Run) -> dict:
    try:
        return json.loads(run.out)
    except json.JSONDecodeError:
        pytest.fail(f"--json printed no JSON object\n{run.describe()}\nstdout: {run.out[:500]}")


def non_finite(obj, path="") -> list[str]:
    """Paths of non-finite numbers (or their text: nan, inf, NaT) in a JSON value."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return [f"{path}={obj}"]
    if isinstance(obj, str) and obj.strip().lower() in {"nan", "inf", "-inf", "infinity", "nat"}:
        return [f"{path}={obj!r}"]
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in non_finite(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in non_finite(v, f"{path}[{i}]")]
    return []


def check_reject(case: Case, verb: str, run: Run) -> None:
    assert run.code != 0, f"exit 0 on data that must be rejected ({case.where})\n{run.describe()}"
    if verb == "validate":
        assert run.code == 2, f"validate must exit 2 with the problems\n{run.describe()}"
        problems = parse_json(run).get("problems") or []
        for item in problems:
            assert set(item) >= {"file", "column", "issue", "rows", "examples"}, item
        for file, column in case.where:
            hits = [p for p in problems if item_matches(p, file, column)]
            assert hits, f"no problem names {file} / {column}: {problems}"
            for word in case.mention:
                assert any(word in p["issue"] for p in hits), (
                    f"the problem at {file} / {column} should mention {word!r}: {hits}"
                )
        return
    if run.code == 2:
        lines = [line for line in run.err.splitlines() if line.startswith("  - ")]
        assert run.errors() and "data problem" in run.errors()[0], run.describe()
        for file, column in case.where:
            assert any(where_named(line, file, column) for line in lines), (
                f"no problem line names {file} / {column}\n{run.describe()}"
            )
    else:
        assert_plain_error(run, case, must_name=True)


def check_loads(case: Case, verb: str, run: Run) -> None:
    """Accept and warn: the verb runs, refuses plainly, or (validate/summary) says the truth."""
    if verb in case.refuse:
        assert_plain_refusal(run, case, case.refuse[verb])
    elif verb in case.may_refuse and run.code == 1:
        assert_plain_refusal(run, case, None)
    else:
        assert run.code == 0, f"expected exit 0 on usable data\n{run.describe()}"
    if run.code == 0:
        bad = non_finite(parse_json(run))
        assert not bad, f"exit 0 with non-finite numbers {bad[:5]}\n{run.describe()}"
    if verb == "validate":
        report = parse_json(run)
        assert report.get("valid") is True and report.get("problems") == [], report
        warnings = report.get("warnings")
        assert isinstance(warnings, list), f"no warnings list in {report}"
        if case.expected == "accept":
            assert warnings == [], f"warnings on clean data: {warnings}"
        for file, column in case.where:
            assert any(item_matches(w, file, column) for w in warnings), (
                f"no warning names {file} / {column}: {warnings}"
            )
        for pattern in case.logged:
            assert any(re.search(pattern, str(n), re.I) for n in report.get("cleaning", [])), (
                f"the cleaning log does not say {pattern!r}: {report.get('cleaning')}"
            )
        if case.ignored_lines:
            counted = f"{case.ignored_lines:,} rows"
            assert any(counted in str(note) for note in report.get("cleaning", [])), (
                f"the {case.ignored_lines} lines after --as-of are not counted: "
                f"{report.get('cleaning')}"
            )
    elif verb == "summary":
        got = parse_json(run)
        want = case.truth
        wrong = {
            k: (got.get(k), v)
            for k, v in want.items()
            if (abs((got.get(k) or 0) - v) > 0.01 if k == "revenue" else got.get(k) != v)
        }
        assert not wrong, f"summary (got, true): {wrong}\n{run.describe()}"
    else:
        warnings = run.warnings()
        if case.expected == "accept":
            assert not warnings, f"warnings on clean data\n{run.describe()}"
        dup = {w for w in warnings if warnings.count(w) > 1}
        assert not dup, f"warnings printed more than once: {dup}"
        for file, column in case.where:
            assert any(where_named(w, file, column) for w in warnings), (
                f"no 'warning:' line names {file} / {column}\n{run.describe()}"
            )
    if verb == "view" and run.code == 0 and case.args[:1] == ("--as-of",):
        assert str(parse_json(run).get("as_of", "")).startswith(case.args[1]), run.out


def check_secrets(case: Case, run: Run, out: Path) -> None:
    written = "".join(p.read_bytes().decode("utf-8", "replace") for p in out.glob("*.csv"))
    for p in out.glob("*.parquet"):
        written += pd.read_parquet(p).reset_index().to_csv()
    for secret in case.secrets:
        for where, text in (("stdout", run.out), ("stderr", run.err), ("output files", written)):
            assert secret not in text, f"personal value {secret!r} in {where}\n{run.describe()}"


# --------------------------------------------------------------------------- the test
PAIRS = [(name, verb) for name in BUILDERS for verb in VERBS]


@pytest.mark.parametrize(("name", "verb"), PAIRS, ids=[f"{n}-{v}" for n, v in PAIRS])
def test_corpus_case(name, verb, corpus, capsys, monkeypatch, tmp_path):
    case = corpus[name]
    monkeypatch.delenv("CRM_MODELS_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    run = reuse(case, verb, capsys) if verb in HEAVY else None
    run = run or run_cli(argv_for(verb, case, tmp_path), capsys)
    if verb == "summary":  # it tells the loaded data's fingerprint
        _RESULTS[("fingerprint", case.name)] = run
    assert run.escaped is None, f"an exception escaped main\n{run.describe()}"
    assert not isinstance(run.code, str), f"the command line was refused\n{run.describe()}"
    assert run.code in (0, 1, 2), f"exit code must be 0, 1 or 2\n{run.describe()}"
    if run.code != 0:
        assert len(run.errors()) == 1, f"one 'error:' line expected\n{run.describe()}"
    if case.expected == "reject":
        check_reject(case, verb, run)
    else:
        check_loads(case, verb, run)
    check_secrets(case, run, tmp_path)
    shown = REPRS.search(run.err)
    assert not shown, f"a Python repr ({shown[0]}...) in a message\n{run.describe()}"
    remember(case, verb, run, capsys)


def fingerprint(case: Case, capsys) -> str | None:
    """The loaded data's fingerprint (from ``data summary``), for accept cases only."""
    if case.expected != "accept":
        return None
    key = ("fingerprint", case.name)
    if key not in _RESULTS:
        _RESULTS[key] = run_cli(["data", "summary", str(case.path), *case.args, "--json"], capsys)
    run = _RESULTS[key]
    if run.code != 0:
        return None
    try:
        return json.loads(run.out).get("fingerprint")
    except json.JSONDecodeError:
        return None


def reuse(case: Case, verb: str, capsys) -> Run | None:
    """A model verb's run on identical loaded data (same fingerprint, same arguments) by an
    earlier accept case: the analysis is a function of the loaded data, so running it again
    only costs time.  Loading itself is checked on every case by validate, summary, view."""
    fp = fingerprint(case, capsys)
    return _RESULTS.get((verb, fp, case.args)) if fp else None


def remember(case: Case, verb: str, run: Run, capsys) -> None:
    """Keep a model verb's run for later cases with the same loaded data."""
    fp = fingerprint(case, capsys) if verb in HEAVY else None
    if fp:
        _RESULTS.setdefault((verb, fp, case.args), run)
