"""The one wiring place: the CLI, the app and the nightly script all get their Terminal from here."""

from __future__ import annotations

import contextlib
import errno
import os
import tomllib
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w
import tomlkit
import tomlkit.exceptions

from .checkout import Terminal, check_manager_pin
from .config import (
    hash_pin,
    is_http_url,
    load_terminal_config,
    parse_terminal_config,
    pin_problem,
)
from .domain.errors import ConfigError, LoyaltyPosError, Refused, StorageError
from .domain.program import parse_program_text
from .private import FILE_MODE, make_folder, new_file, unreadable
from .store import open_store

CONFIG_FILE = "terminal.toml"
PROGRAM_FILE = "program.toml"
DB_FILE = "terminal.db"
#: Marks a home made by ``make_demo_home``: the only kind of home ``loyalty-pos demo`` replaces.
DEMO_MARKER = "DEMO-STORE"


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """``--home``, else ``LOYALTY_POS_HOME``, else the platform's per-user data directory; as an
    absolute path, since the config names files in it (``ledger.token``) that cron, the nightly
    job or a command run from another folder must find."""
    if home:
        return Path(home).absolute()
    if os.environ.get("LOYALTY_POS_HOME"):
        return Path(os.environ["LOYALTY_POS_HOME"]).absolute()
    return Path(platformdirs.user_data_dir("loyalty-pos", appauthor=False)).absolute()


def empty_home_problem(home: str | None) -> str | None:
    """Why ``--home`` as given names no folder, or None: an empty value (``--home "$TILL"``
    with TILL unset) was read as no ``--home`` at all, and the command went to the till in
    ``LOYALTY_POS_HOME`` or the data dir, another till than the one the script named."""
    if home is not None and not home.strip():
        return (
            "--home is empty: give the till's folder (is a variable in the script unset?). "
            "Without --home, the till in $LOYALTY_POS_HOME or the data dir is used."
        )
    return None


def check_home(home: Path) -> None:
    """Refuses a home that is a file: the home is the folder holding a terminal's files."""
    if home.exists() and not home.is_dir():
        raise Refused(
            f"{home} is a file, not a folder: --home (or LOYALTY_POS_HOME) names the folder "
            f"that holds a terminal's {CONFIG_FILE} and {DB_FILE}."
        )
    existing = next((p for p in home.absolute().parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise Refused(
            f"{existing} is a file, so {home} cannot be a folder: --home (or "
            f"LOYALTY_POS_HOME) names the folder that holds a terminal's {CONFIG_FILE} and "
            f"{DB_FILE}."
        )


def open_terminal(home: Path, *, need_token: bool = True) -> Terminal:
    """The terminal in ``home``. Its cache must be there: ``terminal.toml`` is written only once
    ``init`` has made the cache, so a home with the one and not the other (or an empty file) lost
    its journal, and is refused as damaged rather than started again empty. ``need_token=False``
    opens a till whose token file is lost or unreadable, for ``token set`` to replace it."""
    check_home(home)
    config = load_terminal_config(home / CONFIG_FILE, need_token=need_token)
    store = open_store(home / DB_FILE)
    return Terminal(store=store, config=config, home=home)


def init_terminal(
    home: Path,
    terminal_id: str,
    program_path: Path,
    manager_pin: str | None = None,
    ledger_url: str = "",
    token: str = "",
    store_name: str = "",
    now: datetime | None = None,
) -> Terminal:
    """Create a terminal's home: validated config and program, an empty cache."""
    check_home(home)
    if (home / CONFIG_FILE).exists():
        raise Refused(f"{home} already holds a terminal; use another --home or remove it first.")
    try:
        program_bytes = program_path.read_bytes()
        # With or without a byte order mark, as the ledger's `program set` reads the same file.
        program_text = program_bytes.decode("utf-8-sig")
    except OSError as e:
        raise unreadable(program_path, e) from e
    except UnicodeDecodeError as e:
        raise ConfigError(str(program_path), [f"not UTF-8 text (byte {e.start})"]) from e
    program = parse_program_text(program_text, str(program_path))
    if manager_pin is not None and (problem := pin_problem(manager_pin)):
        raise Refused(problem)
    if ledger_url and not is_http_url(ledger_url):
        raise Refused(
            f"--ledger-url must be http(s)://HOST[:PORT][/PREFIX] (no /v1), got {ledger_url[:80]!r}."
        )
    token = token.strip()
    if ledger_url and not token:
        raise Refused(
            "A terminal with a ledger needs its token, and none came: add --token TOKEN, or "
            f"--token - with the token on stdin (`loyalty-ledger terminal add {terminal_id}` "
            "prints it)."
        )
    if token and not ledger_url:
        raise Refused(
            "--token is a ledger's token: add --ledger-url (a terminal without a ledger has none)."
        )
    if token and (problem := token_problem(token)):
        raise Refused(problem)
    from .config import TERMINAL_ID

    if not TERMINAL_ID.match(terminal_id):
        raise Refused("The terminal id must be 1-32 letters, digits, '_' or '-'.")
    config: dict[str, Any] = {
        "terminal": {"id": terminal_id},
        "store": {"name": store_name or "Demo Store"},
        "manager": {"pin_hash": hash_pin(manager_pin) if manager_pin else ""},
        "ledger": {"url": ledger_url},
    }
    # Checked as it will be read back, before anything is written: a refused init leaves no home.
    check = {**config, "ledger": {**config["ledger"], "token": token}}
    parse_terminal_config(check, str(home / CONFIG_FILE))
    token_file = home / "ledger.token"
    if token:
        config["ledger"]["token_file"] = str(token_file)
    made_home = not home.exists()
    try:
        make_folder(home, parents=True)  # the members' data: the till's user's alone
    except OSError as e:
        raise Refused(f"The folder {home} cannot be made ({e.strerror}).") from None
    if not os.access(home, os.W_OK | os.X_OK):  # SQLite said only "unable to open database file"
        if os.statvfs(home).f_flag & os.ST_RDONLY:  # no owner or mode would change it
            raise Refused(
                f"The folder {home} cannot be written to (read-only file system): check the "
                "disk, or use another --home on one that can be written."
            )
        raise Refused(
            f"The folder {home} cannot be written to (permission denied): give the user who runs "
            "the till write access to it, or use another --home."
        )
    db = home / DB_FILE
    mine = [  # what this init makes, and takes away again if it fails
        path
        for path in (
            *(db.with_name(db.name + end) for end in ("", "-wal", "-shm", ".upgrade-lock")),
            token_file,
            home / PROGRAM_FILE,
        )
        if not path.exists()
    ]
    store = None
    try:
        # The cache first, with its program: the config marks the folder as a terminal's, and a
        # terminal whose cache is missing is refused as damaged (``open_store``). So the config
        # is written last, and each file whole or not at all: a full disk or a crash left an
        # empty terminal.toml, which the till refused to start with and init to replace.
        store = open_store(db, create=True)
        with store.transaction():
            store.save_program(program, now or datetime.now().astimezone())
        if token:
            write_whole(token_file, token + "\n")
        write_whole(home / PROGRAM_FILE, program_bytes)
        text = "# This terminal's config. See config/terminal.example.toml for every key.\n"
        write_whole(home / CONFIG_FILE, text + tomli_w.dumps(config))
    except BaseException:
        # A failed init leaves the folder as it found it, so that it can simply be run again.
        if store is not None:
            store.close()
        for path in mine:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if made_home:
            with contextlib.suppress(OSError):
                home.rmdir()
        raise
    return Terminal(store=store, config=load_terminal_config(home / CONFIG_FILE), home=home)


def demo_data_dir() -> Path:
    """The demo store's files: config/ of a source checkout, or the copy packed into the wheel."""
    source_tree = Path(__file__).resolve().parents[2] / "config"
    if (source_tree / "demo" / "catalog.csv").exists():
        return source_tree
    return Path(__file__).resolve().parent / "_config"


def set_manager_pin(t: Terminal, new_pin: str, current_pin: str | None = None) -> dict[str, str]:
    """Set the manager PIN in ``terminal.toml``: the first one freely (a terminal made without
    one cannot refund, adjust or block a card), a new one only with the current PIN."""
    if problem := pin_problem(new_pin):
        raise Refused(problem)
    if t.config.pin_hash:
        check_manager_pin(t, current_pin)

    def edit(document: tomlkit.TOMLDocument) -> None:
        document.setdefault("manager", tomlkit.table())["pin_hash"] = hash_pin(new_pin)

    path = _update_config(t, edit)
    return {"manager_pin": "set", "config": str(path)}


def set_ledger_token(t: Terminal, token: str, pin: str | None = None) -> dict[str, str]:
    """Install a new ledger token (after `loyalty-ledger terminal revoke` and `terminal add`, or a
    token that leaked): written to ``ledger.token`` beside the config (mode 0600), which
    ``terminal.toml`` then names as ``ledger.token_file``; a token written inline in the config
    moves there. Needs the manager PIN where the terminal has one."""
    token = token.strip()
    if not t.config.ledger.configured:
        raise Refused("This terminal has no ledger (ledger.url in terminal.toml): no token to set.")
    if problem := token_problem(token):
        raise Refused(problem)
    if t.config.pin_hash:
        check_manager_pin(t, pin)
    token_file = t.home / "ledger.token"
    existed = token_file.exists()
    try:
        before: bytes | None = token_file.read_bytes()
    except OSError:
        before = None  # none yet, or one that cannot be read: what this mends

    def edit(document: tomlkit.TOMLDocument) -> None:
        ledger = document.setdefault("ledger", tomlkit.table())
        ledger.pop("token", None)
        ledger["token_file"] = str(token_file)

    def as_read(data: dict[str, Any]) -> None:  # the token its file will hold, not the old file
        data.setdefault("ledger", {})["token"] = token

    def undo() -> None:
        """The config could not name the new token's file: the old token goes back in it."""
        if before is None:
            if not existed:
                token_file.unlink(missing_ok=True)
        else:
            write_whole(token_file, before)

    path = _update_config(
        t,
        edit,
        before_write=lambda: write_whole(token_file, token + "\n"),
        as_read=as_read,
        undo=undo,
    )
    return {"ledger_token": "set", "token_file": str(token_file), "config": str(path)}


def _update_config(
    t: Terminal,
    edit: Callable[[tomlkit.TOMLDocument], None],
    before_write: Callable[[], None] | None = None,
    as_read: Callable[[dict[str, Any]], None] | None = None,
    undo: Callable[[], None] | None = None,
) -> Path:
    """Apply ``edit`` to ``terminal.toml``, keeping its comments and layout (tomlkit); the new
    file is checked as it will be read back, then replaces the old one whole. ``before_write``
    writes what the new file names (the token file), once the new file is known to be good, and
    ``undo`` takes that back if the new file cannot be written: a refused edit, or one that
    meets a full disk, leaves everything as it was. ``as_read`` puts in the checked copy what
    ``before_write`` will write (the file is not there yet, or holds the old token)."""
    path = t.home / CONFIG_FILE
    try:
        # A byte order mark is read past (as ``load_terminal_config`` does), not written back.
        original = path.read_text(encoding="utf-8-sig")
        document = tomlkit.parse(original)
    except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError) as e:
        raise ConfigError(str(path), [f"cannot be updated ({e})"]) from e
    edit(document)
    text = tomlkit.dumps(document)
    data = tomllib.loads(text)
    if as_read is not None:
        as_read(data)
    parse_terminal_config(data, str(path))  # as it will be read back
    try:
        mode = path.stat().st_mode & 0o777  # as restricted as the file it replaces
    except OSError as e:
        raise _write_error(path, e) from e
    if before_write is not None:
        before_write()
    if text == original:  # nothing to change (a new token in the file the config names)
        return path
    try:
        write_whole(path, text, mode)
    except LoyaltyPosError:
        if undo is not None:
            with contextlib.suppress(LoyaltyPosError, OSError):
                undo()
        raise
    return path


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a ledger token, or None: one word of printable characters."""
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        return "The token is one word of printable characters, as `terminal add` printed."
    return None


def write_whole(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` whole or not at all: written aside in the same folder
    (``NAME.new``), flushed to the disk, renamed over ``path``, and the folder's new entry flushed
    too, so that a crash or a full disk leaves the old file (or none), never a part of the new
    one. The new file has ``mode`` from its creation on: by default its user's alone (a token,
    the manager PIN's hash, the till's settings are never readable by others, even for a
    moment); ``_update_config`` gives the mode of the file it replaces.

    A folder the user may not write (permissions, a read-only file system) is refused
    (``ConfigError``, exit 2: use another folder or give access); a full or failing disk is a
    fault (``StorageError``, exit 1)."""
    partial = path.with_name(path.name + ".new")
    try:
        fd = new_file(partial, mode)  # one left by a write that died is removed first
        try:
            with open(fd, "wb") as f:
                if mode & ~os.fstat(fd).st_mode:  # the umask took bits off ``mode``: still empty
                    os.fchmod(fd, mode)
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())  # on disk before it takes the old file's place
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        sync_folder(path.parent)  # the rename itself on disk
    except OSError as e:
        raise _write_error(path, e) from e


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries to the disk: a file renamed into it keeps its new name
    through a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):  # a file system that syncs no folders
            raise
    finally:
        os.close(fd)


def _write_error(path: Path, e: OSError) -> LoyaltyPosError:
    said = e.strerror or str(e)
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ConfigError(
            str(path),
            [
                f"cannot be written ({said}): give the user who runs the till write access to "
                f"{path.parent}, or use another --home"
            ],
        )
    return StorageError(
        f"{path} cannot be written ({said}): the disk is full or failing, and nothing was "
        "changed. Free some space on it, then run the command again.",
        reason="disk",
    )


def make_demo_home(home: Path, terminal_id: str = "DEMO1", manager_pin: str = "1234") -> Terminal:
    """A fresh demo store in ``home``: the example program, the demo catalog and members."""
    from .imports import import_catalog, import_members

    data = demo_data_dir()
    terminal = init_terminal(
        home, terminal_id, data / "program.example.toml", manager_pin, store_name="Demo Store"
    )
    import_catalog(terminal, data / "demo" / "catalog.csv")
    import_members(terminal, data / "demo" / "members.csv")
    write_whole(
        home / DEMO_MARKER,
        "A demo store made by `loyalty-pos demo`, which replaces this folder at its next run.\n",
    )
    return terminal


def is_demo_home(home: Path) -> bool:
    """Whether ``home`` holds a demo store (marked, or made by a release before the mark: terminal
    DEMO1 with no ledger), which ``loyalty-pos demo`` may replace."""
    if (home / DEMO_MARKER).exists():
        return True
    try:
        config = load_terminal_config(home / CONFIG_FILE)
    except (ConfigError, Refused, OSError):
        return False
    return config.terminal_id == "DEMO1" and not config.ledger.configured


def end_of_day_report(t: Terminal, start: date, end: date | None = None) -> dict[str, Any]:
    """The end-of-day report (``reports.day_report``) as the CLI and the nightly job make it: a
    till with a ledger asks it for the store-wide balances of a period that is over."""
    from .reports import day_report
    from .sync import ledger_balances

    ledger = ledger_balances(t) if t.config.ledger.configured else None
    return day_report(t, start, end, ledger=ledger)
