"""A checkout that cannot be written is refused with a sentence, and nothing is half-recorded.

SQLite's own limits give the real error paths: ``max_page_count`` makes the database full exactly
as a full disk does (SQLITE_FULL), ``query_only`` makes it read-only (SQLITE_READONLY).
"""

from __future__ import annotations

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos.domain.errors import StorageError

pytestmark = pytest.mark.reliability


def snapshot(t: svc.Terminal) -> tuple:
    return (
        [e["hash"] for e in t.store.events()],
        t.store.query("SELECT COUNT(receipt) FROM journal")[0][0],
        t.store.query("SELECT COUNT(*) FROM receipt_prints")[0][0],
        [tuple(r) for r in t.store.query("SELECT member_id, lots, debt FROM members")],
    )


def basket(t: svc.Terminal):  # type: ignore[no-untyped-def]
    return svc.resolve_items(t, [("MASCARA", 1), ("BOOK-COOK", 2)])


def test_a_full_disk_refuses_the_checkout_and_records_nothing(demo) -> None:
    svc.checkout(demo, "LC00100037", basket(demo))
    before = snapshot(demo)
    pages = demo.store.conn.execute("PRAGMA page_count").fetchone()[0]
    demo.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    lines = basket(demo)
    with pytest.raises(StorageError, match="full") as e:
        for _ in range(50):  # the first write that needs a new page fails
            svc.checkout(demo, "LC00100037", lines)
    assert "nothing was recorded" in str(e.value)
    demo.store.conn.execute("PRAGMA max_page_count = 1073741823")
    assert snapshot(demo)[0][: len(before[0])] == before[0]
    assert svc.verify(demo)["ok"]
    assert svc.checkout(demo, "LC00100037", lines)["receipt_id"]


def test_a_read_only_database_refuses_the_checkout_with_a_sentence(demo) -> None:
    before = snapshot(demo)
    demo.store.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(StorageError, match="read-only"):
        svc.checkout(demo, "LC00100037", basket(demo))
    demo.store.conn.execute("PRAGMA query_only = OFF")
    assert snapshot(demo) == before
