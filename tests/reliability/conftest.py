"""Budgets for the reliability runs: small in CI, long on request.

``--crash-kills N`` (default 200) and ``--fuzz-examples N`` (default 100) set the sizes; the seed is
printed so a failing run can be replayed with ``--reliability-seed``.
"""

from __future__ import annotations

import random

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability")
    group.addoption("--crash-kills", type=int, default=200, help="SIGKILLs in the crash test")
    group.addoption("--reliability-seed", type=int, default=None, help="replay a seed")


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    value = request.config.getoption("--reliability-seed")
    if value is None:
        value = random.SystemRandom().randrange(2**32)
    print(f"reliability seed: {value} (replay with --reliability-seed {value})")
    return int(value)
