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
    assert len(measured(bench.bench_checkout(tmp_path / "c", 30))) == 2
    assert len(measured(bench.bench_lookup(tmp_path / "l", 2000, 50))) == 2


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
