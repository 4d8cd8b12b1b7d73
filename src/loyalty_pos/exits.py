"""How the command-line entry points end when the reader of their output goes away."""

from __future__ import annotations

import os
import sys

#: The exit status of a command stopped by SIGPIPE (128 + 13), as a shell reports it.
CLOSED_PIPE = 141


def closed_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, as a command killed by
    SIGPIPE does, and keep Python from failing again on the final flush of stdout."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return CLOSED_PIPE
