"""How the command-line entry points end: on a command line they cannot read, and when the
reader of their output goes away."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import NoReturn

_NEEDS_A_VALUE = re.compile(r"argument (-[^:/ ]+)(?:/[^:]+)?: expected one argument")


class Parser(argparse.ArgumentParser):
    """argparse that says what is wrong with a command line in one line on stderr (exit 2),
    not its usage block, and tells how to give a value that starts with '-' (``--line=-5:x``,
    which argparse otherwise takes for an option)."""

    def error(self, message: str) -> NoReturn:
        if found := _NEEDS_A_VALUE.fullmatch(message):
            message += f" (a value that starts with '-' is written {found[1]}=VALUE)"
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


#: The exit status of a command stopped by SIGPIPE (128 + 13), as a shell reports it.
CLOSED_PIPE = 141


def closed_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, as a command killed by
    SIGPIPE does, and keep Python from failing again on the final flush of stdout."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return CLOSED_PIPE
