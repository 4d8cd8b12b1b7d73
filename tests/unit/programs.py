"""Small programs for rule tests, built from dicts so each test shows the rules it relies on."""

from __future__ import annotations

import copy
from typing import Any

from loyalty_pos.domain.program import Program, parse_program

BASE: dict[str, Any] = {
    "program": {"id": "t", "name": "Test", "currency": "EUR", "version": 1},
    "earn": {
        "points_per_unit": 1,
        "excluded_categories": ["tobacco"],
        "earn_on_points_paid": False,
    },
    "redeem": {"points_per_unit": 100, "min_cash": "1.00", "max_share": "1.0", "min_points": 0},
    "expiry": {"days": 365},
    "offline": {"grace_minutes": 60, "max_redeem_points_per_member_per_day": 5000},
    "tiers": {
        "window_days": 365,
        "levels": [
            {"name": "Malachite", "min_spend": "0", "multiplier": "1.0"},
            {"name": "Sapphire", "min_spend": "1000", "multiplier": "1.25"},
        ],
    },
    "promotions": [],
}


def program(promotions: list[dict[str, Any]] | None = None, **sections: dict[str, Any]) -> Program:
    data = copy.deepcopy(BASE)
    for name, values in sections.items():
        data[name].update(values)
    data["promotions"] = promotions or []
    return parse_program(data, "test.toml")
