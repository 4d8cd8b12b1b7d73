"""The nightly job's steps on a real cache: a step that fails for a fault of the program's own
(an exception no step expects) is reported, and the steps after it still run."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos import nightly
from loyalty_pos.bootstrap import make_demo_home
from loyalty_pos.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def _broken(*_: object, **__: object) -> None:
    raise KeyError("total_minor")


@pytest.mark.parametrize("broken", ["verify", "report"])
def test_a_step_that_fails_unexpectedly_is_an_internal_error_and_the_night_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    broken: str,
) -> None:
    """QA: only the store's own errors were caught; any other exception ended the run in a
    traceback, with no backup and no report."""
    home = tmp_path / "till"
    t = make_demo_home(home)
    svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 2)]))
    t.store.close()
    if broken == "verify":
        monkeypatch.setattr(nightly.svc, "verify", _broken)
    else:
        monkeypatch.setattr(nightly, "end_of_day_report", _broken)

    code = nightly.main(["--home", str(home), "--json", "--date", "2026-01-01"])

    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert not result["ok"]
    [failure] = result["failures"]
    assert failure.startswith(f"{broken}: internal error (KeyError: 'total_minor')")
    assert "Traceback" not in failure
    # The steps after the broken one ran: a backup was taken, and the report was written
    # unless it was the one broken.
    assert Path(result["backup"]).exists()  # a verify that did not finish: kept as unverified
    if broken == "verify":
        assert Path(result["report"]["json"]).exists()
    else:
        assert result["verify"]["ok"]
        assert not (home / "reports" / "2026-01-01.json").exists()


def _script(tmp_path: Path, home: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/nightly-sync`` as installed from a copy of the checkout with no ``.venv`` in it
    (the package installed in a venv elsewhere), with ``path`` as PATH."""
    copy = tmp_path / "checkout" / "scripts" / "nightly-sync"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "scripts" / "nightly-sync", copy)
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_POS_PYTHON"}
    return subprocess.run(
        ["bash", str(copy), "--home", str(home), "--date", "2026-01-01", *args],
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_nightly_script_finds_a_venv_elsewhere_or_says_it_did_not_start(
    tmp_path: Path,
) -> None:
    """QA: with loyalty-pos installed in a venv other than the checkout's .venv, the script ran
    the system's python3, which printed "No module named loyalty_pos" and exited 1 (a step
    failed), with no JSON under --json: cron and the timer read a failed night, not an install
    that does not run."""
    home = tmp_path / "till"
    make_demo_home(home).store.close()
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "loyalty-pos").exists()

    bare = _script(tmp_path, home, "/usr/bin:/bin", "--json")
    assert bare.returncode == 2, bare.stderr
    said = json.loads(bare.stderr)
    assert said["error"] == "not_installed"
    assert "LOYALTY_POS_PYTHON" in said["message"] and "loyalty_pos" in said["message"]
    plain = _script(tmp_path, home, "/usr/bin:/bin")
    assert plain.returncode == 2 and plain.stderr.startswith("nightly-sync: ")
    assert not (home / "backups").exists()

    found = _script(tmp_path, home, f"{venv_bin}:/usr/bin:/bin", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["ok"]
    assert (home / "reports" / "2026-01-01.json").exists()


def test_a_checkout_venv_whose_python_this_user_cannot_run_is_named_as_that(
    tmp_path: Path,
) -> None:
    """QA: a venv made with a python under /root (pyenv) and the job run as the till's user:
    .venv/bin/python is there, but its python is out of the user's reach. The script went on to
    the system's python3 and said "install it in .venv", where it was installed."""
    home = tmp_path / "till"
    make_demo_home(home).store.close()
    python = tmp_path / "checkout" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(tmp_path / "root-only" / "python3.11")  # as one its user cannot open

    out = _script(tmp_path, home, "/usr/bin:/bin", "--json")
    assert out.returncode == 2, out.stderr
    said = json.loads(out.stderr)["message"]
    assert f"{python} is there but this user ({getpass.getuser()}) cannot run it" in said
    assert "install it in" not in said
    assert not (home / "backups").exists()


def test_a_damaged_cache_keeps_the_first_unverified_copy_and_the_newest_few_not_every_night(
    tmp_path: Path,
) -> None:
    """QA: a till whose cache fails verify made an ``unverified-terminal-*.db`` every night and
    never removed one: the disk filled night after night. Of one run of failing nights the first
    copy (the cache nearest the damage) and the newest 3 stay; the good backups are not touched,
    a good night removes nothing, and a later run of failures keeps its own first copy."""
    t = make_demo_home(tmp_path / "till")
    svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 2)]))
    folder = t.home / "backups"

    def night(day: int, verified: bool) -> Path:
        return nightly.backup(t, 7, datetime(2026, 3, day, 2, 30), verified)

    def names(pattern: str) -> list[str]:
        return sorted(p.name for p in folder.glob(pattern))

    good = [night(1, True).name, night(2, True).name]
    first = night(3, False)
    made = [first]
    for day in range(4, 12):
        made.append(night(day, False))
        kept = [first, *made[1:][-3:]]
        assert names("unverified-*.db") == sorted(p.name for p in kept), day
        assert made[-1].is_file()
        with sqlite3.connect(made[-1]) as copy:  # a whole copy of the cache, to look at
            assert copy.execute("SELECT count(*) FROM journal").fetchone() == (1,)
        copy.close()
    assert names("terminal-*.db") == good  # no good backup pruned while verify fails
    assert first.is_file()

    # A good night (the cache restored): a backup, and every unverified copy stays.
    before = names("unverified-*.db")
    good.append(night(12, True).name)
    assert names("unverified-*.db") == before and names("terminal-*.db") == good

    # Damaged again: this run's first copy is kept; of the earlier run, what the newest take.
    again = [night(day, False) for day in range(13, 19)]
    assert names("unverified-*.db") == sorted(p.name for p in [again[0], *again[-3:]])
    assert names("terminal-*.db") == good


def test_keep_unverified_sets_how_many_of_the_newest_unverified_copies_stay(
    tmp_path: Path,
) -> None:
    t = make_demo_home(tmp_path / "till")
    made = [
        nightly.backup(t, 7, datetime(2026, 3, day, 2, 30), False, keep_unverified=1)
        for day in range(1, 6)
    ]
    left = sorted((t.home / "backups").glob("unverified-*.db"))
    assert left == [made[0], made[-1]]
    t.store.close()
    home = str(t.home)
    for bad in ("0", "-2"):  # refused before the night starts
        assert nightly.main(["--home", home, "--keep-unverified", bad]) == 2
        assert sorted((t.home / "backups").glob("*.db")) == left


def test_the_nightly_optimize_waits_for_the_apps_writes_instead_of_failing_locked(
    tmp_path: Path,
) -> None:
    """QA: the nightly job run while the checkout app synced (its background sync commits every
    minute, on a connection of its own) failed its optimize step, "database is locked", exit 1
    and a mail to the IT person: ANALYZE read the tables, another connection committed
    meanwhile, and SQLite refuses such a reader its write at once, whatever the busy timeout."""
    t = make_demo_home(tmp_path / "till")
    for _ in range(20):
        svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 1)]))
    app = open_store(t.store.path)  # the app's sync thread: its own connection
    stop = threading.Event()
    commits = 0

    def sync_thread() -> None:
        nonlocal commits
        while not stop.is_set():
            with app.transaction():
                app.set_meta("last_sync_at", t.now().isoformat())
            commits += 1
            stop.wait(0.002)  # a sale, a sync: short writes, not one after another without end

    writer = threading.Thread(target=sync_thread)
    writer.start()
    try:
        nights = []
        for _ in range(8):
            with t.store.transaction() as conn:  # no statistics: optimize analyzes again
                conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
            nights.append(nightly.run(t, t.now().date(), keep=2, progress=lambda _: None))
    finally:
        stop.set()
        writer.join()
        app.close()
    assert commits > 5  # the app wrote all along
    assert [night["failures"] for night in nights] == [[]] * 8


def _a_night_watched_on_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, dict[str, Any], list[tuple[str, str]]]:
    """A till with a sale, and its nightly run with the real ``fsync`` and ``replace`` noting
    what they were called on, in order: the till's home, the run's JSON result, the calls."""
    home = tmp_path / "till"
    t = make_demo_home(home)
    svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 2)]))
    t.store.close()
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    assert nightly.main(["--home", str(home), "--json", "--date", "2026-01-01"]) == 0
    return home, json.loads(capsys.readouterr().out), calls


def _assert_on_the_disk_around_its_rename(calls: list[tuple[str, str]], target: Path) -> None:
    """``target`` was flushed under its name aside before it took its name, and its folder
    after (so the new name survives a power cut)."""
    [renamed] = [i for i, (_, on) in enumerate(calls) if on.endswith(f" -> {target}")]
    aside = calls[renamed][1].split(" -> ")[0]
    assert ("fsync", aside) in calls[:renamed], f"{target.name} renamed before it was on the disk"
    assert ("fsync", str(target.parent)) in calls[renamed + 1 :], f"{target.name} not flushed"


def test_the_nightly_report_is_on_the_disk_before_it_takes_its_name_and_the_name_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: the report was written aside and renamed, but neither the file nor the folder was
    flushed to the disk: a power cut after the rename could leave the night's report empty."""
    home, result, calls = _a_night_watched_on_the_disk(tmp_path, monkeypatch, capsys)
    folder = home / "reports"
    assert sorted(result["report"].values()) == sorted(
        str(folder / f"2026-01-01.{kind}") for kind in ("json", "txt")
    )
    for name in ("2026-01-01.json", "2026-01-01.txt"):
        _assert_on_the_disk_around_its_rename(calls, folder / name)
    assert json.loads((folder / "2026-01-01.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == ["2026-01-01.json", "2026-01-01.txt"]


def test_the_nightly_backup_keeps_its_name_through_a_power_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup was flushed to the disk before its rename, but the backups folder was not
    flushed after it: a power cut could lose the new name, leaving only the ``.partial`` the
    next run deletes."""
    _, result, calls = _a_night_watched_on_the_disk(tmp_path, monkeypatch, capsys)
    _assert_on_the_disk_around_its_rename(calls, Path(result["backup"]))
