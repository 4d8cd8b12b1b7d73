"""The till's files hold its members' names, emails, phones, birthdays, cards and points: what
the till makes is its user's alone (folders 0700, files 0600) from the moment it exists, whatever
the umask; what the IT person made before keeps the mode they gave it. Real commands, real
files, a umask that would let others read them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos import nightly
from loyalty_pos.bootstrap import make_demo_home
from loyalty_pos.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = str(ROOT / "config" / "program.example.toml")
AT = "2026-11-22T14:00:00+01:00"


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def run(module: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``loyalty-pos`` (``loyalty_pos.cli``) or the nightly job for ``home``, as a process that
    inherits the test's umask."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def modes_of(home: Path) -> dict[str, int]:
    """Every folder and file under ``home`` (``home`` itself as ``.``) with its mode."""
    return {str(path.relative_to(home)): mode(path) for path in [home, *sorted(home.rglob("*"))]}


def private(home: Path) -> dict[str, int]:
    """``modes_of(home)`` as it reads when the till made every one of them."""
    return {name: 0o700 if (home / name).is_dir() else 0o600 for name in modes_of(home)}


def test_init_makes_the_tills_folder_and_every_file_in_it_its_users_alone(
    tmp_path: Path, permissive_umask: int
) -> None:
    home = tmp_path / "srv" / "T1"
    run("loyalty_pos.cli", home, "init", "--terminal-id", "T1", "--program", PROGRAM)
    made = modes_of(home)
    assert {"terminal.db", "terminal.toml", "program.toml"} <= made.keys()
    assert made == private(home)

    with_ledger = tmp_path / "T2"
    run(
        "loyalty_pos.cli",
        with_ledger,
        *("init", "--terminal-id", "T2", "--program", PROGRAM, "--manager-pin", "1234"),
        *("--ledger-url", "http://127.0.0.1:9", "--token", "lpt_secret"),
    )
    assert "ledger.token" in modes_of(with_ledger)
    assert modes_of(with_ledger) == private(with_ledger)


def test_the_caches_wal_and_shm_are_as_private_as_the_cache(
    tmp_path: Path, permissive_umask: int
) -> None:
    """SQLite makes ``-wal`` and ``-shm`` at the first connection, with the cache's own mode (not
    the umask's), and removes them at the last close: looked at while the till has it open."""
    home = tmp_path / "till"
    run("loyalty_pos.cli", home, "init", "--terminal-id", "T1", "--program", PROGRAM)
    store = open_store(home / "terminal.db")
    try:
        with store.transaction():
            store.set_meta("probe", "1")
        assert mode(home / "terminal.db-wal") == 0o600
        assert mode(home / "terminal.db-shm") == 0o600
    finally:
        store.close()


def test_the_demo_store_is_made_private_too(tmp_path: Path, permissive_umask: int) -> None:
    """The demo's members are made up, but a demo folder is where a store tries its own data."""
    home = tmp_path / "cache" / "demo"
    run("loyalty_pos.cli", home, "--json", "demo", "--script")
    assert {"terminal.db", "DEMO-STORE"} <= modes_of(home).keys()
    assert modes_of(home) == private(home)
    run("loyalty_pos.cli", home, "--json", "demo", "--script")  # replaced: made anew
    assert modes_of(home) == private(home)


def test_the_nightly_backup_and_report_are_private_before_they_take_their_names(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    permissive_umask: int,
) -> None:
    """The backup is written as ``.partial`` and the report as ``.tmp``, then renamed: each is
    the user's alone under its name aside as well, and a ``.tmp`` a killed run left readable by
    others gives its mode to nothing."""
    home = tmp_path / "till"
    t = make_demo_home(home)
    svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 2)]))
    t.store.close()
    (home / "reports").mkdir(mode=0o700)
    left = home / "reports" / "2026-01-01.json.tmp"
    left.write_text("{}")
    left.chmod(0o644)
    renamed: dict[str, int] = {}
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed[Path(src).name] = mode(Path(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert nightly.main(["--home", str(home), "--json", "--date", "2026-01-01"]) == 0
    result = json.loads(capsys.readouterr().out)
    backup = Path(result["backup"])
    assert renamed == {
        f"{backup.name}.partial": 0o600,
        "2026-01-01.json.tmp": 0o600,
        "2026-01-01.txt.tmp": 0o600,
    }
    assert mode(home / "backups") == 0o700 and mode(backup) == 0o600
    assert mode(home / "reports") == 0o700
    assert {p.name: mode(p) for p in (home / "reports").iterdir()} == {
        "2026-01-01.json": 0o600,
        "2026-01-01.txt": 0o600,
    }


def test_the_nightly_script_makes_its_folders_and_files_private(
    tmp_path: Path, permissive_umask: int
) -> None:
    home = tmp_path / "till"
    run("loyalty_pos.cli", home, "init", "--terminal-id", "T1", "--program", PROGRAM)
    run("loyalty_pos.cli", home, "enroll", "--card", "LC12345678", "--name", "Ada", "--at", AT)
    run("loyalty_pos.nightly", home, "--date", AT[:10])
    made = modes_of(home)
    assert {"backups", "reports", f"reports/{AT[:10]}.json", f"reports/{AT[:10]}.txt"} <= set(made)
    assert [name for name in made if name.startswith("backups/")]
    # the lock files hold nothing; the folder keeps them from others all the same
    assert made == private(home)


def test_a_till_set_up_before_keeps_the_modes_its_it_person_gave_and_runs_as_before(
    tmp_path: Path, permissive_umask: int
) -> None:
    """A till made by an earlier release, or in a folder shared with a group on purpose: nothing
    the till finds is chmod'ed, SQLite's ``-wal`` and ``-shm`` take the cache's mode, and
    only what the till makes new (tonight's backup and report) is its user's alone."""
    home = tmp_path / "till"
    home.mkdir(mode=0o750)
    home.chmod(0o750)
    run("loyalty_pos.cli", home, "init", "--terminal-id", "T1", "--program", PROGRAM)
    assert mode(home) == 0o750  # the folder the IT person made for it
    (home / "backups").mkdir()
    (home / "reports").mkdir()
    chosen = {".": 0o755, "terminal.db": 0o644, "terminal.toml": 0o640, "program.toml": 0o644}
    chosen |= {"backups": 0o750, "reports": 0o755}
    for name, bits in chosen.items():
        (home / name).chmod(bits)
    run("loyalty_pos.cli", home, "enroll", "--card", "LC12345678", "--name", "Ada", "--at", AT)
    run("loyalty_pos.cli", home, "pin", "set", "--new-pin", "2468")
    with sqlite3.connect(home / "terminal.db") as held:  # -wal and -shm exist while it is open
        held.execute("SELECT count(*) FROM journal").fetchone()
        run("loyalty_pos.nightly", home, "--date", AT[:10])
        assert mode(home / "terminal.db-wal") == 0o644
        assert mode(home / "terminal.db-shm") == 0o644
    held.close()
    made = modes_of(home)
    assert {name: made[name] for name in chosen} == chosen
    new = [n for n in made if n.startswith(("backups/", "reports/")) and "lock" not in n]
    assert len(new) == 3
    assert {n: made[n] for n in new} == dict.fromkeys(new, 0o600)


def test_the_error_logs_are_the_tills_users_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    permissive_umask: int,
) -> None:
    """A traceback may quote what a member typed or a card: the CLI's log (in a folder it makes
    when there is none yet) and the app's are made the till's user's alone."""
    from loyalty_pos import cli
    from loyalty_pos.tui.services import ServiceQueue

    def broken(_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_verify", broken)
    home = tmp_path / "new" / "till"
    assert cli.main(["--home", str(home), "verify"]) == 1
    assert "internal error (RuntimeError: a bug)" in capsys.readouterr().err
    assert modes_of(home) == {".": 0o700, "error.log": 0o600}

    app_home = tmp_path / "app"
    app_home.mkdir(mode=0o755)
    ServiceQueue(app_home / "error.log").log_line("sync", "the ledger cannot be reached")
    assert mode(app_home / "error.log") == 0o600
