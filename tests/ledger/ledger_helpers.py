"""Test helpers: a real ``loyalty-ledger serve`` on loopback, fresh databases, and a terminal
journal that seals events exactly as a terminal does (``domain.events.seal``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from loyalty_pos.domain.events import GENESIS_HASH, seal

SRC = Path(__file__).resolve().parents[2] / "src"
PROGRAM_TOML = Path(__file__).with_name("program.toml")
ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
PG_ADMIN_DSN = os.environ.get(
    "LOYALTY_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def program(version: int, **changes: Any) -> dict[str, Any]:
    """The test program's tables as JSON (what ``PUT /v1/program`` takes), at ``version``."""
    rules = tomllib.loads(PROGRAM_TOML.read_text())
    rules["program"]["version"] = version
    for table, values in changes.items():
        rules[table].update(values)
    for promo in rules.get("promotions", []):  # TOML dates travel as strings
        for key in ("starts", "ends"):
            if key in promo:
                promo[key] = str(promo[key])
    return rules


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["LOYALTY_LEDGER_ADMIN_TOKEN"] = ADMIN_TOKEN
    env.pop("LOYALTY_LEDGER_DB", None)
    return env


#: ``loyalty-ledger serve`` with another limit on a request body than the service's 16 MiB: the
#: same app (``api.create_app``) on the same store, so a test meets the ledger's own 413 at a size
#: it can afford to send. Arguments: database URL, port, limit in bytes.
_SERVE_WITH_BODY_LIMIT = """
import os, sys, uvicorn
from loyalty_pos.ledger.api import create_app
from loyalty_pos.ledger.store import LedgerStore
app = create_app(
    LedgerStore.open(sys.argv[1]),
    os.environ["LOYALTY_LEDGER_ADMIN_TOKEN"],
    max_body_bytes=int(sys.argv[3]),
)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


class LedgerServer:
    """``python -m loyalty_pos.ledger serve`` in a subprocess, on a free loopback port.

    ``max_body_bytes`` runs the same app with another limit on a request's body than the
    service's own (16 MiB)."""

    def __init__(self, db_url: str, log_path: Path, max_body_bytes: int | None = None) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.max_body_bytes = max_body_bytes
        self._log = log_path.open("wb")
        self.log_path = log_path
        self._start()

    def _start(self) -> None:
        if self.max_body_bytes is None:
            command = ["-m", "loyalty_pos.ledger", "serve", "--db", self.db_url]
            command += ["--port", str(self.port), "--no-access-log", "--log-level", "warning"]
        else:
            command = ["-c", _SERVE_WITH_BODY_LIMIT, self.db_url, str(self.port)]
            command += [str(self.max_body_bytes)]
        self.proc = subprocess.Popen(
            [sys.executable, *command],
            env=subprocess_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_up()
        self.admin = httpx.Client(
            base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

    def _stop_process(self) -> None:
        self.admin.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self, while_down: Callable[[], None] = lambda: None) -> None:
        """Stop the service, run ``while_down`` (a restore of its database), start it again on
        the same port: the terminals' URL still reaches it."""
        self._stop_process()
        while_down()
        self._start()

    def _wait_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ledger exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("ledger did not come up in 60 s")

    def stop(self) -> None:
        self._stop_process()
        self._log.close()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers)

    def add_terminal(self, terminal_id: str | None = None) -> Terminal:
        terminal_id = terminal_id or "T" + uuid.uuid4().hex[:12]
        r = self.admin.post("/v1/terminals", json={"terminal_id": terminal_id})
        assert r.status_code == 201, r.text
        return Terminal(self, terminal_id, r.json()["token"])

    def top(self) -> int:
        return int(httpx.get(self.base_url + "/v1/health").json()["ledger_seq"])

    def audit(self) -> dict[str, Any]:
        r = self.admin.get("/v1/audit")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def member(self, member_id: str) -> dict[str, Any]:
        r = self.admin.get(f"/v1/members/{member_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())


@dataclass
class Journal:
    """A terminal's journal: seq 1, 2, 3… each event sealed onto the previous one's hash."""

    terminal_id: str
    seq: int = 0
    head: str = GENESIS_HASH
    events: list[dict[str, Any]] = field(default_factory=list)
    program_version: int = 1

    def add(self, kind: str, at: datetime | None = None, **body: Any) -> dict[str, Any]:
        at = at or datetime.now(UTC)
        self.seq += 1
        event = {
            "event_id": str(uuid.uuid4()),
            "terminal_id": self.terminal_id,
            "seq": self.seq,
            "type": kind,
            "occurred_at": at.isoformat(),
            "program_version": self.program_version,
            **body,
        }
        sealed = seal(event, self.head)
        self.head = sealed["hash"]
        self.events.append(sealed)
        return sealed

    def enroll(
        self, member_id: str, card: str | None, at: datetime | None = None, **details: Any
    ) -> dict[str, Any]:
        body = {
            "member_id": member_id,
            "card": card,
            "name": f"Member {member_id}",
            "email": None,
            "phone": None,
            "birthday": None,
            "provisional": False,
        }
        body.update(details)
        return self.add("enroll", at, **body)

    def checkout(
        self,
        member_id: str | None,
        card: str | None,
        total_minor: int,
        earned: int = 0,
        redeemed: int = 0,
        value_minor: int = 0,
        at: datetime | None = None,
        expires: date | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        at = at or datetime.now(UTC)
        day = at.date()
        lots = []
        if earned:
            lots = [
                {
                    "points": earned,
                    "earned_at": day.isoformat(),
                    "expires_at": (expires or day + timedelta(days=365)).isoformat(),
                }
            ]
        body = {
            "member_id": member_id,
            "card": card,
            "receipt_id": f"{self.terminal_id}-{self.seq + 1:06d}",
            "currency": "EUR",
            "total_minor": total_minor,
            "discount_minor": 0,
            "points_value_minor": value_minor,
            "due_minor": total_minor - value_minor,
            "points_earned": earned,
            "points_redeemed": redeemed,
            "lines": [
                {
                    "sku": "SKU1",
                    "name": "Thing",
                    "qty": 1,
                    "unit_price_minor": total_minor,
                    "category": "misc",
                    "free_units": 0,
                }
            ],
            "breakdown": [{"rule": "base", "points": earned}] if earned else [],
            "lots": lots,
            "tier": "Malachite",
            "punch_before": {},
            "punch_after": {},
            "birthday_bonus": False,
            "offline": False,
        }
        body.update(extra)
        return self.add("checkout", at, **body)

    def refund(
        self,
        member_id: str | None,
        original_receipt_id: str,
        refund_minor: int,
        reversed_points: int = 0,
        at: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {
            "member_id": member_id,
            "card": None,
            "receipt_id": f"{self.terminal_id}-{self.seq + 1:06d}",
            "original_receipt_id": original_receipt_id,
            "currency": "EUR",
            "lines": [{"sku": "SKU1", "qty": 1}],
            "refund_minor": refund_minor,
            "points_reversed": reversed_points,
            "points_restored": 0,
            "lots": [],
            "punch_delta": {},
        }
        body.update(extra)
        return self.add("refund", at, **body)


@dataclass
class Terminal:
    server: LedgerServer
    terminal_id: str
    token: str

    def __post_init__(self) -> None:
        self.journal = Journal(self.terminal_id)
        self.http = self.server.client(self.token)

    def push(self, events: list[dict[str, Any]], status: int = 200, **extra: Any) -> dict[str, Any]:
        r = self.http.post(
            "/v1/sync/push", json={"terminal_id": self.terminal_id, "events": events, **extra}
        )
        assert r.status_code == status, r.text
        return dict(r.json())


def statuses(response: dict[str, Any]) -> list[str]:
    return [
        r["status"] if r["status"] != "rejected" else f"rejected:{r['reason']}"
        for r in response["results"]
    ]


class DroppingProxy:
    """A loopback TCP proxy that forwards one request to the ledger, lets it answer (and so
    commit), then closes the client's connection without passing the answer on: a response lost
    after the commit."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = int(self.sock.getsockname()[1])
        self.answered = threading.Event()
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        client, _ = self.sock.accept()
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            client.settimeout(30)
            upstream.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                data += client.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(rest) < length:
                rest += client.recv(65536)
            upstream.sendall(head + b"\r\n\r\n" + rest)
            if upstream.recv(65536):  # the ledger has committed once it answers
                self.answered.set()
        self.sock.close()


def new_ids() -> tuple[str, str]:
    """A member id and a card no other test uses."""
    tag = uuid.uuid4().hex[:10]
    return f"M-{tag}", f"CARD{tag.upper()}"


def assert_books_balance(ledger: LedgerServer) -> None:
    """Double entry holds: balances sum to zero, every transfer balances, members agree."""
    audit = ledger.audit()
    assert audit["sum_of_balances"] == 0
    assert audit["unbalanced_transfers"] == 0
    assert audit["members_mismatched"] == []
