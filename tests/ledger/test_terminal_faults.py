"""Terminals and the ledger through a seeded fault-injecting proxy (drops, delays, lost and cut
responses, 502/503, offline periods), and terminals whose clocks are wrong.

At the end every event is at the ledger exactly once, each terminal's balances agree with the
ledger's, debits equal credits and all balances sum to zero. The seed is printed; replay it with
``LOYALTY_FAULT_SEED``. ``LOYALTY_FAULT_CHECKOUTS`` sets the size (default 2,000)."""

from __future__ import annotations

import os
import random
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from ledger_helpers import LedgerServer
from test_terminal_sync import ANNA, ROOT, ledger_cli, ledger_member, till  # noqa: F401

from loyalty_pos import checkout as svc
from loyalty_pos.domain.errors import RedeemRefused
from loyalty_pos.sync import LedgerClient, SyncError, sync
from tests.support.faultproxy import FaultProxy

pytestmark = pytest.mark.reliability

CARDS = [None, "04A1B2C3D4E500", "LC00100037", "04A1B2C3D4E502", "LC00100111", "04A1B2C3D4E504"]
ITEMS = ["MILK", "COFFEE", "MASCARA", "BOOK-KIDS", "OLIVEOIL", "CIGARETTES", "BREAD"]


@pytest.fixture
def store(fresh_ledger: LedgerServer) -> LedgerServer:
    ledger_cli(fresh_ledger, "members", "import", str(ROOT / "config/demo/members.csv"))
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


def client(t: svc.Terminal) -> LedgerClient:
    return LedgerClient(
        t.config.ledger.url, t.config.ledger.token, timeout=2.0, attempts=3, backoff_s=0.01
    )


def test_five_terminals_under_network_faults_lose_nothing_and_count_nothing_twice(
    store: LedgerServer, tmp_path: Path
) -> None:
    seed = int(os.environ.get("LOYALTY_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    checkouts = int(os.environ.get("LOYALTY_FAULT_CHECKOUTS", "2000"))
    print(f"network fault seed: {seed}")
    rng = random.Random(seed)
    baseline = store.admin.get("/v1/audit").json()["events"]
    with ExitStack() as stack:
        proxies = [
            stack.enter_context(FaultProxy(store.port, seed + i, max_delay=0.05)) for i in range(5)
        ]
        tills = [till(store, tmp_path / f"t{i}", f"T{i}", proxies[i].url) for i in range(5)]
        clients = [stack.enter_context(_closing(client(t))) for t in tills]
        for t, c in zip(tills, clients, strict=True):
            while True:
                try:
                    sync(t, c)
                    break
                except SyncError:
                    continue
        failures = 0
        for _ in range(checkouts):
            i = rng.randrange(5)
            t = tills[i]
            if rng.random() < 0.03:
                proxies[i].offline = not proxies[i].offline
            lines = svc.resolve_items(t, [(rng.choice(ITEMS), rng.randint(1, 3))])
            card = rng.choice(CARDS)
            try:
                svc.checkout(t, card, lines, rng.choice([None, None, "max"]) if card else None)
            except RedeemRefused:
                svc.checkout(t, card, lines)
            if rng.random() < 0.06:
                try:
                    sync(t, clients[i])
                except SyncError:
                    failures += 1
        for p in proxies:
            p.offline, p.faults = False, False
        for _ in range(2):  # push everything, then pull what the others pushed
            for t, c in zip(tills, clients, strict=True):
                assert sync(t, c)["rejected"] == 0
    assert failures > 0, "the proxy injected no failure: the test would prove nothing"
    journals = sum(len(list(t.store.events())) for t in tills)
    audit = store.admin.get("/v1/audit").json()
    assert audit["events"] - baseline == journals, f"seed {seed}"
    assert (audit["sum_of_balances"], audit["unbalanced_transfers"]) == (0, 0), f"seed {seed}"
    assert audit["members_mismatched"] == []
    for t in tills:
        assert t.store.outbox_count() == 0
        assert t.store.rejected() == []
        assert svc.verify(t)["ok"]
    for member_id, card in (("M0001", CARDS[1]), ("M0002", CARDS[2]), ("M0004", CARDS[4])):
        at_ledger = ledger_member(store, member_id)["balance"]
        assert {svc.balance(t, card)["balance"] for t in tills} == {at_ledger}, f"seed {seed}"


class _closing:
    def __init__(self, c: LedgerClient) -> None:
        self.c = c

    def __enter__(self) -> LedgerClient:
        return self.c

    def __exit__(self, *exc: object) -> None:
        self.c.close()


def test_a_clock_two_days_ahead_or_jumping_back_changes_neither_order_nor_balances(
    store: LedgerServer, tmp_path: Path
) -> None:
    ahead = till(store, tmp_path / "ahead", "AHEAD")
    sync(ahead)
    real = ahead.clock
    ahead.clock = lambda: real() + timedelta(hours=48)
    first = svc.checkout(ahead, ANNA, svc.resolve_items(ahead, [("MASCARA", 1)]))
    ahead.clock = lambda: real() - timedelta(hours=3)  # the clock is "corrected" backwards
    second = svc.checkout(ahead, ANNA, svc.resolve_items(ahead, [("MILK", 1)]))
    assert sync(ahead)["pushed"] == 2
    member = ledger_member(store, "M0001")
    assert member["balance"] == first["points_earned"] + second["points_earned"]
    assert member["counted_through"]["AHEAD"] == 2
    day = real().date()
    report = store.admin.get(
        "/v1/reports/summary",
        params={
            "from": (day - timedelta(days=1)).isoformat(),
            "to": (day + timedelta(days=3)).isoformat(),
        },
    ).json()
    skewed = [s if isinstance(s, str) else s.get("terminal_id") for s in report["clock_skew"]]
    assert "AHEAD" in skewed


class _ThreeAPage(LedgerClient):
    """A client that pulls three members a page, so that 20 members take seven pages."""

    def pull(self, since: str, limit: int = 3) -> dict:  # type: ignore[type-arg]
        return super().pull(since, 3)


def test_an_answer_lost_after_the_commit_at_any_page_of_a_push_or_a_pull_is_healed_by_the_next_sync(
    store: LedgerServer, tmp_path: Path
) -> None:
    """The ledger commits a push page (or answers a pull page) and the till never hears it, at
    each request of a sync of three push pages and seven pull pages in turn: the sync fails
    saying how far it got, the next one sends again what had no answer, and nothing is counted
    twice or lost, at the till or at the ledger."""
    with FaultProxy(store.port, seed=7) as proxy:
        proxy.faults = False
        t = till(store, tmp_path / "t1", "T1", proxy.url)
        sync(t)
        baseline = store.admin.get("/v1/audit").json()["events"]
        for k in range(10):
            for card in CARDS[:3]:
                svc.checkout(t, card, svc.resolve_items(t, [("MILK", 1)]))
            t.store.set_meta("pull_cursor", "0")  # every member again: seven pages
            client = _ThreeAPage(proxy.url, t.config.ledger.token, attempts=1, max_push_bytes=1)
            # One request a connection: a kept-alive connection would carry the next request
            # past the fate the proxy drew for it.
            client.http.headers["Connection"] = "close"
            proxy.script = ["pass"] * k + ["lose_response"]
            try:
                with pytest.raises(SyncError, match="No answer came from the ledger"):
                    sync(t, client)
            finally:
                client.close()
            healed = sync(t)
            assert (healed["waiting"], healed["rejected"]) == (0, 0)
            assert svc.verify(t)["ok"]
            audit = store.admin.get("/v1/audit").json()
            assert audit["events"] - baseline == len(list(t.store.events())), f"request {k}"
            assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
            for member_id, card in (("M0001", CARDS[1]), ("M0002", CARDS[2])):
                at_ledger = ledger_member(store, member_id)["balance"]
                assert svc.balance(t, card)["balance"] == at_ledger, f"request {k}"
    assert proxy.counts["lose_response"] == 10
