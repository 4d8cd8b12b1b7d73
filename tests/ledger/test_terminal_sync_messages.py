"""What a till's people read when a sync does not go through: how far it got, what failed, and
never the ledger database's address (QA of a store with two tills and a ledger)."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import httpx
import psycopg
import pytest
from ledger_helpers import LedgerServer, free_port, subprocess_env
from psycopg import sql
from test_terminal_sync import ANNA, ROOT, ledger_cli, ledger_member, till

from loyalty_pos import checkout as svc
from loyalty_pos.bootstrap import open_terminal
from loyalty_pos.sync import LedgerClient, SyncError, sync
from loyalty_pos.sync import client as client_module
from loyalty_pos.sync.client import pull, push
from loyalty_pos.tui.words import sync_failure
from tests.support.faultproxy import FaultProxy, TrickleProxy

if TYPE_CHECKING:
    from conftest import Databases


@pytest.fixture
def store(fresh_ledger: LedgerServer) -> LedgerServer:
    """A ledger holding the demo store's members and the example program."""
    ledger_cli(fresh_ledger, "members", "import", str(ROOT / "config/demo/members.csv"))
    ledger_cli(fresh_ledger, "program", "set", str(ROOT / "config/program.example.toml"))
    return fresh_ledger


class Proxied(NamedTuple):
    """A till reaching the ledger through a ``FaultProxy`` (``proxied``)."""

    proxy: FaultProxy
    till: svc.Terminal


@pytest.fixture
def proxied(store: LedgerServer, tmp_path: Path) -> Iterator[Proxied]:
    """Till T1 reaching the ledger through a ``FaultProxy`` that passes everything until the
    test scripts a fault (``proxy.script``), synced once, with one sale waiting to be sent."""
    with FaultProxy(store.port, seed=3) as proxy:
        proxy.faults = False
        t = till(store, tmp_path / "t1", "T1", proxy.url)
        sync(t)
        svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
        yield Proxied(proxy, t)


class LedgerGoesAway(httpx.HTTPTransport):
    """The real transport, until ``calls`` requests to ``path`` (pushes) have gone: then the
    ledger cannot be reached any more (it was stopped part-way through a long backlog)."""

    def __init__(self, calls: int, path: str = "/v1/sync/push") -> None:
        super().__init__()
        self.left = calls
        self.path = path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            if self.left == 0:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            self.left -= 1
        return super().handle_request(request)


def test_a_sync_stopped_part_way_says_how_much_reached_the_ledger(
    store: LedgerServer, tmp_path: Path
) -> None:
    """QA: a ledger stopped after 11,000 of 20,000 events gave the same sentence as one never
    reached; the operator could not tell that most of the backlog was on the ledger."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    for _ in range(3):
        svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    ledger = t.config.ledger
    client = LedgerClient(
        ledger.url, ledger.token, transport=LedgerGoesAway(1), max_push_bytes=1, backoff_s=0.01
    )
    try:
        with pytest.raises(SyncError) as caught:
            sync(t, client)
    finally:
        client.close()
    said = str(caught.value)
    assert said.startswith("1 event reached the ledger before this sync stopped; the other 2 wait")
    assert "cannot be reached" in said
    assert caught.value.details["waiting"] == 2
    assert svc.balance(t, ANNA)["pending_sync"] == 2
    again = sync(t)
    assert (again["pushed"], again["duplicates"], again["waiting"]) == (2, 0, 0)


def test_an_https_address_of_a_ledger_that_speaks_http_names_the_tls_handshake(
    store: LedgerServer, tmp_path: Path
) -> None:
    """QA: the sentence was "cannot be reached", which sends the IT person to the network."""
    t = till(store, tmp_path / "t1", "T1")
    url = t.config.ledger.url.replace("http://", "https://")
    client = LedgerClient(url, t.config.ledger.token, attempts=1)
    try:
        with pytest.raises(SyncError, match="TLS handshake .* served over http rather than https"):
            client.pull("0")
    finally:
        client.close()


def test_a_ledger_whose_database_is_down_answers_503_without_naming_the_database(
    databases: Databases, tmp_path: Path
) -> None:
    """QA: the 503's message was the driver's, with the database's host, port and name, cut
    mid-word, to any caller (the health check needs no token); the till's sentence did not say
    that sales go on."""
    url = databases.new("postgresql")
    name = url.rsplit("/", 1)[1]
    server = LedgerServer(url, tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log")
    admin = databases.pg_dsn("postgres")
    try:
        token = server.add_terminal("T1").token
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        try:
            health = httpx.get(server.base_url + "/v1/health", timeout=30)
            assert health.status_code == 503
            assert health.json()["message"] == (
                "the ledger's database is not available; the ledger's log says why"
            )
            assert name not in health.text and "5432" not in health.text
            client = LedgerClient(server.base_url, token, attempts=1)
            try:
                with pytest.raises(SyncError) as caught:
                    client.pull("0")
            finally:
                client.close()
            assert str(caught.value).endswith(
                ": the ledger's database is not available; the ledger's log says why. "
                "Sales go on offline and are sent later."
            )
            assert name in server.log_path.read_text()  # the log has the driver's words
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
                )
    finally:
        server.stop()


def test_an_answer_that_trickles_in_ends_the_push_by_its_deadline(
    store: LedgerServer, tmp_path: Path
) -> None:
    """A network passing the ledger's answer on a byte at a time, never quiet long enough for a
    read to time out, held a sync for hours: the nightly job with its lock (the next night's
    run refused to start) and the app's sync thread. The request now ends by its deadline and
    says why; the next sync sends what the ledger has not taken."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    with TrickleProxy(store.port, gap=0.05) as proxy:
        client = LedgerClient(proxy.url, t.config.ledger.token, timeout=1.0, attempts=1)
        client.deadline_s = 1.0  # a minute by default
        started = time.monotonic()
        try:
            with pytest.raises(SyncError) as caught:
                push(t, client, t.now())
        finally:
            client.close()
        took = time.monotonic() - started
    assert took < 4  # the answer alone takes 20 s at this pace
    assert "did not answer POST /v1/sync/push in full within 1 s" in str(caught.value)
    assert caught.value.details["reason"] == "slow"
    again = sync(t)
    assert (again["pushed"] + again["duplicates"], again["waiting"]) == (1, 0)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:{port}", "the connection was refused, so nothing listens on that port"),
        ("http://ledger.invalid:{port}", "its host name is not found"),
    ],
)
def test_a_ledger_out_of_reach_is_told_apart_a_service_not_running_from_a_name_not_found(
    url: str, said: str
) -> None:
    """QA: a stopped ledger service and a mistyped host name both read "cannot be reached
    (ConnectError)" in the nightly mail: the IT person could not tell whether to start the
    service or to correct ledger.url."""
    client = LedgerClient(url.format(port=free_port()), "token", attempts=1)
    try:
        with pytest.raises(SyncError) as caught:
            client.pull("0")
    finally:
        client.close()
    assert said in str(caught.value) and "ConnectError" not in str(caught.value)
    assert str(caught.value).endswith("Sales go on offline and are sent later.")


class _AnswersEverything(BaseHTTPRequestHandler):
    """Not the ledger: a service that answers 200 with an empty JSON object to any request."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_service_that_is_not_the_ledger_answering_200_fails_the_sync(
    store: LedgerServer, tmp_path: Path
) -> None:
    """QA: ledger.url on another service (a proxy sending /v1 elsewhere) that answers 200 with
    {} made every sync a success: pushed 0, the sale waiting, the till online, the nightly job
    green, and nothing reaching the ledger, night after night."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    last_sync = t.store.meta("last_sync_at")
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswersEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with _client_at(server.server_address[1], t.config.ledger.token) as client:
            with pytest.raises(SyncError, match="gives no result for 1 of the 1 events sent"):
                sync(t, client)
            with pytest.raises(SyncError, match="is not the ledger's"):
                pull(t, client)
    finally:
        server.shutdown()
        server.server_close()
    assert t.store.meta("last_sync_at") == last_sync  # not a success: no longer online for it
    assert t.store.outbox_count() == 1
    again = sync(t)
    assert (again["pushed"], again["waiting"]) == (1, 0)


@contextmanager
def _client_at(port: int, token: str = "token") -> Iterator[LedgerClient]:
    """A sync client, asking once, to a server of the test's own (not the ledger) on this
    machine's ``port``; closed when the block ends."""
    client = LedgerClient(f"http://127.0.0.1:{port}", token, attempts=1)
    try:
        yield client
    finally:
        client.close()


def _answering(
    status: int, content_type: str, body: bytes, gzipped: bool = False
) -> ThreadingHTTPServer:
    """Not the ledger: a web server that answers every request with ``body`` (``gzipped``: as
    ``Content-Encoding: gzip``, as a proxy before the ledger may send it)."""
    sent = gzip.compress(body) if gzipped else body

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(sent)))
            self.end_headers()
            self.wfile.write(sent)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        (
            "text/html",
            b"<html><head><title>Guest Wi-Fi</title></head>"
            b"<body><h1>Please log in to the guest Wi-Fi</h1></body></html>",
            "Guest Wi-Fi Please log in to the guest Wi-Fi",
        ),
        ("application/json", b'{"results": [{"event_id": "a", "stat', '{"results": [{"event_id"'),
        ("application/json", b"[]", "a list, not an object"),
        ("application/json", b"null", "null, not an object"),
    ],
)
def test_an_answer_that_is_not_the_ledgers_json_says_what_came_and_the_next_sync_heals(
    store: LedgerServer, tmp_path: Path, content_type: str, body: bytes, said: str
) -> None:
    """QA: a network login page, a JSON answer cut on the way or a proxy answering 200 to
    anything: "The ledger sent an unreadable answer to /v1/sync/push." named nothing of what
    came nor what to look at, and a JSON answer that was not an object (``[]``, ``null``) was
    "internal error (TypeError: ...)", a fault of the till's own at the CLI, the app and the
    nightly job."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    server = _answering(200, content_type, body)
    try:
        with (
            _client_at(server.server_address[1], t.config.ledger.token) as client,
            pytest.raises(SyncError) as caught,
        ):
            sync(t, client)
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert caught.value.details["reason"] == "not_ledger"
    assert "answer to POST /v1/sync/push" in message and said in message, message
    assert "\n" not in message and "ledger.url" in message
    assert "Sales go on offline" in message
    assert t.store.outbox_count() == 1
    again = sync(t)
    assert (again["pushed"], again["waiting"]) == (1, 0)


def test_a_ledger_busy_with_429_is_asked_again_after_its_retry_after_and_the_sale_goes_through(
    proxied: Proxied,
) -> None:
    """QA: a rate limit in front of the ledger (429 Too Many Requests) failed the sync at once,
    not retried as a 503 is, and the cashier was told to call the IT person for a ledger that
    was only busy."""
    proxy, t = proxied
    proxy.script, proxy.retry_after = ["429"], "1"
    started = time.monotonic()
    result = sync(t)
    took = time.monotonic() - started
    assert (result["pushed"], result["waiting"]) == (1, 0)
    assert proxy.counts["429"] == 1
    assert took >= 0.9  # it waited as the ledger asked before it asked again


@pytest.mark.parametrize("status", ["429", "503"])
def test_a_ledger_asking_to_be_called_again_in_minutes_is_not_asked_again_at_once(
    proxied: Proxied, status: str
) -> None:
    """QA: a ledger answering 503 with Retry-After: 120 (a maintenance window, a proxy shedding
    load) was asked again three times within a second by every till, and the sentence did not
    say when to expect it back; a 429 sent the cashier to the IT person."""
    proxy, t = proxied
    proxy.script, proxy.retry_after = [status] * 4, "120"
    with pytest.raises(SyncError) as caught:
        sync(t)
    assert proxy.counts[status] == 1  # asked once, not again before its time
    proxy.script = []
    again = sync(t)
    said = str(caught.value)
    assert f"answered {status} to POST" in said
    assert "asked to be called again in 120 s" in said
    assert said.endswith("Sales go on offline and are sent later.")
    cashier = sync_failure(caught.value.code, caught.value.details)
    assert "Sales go on offline and are sent later." in cashier and "IT person" not in cashier
    assert (again["pushed"], again["waiting"]) == (1, 0)


def test_a_push_the_ledger_is_slow_to_answer_is_not_sent_again_on_top_of_itself(
    proxied: Proxied,
) -> None:
    """QA: a ledger that took longer than ``ledger.timeout_s`` to answer a push (a busy
    database) got the same push again three more times while it was still at work on the
    first, from every till, each waiting on the write lock: a slow ledger was made slower. And
    the sentence said it "stopped, or the connection was cut", sending the IT person to look
    for a service that ran. The push is not sent again on top of itself; the next sync sends
    what the ledger has not taken."""
    proxy, t = proxied
    proxy.script, proxy.slow_s = ["slow_response"] * 4, 3.0
    client = LedgerClient(proxy.url, t.config.ledger.token, timeout=1.0, backoff_s=0.01)
    try:
        with pytest.raises(SyncError) as caught:
            sync(t, client)
    finally:
        client.close()
    assert proxy.counts["slow_response"] == 1  # one push reached the ledger
    proxy.script = []
    again = sync(t)
    said = str(caught.value)
    assert "did not answer POST /v1/sync/push within 1 s (ledger.timeout_s)" in said, said
    assert "stopped, or the connection was cut" not in said
    assert caught.value.details["reason"] == "unreachable"  # the cashier: sales go on offline
    assert (again["pushed"] + again["duplicates"], again["waiting"]) == (1, 0)


def test_an_answer_larger_than_any_of_the_ledgers_is_refused_before_it_fills_the_tills_memory(
    store: LedgerServer, tmp_path: Path
) -> None:
    """QA: something at ledger.url streaming an endless body (a file server, a proxy gone
    wrong) was read into the till's memory for the whole minute of the request's deadline:
    about 2 GB in 3 s here, enough to end the checkout app (its sync runs in it) before the
    sentence, which then blamed a slow network. The answer is cut at ``max_answer_bytes``."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    sent = 0

    def endless() -> None:
        nonlocal sent
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            piece = b"100000\r\n" + b" " * 0x100000 + b"\r\n"  # 1 MiB chunks, without end
            try:
                while not stop.is_set() and sent < 2**31:
                    conn.sendall(piece)
                    sent += 0x100000
            except OSError:
                pass  # the till hung up

    server = threading.Thread(target=endless, daemon=True)
    server.start()
    try:
        with _client_at(listener.getsockname()[1], t.config.ledger.token) as client:
            client.max_answer_bytes = 8 * 2**20  # 256 MiB by default
            started = time.monotonic()
            with pytest.raises(SyncError) as caught:
                sync(t, client)
    finally:
        stop.set()
        server.join(timeout=10)
        listener.close()
    assert time.monotonic() - started < 10
    assert sent < 64 * 2**20  # the till stopped reading at its limit
    said = str(caught.value)
    assert "The answer to POST /v1/sync/push from" in said
    assert "is larger than 8 MiB, more than any answer of the ledger's" in said, said
    assert caught.value.details["reason"] == "not_ledger"
    assert t.store.outbox_count() == 1
    again = sync(t)
    assert (again["pushed"], again["waiting"]) == (1, 0)


def test_a_ledger_whose_database_connections_were_killed_recovers_without_a_restart(
    databases: Databases, tmp_path: Path
) -> None:
    """PostgreSQL restarted under a running ledger service (its connections ended with
    pg_terminate_backend): the next sync goes through on new connections; while the database
    takes none, the till reads the ledger's 503 in one sentence and its sales wait; once it
    takes them again, the next sync sends them, without restarting the service."""
    url = databases.new("postgresql")
    name = url.rsplit("/", 1)[1]
    server = LedgerServer(url, tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log")
    admin = databases.pg_dsn("postgres")

    def end_connections(allow: bool | None = None) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            if allow is not None:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                        sql.Identifier(name), sql.SQL("true" if allow else "false")
                    )
                )
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )

    try:
        ledger_cli(server, "members", "import", str(ROOT / "config/demo/members.csv"))
        ledger_cli(server, "program", "set", str(ROOT / "config/program.example.toml"))
        t = till(server, tmp_path / "t1", "T1")
        sync(t)
        end_connections()
        svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
        assert sync(t)["pushed"] == 1  # new connections, the same service
        end_connections(allow=False)
        try:
            svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
            client = LedgerClient(server.base_url, t.config.ledger.token, backoff_s=0.01)
            try:
                with pytest.raises(SyncError) as caught:
                    sync(t, client)
            finally:
                client.close()
        finally:
            end_connections(allow=True)
        assert str(caught.value) == (
            f"The ledger answered 503 to POST {server.base_url}/v1/sync/push: the ledger's "
            "database is not available; the ledger's log says why. Sales go on offline and are "
            "sent later."
        )
        assert t.store.outbox_count() == 1
        again = sync(t)
        assert (again["pushed"], again["waiting"]) == (1, 0)
        assert server.proc.poll() is None  # never restarted
        audit = server.audit()
        assert (audit["sum_of_balances"], audit["members_mismatched"]) == (0, [])
        assert server.member("M0001")["balance"] == svc.balance(t, ANNA)["balance"]
    finally:
        server.stop()


def _pull_from(server: ThreadingHTTPServer, max_answer_bytes: int | None = None) -> dict:
    """What a sync client's pull reads from ``server`` (one try)."""
    with _client_at(server.server_address[1]) as client:
        client.max_answer_bytes = max_answer_bytes or client.max_answer_bytes
        return client.pull("0")


def test_a_compressed_answer_is_read_once_decoded_within_the_answer_limit() -> None:
    """An answer a proxy gzipped is read, decoded, as the ledger wrote it (its error message
    too), and its size counts as decoded: a compressed bomb is cut at ``max_answer_bytes``."""
    json_type = "application/json"
    ok = _answering(200, json_type, b'{"cursor": 7, "members": []}', gzipped=True)
    failing = _answering(503, json_type, b'{"message": "the ledger is starting"}', gzipped=True)
    bomb = _answering(200, json_type, b"[" + b" " * (4 * 2**20) + b"]", gzipped=True)
    try:
        assert _pull_from(ok) == {"cursor": 7, "members": []}
        with pytest.raises(SyncError) as caught:
            _pull_from(failing)
        assert str(caught.value).endswith(
            ": the ledger is starting. Sales go on offline and are sent later."
        )
        assert caught.value.details["status"] == 503
        with pytest.raises(SyncError, match="is larger than 1 MiB"):
            _pull_from(bomb, max_answer_bytes=2**20)  # a few KiB as it comes
    finally:
        for server in (ok, failing, bomb):
            server.shutdown()
            server.server_close()


def test_two_syncs_of_one_till_at_once_take_turns_and_count_nothing_as_resent(
    proxied: Proxied,
) -> None:
    """QA: the app's background sync and a `loyalty-pos sync` from cron ran at once on one
    till. The app's pull, answered by the ledger before the other's push, came back after it:
    the app took the event the other had just sent for one the ledger had lost (as after a
    restore from a backup), sent it again and said so (``resent``). A sync of a till now waits
    for the one running there to end, and the command says that it waits."""
    proxy, t = proxied
    sync(t)  # nothing waits: the app's sync is a pull, whose answer is held back meanwhile
    proxy.script, proxy.slow_s = ["slow_response"], 8.0
    config = t.home / "terminal.toml"
    config.write_text(config.read_text().replace("[ledger]\n", "[ledger]\ntimeout_s = 30\n"))
    app_side = open_terminal(t.home)  # the app syncs on a connection of its own
    assert app_side.config.ledger.timeout_s == 30
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(sync(app_side)), daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if proxy.counts["slow_response"]:
                break
            time.sleep(0.02)
        assert proxy.counts["slow_response"] == 1
        svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))  # sold while the app pulls
        cron = subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", "--home", str(t.home), "sync"],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        thread.join(timeout=60)
        app_side.store.close()
    assert cron.returncode == 0, cron.stderr
    second = dict(line.split(": ", 1) for line in cron.stdout.splitlines() if ": " in line)
    assert (first["pushed"], first["duplicates"], first["resent"]) == (0, 0, 0)
    assert (second["pushed"], second["duplicates"], second["resent"]) == ("1", "0", "0")
    assert cron.stderr.startswith(
        "loyalty-pos: another sync of this till is running (the checkout app's, the nightly "
        "job's or another `loyalty-pos sync`): this one waits for it to end"
    ), cron.stderr
    assert t.store.outbox_count() == 0


def test_a_sync_waiting_too_long_for_another_of_its_till_gives_up_having_sent_nothing(
    store: LedgerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another sync of the till that does not end (stuck on its own deadline): this one says
    once that it waits, gives up after ``SYNC_WAIT_S`` saying why, and has sent nothing."""
    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    monkeypatch.setattr(client_module, "SYNC_WAIT_S", 0.5)
    said: list[str] = []
    other = open_terminal(t.home)
    try:
        with client_module.one_sync_at_a_time(other), pytest.raises(SyncError) as caught:
            sync(t, waiting=lambda: said.append("waits"))
    finally:
        other.store.close()
    assert said == ["waits"]
    assert caught.value.details["reason"] == "busy"
    assert str(caught.value).startswith("Another sync of this till has been running for over 0 s")
    cashier = sync_failure(caught.value.code, caught.value.details)
    assert cashier.endswith("Sales go on offline and are sent later.")
    assert "IT person" not in cashier
    assert t.store.outbox_count() == 1
    assert sync(t)["pushed"] == 1  # it ended: the next one goes


async def test_a_sync_whose_pull_failed_after_its_push_says_the_events_reached_the_ledger(
    store: LedgerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """QA: the ledger took a sync's push and then could not be reached for its pull: the
    sentence was the pull's alone ("cannot be reached"), at the command line and at F12, and
    the IT person and the cashier took the sales for not sent. It now says they were sent and
    acknowledged, and that only the pull failed."""
    from loyalty_pos.cli import main as cli_main
    from loyalty_pos.tui.app import CheckoutApp
    from tests.tui.pilot import notes, press, settle, until

    t = till(store, tmp_path / "t1", "T1")
    sync(t)
    for _ in range(2):
        svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    monkeypatch.setattr(
        client_module, "deadline_transport", lambda: LedgerGoesAway(0, "/v1/sync/pull")
    )
    assert cli_main(["--home", str(t.home), "sync"]) == 1
    said = capsys.readouterr().err
    assert said.startswith(
        "loyalty-pos: The push went through: 2 events sent, all 2 acknowledged by the ledger. "
        "Only the pull of member changes failed; the next sync asks again. The ledger at "
    ), said
    assert "cannot be reached" in said
    assert t.store.outbox_count() == 0
    assert ledger_member(store, "M0001")["balance"] == svc.balance(t, ANNA)["balance"]

    svc.checkout(t, ANNA, svc.resolve_items(t, [("MILK", 1)]))
    app = CheckoutApp(t)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f12")
        await until(pilot, lambda: len(notes(app)) >= 2 and not app._syncing, timeout=20)
        assert notes(app)[-1] == (
            "This till's 1 new record reached the ledger. Only the member updates could not be "
            "fetched: the ledger cannot be reached. The next sync fetches them. Sales go on "
            "offline meanwhile."
        )
    assert t.store.outbox_count() == 0


async def test_the_apps_background_sync_waits_out_the_ledgers_retry_after(
    proxied: Proxied,
) -> None:
    """QA: the ledger, behind a proxy shedding load, answered 429 with Retry-After: 60; the
    app's background sync asked again at its next interval and after every sale, from every
    till, long before the minute was over. It now waits until then (the till's clock), and
    asks again once the time the ledger asked for has passed."""
    from loyalty_pos.tui.app import CheckoutApp
    from tests.tui.pilot import settle, until

    proxy, t = proxied
    real = t.clock
    later = [timedelta(0)]
    t.clock = lambda: real() + later[0]  # type: ignore[method-assign]
    app = CheckoutApp(t)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        proxy.script, proxy.retry_after = ["429"] * 4, "60"
        app.sync_quietly()
        await until(pilot, lambda: not app._syncing, timeout=20)
        assert proxy.counts["429"] == 1
        asked = sum(proxy.counts.values())
        proxy.script = []  # the ledger would answer now; it asked not to be called yet
        later[0] = timedelta(seconds=59)
        app.sync_quietly()  # the interval's
        app.sync_soon()  # after a sale
        await until(pilot, lambda: not app._syncing, timeout=20)
        assert sum(proxy.counts.values()) == asked
        assert t.store.outbox_count() == 1
        later[0] = timedelta(seconds=61)
        app.sync_quietly()
        await until(pilot, lambda: t.store.outbox_count() == 0, timeout=20)
    assert sum(proxy.counts.values()) > asked
