"""Shared fixtures. An autouse fixture keeps the developer's own terminal home out of every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[1]
BERLIN = ZoneInfo("Europe/Berlin")
#: A Sunday inside the spend60 promotion window of the example program.
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_POS_HOME", str(tmp_path_factory.mktemp("home-default")))
    monkeypatch.delenv("LOYALTY_POS_LEDGER_URL", raising=False)
    monkeypatch.delenv("LOYALTY_POS_LEDGER_TOKEN", raising=False)


@pytest.fixture
def program_text() -> str:
    return (ROOT / "config" / "program.example.toml").read_text()


@pytest.fixture
def demo(tmp_path: Path):
    """A fresh demo store with a fixed clock."""
    from loyalty_pos.bootstrap import make_demo_home

    terminal = make_demo_home(tmp_path / "demo")
    terminal.clock = lambda: NOW
    yield terminal
    terminal.store.close()


#: Tests that share one machine-wide resource run one after another in the same xdist worker
#: (``--dist loadgroup``): the device tests drive the one pcscd a machine can run (its socket and
#: pidfile under /run/pcscd, the virtual reader's TCP port).
_ONE_AT_A_TIME = {"hardware": "pcscd"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test module runs whole in one xdist worker, in the order its tests are written, as
    in one process: a module's fixtures (a till set up once for its tests) see its tests one
    after another in that order. The device tests are one group across their modules."""
    tests = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(tests)
        group = _ONE_AT_A_TIME.get(where.parts[0], str(where))
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing may skip for lack of a tool: a skipped test fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; in CI every test must run.", red=True
        )
        session.exitstatus = 1


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The umask of a machine that lets others read new files (0o022, most systems' default;
    0o002, a user's own group's): set for the test and the commands it starts, then restored."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)
