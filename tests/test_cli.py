"""The command line: every command has working help; failures are one line and non-zero."""

from __future__ import annotations

import argparse

import pytest

from crm_models.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


def test_every_command_has_help():
    commands = dict(_subparsers(build_parser()))
    for expected in [
        ("data", "validate"),
        ("data", "summary"),
        ("simulate",),
        ("view",),
        ("clv", "fit"),
        ("segment",),
        ("uplift",),
        ("target",),
        ("basket",),
        ("forecast",),
        ("reports", "build"),
    ]:
        assert expected in commands, expected
    for path, parser in commands.items():
        assert parser.format_help(), path
    # every command that reads a dataset chooses its engine (issue 9)
    for path in [("data", "validate"), ("view",), ("clv", "fit"), ("reports", "build")]:
        assert "--engine" in commands[path].format_help(), path


@pytest.mark.parametrize(
    "argv",
    [
        ["view", "nowhere", "--out", "x.parquet"],
        ["clv", "fit", "nowhere"],
        ["forecast", "nowhere"],
        ["basket", "nowhere"],
    ],
)
def test_failures_are_one_line_and_non_zero(argv, capsys):
    assert main(argv) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "Traceback" not in err[0]
