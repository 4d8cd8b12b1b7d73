"""Large baskets waiting at a till reach the ledger in requests the ledger takes, on both databases.

The ledger refuses a request body over its limit (413; 16 MiB in service). Rather than push
hundreds of megabytes, the ledger here is the same app with its limit scaled down and the till's
budget for a push with it (half the limit, as ``PUSH_BATCH_BYTES`` is of the real one); the
events are real sales of hundreds of lines recorded by ``checkout.checkout``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from ledger_helpers import LedgerServer, assert_books_balance
from test_terminal_sync import ANNA, ROOT, ledger_cli, ledger_member, till

from loyalty_pos import checkout as svc
from loyalty_pos.ledger.api import MAX_BODY_BYTES
from loyalty_pos.sync import LedgerClient, SyncError, sync
from loyalty_pos.sync.client import PUSH_BATCH, PUSH_BATCH_BYTES

if TYPE_CHECKING:
    from conftest import Databases


class PushSizes(httpx.HTTPTransport):
    """The real HTTP transport, noting the size of each push's body on its way out."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sync/push":
            self.sizes.append(len(request.content))
        return super().handle_request(request)


def limited_ledger(databases: Databases, backend: str, limit: int) -> Iterator[LedgerServer]:
    server = LedgerServer(
        databases.new(backend),
        databases.tmp / f"serve-{uuid.uuid4().hex[:6]}.log",
        max_body_bytes=limit,
    )
    try:
        ledger_cli(server, "members", "import", str(ROOT / "config/demo/members.csv"))
        ledger_cli(server, "program", "set", str(ROOT / "config/program.example.toml"))
        yield server
    finally:
        server.stop()


@pytest.fixture
def ledger_of_1_mib(databases: Databases, backend: str) -> Iterator[LedgerServer]:
    yield from limited_ledger(databases, backend, 1024 * 1024)


@pytest.fixture
def ledger_of_64_kib(databases: Databases, backend: str) -> Iterator[LedgerServer]:
    yield from limited_ledger(databases, backend, 64 * 1024)


def client_of(t: svc.Terminal, max_push_bytes: int) -> tuple[LedgerClient, PushSizes]:
    sizes = PushSizes()
    ledger = t.config.ledger
    return LedgerClient(
        ledger.url, ledger.token, transport=sizes, max_push_bytes=max_push_bytes
    ), sizes


def sale_of(t: svc.Terminal, n_lines: int) -> dict:
    """A checkout of ``n_lines`` free-amount grocery lines (about 113 bytes each in the event)."""
    return svc.checkout(t, ANNA, svc.resolve_items(t, [], [("1.25", "grocery")] * n_lines))


def test_the_client_keeps_a_push_under_half_the_ledgers_limit() -> None:
    assert PUSH_BATCH_BYTES <= MAX_BODY_BYTES // 2
    assert PUSH_BATCH == 500  # ordinary events still go 500 at a time


def test_a_backlog_of_large_baskets_drains_in_requests_the_ledger_takes(
    ledger_of_1_mib: LedgerServer, tmp_path: Path
) -> None:
    """Sixty sales of 400 lines (~45 KB each, 2.7 MB in all) waited at a till whose ledger takes
    1 MiB a request: sent 500 at a time they would be one request refused at every sync."""
    limit = 1024 * 1024
    t = till(ledger_of_1_mib, tmp_path / "t1", "T1")
    sync(t)
    for _ in range(60):
        sale_of(t, 400)
    client, pushes = client_of(t, limit // 2)
    try:
        result = sync(t, client)
    finally:
        client.close()
    assert (result["pushed"], result["rejected"], result["waiting"]) == (60, 0, 0)
    assert sum(pushes.sizes) > 2 * limit and len(pushes.sizes) >= 6
    assert max(pushes.sizes) < limit // 2 + 200  # the events' budget and the request's envelope
    assert ledger_member(ledger_of_1_mib, "M0001")["balance"] == svc.balance(t, ANNA)["balance"]
    assert_books_balance(ledger_of_1_mib)

    # A sale larger than the budget on its own still goes, alone: the budget never stops a sale.
    for _ in range(3):
        sale_of(t, 400)
    client, pushes = client_of(t, 10_000)
    try:
        result = sync(t, client)
    finally:
        client.close()
    assert (result["pushed"], result["waiting"], len(pushes.sizes)) == (3, 0, 3)


def test_a_sale_too_large_for_the_ledger_goes_alone_and_the_ledgers_refusal_reaches_the_till(
    ledger_of_64_kib: LedgerServer, tmp_path: Path
) -> None:
    """The sales before it arrive; the ledger's own sentence about the large one reaches the
    till's people, and it and the sale after it stay in the journal, waiting."""
    t = till(ledger_of_64_kib, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    sale_of(t, 400)  # ~45 KB: over the till's budget of 32 KiB, under the ledger's limit
    sale_of(t, 1000)  # ~112 KB: over the ledger's limit
    svc.checkout(t, ANNA, svc.resolve_items(t, [("COFFEE", 1)]))
    client, pushes = client_of(t, 32 * 1024)
    try:
        with pytest.raises(SyncError, match="413.*limited to 65536 bytes"):
            sync(t, client)
    finally:
        client.close()
    assert len(pushes.sizes) == 3 and pushes.sizes[-1] > 64 * 1024
    assert svc.balance(t, ANNA)["pending_sync"] == 2
    assert ledger_member(ledger_of_64_kib, "M0001")["counted_through"]["T1"] == 2
    assert_books_balance(ledger_of_64_kib)


def test_a_push_refused_as_too_large_is_sent_again_in_halves_until_the_ledger_takes_it(
    ledger_of_64_kib: LedgerServer, tmp_path: Path
) -> None:
    """A till whose ledger sits behind a proxy that takes less than the till's budget (nginx's
    default is 1 MiB; here the ledger's own limit of 64 KiB stands in for it): the backlog of
    twelve 100-line sales (~135 KB) goes in halves rather than being refused at every sync."""
    t = till(ledger_of_64_kib, tmp_path / "t1", "T1")
    sync(t)
    for _ in range(12):
        sale_of(t, 100)
    client, pushes = client_of(t, PUSH_BATCH_BYTES)  # the till's own budget: 8 MiB
    try:
        result = sync(t, client)
        assert client.max_push_bytes < 64 * 1024  # the smaller budget is kept for the next push
    finally:
        client.close()
    assert (result["pushed"], result["rejected"], result["waiting"]) == (12, 0, 0)
    assert pushes.sizes[0] > 64 * 1024  # refused (413), then halved
    assert pushes.sizes[-1] < 64 * 1024 and sum(s < 64 * 1024 for s in pushes.sizes) >= 3
    assert svc.balance(t, ANNA)["pending_sync"] == 0
    assert ledger_member(ledger_of_64_kib, "M0001")["balance"] == svc.balance(t, ANNA)["balance"]
    assert_books_balance(ledger_of_64_kib)
