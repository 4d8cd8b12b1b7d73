"""Fixtures for the checkout app's Pilot and snapshot tests.

Every test gets its own copy of one demo store (made once per session), a fixed clock, and an app
whose key clock types like a person (200 ms between keys) unless a test scans a burst.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loyalty_pos.bootstrap import make_demo_home, open_terminal
from loyalty_pos.checkout import Terminal
from loyalty_pos.tui.app import CheckoutApp

from ..support.zones import machine_zone
from .pilot import KeyClock

ROOT = Path(__file__).resolve().parents[2]
#: A Sunday inside the example program's spend60 promotion (as in tests/conftest.py).
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
ANNA = "04A1B2C3D4E500"
BEN = "LC00100037"
COFFEE_EAN = "4000010000003"


@pytest.fixture(autouse=True)
def _no_developer_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep the developer's own terminal, ledger and time zone out of the app's tests: the
    demo store names no `timezone`, so its store time is the machine's, here Berlin's."""
    monkeypatch.setenv("LOYALTY_POS_HOME", str(tmp_path / "default-home"))
    monkeypatch.delenv("LOYALTY_POS_LEDGER_URL", raising=False)
    monkeypatch.delenv("LOYALTY_POS_LEDGER_TOKEN", raising=False)
    with machine_zone("Europe/Berlin"):
        yield


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-template") / "home"
    make_demo_home(home).store.close()
    return home


@pytest.fixture
def terminal(demo_template: Path, tmp_path: Path) -> Iterator[Terminal]:
    home = tmp_path / "demo"
    shutil.copytree(demo_template, home)
    t = open_terminal(home)
    t.clock = lambda: NOW
    yield t
    t.store.close()


@pytest.fixture
def key_clock() -> KeyClock:
    return KeyClock()


@pytest.fixture
def make_app(terminal: Terminal, key_clock: KeyClock) -> Callable[..., CheckoutApp]:
    def make(t: Terminal | None = None, **kwargs: object) -> CheckoutApp:
        return CheckoutApp(t or terminal, key_clock=key_clock, **kwargs)  # type: ignore[arg-type]

    return make
