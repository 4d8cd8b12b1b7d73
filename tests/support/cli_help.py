"""Every command of a command line and what its parent's list says it does: for the tests that
each command's own ``--help`` says it too (``loyalty-pos`` and ``loyalty-ledger``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import pytest


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str]]:
    """Every command of ``parser`` (``card block``, ``sync``, ...) with what its parent's list
    says it does."""
    found: list[tuple[tuple[str, ...], str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            said = {a.dest: a.help or "" for a in action._choices_actions}
            for name, child in action.choices.items():
                found.append(((*path, name), said.get(name, "")))
                found.extend(commands(child, (*path, name)))
    return found


def assert_each_help_says_what_it_does(
    parser: argparse.ArgumentParser,
    main: Callable[[Sequence[str]], object],
    capsys: pytest.CaptureFixture[str],
    at_least: int,
) -> None:
    """``main([*command, "--help"])`` of every command of ``parser`` exits 0 with the sentence
    its parent's list gives it (at least ``at_least`` commands, each with a sentence)."""
    found = commands(parser)
    assert len(found) > at_least and all(said for _, said in found)
    for path, said in found:
        with pytest.raises(SystemExit) as exited:
            main([*path, "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert said.lower() in " ".join(out.split()).lower(), (path, out)
