"""Tiers by qualifying spend in a rolling window, and the progress to the next tier."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from .program import Program, Tier


class TierStatus(NamedTuple):
    """A member's tier for their qualifying spend, and how far the next one is. A named tuple
    rather than a frozen dataclass (as ``quote.QuoteLine``): a sale with a card makes two."""

    tier: Tier
    spend: Decimal
    next_tier: Tier | None
    spend_to_next: Decimal | None

    @property
    def progress(self) -> float:
        """Share of the way from this tier's threshold to the next (display only)."""
        if self.next_tier is None:
            return 1.0
        span = self.next_tier.min_spend - self.tier.min_spend
        return float((self.spend - self.tier.min_spend) / span) if span else 1.0


def qualifying_spend(
    spends: Iterable[tuple[datetime, Decimal]], now: datetime, window_days: int
) -> Decimal:
    """Money paid within ``window_days`` before ``now`` (refunds count negative)."""
    start = now - timedelta(days=window_days)
    return sum((amount for at, amount in spends if start < at <= now), Decimal(0))


def tier_status(program: Program, spend: Decimal) -> TierStatus:
    tiers = program.tiers
    index = 0  # the last tier whose threshold the spend reaches (the first when none)
    for i, tier in enumerate(tiers):
        if spend >= tier.min_spend:
            index = i
    nxt = tiers[index + 1] if index + 1 < len(tiers) else None
    return TierStatus(tiers[index], spend, nxt, (nxt.min_spend - spend) if nxt else None)
