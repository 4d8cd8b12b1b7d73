"""Every figure of ``scripts/bench`` is measured end to end at tiny sizes, so a change that breaks
a harness fails here rather than in the next benchmark run. The figures themselves are not judged
here (performance is measured by scripts/bench, not timed in tests)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loyalty_bench", ROOT / "scripts" / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measured(figures: list) -> dict[str, float]:
    values = {f.name: f.value for f in figures}
    assert all(v is not None and v > 0 for v in values.values()), [
        (f.name, f.note) for f in figures
    ]
    # --json promises targets as "<= 2" or ">= 0.5" in the figure's own unit (or none)
    assert all(re.fullmatch(r"((<=|>=) \d+(\.\d+)?)?", f.target) for f in figures), [
        f.target for f in figures
    ]
    return values


def test_checkout_and_lookup_figures(bench, tmp_path: Path) -> None:
    assert len(measured(bench.bench_checkout(tmp_path / "c", 30))) == 4
    assert len(measured(bench.bench_lookup(tmp_path / "l", 2000, 50))) == 2


def test_a_checkout_s_statements_replayed_make_the_same_journal(bench, tmp_path: Path) -> None:
    """The SQL-alone figure runs what the checkouts ran: on the copy, the recorded statements
    write the journal and the members' rows the checkouts wrote, byte for byte."""
    import sqlite3

    from loyalty_pos import checkout as svc

    def one(t, i: int) -> None:
        card = ["04A1B2C3D4E500", "LC00100037", None][i % 3]
        svc.checkout(t, card, svc.resolve_items(t, [("BOOK-NOVEL", 2), ("MILK", 1 + i % 4)]))

    copy, transactions = bench.recorded_checkouts(tmp_path, one, 12)
    assert len(transactions) == 12
    (original,) = [p for p in tmp_path.rglob("*.db") if p != copy]
    replay = sqlite3.connect(copy, isolation_level=None)
    for statements in transactions:
        for sql, params in statements:
            replay.execute(sql, params).fetchall()
    rows = "SELECT seq, body, hash, receipt FROM journal UNION ALL SELECT member_id, lots, debt, punch FROM members ORDER BY 1"
    with sqlite3.connect(original) as made:
        assert replay.execute(rows).fetchall() == made.execute(rows).fetchall()
    assert len(replay.execute("SELECT * FROM journal").fetchall()) == 12


@pytest.mark.postgres
def test_backlog_and_pull_figures_through_a_real_ledger(bench, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "p").mkdir()
    assert len(measured(bench.bench_backlog(tmp_path / "b", 400))) == 1
    assert len(measured(bench.bench_pull(tmp_path / "p", 1500))) == 1


@pytest.mark.e2e
def test_peak_rss_of_the_real_app(bench, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (rss,) = measured(bench.bench_rss(tmp_path / "r", 1000)).values()
    assert rss < 1024  # MB: a figure in the right unit
