"""The nightly job (``scripts/nightly-sync``): sync, verify, back up, optimise, report.

For cron or a systemd timer. Two runs never overlap (a lock file); each step is reported; any
failed step makes the exit code non-zero so that cron mails the output. A step that fails
for a fault of this program's (an unexpected exception) is reported as an internal error, with
its traceback in the log, and the steps after it still run: a bug in the report never costs the
night its backup. Progress bars when run in a terminal, plain log lines otherwise.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import checkout as svc
from .bootstrap import (
    CONFIG_FILE,
    check_home,
    empty_home_problem,
    end_of_day_report,
    open_terminal,
    resolve_home,
    sync_folder,
)
from .checkout import Terminal
from .domain.errors import LoyaltyPosError, Refused, StorageError
from .exits import Parser
from .private import create_file, make_folder, new_file
from .reports import parse_day, report_text

log = logging.getLogger("loyalty_pos.nightly")

#: Meta key: the last seq of the events the ledger refused one by one that a nightly run has
#: reported as a failure; later runs fail again only for refusals after it.
HELD_REPORTED = "nightly_held_reported_through"


#: Unverified copies kept besides the first one of a run of failing nights (``--keep-unverified``).
KEEP_UNVERIFIED = 3


def backup(
    t: Terminal,
    keep: int,
    now: datetime,
    verified: bool = True,
    keep_unverified: int = KEEP_UNVERIFIED,
) -> Path:
    """A consistent copy through SQLite's online backup API; the oldest beyond ``keep`` go.

    A copy that could not be written whole (a full disk, a read-only folder) is removed, so that
    the newest ``terminal-*.db`` is always a good one, and the error names the backup, not the
    till's cache. A cache that failed ``verify`` is copied as ``unverified-terminal-*.db``, which
    the pruning of good backups neither counts nor removes: the good backups taken before the
    damage stay, and the damaged state is kept to look at (``_prune_unverified`` says which)."""
    folder = t.home / "backups"
    name = f"terminal-{now:%Y%m%d-%H%M%S}.db"
    target = folder / (name if verified else f"unverified-{name}")
    # Written aside and renamed once whole: a run killed mid-copy (a power cut, the timer's
    # stop timeout) left a part of a copy as the newest terminal-*.db, which no restore could
    # open, and which the pruning counted as one of the backups kept.
    partial = folder / f"{target.name}.partial"
    try:
        # The members' names and emails are in it: readable by the till's user only from its
        # creation on (the folder too, when made here), whatever the umask. SQLite gives the
        # copy's -journal the copy's mode.
        make_folder(folder)
        for left in folder.glob("*.db.partial*"):  # by a run that was killed
            left.unlink()
        create_file(partial)
        dest = sqlite3.connect(partial)
        try:
            t.store.conn.backup(dest)
        finally:
            dest.close()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)  # on disk before it takes its name
        finally:
            os.close(fd)
        os.replace(partial, target)
        sync_folder(folder)  # the new name on disk too: a power cut kept only the .partial
    except (sqlite3.Error, OSError) as e:
        for made in (partial, partial.with_name(partial.name + "-journal")):
            try:
                made.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only folder: nothing was made there either
        said = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise StorageError(
            f"cannot write the backup {target} ({said}); the backups before it are as they were"
        ) from e
    if not verified:
        removed = _prune_unverified(folder, target, keep_unverified)
        log.warning(
            "backup: the cache failed verify: copied as %s; older backups are not pruned%s",
            target,
            f" (unverified copies removed: {', '.join(p.name for p in removed)})"
            if removed
            else "",
        )
        return target
    # Backups go by their names' order, the time of the till's clock. One named before a backup
    # made earlier (a clock reset to a past year, or one that ran ahead for a while) sorted as
    # the oldest and was removed at once, while the step said ok and named it: the one just
    # made is never pruned, and with backups named more than an hour after it (the hour the
    # clocks go back in autumn is no fault) nothing is, until the clock and the names agree.
    others = sorted(p for p in folder.glob("terminal-*.db") if p != target)
    hour_on = f"terminal-{now + timedelta(hours=1):%Y%m%d-%H%M%S}.db"
    later = [p for p in others if p.name > hour_on]
    if later:
        raise StorageError(
            f"the backup {target} was made, but {len(later)} backup"
            f"{'s' if len(later) != 1 else ''} made before it bear a later time ({later[-1].name})"
            f": this till's clock ({now:%Y-%m-%d %H:%M}) is behind the one that named them. Set "
            "the clock right, then move the later-named backups out of the folder (the newest "
            "by name is the one a restore takes); until then no backup is pruned",
            reason="clock",
        )
    for old in others[: max(len(others) - (keep - 1), 0)]:
        old.unlink()
    return target


def _prune_unverified(folder: Path, made: Path, keep: int) -> list[Path]:
    """Removes the unverified copies the IT person no longer needs, and returns them.

    A damaged cache failed verify every night, and each night's copy stayed: the disk filled
    night after night. Kept: the first copy of this run of failing nights (the oldest one named
    after the newest good backup: the cache nearest the damage, what tells how it began), the
    newest ``keep`` (what it is now, and whether it is spreading), and the one just made. Only
    a failing night removes any: a good night after a restore leaves the last run's copies to
    be looked at."""
    copies = sorted(folder.glob("unverified-terminal-*.db"))
    good = sorted(folder.glob("terminal-*.db"))
    run = [c for c in copies if not good or c.name.removeprefix("unverified-") > good[-1].name]
    kept = {made, *copies[-keep:], (run or copies)[0]}
    removed = [c for c in copies if c not in kept]
    for copy in removed:
        copy.unlink()
    return removed


def report_day(now: datetime) -> date:
    """The store day a run at ``now`` reports unless told: the one that ended last. Before noon
    that is yesterday (the shipped timer runs at 02:30, when today has barely begun); from noon
    on it is today (a run after closing time)."""
    return now.date() - timedelta(days=1) if now.hour < 12 else now.date()


def run(
    t: Terminal,
    day: date,
    keep: int,
    progress: Callable[[str], None],
    keep_unverified: int = KEEP_UNVERIFIED,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    failures: list[str] = []

    def step(name: str, fn: Callable[[], Any]) -> None:
        progress(name)
        failed = len(failures)
        try:
            results[name] = fn()
            if len(failures) == failed:  # a step may finish and still report a failure
                log.info("%s: ok", name)
        except (LoyaltyPosError, sqlite3.Error, OSError) as e:
            results[name] = {"error": str(e)}
            failures.append(f"{name}: {e}")
            log.error("%s: %s", name, e)
        except Exception as e:  # a fault of this program's: the other steps still run
            said = f"internal error ({type(e).__name__}: {e}); the traceback is in the log"
            results[name] = {"error": said}
            failures.append(f"{name}: {said}")
            log.error("%s: %s", name, said, exc_info=True)

    if t.config.ledger.configured:
        from .sync import sync

        def synced() -> dict[str, Any]:
            from .sync.client import ANOTHER_SYNC_RUNS

            result = sync(t, waiting=lambda: log.info("sync: %s", ANOTHER_SYNC_RUNS))
            if clock := result.get("clock"):  # every sale is dated by it: someone must act
                failures.append(f"sync: {clock}")
                log.error("sync: %s", clock)
            problem = result.get("problem")
            if not problem:
                return result
            # Events the ledger refused one by one (invalid, conflict) do not hold back the
            # rest: the night they first appear fails (cron mails it); once the ledger's admin
            # has them (README, "Events the ledger holds back"), later nights say they are
            # still there without failing, until another one comes. Events that hold back
            # every later one (the till is offline for it) fail every night.
            reported = int(t.store.meta(HELD_REPORTED, "0") or "0")
            through = int(result.get("held_through") or 0)
            if result.get("blocked") or through > reported:
                failures.append(f"sync: {problem}")
                log.error("sync: %s", problem)
                if not result.get("blocked"):
                    with t.store.transaction():
                        t.store.set_meta(HELD_REPORTED, str(through))
            else:
                log.warning(
                    "sync: %s (reported on an earlier night; no new ones since seq %s)",
                    problem,
                    reported,
                )
            return result

        step("sync", synced)
    else:
        results["sync"] = "skipped: no ledger configured"
    step("verify", lambda: _verified(t))
    verified = "error" not in results["verify"]
    step("backup", lambda: str(backup(t, keep, t.now(), verified, keep_unverified)))
    step("optimize", lambda: optimize(t))

    def write_report() -> dict[str, str]:
        report = end_of_day_report(t, day)
        folder = t.home / "reports"
        make_folder(folder)  # it lists the members in debt: the till's user's alone
        files = {
            "json": (folder / f"{day.isoformat()}.json", json.dumps(report, indent=2) + "\n"),
            "text": (folder / f"{day.isoformat()}.txt", report_text(report) + "\n"),
        }
        # Both written aside and flushed to the disk first, then put in place, then the
        # folder's new names flushed too: a failure leaves the earlier run's pair as it was,
        # never a new .json beside an old .txt, and a power cut after the rename no empty
        # report under the night's name.
        try:
            for path, text in files.values():
                # A .tmp left by a killed run is replaced, not written into with its mode.
                fd = new_file(path.with_name(path.name + ".tmp"))
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
            for path, _ in files.values():
                os.replace(path.with_name(path.name + ".tmp"), path)
            sync_folder(folder)
        finally:
            for path, _ in files.values():
                try:
                    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
                except OSError:
                    pass  # the folder cannot be written: the error above says so
        return {kind: str(path) for kind, (path, _) in files.items()}

    step("report", write_report)
    results["ok"] = not failures
    results["failures"] = failures
    return results


def optimize(t: Terminal) -> str:
    """``PRAGMA optimize`` with the cache's write lock taken first. Its ANALYZE reads the tables,
    then writes their statistics: a reader whose snapshot another connection (the app's sync,
    a sale) committed past meanwhile is refused that write at once, whatever the busy timeout,
    and the night failed "database is locked". Taken first, the lock is waited for as any
    write waits; the analysis is bounded (``analysis_limit``) so that the app's writes wait
    for it only briefly."""
    with t.store.transaction() as conn:
        conn.execute("PRAGMA analysis_limit=400")
        conn.execute("PRAGMA optimize").fetchall()
    return "ok"


def _verified(t: Terminal) -> dict[str, Any]:
    result = svc.verify(t)
    if not result["ok"]:
        raise LoyaltyPosError("verify found problems: " + "; ".join(result["problems"][:5]))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="nightly-sync", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="the terminal's folder")
    parser.add_argument(
        "--date",
        help="the store day to report (default: the day that ended last: yesterday when run "
        "before noon, as by the 02:30 timer; today from noon on, as after closing)",
    )
    parser.add_argument("--keep", type=int, default=7, help="backups to keep (default 7)")
    parser.add_argument(
        "--keep-unverified",
        type=int,
        default=KEEP_UNVERIFIED,
        help="copies of a cache that failed verify to keep, newest first, besides the first of "
        f"the failing nights (default {KEEP_UNVERIFIED})",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    # At a terminal the steps show as a progress bar, and log lines print above it through the
    # bar's console (a plain handler would write into the bar's line); in cron's mail, plain
    # timestamped lines. Each HTTP request is not news: httpx logs only what goes wrong.
    console = Console(stderr=True)
    fancy = sys.stderr.isatty() and not args.json
    handler: logging.Handler = (
        RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
        if fancy
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        logging.Formatter("%(message)s" if fancy else "%(asctime)s %(levelname)s %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)

    def refuse(code: int, error: str, message: str) -> int:
        """A run that does not start: one log line, or with ``--json`` one JSON object, on
        stderr; exit 2 (bad arguments, no till there) or 3 (another run holds the lock)."""
        if args.json:
            print(json.dumps({"error": error, "message": message}), file=sys.stderr)
        else:
            log.error("%s", message)
        return code

    if problem := empty_home_problem(args.home):
        return refuse(2, "refused", problem)
    home = resolve_home(args.home)
    lock_path = home / "nightly.lock"
    try:
        check_home(home)
        if not (home / CONFIG_FILE).is_file():  # before the lock file: make nothing there
            open_terminal(home)  # raises, saying to run init first
        create_file(lock_path)  # it holds nothing, but nothing new in the till's folder is others'
        lock = lock_path.open("w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return refuse(
            3, "busy", f"another nightly run holds {lock_path}; not starting a second one"
        )
    except LoyaltyPosError as e:
        return refuse(2, e.code, str(e))
    except OSError as e:
        return refuse(2, "storage", f"cannot take the nightly lock {lock_path} ({e.strerror or e})")
    try:
        t = open_terminal(home)
        day = parse_day(args.date, "--date") if args.date else report_day(t.now())
        if args.keep < 1:
            raise Refused(f"--keep must be at least 1 (got {args.keep})")
        if args.keep_unverified < 1:
            raise Refused(f"--keep-unverified must be at least 1 (got {args.keep_unverified})")
    except LoyaltyPosError as e:
        return refuse(2, e.code, str(e))
    except ValueError as e:
        return refuse(2, "refused", str(e))
    if fancy:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("nightly", total=5)

            def progress(name: str) -> None:
                bar.update(task, description=name, advance=1)

            result = run(t, day, args.keep, progress, args.keep_unverified)
    else:
        result = run(t, day, args.keep, lambda name: log.info("%s ...", name), args.keep_unverified)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        written = result.get("report")
        if isinstance(written, dict) and "text" in written:  # this run's, never an earlier one
            print(Path(written["text"]).read_text())
        for failure in result["failures"]:
            print(f"FAILED {failure}", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
