"""The benchmark helpers run end to end (tiny sizes: the real figures come from scripts/bench)."""

from __future__ import annotations

from typing import Any

from loyalty_pos.ledger.bench import bench_push, bench_raw_pg


def test_bench_push_measures_a_real_service(backend: str, databases: Any) -> None:
    rate = bench_push(databases.new(backend), n_events=600, batch=300)
    assert rate > 0


def test_bench_raw_pg_measures_plain_inserts(databases: Any) -> None:
    assert bench_raw_pg(databases.new("postgresql"), n=1000) > 0
