"""Folders and files that hold members' personal data, made readable by their owner alone.

A till's cache, its backups, its reports and the ledger's SQLite file hold members' names, emails,
phones, birthdays, cards and points. Made with the umask's mode (0644 on most systems), any user
of the machine could copy them. Here a new folder is made 0700 and a new file 0600 by the call
that creates it (``mkdir``'s and ``open``'s own mode, which a umask can only narrow), never by a
``chmod`` once the data is in: a file is never readable by others, even for a moment.

What exists already keeps its mode: a folder the IT person made for the till (``/var/lib``,
shared with a group on purpose), or a till set up by an earlier release, is theirs to change
(README, "Who can read a till's files"). SQLite makes a cache's ``-wal``, ``-shm`` and
``-journal`` with the mode of the cache itself, so a cache made here keeps those private too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
from pathlib import Path

from .domain.errors import Refused

#: A folder the till or the ledger makes: its user's alone.
FOLDER_MODE = 0o700
#: A file the till or the ledger makes: its user reads and writes it, nobody else.
FILE_MODE = 0o600


def make_folder(path: Path, *, parents: bool = False) -> None:
    """``path`` as a folder: made ``FOLDER_MODE`` when missing, as it was when there. With
    ``parents``, the folders above it that are missing are made as ``mkdir -p`` makes them (the
    umask's mode): they hold nothing of the till's, and may hold other tills' folders."""
    path.mkdir(mode=FOLDER_MODE, parents=parents, exist_ok=True)


def create_file(path: str | os.PathLike[str]) -> bool:
    """An empty file at ``path``, ``FILE_MODE`` from its creation on, when none is there; one that
    is there keeps its content and its mode. Returns whether it was made here."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def new_file(path: Path, mode: int = FILE_MODE) -> int:
    """A file descriptor open for writing on a new, empty file at ``path`` with ``mode`` (or as
    near as the umask allows). A file left there (by a write that died) is removed first:
    ``O_CREAT`` on it would keep its mode, which may let others read what is written now."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def append(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (an error log: its tracebacks may quote a member's data), made
    ``FILE_MODE`` when missing."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    with open(fd, "a", encoding="utf-8") as f:
        f.write(text)


def unreadable(path: str | os.PathLike[str], error: OSError) -> Refused:
    """The refusal of a file the program cannot read (a folder by its name, or one another user
    owns: a till set up as root, run as its own user). It said "FILE is invalid: cannot read the
    file", as if what was in it were wrong."""
    said = f"{os.fspath(path)} cannot be read ({error.strerror or error})"
    if error.errno in (errno.EACCES, errno.EPERM):
        user = pwd.getpwuid(os.geteuid()).pw_name
        said += (
            f": this program runs as {user}, and a till's files are its user's alone "
            '(README, "Who can read a till\'s files")'
        )
    return Refused(said + ".", file=os.fspath(path), reason="unreadable")
