"""Throughput benchmarks for ``scripts/bench``: pushes through the real HTTP service, and the raw
PostgreSQL insert rate on the same server as the yardstick to compare it with.

``bench_push`` starts ``loyalty-ledger serve`` in a subprocess on a free loopback port, registers a
terminal, seals a journal of enrolments and checkouts up front (not timed) and times pushing it in
batches. ``bench_raw_pg`` times ``INSERT ... ON CONFLICT DO NOTHING`` of rows of the same size in
batches of 500, one transaction each.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from loyalty_pos.domain.events import GENESIS_HASH, canonical_json, canonical_text, seal

from .db import parse_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def journal(terminal_id: str, n_events: int, members: int | None = None) -> list[dict[str, Any]]:
    """A sealed journal: one enrolment per member (5% of the events by default), then checkouts
    that each earn points in a lot, one in four also paying with points."""
    members = members or max(1, n_events // 20)
    now = datetime.now(UTC)
    day = now.date()
    expires = (day + timedelta(days=365)).isoformat()
    tag = uuid.uuid4().hex[:8]
    events: list[dict[str, Any]] = []
    head = GENESIS_HASH
    for seq in range(1, n_events + 1):
        i = (seq - 1) % members
        member_id = f"B{tag}-{i}"
        card = f"BC{tag}{i:08d}"
        base: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "terminal_id": terminal_id,
            "seq": seq,
            "occurred_at": now.isoformat(),
            "program_version": 1,
        }
        body: dict[str, Any]
        if seq <= members:
            body = {
                "type": "enroll",
                "member_id": member_id,
                "card": card,
                "name": f"Bench member {i}",
                "email": None,
                "phone": None,
                "birthday": None,
                "provisional": False,
            }
        else:
            spend = 100 * (1 + seq % 7) if seq % 4 == 0 else 0  # one checkout in four redeems
            total = 1000 + 10 * (seq % 400)
            body = {
                "type": "checkout",
                "member_id": member_id,
                "card": card,
                "receipt_id": f"{terminal_id}-{seq:06d}",
                "currency": "EUR",
                "total_minor": total,
                "discount_minor": 0,
                "points_value_minor": spend,
                "due_minor": total - spend,
                "points_earned": 200,
                "points_redeemed": spend,
                "lines": [
                    {
                        "sku": "SKU-1",
                        "name": "Coffee beans",
                        "qty": 2,
                        "unit_price_minor": total // 2,
                        "category": "food",
                        "free_units": 0,
                    }
                ],
                "breakdown": [{"rule": "base", "points": 200}],
                "lots": [{"points": 200, "earned_at": day.isoformat(), "expires_at": expires}],
                "tier": "Malachite",
                "punch_before": {},
                "punch_after": {},
                "birthday_bonus": False,
                "offline": False,
            }
        sealed = seal({**base, **body}, head)
        head = sealed["hash"]
        events.append(sealed)
    return events


class LedgerServer:
    """``loyalty-ledger serve`` in a subprocess on a free loopback port, with an admin token:
    the far end of every ingest figure (this module's and ``scripts/bench``'s)."""

    def __init__(self, db_url: str) -> None:
        self.port = _free_port()
        self.admin_token = secrets.token_urlsafe(16)
        env = dict(os.environ, LOYALTY_LEDGER_ADMIN_TOKEN=self.admin_token)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loyalty_pos.ledger",
                "serve",
                "--db",
                db_url,
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("the ledger did not start: " + self.log.read().decode()[-500:])
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the ledger did not start within 60 s")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Push(NamedTuple):
    """What a timed push measured."""

    events_per_s: float
    #: CPU time of the service's process over the push's wall time (0-1 per core it kept busy);
    #: None where the operating system does not tell (no /proc)
    service_busy: float | None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_push(db_url: str, n_events: int = 20000, batch: int = 500) -> Push:
    """Events per second pushed through the real HTTP service on loopback, ``batch`` at a time,
    and how busy the service's process was meanwhile."""
    server = LedgerServer(db_url)
    try:
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        terminal_id = "bench-" + uuid.uuid4().hex[:8]
        r = httpx.post(
            server.url + "/v1/terminals",
            json={"terminal_id": terminal_id},
            headers=admin,
            timeout=30,
        )
        r.raise_for_status()
        # As a terminal's journal holds them: each event's canonical JSON text, which its sync
        # client sends as it is (sync.client.LedgerClient.push), not parsed and encoded again.
        events = [canonical_text(e) for e in journal(terminal_id, n_events)]
        # The sealed journal is a large permanent heap in this client process; keep the
        # collector from walking it on every request, so that the client does not slow the
        # measurement down (the service does the same to its own start-up heap).
        gc.collect()
        gc.freeze()
        with httpx.Client(
            base_url=server.url,
            timeout=120,
            headers={"Authorization": f"Bearer {r.json()['token']}"},
        ) as client:
            cpu_before = _cpu_seconds(server.proc.pid)
            started = time.perf_counter()
            for i in range(0, len(events), batch):
                bodies = ",".join(events[i : i + batch])
                reply = client.post(
                    "/v1/sync/push",
                    content=f'{{"terminal_id": {json.dumps(terminal_id)}, "events": [{bodies}]}}',
                    headers={"Content-Type": "application/json"},
                )
                reply.raise_for_status()
                bad = [x for x in reply.json()["results"] if x["status"] != "accepted"]
                if bad:
                    raise RuntimeError(f"bench events were not accepted: {bad[:3]}")
            elapsed = time.perf_counter() - started
            cpu_after = _cpu_seconds(server.proc.pid)
        busy = None
        if cpu_before is not None and cpu_after is not None:
            busy = (cpu_after - cpu_before) / elapsed
        return Push(n_events / elapsed, busy)
    finally:
        gc.unfreeze()
        server.stop()


def bench_raw_pg(dsn: str, n: int = 20000) -> float:
    """Rows per second of raw ``INSERT ... ON CONFLICT DO NOTHING`` in batches of 500."""
    import psycopg

    url = parse_url(dsn).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    table = "bench_raw_" + uuid.uuid4().hex[:8]
    rows = [
        (e["event_id"], e["terminal_id"], e["seq"], canonical_json(e).decode())
        for e in journal("raw", n)
    ]
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            f"CREATE TABLE {table} (event_id text PRIMARY KEY, terminal_id text, "
            "seq bigint, body text, UNIQUE (terminal_id, seq))"
        )
        conn.commit()
        try:
            started = time.perf_counter()
            with conn.cursor() as cur:
                for i in range(0, n, 500):
                    cur.executemany(
                        f"INSERT INTO {table} (event_id, terminal_id, seq, body) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        rows[i : i + 500],
                    )
                    conn.commit()
            elapsed = time.perf_counter() - started
        finally:
            conn.execute(f"DROP TABLE {table}")
            conn.commit()
    return n / elapsed


def main() -> int:
    """``python -m loyalty_pos.ledger.bench DB_URL [N]``: print both figures."""
    if len(sys.argv) < 2:
        print("usage: python -m loyalty_pos.ledger.bench DB_URL [N_EVENTS]", file=sys.stderr)
        return 2
    db_url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    pushed = bench_push(db_url, n)
    busy = "" if pushed.service_busy is None else f" (service busy {pushed.service_busy:.0%})"
    print(f"push: {pushed.events_per_s:.0f} events/s{busy}")
    if db_url.startswith("postgres"):
        print(f"raw PostgreSQL insert: {bench_raw_pg(db_url, n):.0f} rows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
