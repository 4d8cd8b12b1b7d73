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


def raw_sqlite_commits_per_s(folder: Path, n: int) -> float:
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    body = "x" * 900  # about the size of a checkout event
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (id, body) VALUES (?, ?)", (i, body))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def demo_terminal(folder: Path):  # type: ignore[no-untyped-def]
    from loyalty_pos.bootstrap import make_demo_home

    return make_demo_home(folder / "demo")


def bench_checkout(folder: Path, n: int) -> list[Figure]:
    from loyalty_pos import checkout as svc

    t = demo_terminal(folder)
    lines = svc.resolve_items(t, [("MASCARA", 1), ("BOOK-NOVEL", 2), ("MILK", 3)])
    cards = ["04A1B2C3D4E500", "LC00100037", None]
    start = time.perf_counter()
    for i in range(n):
        svc.checkout(t, cards[i % 3], lines)
    rate = n / (time.perf_counter() - start)
    raw = raw_sqlite_commits_per_s(folder, n)
    return [
        Figure(
            "checkout commits/s (service layer, synchronous=FULL)",
            round(rate, 1),
            "1/s",
            ">= 0.5 x raw",
            "raw sqlite3 insert+commit/s",
            round(raw, 1),
            round(rate / raw, 3),
            f"{n} checkouts",
        )
    ]


def fill_members(t: Any, count: int) -> None:
    """``count`` members with one card and one lot each, written straight into the cache."""
    conn = t.store.conn
    conn.execute("BEGIN")
    batch = 50_000
    for first in range(0, count, batch):
        rows = range(first, min(first + batch, count))
        conn.executemany(
            "INSERT INTO members (member_id, name) VALUES (?, ?)",
            ((f"B{i:07d}", f"Member {i}") for i in rows),
        )
        conn.executemany(
            "INSERT INTO cards (card, member_id) VALUES (?, ?)",
            ((f"LC{i:010d}", f"B{i:07d}") for i in rows),
        )
        conn.executemany(
            "INSERT INTO lots (member_id, points, earned_at, expires_at) VALUES (?, ?, ?, ?)",
            ((f"B{i:07d}", 100 + i % 900, "2026-06-01", "2027-06-01") for i in rows),
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
    note = f"{members:,} members, {samples} random cards"
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
    from hardware.tap_latency import measure_tap_latency

    ms = [x * 1000 for x in measure_tap_latency(n)]
    note = f"{n} taps, virtual card via pcscd (vpcd polls every 400 ms)"
    return [
        Figure("tap-to-event p50", round(statistics.median(ms), 1), "ms", "", note=note),
        Figure("tap-to-event p99", round(percentile(ms, 99), 1), "ms", "<= 300", note=note),
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


def bench_ledger(folder: Path, n: int) -> list[Figure]:
    import uuid

    import psycopg

    from loyalty_pos.ledger.bench import bench_push, bench_raw_pg

    name = f"loyalty_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = PG_DSN.rsplit("/", 1)[0] + "/" + name
    try:
        pushed = bench_push(dsn, n_events=n, batch=500)
        raw = bench_raw_pg(dsn, n=n)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sqlite_push = bench_push(f"sqlite:///{folder / 'ledger.db'}", n_events=n, batch=500)
    note = f"{n:,} events in batches of 500, HTTP on loopback"
    return [
        Figure(
            "ledger ingest, PostgreSQL",
            round(pushed),
            "events/s",
            ">= 5000 and >= 0.3 x raw",
            "raw INSERT ... ON CONFLICT DO NOTHING rows/s",
            round(raw),
            round(pushed / raw, 3),
            note,
        ),
        Figure(
            "ledger ingest, SQLite (embedded default)",
            round(sqlite_push),
            "events/s",
            "",
            note=note,
        ),
    ]


def extra_groups(quick: bool) -> list[tuple[str, Callable[[Path], list[Figure]]]]:
    """Figures measured by the other parts (app, devices, receipts, ledger)."""
    return [
        ("startup", lambda d: bench_startup(d, 3 if quick else 5)),
        ("receipt", lambda d: bench_receipt(d, 30 if quick else 100)),
        ("ledger", lambda d: bench_ledger(d, 5000 if quick else 20000)),
        ("taps", lambda d: bench_taps(d, 40 if quick else 200)),
        ("backlog", lambda d: not_measured("100,000-event backlog drained from one terminal")),
        (
            "pull",
            lambda d: not_measured("pull of 1,000,000 member snapshots into an empty terminal"),
        ),
        ("rss", lambda d: not_measured("peak RSS of the app with 1,000,000 members cached")),
    ]


def not_measured(name: str) -> list[Figure]:
    return [Figure(name, None, "", "", note="not measured yet: no harness for it in this release")]


if __name__ == "__main__":
    raise SystemExit(main())
