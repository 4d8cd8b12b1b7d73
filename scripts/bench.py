"""Benchmark report for loyalty-pos (run it through scripts/bench).

Each figure is measured beside an anchor taken in the same run on the same machine (raw SQLite,
raw PostgreSQL), so the ratio says what the project's own layers cost. Nothing here is a test:
figures are reported as measured, short of their target or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: str
    anchor: str = ""
    anchor_value: float | None = None
    ratio: float | None = None
    note: str = ""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class RawSqlite:
    """The anchor: one ~900-byte row inserted and committed per transaction, same pragmas."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.body = "x" * 900  # about the size of a checkout event
        self.next_id = 0

    def commits_per_s(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO t (id, body) VALUES (?, ?)", (self.next_id, self.body))
            self.conn.execute("COMMIT")
            self.next_id += 1
        return n / (time.perf_counter() - start)


def demo_terminal(folder: Path):  # type: ignore[no-untyped-def]
    from loyalty_pos.bootstrap import make_demo_home

    return make_demo_home(folder / "demo")


class RecordingConnection:
    """A cache connection that also keeps each transaction's statements and parameters, so a
    checkout's SQL can be run again without the Python that chose it (``replay``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.transactions: list[list[tuple[str, Any]]] = []
        self._current: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self._current.append((sql, params))
        if sql == "COMMIT":
            self.transactions.append(self._current)
            self._current = []
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class CommitTimer:
    """A cache connection that also adds up the time its ``COMMIT`` statements take, so a
    checkout's time splits into what comes before its commit and the commit itself."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.committing = 0.0

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if sql != "COMMIT":
            return self._conn.execute(sql, params)
        start = time.perf_counter()
        try:
            return self._conn.execute(sql, params)
        finally:
            self.committing += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def recorded_checkouts(
    folder: Path, checkout: Callable[[Any, int], None], n: int
) -> tuple[Path, list[list[tuple[str, Any]]]]:
    """A copy of a fresh demo cache, and the statements of ``n`` checkouts made on the original
    after the copy was taken: run on the copy, in order, they make the same rows."""
    t = demo_terminal(folder)
    copy = folder / "replay.db"
    with sqlite3.connect(copy) as target:
        t.store.conn.backup(target)
    target.close()
    t.store.conn.execute("PRAGMA synchronous=OFF")
    recorder = RecordingConnection(t.store.conn)
    t.store.conn = recorder  # type: ignore[assignment]
    for i in range(n):
        checkout(t, i)
    t.store.conn = recorder._conn
    t.store.close()
    return copy, recorder.transactions


def bench_checkout(folder: Path, n: int, rounds: int = 5) -> list[Figure]:
    """Checkouts and the raw anchor in alternating rounds on the same disk; the medians. The
    disk's flush time drifts within seconds on a shared machine, so back-to-back blocks would
    compare two different moments.

    The same rounds also time both with ``synchronous=OFF`` (a second terminal, a second raw
    file), which leaves out the WAL flush at each commit: the second figure splits each side's
    time into work (OFF) and flush (FULL less OFF), which is what the ratio is made of. The third
    runs the statements of the same checkouts again on a copy of the cache, with nothing between
    them (``synchronous=FULL``): what the ratio would be if a checkout's Python took no time. The
    fourth times, on two more terminals (FULL and OFF, so that the timing stays out of the
    first figure), what a checkout spends before its ``COMMIT``: the same Python, run after a
    flush's wait or without one."""
    from loyalty_pos import checkout as svc

    t = demo_terminal(folder)
    unflushed = demo_terminal(folder / "unflushed")
    unflushed.store.conn.execute("PRAGMA synchronous=OFF")  # the work without the flush
    split = {sync: demo_terminal(folder / f"split-{sync}") for sync in ("FULL", "OFF")}
    for sync, terminal in split.items():
        terminal.store.conn.execute(f"PRAGMA synchronous={sync}")
        terminal.store.conn = CommitTimer(terminal.store.conn)
    raw = RawSqlite(folder / "raw.db")
    raw_unflushed = RawSqlite(folder / "raw-unflushed.db", synchronous="OFF")
    cards = ["04A1B2C3D4E500", "LC00100037", None]
    per_round = max(1, n // rounds)
    items = [("MASCARA", 1), ("BOOK-NOVEL", 2), ("MILK", 3)]

    def checkouts_per_s(terminal: Any) -> float:
        lines = svc.resolve_items(terminal, items)
        start = time.perf_counter()
        for i in range(per_round):
            svc.checkout(terminal, cards[i % 3], lines)
        return per_round / (time.perf_counter() - start)

    basket = svc.resolve_items(t, items)  # the demo catalog: the same lines on every copy

    def one(terminal: Any, i: int) -> None:
        # As timed above: the basket's items are looked up before, not inside, the checkouts.
        svc.checkout(terminal, cards[i % 3], basket)

    (folder / "recorded").mkdir()
    copy, transactions = recorded_checkouts(folder / "recorded", one, per_round * rounds)
    replay = sqlite3.connect(copy, isolation_level=None)
    replay.execute("PRAGMA journal_mode=WAL")
    replay.execute("PRAGMA synchronous=FULL")
    replay.execute("PRAGMA foreign_keys=ON")
    replayed = iter(transactions)

    def replays_per_s() -> float:
        start = time.perf_counter()
        for _ in range(per_round):
            for sql, params in next(replayed):
                replay.execute(sql, params).fetchall()
        return per_round / (time.perf_counter() - start)

    rates: list[float] = []
    raws: list[float] = []
    work: list[float] = []
    raw_work: list[float] = []
    sql_only: list[float] = []
    before_commit: dict[str, list[float]] = {sync: [] for sync in split}

    def before_commit_us(terminal: Any) -> float:
        timer = terminal.store.conn
        timer.committing = 0.0
        start = time.perf_counter()
        checkouts_per_s(terminal)
        return (time.perf_counter() - start - timer.committing) / per_round * 1e6

    for _ in range(rounds):
        rates.append(checkouts_per_s(t))
        raws.append(raw.commits_per_s(per_round))
        work.append(checkouts_per_s(unflushed))
        raw_work.append(raw_unflushed.commits_per_s(per_round))
        sql_only.append(replays_per_s())
        for sync, terminal in split.items():
            before_commit[sync].append(before_commit_us(terminal))
    replay.close()
    rate, raw_rate = statistics.median(rates), statistics.median(raws)
    sql_rate = statistics.median(sql_only)
    done = per_round * rounds

    def us(per_s: float) -> float:
        return 1e6 / per_s

    checkout_us, raw_us = us(rate), us(raw_rate)
    work_us, raw_work_us = us(statistics.median(work)), us(statistics.median(raw_work))
    waited_us, unwaited_us = (statistics.median(before_commit[s]) for s in ("FULL", "OFF"))
    return [
        Figure(
            "checkout commits/s (service layer, synchronous=FULL)",
            round(rate, 1),
            "1/s",
            f">= {0.5 * raw_rate:.1f}",
            "raw sqlite3 insert+commit/s",
            round(raw_rate, 1),
            round(rate / raw_rate, 3),
            f"{done} checkouts; median of {rounds} alternating rounds (checkout "
            f"{min(rates):.0f}-{max(rates):.0f}, raw {min(raws):.0f}-{max(raws):.0f}); "
            "target 0.5 x raw",
        ),
        Figure(
            "checkout time, of which work (synchronous=OFF)",
            round(work_us),
            "us",
            "",
            "raw insert+commit, of which work, us",
            round(raw_work_us),
            round(work_us / raw_work_us, 1),
            f"a checkout takes {checkout_us:.0f} us: {work_us:.0f} us of work (pricing, "
            f"the event, its hash, the SQL) and {checkout_us - work_us:.0f} us more with the "
            f"flush; the anchor takes {raw_us:.0f} us: {raw_work_us:.0f} us of work, "
            f"{raw_us - raw_work_us:.0f} us more with the flush. Same rounds as the figure "
            "above; work is timed with synchronous=OFF. 'More with the flush' is the wait for "
            "it and the work after it running slower than without a wait (README)",
        ),
        Figure(
            "a checkout's SQL alone, replayed (synchronous=FULL)",
            round(sql_rate, 1),
            "1/s",
            "",
            "raw sqlite3 insert+commit/s",
            round(raw_rate, 1),
            round(sql_rate / raw_rate, 3),
            f"the statements of the same {done} checkouts with their parameters, run again "
            "on a copy of the cache as it was before them, with no Python between them "
            f"({us(sql_rate):.0f} us per checkout); same rounds. The ratio a checkout would "
            "have if its own Python took no time: the ceiling of the first figure's with "
            "this schema",
        ),
        Figure(
            "a checkout before its commit, after a flush (synchronous=FULL)",
            round(waited_us),
            "us",
            "",
            "the same before its commit, without a flush (synchronous=OFF), us",
            round(unwaited_us),
            round(waited_us / unwaited_us, 2),
            "a checkout's time up to its COMMIT (finding the member, pricing, the event, "
            "its hash, the SQL before the commit), on two more demo terminals timed alike in "
            "the same rounds: the same Python runs this much slower when the checkout before "
            "it waited for its flush than when it did not (the process sleeps through each "
            "flush). This part of 'more with the flush' is no flush at all",
        ),
    ]


#: Dated spends the ledger sent for each member ``fill_members`` writes: a monthly shopper.
DATED_SPENDS = 12


def fill_members(t: Any, count: int) -> None:
    """``count`` members with one card, one lot and a year of monthly spend from the ledger
    (``DATED_SPENDS`` dated rows, all in the tier window) each, written straight into the cache."""
    from datetime import timedelta

    from loyalty_pos.store.db import epoch_us

    first = epoch_us(t.now() - timedelta(days=330))
    conn = t.store.conn
    conn.execute("BEGIN")
    batch = 50_000
    for first in range(0, count, batch):
        rows = range(first, min(first + batch, count))
        conn.executemany(
            "INSERT INTO members (member_id, name, lots) VALUES (?, ?, ?)",
            (
                (
                    f"B{i:07d}",
                    f"Member {i}",
                    f'[{{"points": {100 + i % 900}, "earned_at": "2026-06-01", '
                    '"expires_at": "2027-06-01"}]',
                )
                for i in rows
            ),
        )
        conn.executemany(
            "INSERT INTO cards (card, member_id) VALUES (?, ?)",
            ((f"LC{i:010d}", f"B{i:07d}") for i in rows),
        )
    conn.execute("UPDATE members SET base_spend_dated = 1 WHERE member_id LIKE 'B%'")
    conn.execute(
        "WITH RECURSIVE month (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM month WHERE n < ?) "
        "INSERT INTO base_spend (member_id, at_us, spend_minor) "
        "SELECT m.member_id, ? + month.n * ?, 2500 + m.rowid % 5000 "
        "FROM members m, month WHERE m.member_id LIKE 'B%' ORDER BY m.member_id, month.n",
        (DATED_SPENDS - 1, first, 30 * 86_400_000_000),
    )
    conn.execute("COMMIT")


def bench_lookup(folder: Path, members: int, samples: int) -> list[Figure]:
    import random

    from loyalty_pos import checkout as svc

    t = demo_terminal(folder / "lookup")
    fill_members(t, members)
    rng = random.Random(7)
    cards = [f"LC{rng.randrange(members):010d}" for _ in range(samples)]
    times = []
    for card in cards:
        start = time.perf_counter()
        svc.find_member(t, card)
        times.append((time.perf_counter() - start) * 1000)
    raw_conn = sqlite3.connect(t.home / "terminal.db")
    raw = []
    for card in cards:
        start = time.perf_counter()
        raw_conn.execute("SELECT member_id FROM cards WHERE card = ?", (card,)).fetchone()
        raw.append((time.perf_counter() - start) * 1000)
    raw_conn.close()
    note = f"{members:,} members ({DATED_SPENDS} dated spends each), {samples} random cards"
    return [
        Figure(
            "card lookup p50 (member, balance, tier)",
            round(statistics.median(times), 3),
            "ms",
            "",
            "raw sqlite3 card SELECT p50",
            round(statistics.median(raw), 4),
            round(statistics.median(times) / statistics.median(raw), 1),
            note,
        ),
        Figure(
            "card lookup p99 (member, balance, tier)",
            round(percentile(times, 99), 3),
            "ms",
            "<= 2",
            "raw sqlite3 card SELECT p99",
            round(percentile(raw, 99), 4),
            round(percentile(times, 99) / percentile(raw, 99), 1),
            note,
        ),
    ]


def optional(name: str, fn: Callable[[], list[Figure]]) -> list[Figure]:
    """A figure whose part is not installed or failed is reported as not measured, with why."""
    try:
        return fn()
    except Exception as e:  # a benchmark report lists what could not be measured and goes on
        return [Figure(name, None, "", "", note=f"not measured: {type(e).__name__}: {e}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in ~3 minutes")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--only", action="append", default=[], help="run only figures whose group matches"
    )
    args = parser.parse_args()
    q = args.quick
    sizes = {
        "checkouts": 300 if q else 2000,
        "members": 100_000 if q else 1_000_000,
        "lookups": 500 if q else 2000,
    }
    groups: list[tuple[str, Callable[[Path], list[Figure]]]] = [
        ("checkout", lambda d: bench_checkout(d, sizes["checkouts"])),
        ("lookup", lambda d: bench_lookup(d, sizes["members"], sizes["lookups"])),
    ]
    groups += extra_groups(q)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(
        prefix="loyalty-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        for group, fn in groups:
            if args.only and not any(o in group for o in args.only):
                continue
            folder = Path(tmp) / group
            folder.mkdir()
            figures += optional(group, lambda fn=fn, folder=folder: fn(folder))
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine,
                    "quick": q,
                    "sizes": sizes,
                    "figures": [asdict(f) for f in figures],
                },
                indent=2,
            )
        )
        return 0
    print(
        f"loyalty-pos benchmark, {datetime.now():%Y-%m-%d %H:%M}, {machine}"
        + (" (--quick sizes)" if q else "")
    )
    print()
    print("| figure | value | target | anchor (same run) | ratio | notes |")
    print("|---|---|---|---|---|---|")
    for f in figures:
        value = "-" if f.value is None else f"{f.value:g} {f.unit}"
        anchor = (
            f"{f.anchor}: {f.anchor_value:g}" if f.anchor_value is not None else (f.anchor or "-")
        )
        ratio = "-" if f.ratio is None else f"{f.ratio:g}"
        print(f"| {f.name} | {value} | {f.target or '-'} | {anchor} | {ratio} | {f.note} |")
    return 0


PG_DSN = os.environ.get("LOYALTY_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def bench_startup(_: Path, runs: int) -> list[Figure]:
    from loyalty_pos.tui.bench import measure_startup

    seconds = measure_startup(runs=runs)
    return [
        Figure(
            "app start-up to a ready checkout screen (demo store)",
            round(seconds, 3),
            "s",
            "<= 1.5",
            note=f"median of {runs} starts, interpreter start included",
        )
    ]


def bench_taps(_: Path, n: int) -> list[Figure]:
    import sys

    sys.path.insert(0, str(ROOT))
    from hardware.tap_latency import measure_read_latency, measure_tap_latency

    ms = [x * 1000 for x in measure_tap_latency(n)]
    read = [x * 1000 for x in measure_read_latency(n)]
    note = f"{n} taps, virtual card via pcscd (vpcd polls every 400 ms)"
    return [
        Figure("tap-to-event p50", round(statistics.median(ms), 1), "ms", "", note=note),
        Figure("tap-to-event p99", round(percentile(ms, 99), 1), "ms", "<= 300", note=note),
        Figure(
            "card read once pcscd has seen it (connect, UID APDU, release) p99",
            round(percentile(read, 99), 2),
            "ms",
            "",
            note=f"{n} reads; the reader loop's own share of a tap (median "
            f"{statistics.median(read):.2f} ms)",
        ),
    ]


def bench_receipt(_: Path, n: int) -> list[Figure]:
    from loyalty_pos.receipts.image import bench_render

    return [
        Figure(
            "receipt image render (576 dots, Code128)",
            round(bench_render(n), 2),
            "ms",
            "<= 50",
            note=f"median of {n}",
        )
    ]


def bench_ledger(folder: Path, n: int, rounds: int = 3) -> list[Figure]:
    """Push and the raw anchor in alternating rounds, each in a fresh database; the medians. The
    raw rate on this server swings several-fold from one run to the next with what else writes,
    so one pair would say more about the moment than about the ledger."""
    from loyalty_pos.ledger.bench import bench_push, bench_raw_pg

    pushes, raw = [], []
    for _ in range(rounds):
        with PgDatabase() as dsn:
            pushes.append(bench_push(dsn, n_events=n, batch=500))
        with PgDatabase() as dsn:
            raw.append(bench_raw_pg(dsn, n=n))
    pushed = [p.events_per_s for p in pushes]
    push_rate, raw_rate = statistics.median(pushed), statistics.median(raw)
    sqlite_push = bench_push(f"sqlite:///{folder / 'ledger.db'}", n_events=n, batch=500)
    note = f"{n:,} events in batches of 500, HTTP on loopback"
    spread = (
        f"; median of {rounds} alternating rounds (push {min(pushed):.0f}-{max(pushed):.0f}, "
        f"raw {min(raw):.0f}-{max(raw):.0f})"
    )
    busy = [p.service_busy for p in pushes if p.service_busy is not None]
    if busy:
        spread += (
            f"; the service's process was busy {min(busy):.0%}-{max(busy):.0%} of each push "
            "(its CPU time over the push's wall time)"
        )
    return [
        Figure(
            "ledger ingest, PostgreSQL",
            round(push_rate),
            "events/s",
            f">= {max(5000, 0.3 * raw_rate):.0f}",
            "raw INSERT ... ON CONFLICT DO NOTHING rows/s",
            round(raw_rate),
            round(push_rate / raw_rate, 3),
            note + spread + "; target 5000 and 0.3 x raw",
        ),
        Figure(
            "ledger ingest, SQLite (embedded default)",
            round(sqlite_push.events_per_s),
            "events/s",
            "",
            note=note,
        ),
    ]


class PgDatabase:
    """A fresh PostgreSQL database on the bench server (``with`` gives its DSN); dropped after."""

    def __init__(self) -> None:
        import uuid

        self.name = f"loyalty_bench_{uuid.uuid4().hex[:8]}"
        self.dsn = PG_DSN.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.dsn

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class LedgerService:
    """``loyalty-ledger serve`` on ``dsn`` in a subprocess on loopback (``ledger.bench``), with
    the demo program stored through its API; ``admin`` is an HTTP client with the admin token."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __enter__(self) -> LedgerService:
        import httpx

        from loyalty_pos.bootstrap import demo_data_dir
        from loyalty_pos.domain.program import parse_program_text, program_to_json
        from loyalty_pos.ledger.bench import LedgerServer

        self.server = LedgerServer(self.dsn)
        self.url = self.server.url
        self.admin = httpx.Client(
            base_url=self.url,
            timeout=120,
            headers={"Authorization": f"Bearer {self.server.admin_token}"},
        )
        try:
            path = demo_data_dir() / "program.example.toml"
            text = path.read_text(encoding="utf-8")
            rules = program_to_json(parse_program_text(text, str(path)))
            self.admin.put("/v1/program", json=rules).raise_for_status()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.admin.close()
        self.server.stop()

    def terminal(self, folder: Path, terminal_id: str) -> Any:
        """A new terminal registered here (its own token), with an empty cache."""
        from loyalty_pos.bootstrap import demo_data_dir, init_terminal

        reply = self.admin.post("/v1/terminals", json={"terminal_id": terminal_id})
        reply.raise_for_status()
        return init_terminal(
            folder / terminal_id,
            terminal_id,
            demo_data_dir() / "program.example.toml",
            "1234",
            ledger_url=self.url,
            token=reply.json()["token"],
        )


def bench_backlog(folder: Path, n: int) -> list[Figure]:
    """A terminal that recorded ``n`` events offline (5% enrolments of new members, then
    checkouts by them, through the real service layer) drains its outbox to a PostgreSQL ledger
    over HTTP with ``sync.client.push``: seconds from the first batch to an empty outbox."""
    from datetime import UTC, timedelta

    from loyalty_pos import checkout as svc
    from loyalty_pos.bootstrap import demo_data_dir, open_terminal
    from loyalty_pos.imports import import_catalog
    from loyalty_pos.ledger.bench import bench_raw_pg
    from loyalty_pos.sync.client import PUSH_BATCH, client_for, push

    members = max(1, n // 20)
    with PgDatabase() as dsn:
        with LedgerService(dsn) as ledger:
            t = ledger.terminal(folder, "BACKLOG1")
            import_catalog(t, demo_data_dir() / "demo" / "catalog.csv")
            # Not timed: the backlog is recorded by the service layer (checkout.enroll and
            # checkout.checkout, each in its own transaction) at fixed times one second apart
            # from two days ago on; without fsync, since only the drain is measured.
            t.store.conn.execute("PRAGMA synchronous=OFF")
            start_at = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start_at -= timedelta(days=2)
            lines = svc.resolve_items(t, [("MASCARA", 1), ("BOOK-NOVEL", 2), ("MILK", 3)])
            for i in range(members):
                at = start_at + timedelta(seconds=i)
                svc.enroll(t, f"LC7{i:09d}", name=f"Backlog member {i}", at=at)
            for i in range(members, n):
                at = start_at + timedelta(seconds=i)
                svc.checkout(t, f"LC7{i % members:09d}", lines, at=at)
            t.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            t.store.close()
            t = open_terminal(t.home)  # as `loyalty-pos sync` finds it: synchronous=FULL
            waiting = t.store.outbox_count()
            if waiting != n:
                raise RuntimeError(f"the backlog holds {waiting} events, not {n}")
            client = client_for(t)
            try:
                started = time.perf_counter()
                counts = push(t, client, t.now())
                elapsed = time.perf_counter() - started
            finally:
                client.close()
            left = t.store.outbox_count()
            t.store.close()
            if left or counts["pushed"] != n:
                raise RuntimeError(f"the drain left {left} events waiting: {counts}")
        raw_s = n / bench_raw_pg(dsn, n=n)
    return [
        Figure(
            "backlog drained from one terminal to the ledger (PostgreSQL)",
            round(elapsed, 2),
            "s",
            "",
            "raw INSERT ... ON CONFLICT DO NOTHING of as many rows, s",
            round(raw_s, 2),
            round(elapsed / raw_s, 1),
            f"{n:,} events ({members:,} enrolments, the rest checkouts) recorded offline by "
            "checkout.enroll/checkout.checkout (not timed), drained by sync.client.push in "
            f"batches of {PUSH_BATCH} to a PostgreSQL ledger over HTTP on loopback; "
            f"{n / elapsed:.0f} events/s",
        )
    ]


#: One member per row of generate_series: a checkout event in the tier window with its earn
#: transfer, the member's cached record (``members.state`` as ``MemberRecord.to_state`` writes
#: it) and the member's card. ``%(g0)s`` is the ledger's sequence before the seed. The seeded
#: events are not a hash chain: nothing on the pull path reads one.
_PULL_SEED = [
    """INSERT INTO events (gseq, event_id, terminal_id, seq, type, member_id, occurred_at,
        occurred_us, received_us, skew_s, program_version, prev_hash, hash, status, reason,
        message, spend_minor, body)
    SELECT %(g0)s + i, md5('seed' || i)::uuid::text, 'SEED', i, 'checkout',
        'S' || lpad(i::text, 7, '0'),
        to_char(to_timestamp(%(t0)s::bigint + i) AT TIME ZONE 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
        (%(t0)s::bigint + i) * 1000000, (%(t0)s::bigint + i) * 1000000, 0, 1,
        repeat('0', 64), encode(sha256(('seed' || i)::bytea), 'hex'), 'accepted', NULL, NULL,
        1000 + i %% 50000,
        json_build_object('event_id', md5('seed' || i)::uuid::text, 'terminal_id', 'SEED',
            'seq', i, 'type', 'checkout', 'member_id', 'S' || lpad(i::text, 7, '0'),
            'currency', 'EUR', 'total_minor', 1000 + i %% 50000,
            'due_minor', 1000 + i %% 50000, 'points_earned', 100 + i %% 900)::text
    FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO transfers (gseq, leg, kind, debit, credit, amount, member_id, occurred_us)
    SELECT %(g0)s + i, 0, 'earn', 'program:issued', 'member:S' || lpad(i::text, 7, '0'),
        100 + i %% 900, 'S' || lpad(i::text, 7, '0'), (%(t0)s::bigint + i) * 1000000
    FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO members (member_id, change_seq, balance, status, next_expiry, enrolled_us,
        state)
    SELECT 'S' || lpad(i::text, 7, '0'), %(g0)s + i, 100 + i %% 900, 'active',
        %(expires)s::text, (%(t0)s::bigint + i) * 1000000,
        json_build_object('member_id', 'S' || lpad(i::text, 7, '0'), 'name', 'Member ' || i,
            'email', 'm' || i || '@example.org', 'phone', NULL, 'birthday', NULL,
            'status', 'active',
            'cards', json_build_array(json_build_array('SC' || lpad(i::text, 10, '0'),
                                                       'active')),
            'lots', json_build_array(json_build_object('points', 100 + i %% 900,
                'earned_at', %(earned)s::text, 'expires_at', %(expires)s::text)),
            'debt', 0, 'punch', '{}'::json, 'last_birthday_bonus', NULL,
            'counted_through', '{}'::json, 'enrolled_at', %(earned)s::text || 'T00:00:00+00:00',
            'enrolled_us', (%(t0)s::bigint + i) * 1000000)::text
    FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO cards (card, member_id, status)
    SELECT 'SC' || lpad(i::text, 10, '0'), 'S' || lpad(i::text, 7, '0'), 'active'
    FROM generate_series(1, %(n)s) AS i""",
    "UPDATE ledger_state SET gseq = %(g0)s + %(n)s WHERE id = 1",
]


def seed_ledger_members(dsn: str, n: int) -> None:
    """``n`` members straight into the ledger's tables, in one transaction (set-based SQL)."""
    from datetime import timedelta

    import psycopg

    now = datetime.now().astimezone()
    earned = (now - timedelta(days=30)).date()
    params: dict[str, Any] = {
        "n": n,
        "t0": int(now.timestamp()) - 30 * 86400 - n,
        "earned": earned.isoformat(),
        "expires": (earned + timedelta(days=365)).isoformat(),
    }
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT gseq FROM ledger_state WHERE id = 1").fetchone()
        if row is None:
            raise RuntimeError("the ledger has no ledger_state row")
        params["g0"] = int(row[0])
        for statement in _PULL_SEED:
            conn.execute(statement, params)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def bench_pull(folder: Path, n: int) -> list[Figure]:
    """An empty terminal pulls ``n`` member snapshots from a PostgreSQL ledger over HTTP with
    ``sync.client.pull`` (its pages, its transactions): seconds until its cache holds them all."""
    from loyalty_pos.sync.client import PULL_PAGE, client_for, pull

    with PgDatabase() as dsn, LedgerService(dsn) as ledger:
        t = ledger.terminal(folder, "PULL1")
        seed_ledger_members(dsn, n)  # not timed
        client = client_for(t)
        try:
            started = time.perf_counter()
            pulled = pull(t, client).pulled
            elapsed = time.perf_counter() - started
        finally:
            client.close()
        row = t.store.one("SELECT COUNT(*) AS n FROM members")
        cached = int(row["n"]) if row else 0
        cards = t.store.one("SELECT COUNT(*) AS n FROM cards")
        t.store.close()
    if pulled != n or cached != n or not cards or int(cards["n"]) != n:
        raise RuntimeError(f"pulled {pulled}, the cache holds {cached} members, not {n}")
    return [
        Figure(
            "pull of member snapshots into an empty terminal (PostgreSQL ledger)",
            round(elapsed, 2),
            "s",
            "",
            note=f"{n:,} members seeded by SQL into a PostgreSQL ledger (each with a card, a lot "
            f"and a checkout in the tier window), pulled by sync.client.pull in pages of "
            f"{PULL_PAGE} over HTTP on loopback; {n / elapsed:.0f} snapshots/s",
        )
    ]


class _Tmux:
    """A tmux server of our own (``-L``) running one command in a 100 x 30 window."""

    def __init__(self, folder: Path, command: list[str], env: dict[str, str]) -> None:
        import shlex
        import shutil
        import uuid

        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed")
        self.socket = f"loyalty-bench-{uuid.uuid4().hex[:8]}"
        self.config = folder / "tmux.conf"
        self.config.write_text("set -g default-size 100x30\n")
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        line = f"sleep 0.5; exec env {exports} {shlex.join(command)}"  # the pane's pid is the app
        self.tmux("new-session", "-d", "-s", "pos", "-x", "100", "-y", "30", line)

    def tmux(self, *args: str) -> str:
        import subprocess

        out = subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-t", "pos")
            if text in screen:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{text!r} never appeared on the app's screen:\n{screen}")

    def scan(self, code: str) -> None:
        """``code`` and Enter in one burst, as a keyboard-wedge scanner sends them."""
        self.tmux("send-keys", "-t", "pos", "-l", code, ";", "send-keys", "-t", "pos", "Enter")

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", "pos", name)

    def close(self) -> None:
        import subprocess

        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def app_peak_rss_mb(folder: Path, home: Path, card: str, name: str) -> float:
    """Run ``loyalty-pos run --home`` in tmux, scan ``card`` (a wedge burst), scan an item, pay
    (F9), and return the app process's peak RSS (VmHWM) in MB, read just before it quits."""
    import sys

    from loyalty_pos.store import open_store

    script = Path(sys.executable).parent / "loyalty-pos"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "loyalty_pos.cli"]
    env = {"TERM": "xterm-256color", "TZ": "Europe/Berlin", "LOYALTY_POS_HOME": str(home)}
    app = _Tmux(folder, [*command, "run", "--home", str(home)], env)
    try:
        app.wait_for("Scan or type an item")
        pid = int(app.tmux("display", "-p", "-t", "pos", "#{pane_pid}").strip())
        app.scan(card)
        app.wait_for(name)
        app.scan("MASCARA")
        app.wait_for("Volume mascara")
        app.key("F9")
        app.wait_for("Sale recorded")
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"loyalty" not in cmdline:
            raise RuntimeError(f"pid {pid} is not the app: {cmdline!r}")
        app.key("Enter")
        app.wait_for("No card")
        app.key("C-q")
    finally:
        app.close()
    store = open_store(home / "terminal.db")
    try:
        sales = store.query("SELECT member_id FROM journal WHERE type = 'checkout'")
    finally:
        store.close()
    if len(sales) != 1:
        raise RuntimeError(f"the app recorded {len(sales)} checkouts, not 1")
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kb / 1024


def bench_rss(folder: Path, members: int) -> list[Figure]:
    """Peak RSS of the real checkout app (``loyalty-pos run`` in tmux) on the demo store with
    ``members`` more members in its cache, after a card lookup and a checkout; the anchor is the
    same on the bare demo store (20 members)."""
    from loyalty_pos.bootstrap import make_demo_home

    bare = folder / "bare"
    make_demo_home(bare).store.close()
    anchor = app_peak_rss_mb(folder, bare, "04A1B2C3D4E500", "Anna")
    home = folder / "big"
    t = make_demo_home(home)
    fill_members(t, members)
    t.store.close()
    i = members // 2
    value = app_peak_rss_mb(folder, home, f"LC{i:010d}", f"Member {i}")
    return [
        Figure(
            "peak RSS of the checkout app with the members cached",
            round(value, 1),
            "MB",
            "<= 150",
            "same app on the bare demo store (20 members), MB",
            round(anchor, 1),
            round(value / anchor, 2),
            f"{members:,} members (a card, a lot and {DATED_SPENDS} dated spends each) in the "
            "SQLite cache; `loyalty-pos run` "
            "in tmux (100x30), a card and an item scanned (keyboard wedge), F9, then VmHWM of the app process",
        )
    ]


def extra_groups(quick: bool) -> list[tuple[str, Callable[[Path], list[Figure]]]]:
    """Figures measured by the other parts (app, devices, receipts, ledger)."""
    return [
        ("startup", lambda d: bench_startup(d, 3 if quick else 5)),
        ("receipt", lambda d: bench_receipt(d, 30 if quick else 100)),
        ("ledger", lambda d: bench_ledger(d, 5000 if quick else 20000)),
        ("taps", lambda d: bench_taps(d, 40 if quick else 200)),
        ("backlog", lambda d: bench_backlog(d, 10_000 if quick else 100_000)),
        ("pull", lambda d: bench_pull(d, 100_000 if quick else 1_000_000)),
        ("rss", lambda d: bench_rss(d, 100_000 if quick else 1_000_000)),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
