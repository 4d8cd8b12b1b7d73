"""Who may call what: terminal tokens, the admin token, revocation, and tokens at rest."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from ledger_helpers import ADMIN_TOKEN, LedgerServer, free_port, subprocess_env

from loyalty_pos.ledger.store import LedgerStore


def _push_body(terminal_id: str) -> dict:
    return {"terminal_id": terminal_id, "events": []}


def test_no_token_is_401_everywhere(ledger: LedgerServer) -> None:
    anon = ledger.client()
    for method, path in [
        ("POST", "/v1/sync/push"),
        ("GET", "/v1/sync/pull"),
        ("GET", "/v1/cards/X"),
        ("POST", "/v1/terminals"),
        ("GET", "/v1/reports/summary?from=2026-01-01&to=2026-01-02"),
        ("GET", "/v1/reports/balances?from=2026-01-01&to=2026-01-02"),
    ]:
        r = anon.request(method, path, json=_push_body("T1") if method == "POST" else None)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"] == "auth"


def test_a_wrong_token_is_401(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    wrong = ledger.client(t.token + "x")
    assert wrong.post("/v1/sync/push", json=_push_body(t.terminal_id)).status_code == 401
    assert ledger.client("Basic abc").get("/v1/sync/pull").status_code == 401


def test_a_revoked_terminal_is_refused_at_once(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    assert t.http.post("/v1/sync/push", json=_push_body(t.terminal_id)).status_code == 200

    r = ledger.admin.delete(f"/v1/terminals/{t.terminal_id}")
    assert r.status_code == 200

    r = t.http.post("/v1/sync/push", json=_push_body(t.terminal_id))
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]
    assert t.http.get("/v1/sync/pull").status_code == 401
    assert ledger.admin.delete("/v1/terminals/NOPE-" + uuid.uuid4().hex[:8]).status_code == 404


def test_a_token_revoked_or_replaced_by_another_process_is_refused_at_the_next_push(
    ledger: LedgerServer,
) -> None:
    """The service remembers tokens it accepted and does not read them again before a push;
    the push itself checks the token under its write lock, so a revocation by another process
    (the CLI) still takes effect at once."""
    t = ledger.add_terminal()
    j = t.journal
    j.enroll("M-" + uuid.uuid4().hex[:8], None)
    assert t.push(j.events)["results"][0]["status"] == "accepted"  # the token is now known
    other = LedgerStore.open(ledger.db_url)  # what `loyalty-ledger terminal ...` does
    try:
        other.revoke_terminal(t.terminal_id)
        r = t.http.post("/v1/sync/push", json=_push_body(t.terminal_id))
        assert r.status_code == 401
        assert "revoked" in r.json()["message"]

        new_token = other.add_terminal(t.terminal_id)  # re-admitted with a new token
        assert t.http.post("/v1/sync/push", json=_push_body(t.terminal_id)).status_code == 401
        fresh = ledger.client(new_token)
        j.enroll("M-" + uuid.uuid4().hex[:8], None)
        r = fresh.post("/v1/sync/push", json={"terminal_id": t.terminal_id, "events": j.events})
        assert r.status_code == 200
        assert [x["status"] for x in r.json()["results"]] == ["duplicate", "accepted"]

        # replaced while the service still knows the old token: refused, not applied
        other.revoke_terminal(t.terminal_id)
        newest = other.add_terminal(t.terminal_id)
        j.enroll("M-" + uuid.uuid4().hex[:8], None)
        body = {"terminal_id": t.terminal_id, "events": j.events}
        r = fresh.post("/v1/sync/push", json=body)
        assert r.status_code == 401
        r = ledger.client(newest).post("/v1/sync/push", json=body)
        assert [x["status"] for x in r.json()["results"]] == ["duplicate", "duplicate", "accepted"]
    finally:
        other.close()


def test_a_terminal_cannot_push_as_another_terminal(ledger: LedgerServer) -> None:
    a = ledger.add_terminal()
    b = ledger.add_terminal()
    b.journal.enroll("M-" + uuid.uuid4().hex[:8], None)

    r = a.http.post(
        "/v1/sync/push", json={"terminal_id": b.terminal_id, "events": b.journal.events}
    )

    assert r.status_code == 403
    assert b.push(b.journal.events)["results"][0]["status"] == "accepted"


def test_terminal_and_admin_tokens_are_not_interchangeable(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    assert t.http.post("/v1/terminals", json={"terminal_id": "X1"}).status_code == 403
    assert t.http.put("/v1/program", json={}).status_code == 403
    r = ledger.admin.post("/v1/sync/push", json=_push_body(t.terminal_id))
    assert r.status_code == 403


def test_a_terminal_reads_the_store_wide_balances_but_not_the_summary(ledger: LedgerServer) -> None:
    """A till's token may ask for a finished day's liability (its end-of-day report prints
    it; a pull already gives every member's balance), not for the admin's report."""
    t = ledger.add_terminal()
    period = "?from=2026-01-01&to=2026-01-02"
    r = t.http.get("/v1/reports/balances" + period)
    assert r.status_code == 200, r.text
    assert set(r.json()) >= {"outstanding"}
    assert t.http.get("/v1/reports/summary" + period).status_code == 403
    assert ledger.admin.get("/v1/reports/summary" + period).status_code == 200
    revoked = ledger.add_terminal()
    ledger.admin.delete(f"/v1/terminals/{revoked.terminal_id}")
    assert revoked.http.get("/v1/reports/balances" + period).status_code == 401


def test_adding_an_existing_terminal_is_a_conflict_and_readding_a_revoked_one_keeps_its_chain(
    ledger: LedgerServer,
) -> None:
    t = ledger.add_terminal()
    t.journal.enroll("M-" + uuid.uuid4().hex[:8], None)
    t.push(t.journal.events)
    r = ledger.admin.post("/v1/terminals", json={"terminal_id": t.terminal_id})
    assert r.status_code == 409
    ledger.admin.delete(f"/v1/terminals/{t.terminal_id}")

    again = ledger.add_terminal(t.terminal_id)

    assert again.token != t.token
    again.journal = t.journal
    again.journal.enroll("M-" + uuid.uuid4().hex[:8], None)
    assert again.push(again.journal.events[1:])["results"][0]["status"] == "accepted"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 33, "é"])
def test_terminal_ids_are_validated(ledger: LedgerServer, bad: str) -> None:
    assert ledger.admin.post("/v1/terminals", json={"terminal_id": bad}).status_code == 400


def test_tokens_are_stored_only_as_sha256(ledger: LedgerServer) -> None:
    t = ledger.add_terminal()
    engine = sa.create_engine(ledger.db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT token_hash FROM terminals WHERE terminal_id = :t"),
                {"t": t.terminal_id},
            ).scalar_one()
            everything = " ".join(
                str(row) for row in conn.execute(sa.text("SELECT * FROM terminals"))
            )
    finally:
        engine.dispose()
    assert stored == hashlib.sha256(t.token.encode()).hexdigest()
    assert t.token not in everything
    assert ADMIN_TOKEN not in everything


def test_the_admin_token_can_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("from-a-file\n")
    env = subprocess_env()
    env.pop("LOYALTY_LEDGER_ADMIN_TOKEN")
    port = free_port()
    argv = ["serve", "--db", f"sqlite:///{tmp_path / 'ledger.db'}", "--port", str(port)]
    argv += ["--admin-token-file", str(token_file), "--log-level", "warning"]
    proc = subprocess.Popen([sys.executable, "-m", "loyalty_pos.ledger", *argv], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        ok = httpx.post(
            base + "/v1/terminals",
            json={"terminal_id": "F1"},
            headers={"Authorization": "Bearer from-a-file"},
        )
        assert ok.status_code == 201
        env_token = httpx.post(
            base + "/v1/terminals",
            json={"terminal_id": "F2"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert env_token.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
