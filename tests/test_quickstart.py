"""The README's Python quickstart runs as written: the first ``python`` code block after the
heading ``## Python quickstart`` is executed in an empty working folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Python quickstart"


def quickstart_code(text: str) -> str:
    """The first ```python block after the quickstart heading (within its section)."""
    start = re.search(rf"^{re.escape(HEADING)}\s*$", text, flags=re.MULTILINE)
    if start is None:
        pytest.skip("README has no Python quickstart yet")
    section = re.split(r"^## ", text[start.end() :], maxsplit=1, flags=re.MULTILINE)[0]
    block = re.search(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert block, f"{README.name}: no ```python block under {HEADING!r}"
    return block.group(1)


def test_readme_quickstart_runs(tmp_path, monkeypatch, one_thread):
    code = quickstart_code(README.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{README.name} ({HEADING})", "exec"), {"__name__": "__quickstart__"})
    contacts = tmp_path / "contact_list.csv"
    assert contacts.is_file(), "the quickstart ends by writing the contact list"
    assert len(contacts.read_text().splitlines()) > 1


def test_quickstart_block_is_found_in_its_section():
    text = (
        "# x\n\n## Python quickstart\n\nIntro.\n\n```python\nprint(1)\n```\n\n"
        "```python\nprint(2)\n```\n\n## Next\n\n```python\nprint(3)\n```\n"
    )
    assert quickstart_code(text) == "print(1)\n"
    with pytest.raises(AssertionError, match="no ```python block"):
        quickstart_code("## Python quickstart\n\nNo code.\n\n## Next\n\n```python\nx\n```\n")
