"""The benchmark helpers run end to end (tiny sizes: the real figures come from scripts/bench)."""

from __future__ import annotations

from typing import Any

from loyalty_pos.ledger.bench import bench_push, bench_raw_pg


def test_bench_push_measures_a_real_service(backend: str, databases: Any) -> None:
    pushed = bench_push(databases.new(backend), n_events=600, batch=300)
    assert pushed.events_per_s > 0
    # the service's own process did the work (Linux tells its CPU time; so does CI's machine)
    assert pushed.service_busy is not None and 0 < pushed.service_busy < 2


def test_bench_raw_pg_measures_plain_inserts(databases: Any) -> None:
    assert bench_raw_pg(databases.new("postgresql"), n=1000) > 0
