"""How the command-line entry points end: on a command line they cannot read, and when the
reader of their output goes away."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, NoReturn

#: The problems of a refused file said one to a line: a file wrong on each of its 100,000
#: lines would otherwise scroll them all past; the first ones say what is wrong.
SHOWN_PROBLEMS = 20


def write_problems(problems: Sequence[object]) -> None:
    """The problems of a refused operation on stderr, one to a line, the first
    ``SHOWN_PROBLEMS`` of them and how many more (``--json`` gives them all)."""
    for problem in problems[:SHOWN_PROBLEMS]:
        sys.stderr.write(f"  - {problem}\n")
    if (more := len(problems) - SHOWN_PROBLEMS) > 0:
        sys.stderr.write(f"  ... and {more:,} more problems (with --json, all of them)\n")


_NEEDS_A_VALUE = re.compile(r"argument (-[^:/ ]+)(?:/[^:]+)?: expected one argument")


#: Whether the command line being read asks for JSON: set by the outermost ``parse_args`` for
#: the parsers of its sub-commands too, which argparse runs with only their part of the line.
_JSON_ERRORS: ContextVar[bool] = ContextVar("json_errors", default=False)


def asks_for_json(argv: Sequence[str]) -> bool:
    """``--json`` among the options (before a ``--``), as argparse reads it: its unambiguous
    abbreviations (``--js``) included."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return any(len(word) > 2 and "--json".startswith(word) for word in options)


class _Commands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands whose own ``--help`` says what they do: the ``help`` of the command list
    is its description, unless it has one of its own (argparse shows it in the list only)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if kwargs.get("help") and kwargs.get("description") is None:
            kwargs["description"] = kwargs["help"][:1].upper() + kwargs["help"][1:] + "."
        parser: argparse.ArgumentParser = super().add_parser(name, **kwargs)
        return parser


class Parser(argparse.ArgumentParser):
    """argparse that says what is wrong with a command line in one line on stderr (exit 2),
    not its usage block, and tells how to give a value that starts with '-' (``--line=-5:x``,
    which argparse otherwise takes for an option). With ``--json`` on the line that one line
    is a JSON object (``error`` "usage", ``message``), as every other error is then. Each
    subcommand's ``--help`` begins with what it does (``_Commands``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Commands)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        argv = list(sys.argv[1:] if args is None else args)
        asked = _JSON_ERRORS.set(asks_for_json(argv))
        try:
            parsed, extras = self.parse_known_args(argv, namespace)
            if extras:
                self._chosen(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
            return parsed
        finally:
            _JSON_ERRORS.reset(asked)

    def _chosen(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The (sub)command the line chose, deepest first: an argument it does not know is
        named against ``loyalty-pos checkout``, whose ``--help`` lists what it takes."""
        parser: argparse.ArgumentParser = self
        while True:
            chosen = [
                action.choices[name]
                for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)
                and isinstance(name := getattr(parsed, action.dest, None), str)
                and name in action.choices
            ]
            if not chosen or chosen[0] is parser:
                return parser
            parser = chosen[0]

    def error(self, message: str) -> NoReturn:
        if found := _NEEDS_A_VALUE.fullmatch(message):
            message += f" (a value that starts with '-' is written {found[1]}=VALUE)"
        if _JSON_ERRORS.get():
            body = {"error": "usage", "message": f"{message}; see {self.prog} --help"}
            self.exit(2, json.dumps({**body, "command": self.prog}, ensure_ascii=False) + "\n")
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


#: The exit status of a command stopped by SIGPIPE (128 + 13), as a shell reports it.
CLOSED_PIPE = 141


def closed_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, as a command killed by
    SIGPIPE does, and keep Python from failing again on the final flush of stdout."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return CLOSED_PIPE
