"""Crash consistency: a till killed with SIGKILL at any moment loses nothing it reported as done
and keeps nothing half-done.

A forked child runs checkouts and refunds in a loop, writing each receipt id to a pipe only after
the service returned (the moment a real till would print it). The parent kills it at a random
moment, then checks: ``PRAGMA integrity_check`` is ok, ``verify`` passes (chain, seq, every
balance equals the journal replay), every reported receipt is in the journal, and every journal
sale has its receipt row (state, event and receipt were written together).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos.bootstrap import make_demo_home, open_terminal

pytestmark = pytest.mark.reliability

CARDS = ["04A1B2C3D4E500", "LC00100037", "04A1B2C3D4E502", None]
ITEMS = ["MASCARA", "COFFEE", "BOOK-NOVEL", "MILK", "OLIVEOIL", "CIGARETTES"]


def child_loop(home: Path, out_fd: int, seed: int) -> None:
    """Runs in the forked child until killed."""
    rng = random.Random(seed)
    t = open_terminal(home)
    while True:
        lines = svc.resolve_items(t, [(rng.choice(ITEMS), rng.randint(1, 3)) for _ in range(3)])
        card = rng.choice(CARDS)
        redeem = rng.choice([None, None, "max"]) if card else None
        result = svc.checkout(t, card, lines, redeem)
        os.write(out_fd, f"{result['receipt_id']}\n".encode())
        if rng.random() < 0.15:
            refund = svc.refund(t, result["receipt_id"], None, "1234")
            os.write(out_fd, f"{refund['receipt_id']}\n".encode())


def run_and_kill(home: Path, seed: int, delay: float) -> list[str]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            child_loop(home, write_fd, seed)
        finally:
            os._exit(1)
    os.close(write_fd)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    data = b""
    while chunk := os.read(read_fd, 65536):
        data += chunk
    os.close(read_fd)
    return [line for line in data.decode().splitlines() if line]


def test_sigkill_at_random_moments_loses_nothing_reported_and_leaves_nothing_half_done(
    tmp_path: Path, seed: int, request: pytest.FixtureRequest
) -> None:
    kills = request.config.getoption("--crash-kills")
    make_demo_home(tmp_path / "till").store.close()
    home = tmp_path / "till"
    rng = random.Random(seed)
    reported: list[str] = []
    for _ in range(kills):
        reported += run_and_kill(home, rng.randrange(2**32), rng.uniform(0.0, 0.06))
    conn = sqlite3.connect(home / "terminal.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    t = open_terminal(home)
    result = svc.verify(t)
    assert result["ok"], result["problems"][:5]
    journal_receipts = {e["receipt_id"] for e in t.store.events() if e.get("receipt_id")}
    missing = [r for r in reported if r not in journal_receipts]
    assert missing == [], f"seed {seed}: reported but not recorded: {missing[:5]}"
    receipt_rows = {
        r["receipt_id"]
        for r in t.store.query("SELECT receipt_id FROM journal WHERE receipt IS NOT NULL")
    }
    assert receipt_rows == journal_receipts
    assert len(reported) > kills // 4, "the child barely ran: the test would prove nothing"
