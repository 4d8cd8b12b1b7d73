"""The embedded ledger's SQLite file holds every member's name, email, birthday, cards and points:
made by the ledger, it is its user's alone (0600) from its creation on, whatever the umask, and
so are SQLite's ``-wal`` and ``-shm`` beside it; a file the IT person made keeps its mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger_helpers import LedgerServer, subprocess_env


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def ledger(*args: str) -> None:
    """``loyalty-ledger ARGS`` as a process that inherits the test's umask."""
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.ledger", *args],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_ledger_service_makes_its_sqlite_file_and_its_wal_its_users_alone(
    tmp_path: Path, permissive_umask: int
) -> None:
    database = tmp_path / "ledger.db"
    server = LedgerServer(f"sqlite:///{database}", tmp_path / "serve.log")
    try:
        server.admin.post("/v1/terminals", json={"terminal_id": "T1"})  # a write, through the WAL
        files = {p.name: mode(p) for p in tmp_path.glob("ledger.db*")}
    finally:
        server.stop()
    assert files == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}


def test_an_admin_command_on_a_new_database_makes_it_private(
    tmp_path: Path, permissive_umask: int
) -> None:
    database = tmp_path / "ledger.db"
    ledger("terminal", "add", "T1", "--db", f"sqlite:///{database}")
    assert mode(database) == 0o600


def test_a_ledger_file_made_before_keeps_the_mode_it_was_given(
    tmp_path: Path, permissive_umask: int
) -> None:
    database = tmp_path / "ledger.db"
    ledger("terminal", "add", "T1", "--db", f"sqlite:///{database}")
    database.chmod(0o640)  # shared with the group that reads its backups, say
    ledger("terminal", "add", "T2", "--db", f"sqlite:///{database}")
    assert mode(database) == 0o640
