"""Talking to the central ledger over HTTP, safely under any network fault.

Push sends the outbox oldest first in batches; every event keeps the id it was given when it was
recorded, so a retry after a timeout, a reset or a 5xx resends the same events and the ledger's
unique constraints make it harmless ("duplicate" is success). Retries back off with jitter
(tenacity). Pull applies member snapshots and then replays this terminal's own events the ledger
had not yet counted, so the balance shown is the ledger's plus what happened here since.

Both answers carry the ledger's ``head`` of this terminal's chain. A head below what the ledger
had acknowledged before means the ledger was restored from a backup and lost the events after
it: their acknowledgements are forgotten and they are sent again, with their ids and hashes, in
the same sync.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import httpx
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from ..checkout import Terminal, is_online
from ..domain.accounting import apply_event, punch_after
from ..domain.errors import AuthError, LoyaltyPosError, Refused, StorageError
from ..domain.lots import Account, Lot
from ..domain.program import parse_program, program_to_json
from ..private import FILE_MODE
from ..store.db import MEMBERS_PULLED_AT, Store, epoch_us, owed_text
from .deadline import deadline
from .deadline import transport as deadline_transport

PUSH_BATCH = 500
#: A push's events take at most this many bytes, half the ledger's limit on a request body
#: (16 MiB, ``ledger.api.MAX_BODY_BYTES``): a backlog of large baskets (1,000 lines are ~112 KB
#: an event) goes in several requests rather than one the ledger refuses (413) at every sync. An
#: event larger than this still goes, alone, so that what the ledger says of it reaches the user.
PUSH_BATCH_BYTES = 8 * 1024 * 1024
PULL_PAGE = 1000
#: The largest answer read from the ledger: far above a pull page of 1,000 members with a year
#: of weekly sales each (a few MiB), so that only something else at ledger.url meets it.
MAX_ANSWER_BYTES = 256 * 1024 * 1024
#: The longest a request to the ledger may take, whole (``ledger.timeout_s`` bounds each wait for
#: bytes, not the request): at least this, or 12 times ``timeout_s``...
REQUEST_DEADLINE_S = 60.0
#: ... and a second more per this many bytes sent (a large push on a slow uplink).
DEADLINE_BYTES_PER_S = 32 * 1024
#: Meta key: this terminal's chain head as the ledger last said it (a push's or a pull's
#: ``head``), the seq up to which the ledger holds its events.
LEDGER_HEAD = "ledger_head_seq"
#: Meta key: the last seq this journal shares with the ledger's chain of this terminal, once the
#: two went apart (a till restored from an older copy, or a second till under the same id, sold
#: under seqs the ledger holds other events for). Unset while they have not.
CHAIN_FORK = "chain_fork_seq"
#: Rejections that a later push can cure (the events before them arrive first).
RETRYABLE_REJECTIONS = ("gap",)
#: Rejections after which none of this terminal's later events can reach the ledger: its chain
#: there is broken (``chain``: a seq taken by another event, a hash that does not follow) or
#: waits behind an event refused for good (``gap``).
BLOCKING_REJECTIONS = ("gap", "chain")


class SyncError(LoyaltyPosError):
    """The ledger could not be reached or answered with an error; nothing local was lost."""

    code = "sync"


#: The longest a sync waits when the ledger (or a proxy before it) asks to be called again
#: later (``Retry-After`` on a 429 or 5xx); asked to wait longer, the sync stops there (its
#: error's ``retry_after_s`` says how long), and the app's next background sync once that time
#: has passed (``tui.ledger_sync``), or the next night's, asks again.
RETRY_AFTER_MAX_S = 10.0


def _transient(e: BaseException) -> bool:
    if isinstance(e, httpx.ReadTimeout):
        # The request reached the ledger, which has not answered yet: busy, or still at work
        # on it. Sent again at once, a push queued behind itself on the ledger's write lock
        # (from every till): a slow ledger was made slower. The next sync asks again.
        return False
    if isinstance(e, httpx.TransportError):
        return True
    return isinstance(e, httpx.HTTPStatusError) and (
        e.response.status_code >= 500 or e.response.status_code == 429
    )


def _retry_after(e: BaseException | None) -> float | None:
    """The seconds an answer's ``Retry-After`` asks to wait (a number, or an HTTP date taken
    against the answer's own ``Date``, not this till's clock, which may be off), or None."""
    if not isinstance(e, httpx.HTTPStatusError):
        return None
    said = e.response.headers.get("retry-after", "").strip()
    if said.isdigit():
        return float(said)
    try:
        when = parsedate_to_datetime(said)
        sent = parsedate_to_datetime(e.response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None or sent.tzinfo is None:
        return None
    return max((when - sent).total_seconds(), 0.0)


class _AskedToWaitLong(stop_base):
    """Stop retrying when the last answer asked to be called again after more than
    ``RETRY_AFTER_MAX_S``: asking at once would only add to the load it sheds."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        after = _retry_after(outcome.exception() if outcome else None)
        return after is not None and after > RETRY_AFTER_MAX_S


class LedgerClient:
    """One terminal's HTTP connection to the ledger, with its bearer token; a push's events take
    at most ``max_push_bytes`` (``PUSH_BATCH_BYTES``). A request ends within ``deadline_s``
    (default ``max(REQUEST_DEADLINE_S, 12 * timeout)``) and a second per
    ``DEADLINE_BYTES_PER_S`` it sends, however slowly its answer comes (``sync.deadline``)."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout: float = 5.0,
        attempts: int = 4,
        transport: httpx.BaseTransport | None = None,
        backoff_s: float = 0.2,
        max_push_bytes: int = PUSH_BATCH_BYTES,
        deadline_s: float | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.deadline_s = deadline_s or max(REQUEST_DEADLINE_S, 12 * timeout)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_push_bytes = max_push_bytes
        self.max_answer_bytes = MAX_ANSWER_BYTES
        self.http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport or deadline_transport(),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "loyalty-pos"},
        )

    #: The ledger's clock as its last answer's ``Date`` header said it, and when (monotonic).
    ledger_time: tuple[datetime, float] | None = None

    def close(self) -> None:
        self.http.close()

    def ledger_now(self) -> datetime | None:
        """The ledger's clock now, from its last answer (to the second), or None."""
        if self.ledger_time is None:
            return None
        said, read_at = self.ledger_time
        return said + timedelta(seconds=time.monotonic() - read_at)

    def _note_date(self, response: httpx.Response) -> None:
        try:
            said = parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError):
            return  # no Date header (a proxy may drop it): nothing to compare
        if said.tzinfo is not None:
            self.ledger_time = (said, time.monotonic())

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        backoff = wait_random_exponential(multiplier=self.backoff_s, max=5)

        def wait(state: RetryCallState) -> float:
            asked = _retry_after(state.outcome.exception() if state.outcome else None)
            return max(backoff(state), asked or 0.0)

        retrying = Retrying(
            retry=retry_if_exception(_transient),
            wait=wait,
            stop=stop_after_attempt(self.attempts) | stop_after_delay(30) | _AskedToWaitLong(),
            reraise=True,
        )
        content = kwargs.get("content")
        budget = self.deadline_s + len(content or b"") / DEADLINE_BYTES_PER_S
        late = False
        try:
            for attempt in retrying:
                with attempt:
                    started = time.monotonic()
                    try:
                        with deadline(budget):
                            response = self._request(method, path, **kwargs)
                    finally:
                        late = time.monotonic() - started >= budget - 0.05
                    response.raise_for_status()
                    self._note_date(response)
                    return self._answer(method, path, response)
        except httpx.HTTPStatusError as e:
            status = e.response.status_code
            if status in (401, 403):
                said = _problem_message(e.response)
                raise AuthError(
                    f"The ledger refused this terminal's token ({status}"
                    + (f": {said}" if said else "")
                    + "): ask the ledger admin for this terminal's own token "
                    "(`loyalty-ledger terminal add`).",
                    status=status,
                ) from e
            # The whole address asked: a ledger.url with a path of its own (".../v1") shows
            # in it, where the path alone would hide it.
            asked = str(e.request.url).split("?", 1)[0]
            said = _problem_message(e.response) or _body_excerpt(e.response)
            hint = ""
            if status == 404:
                hint = f" (is ledger.url {self.url} right? it is the ledger's address without /v1)"
            elif status == 413:
                hint = (
                    f" (a request of {len(e.request.content):,} bytes: more than the ledger, or "
                    "a proxy before it, takes in one request; nginx: client_max_body_size)"
                )
            said = said or e.response.reason_phrase
            later = ""
            waits: dict[str, float] = {}
            if status >= 500 or status == 429:
                said = said if said.endswith((".", ")")) or not said else said + "."
                after = _retry_after(e)
                if after is not None:
                    later = f" It asked to be called again in {after:.0f} s."
                    waits["retry_after_s"] = after  # the app's next sync waits for it
                later += " Sales go on offline and are sent later."
            raise SyncError(
                f"The ledger answered {status} to {method} {asked}{hint}: {said}{later}",
                status=status,
                **waits,
            ) from e
        except httpx.ConnectError as e:
            if "SSL" in str(e) or "TLS" in str(e):  # https:// to a ledger that speaks http
                raise SyncError(
                    f"The TLS handshake with the ledger at {self.url} failed ({e}): is the "
                    "ledger served over http rather than https? ledger.url's scheme must be "
                    "the one it speaks. Sales go on offline and are sent later.",
                    reason="tls",
                ) from e
            raise SyncError(
                f"The ledger at {self.url} cannot be reached: {_why_not_connected(e)}. "
                "Sales go on offline and are sent later.",
                reason="unreachable",
            ) from e
        except httpx.ConnectTimeout as e:
            if late:
                raise self._too_slow(method, path, budget) from e
            raise SyncError(
                f"The ledger at {self.url} cannot be reached: no answer to the connection "
                f"within {self.http.timeout.connect or 0:.0f} s (its machine is off, or a "
                "firewall drops the traffic). Sales go on offline and are sent later.",
                reason="unreachable",
            ) from e
        except httpx.TimeoutException as e:
            if late:
                raise self._too_slow(method, path, budget) from e
            if isinstance(e, httpx.ReadTimeout):
                raise SyncError(
                    f"The ledger at {self.url} did not answer {method} {path} within "
                    f"{self.http.timeout.read or 0:g} s (ledger.timeout_s): it is busy, or still "
                    "at work on it. Sales go on offline; the next sync sends what the ledger has "
                    "not taken (nothing counts twice).",
                    reason="unreachable",
                ) from e
            raise self._no_answer(e) from e
        except httpx.TransportError as e:
            raise self._no_answer(e) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to one request, read whole unless it is larger than ``max_answer_bytes``
        (announced so, or grown so as it comes): then the connection is closed there, and the
        sync fails saying so. Read without a limit, an endless body (a file server or a proxy
        gone wrong at ledger.url) filled the till's memory for the minute of the deadline."""
        response = self.http.send(self.http.build_request(method, path, **kwargs), stream=True)
        try:
            announced = response.headers.get("content-length", "")
            too_large = announced.isdigit() and int(announced) > self.max_answer_bytes
            parts: list[bytes] = []
            size = 0
            if not too_large:
                for part in response.iter_bytes():  # as decoded: a compressed bomb counts too
                    size += len(part)
                    if size > self.max_answer_bytes:
                        too_large = True
                        break
                    parts.append(part)
            if too_large:
                raise SyncError(
                    f"The answer to {method} {path} from {self.url} is larger than "
                    f"{self.max_answer_bytes / 2**20:g} MiB, more than any answer of the "
                    "ledger's: is ledger.url the ledger's address, and does nothing answer in "
                    "its place (a file server, a proxy)? Nothing of it was stored. Sales go on "
                    "offline; the next sync sends what the ledger has not taken (nothing counts "
                    "twice).",
                    reason="not_ledger",
                )
            return _read_whole(response, b"".join(parts))
        finally:
            response.close()

    def _answer(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        """The body of a 200 as the JSON object every ledger answer is. Anything else (a network's
        login page, a proxy's own page, JSON cut on the way, a list or ``null``) was not
        written by the ledger, or not whole: the sync fails saying what came, and nothing of
        it is stored."""
        try:
            body = response.json()
        except ValueError:  # not JSON, not whole, or not text
            what = "not JSON"
        else:
            if isinstance(body, dict):
                return body
            kinds: dict[type, str] = {list: "a list", str: "a string", bool: "true or false"}
            said = "null" if body is None else kinds.get(type(body), "a number")
            what = f"JSON, but {said}, not an object"
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        excerpt = _body_excerpt(response, 120) if response.content else "empty"
        raise SyncError(
            f"The answer to {method} {path} from {self.url} is not the ledger's ({kind}, "
            f"{len(response.content):,} bytes, {what}: {excerpt}): is ledger.url the ledger's "
            "address, and does nothing answer in its place (a proxy, a network's login page)? "
            "Or the answer was cut on the way. Nothing of it was stored. Sales go on offline; "
            "the next sync sends what the ledger has not taken (nothing counts twice).",
            reason="not_ledger",
        )

    def _too_slow(self, method: str, path: str, budget: float) -> SyncError:
        return SyncError(
            f"The ledger at {self.url} did not answer {method} {path} in full within "
            f"{budget:.0f} s: the network is very slow or stalls part-way (a failing link, "
            "a proxy or firewall holding the connection). Sales go on offline; the next "
            "sync sends what the ledger has not taken (nothing counts twice).",
            reason="slow",
        )

    def _no_answer(self, e: httpx.TransportError) -> SyncError:
        # Connected, then no answer came (or not a whole one): the ledger may have taken the
        # request; the next sync sends what it has not, and nothing counts twice.
        return SyncError(
            f"No answer came from the ledger at {self.url} ({type(e).__name__}): it stopped, "
            "or the connection was cut. Sales go on offline; the next sync sends what the "
            "ledger has not taken (nothing counts twice).",
            reason="unreachable",
        )

    def push(
        self,
        terminal_id: str,
        events: Sequence[Mapping[str, Any] | str],
        sent_at: datetime | None = None,
    ) -> dict[str, Any]:
        """``events`` are mappings or, straight from the journal, their JSON text (sent as it is,
        not parsed and encoded again). ``sent_at`` is this terminal's clock now: the ledger tells
        a late push (offline for a day) from a clock that is off."""
        head: dict[str, Any] = {"terminal_id": terminal_id}
        if sent_at is not None:
            head["sent_at"] = sent_at.isoformat()
        bodies = ",".join(e if isinstance(e, str) else json.dumps(e) for e in events)
        content = f'{json.dumps(head)[:-1]}, "events": [{bodies}]}}'
        return dict(
            self._call(
                "POST",
                "/v1/sync/push",
                content=content.encode(),
                headers={"Content-Type": "application/json"},
            )
        )

    def pull(self, since: str, limit: int = PULL_PAGE) -> dict[str, Any]:
        return dict(self._call("GET", "/v1/sync/pull", params={"since": since, "limit": limit}))

    def balances(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The ledger's liability and members in debt at ``end`` and the points its expiry runs
        wrote off in ``[start, end)`` (``GET /v1/reports/balances``)."""
        params = {"from": start.isoformat(), "to": end.isoformat()}
        return dict(self._call("GET", "/v1/reports/balances", params=params))

    def card(self, card: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("GET", f"/v1/cards/{card}"))
        except SyncError as e:
            if e.details.get("status") == 404:
                return None
            raise


#: Headers that framed or encoded the body as it came: the body read here is whole and decoded.
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _read_whole(response: httpx.Response, body: bytes) -> httpx.Response:
    """``response`` (streamed, now closed) with ``body``, its content read within the limit
    and decoded, as an answer whose ``content``, ``text`` and ``json()`` read it: built
    anew, with the public API, rather than writing the body into httpx's own answer."""
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING],
        content=body,
        request=response.request,
        extensions={
            key: response.extensions[key]
            for key in ("http_version", "reason_phrase")
            if key in response.extensions
        },
    )


def _why_not_connected(error: BaseException) -> str:
    """Why a connection to the ledger failed, in the words that say where to look: the name
    (DNS), the service (nothing listens on the port), or the network."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return (
                f"its host name is not found ({cause.strerror or cause}): check ledger.url "
                "and this machine's DNS"
            )
        if isinstance(cause, ConnectionRefusedError):
            return (
                "the connection was refused, so nothing listens on that port: check that the "
                "ledger service runs and that ledger.url names its port"
            )
        if isinstance(cause, OSError) and cause.strerror:
            return f"{cause.strerror.lower()}: check the network between this till and the ledger"
        cause = cause.__cause__ or cause.__context__
    return f"{type(error).__name__}: {str(error)[:200]}"


def _problem_message(response: httpx.Response) -> str:
    """The ledger's own sentence from an error answer (``{"error", "message"}``), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return ""
    return message if len(message) <= 300 else message[:300].rsplit(" ", 1)[0] + " ..."


def _body_excerpt(response: httpx.Response, limit: int = 160) -> str:
    """An answer that is not the ledger's (another web server's error page at ``ledger.url``) as
    one line: its text without markup, spaces collapsed, cut at ``limit``. Its first 200
    characters were said as they came, a page of HTML over a dozen lines of the sync's sentence."""
    text = response.text
    if "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def client_for(t: Terminal) -> LedgerClient:
    ledger = t.config.ledger
    if not ledger.configured:
        raise Refused(  # asked of a standalone terminal: a usage error, not a fault (exit 2)
            "No ledger is configured for this terminal (ledger.url in terminal.toml)."
        )
    if not ledger.token:
        raise AuthError(
            "This terminal has no token for its ledger (ledger.token_file in terminal.toml, or "
            "LOYALTY_POS_LEDGER_TOKEN): ask the ledger admin for one (`loyalty-ledger terminal "
            "add`); sales go on offline meanwhile."
        )
    return LedgerClient(ledger.url, ledger.token, ledger.timeout_s)


def ledger_balances(t: Terminal) -> Callable[[datetime, datetime], dict[str, Any]]:
    """What a report of a period over asks the ledger (``LedgerClient.balances``): one try and
    a retry, so that a report with the ledger down says so in seconds, not after a sync's
    back-off."""

    def ask(start: datetime, end: datetime) -> dict[str, Any]:
        client = client_for(t)
        client.attempts = 2
        try:
            return client.balances(start, end)
        finally:
            client.close()

    return ask


def _pending(
    store: Store, limit: int, after: int = 0, max_bytes: int = PUSH_BATCH_BYTES
) -> list[tuple[int, str, str]]:
    """The next events to push after seq ``after`` as (seq, event id, JSON body), at most
    ``limit`` of them and ``max_bytes`` of text (the first one whatever its size): never
    acknowledged, or rejected for a reason a later push can cure."""
    reasons = " OR ".join("ack_reason LIKE ?" for _ in RETRYABLE_REJECTIONS)
    rows = store.query(
        f"SELECT seq, event_id, body FROM outbox WHERE seq > ? "
        f"AND (ack_status IS NULL OR ({reasons})) ORDER BY seq LIMIT ?",
        (after, *[f"{r}%" for r in RETRYABLE_REJECTIONS], limit),
    )
    batch: list[tuple[int, str, str]] = []
    size = 0
    for row in rows:
        body = row["body"]
        # Its UTF-8 length, and the comma between events. Journal text is mostly ASCII, whose
        # length is its size (``isascii`` reads a flag): nothing is encoded twice for it.
        size += (len(body) if body.isascii() else len(body.encode())) + 1
        if size > max_bytes and batch:
            break
        batch.append((row["seq"], row["event_id"], body))
    return batch


def _ledger_holds(t: Terminal, head: Any) -> tuple[int, int]:
    """Take the ledger's word (a push's or a pull's ``head``) for how far it holds this
    terminal's chain; call inside a transaction. Returns that seq and how many events were
    marked to be sent again: when it is below a seq the ledger had acknowledged or reported
    before, the ledger was restored from a backup and lost the events after it. They are sent
    again as they are (same ids, same hashes: idempotent at the ledger). A journal behind the
    ledger (a till restored from a backup) is not this case and is left to the ledger's answers.
    """
    seq = head.get("seq") if isinstance(head, Mapping) else None
    owner = head.get("terminal_id") if isinstance(head, Mapping) else None
    mine = t.config.terminal_id
    if owner is not None and owner != mine:
        raise AuthError(
            f"The ledger says this token belongs to terminal {owner}, not {mine}: install "
            f"{mine}'s token (`loyalty-pos token set`, from `loyalty-ledger terminal add "
            f"{mine}`). Nothing of this sync was stored; sales go on offline meanwhile."
        )
    if type(seq) is not int or seq < 0:
        return -1, 0  # an answer without a head (a ledger of an earlier release for a pull)
    store = t.store
    known = max(int(store.meta(LEDGER_HEAD, "0") or "0"), store.acked_through())
    if seq != known:
        store.set_meta(LEDGER_HEAD, str(seq))
    return seq, store.unack_after(seq) if seq < known else 0


def _note_fork(t: Terminal, head: Any) -> None:
    """When the ledger's ``head`` (a push's or a pull's) holds more of this terminal's chain than
    the journal has, note that the two share no event after the last one the ledger answered
    as stored; call inside a transaction, after a push's answers are recorded. Only once every
    event here has its answer: one not sent yet (the rest of a backlog) may be one they share,
    which the ledger answers ``duplicate``."""
    seq = head.get("seq") if isinstance(head, Mapping) else None
    if type(seq) is int and seq > t.store.head()[0] and t.store.outbox_count() == 0:
        _forked_after(t, t.store.acked_through())


def _forked_after(t: Terminal, seq: int) -> None:
    """Note that this journal and the ledger's chain of this terminal share no event after
    ``seq`` (call inside a transaction): the ledger's events of this terminal above it are
    others than the journal's of the same seqs."""
    known = chain_fork(t)
    if known is None or seq < known:
        t.store.set_meta(CHAIN_FORK, str(seq))


def chain_fork(t: Terminal) -> int | None:
    """The last seq this journal shares with the ledger's chain of this terminal when the two
    went apart (``CHAIN_FORK``), else None."""
    text = t.store.meta(CHAIN_FORK)
    return int(text) if text else None


def _after_some(error: SyncError, counts: Mapping[str, int], waiting: int) -> SyncError:
    """``error`` with what this push had already sent when it came: the operator sees that the
    sync got part of the way (a ledger stopped after 11,000 of 20,000 events)."""
    taken = counts["pushed"] + counts["duplicates"]
    return SyncError(
        f"{taken:,} event{'s' if taken != 1 else ''} reached the ledger before this sync "
        f"stopped; the other {waiting:,} wait{'s' if waiting == 1 else ''} in the journal for the next "
        f"one. {error.message}",
        **{**error.details, "pushed": counts["pushed"], "waiting": waiting},
    )


def _pull_failed(error: SyncError, counts: Mapping[str, int]) -> SyncError:
    """``error`` of a pull after a push that went through, saying first that it did: the sales
    it sent are on the ledger, and only the members' changes did not come (the pull's sentence
    alone read as if nothing had been sent). ``stage`` ``pull`` and ``acknowledged`` in its
    details give the cashier's words (``tui.words.sync_failure``)."""
    sent = counts["pushed"] + counts["duplicates"] + counts["rejected"]
    if not sent:
        return error
    taken = counts["pushed"] + counts["duplicates"]
    if taken == sent:
        acked = "acknowledged by the ledger" if sent == 1 else f"all {taken:,} acknowledged"
    else:
        acked = f"{taken:,} acknowledged, {sent - taken:,} held back"
    return SyncError(
        f"The push went through: {sent:,} event{'s' if sent != 1 else ''} sent, {acked}"
        f"{' by the ledger' if sent != 1 else ''}. Only the pull of member changes failed; the "
        f"next sync asks again. {error.message}",
        **{**error.details, "stage": "pull", "sent": sent, "acknowledged": taken},
    )


def push(t: Terminal, client: LedgerClient, now: datetime) -> dict[str, int]:
    counts = {"pushed": 0, "duplicates": 0, "rejected": 0, "resent": 0}
    # Every event at or below ``after`` is settled for this push (acknowledged for good), so the
    # next batch is read from there on instead of walking the acknowledged part of the journal
    # again: draining a long backlog stays linear.
    after = 0
    count = PUSH_BATCH
    while True:
        batch = _pending(t.store, count, after, client.max_push_bytes)
        if not batch:
            return counts
        try:
            answer = client.push(t.config.terminal_id, [body for _, _, body in batch], t.now())
        except SyncError as e:
            if e.details.get("status") != 413 or len(batch) == 1:
                if counts["pushed"] or counts["duplicates"]:
                    raise _after_some(e, counts, t.store.outbox_count()) from e
                raise
            # The ledger, or a proxy before it (nginx takes 1 MiB by default), takes less in a
            # request than this push: half as many events and bytes, down to one event, which
            # goes alone whatever its size. The client keeps the smaller budget.
            count = max(1, len(batch) // 2)
            sent = sum(len(body.encode()) + 1 for _, _, body in batch)
            client.max_push_bytes = max(1, min(client.max_push_bytes, sent) // 2)
            continue
        seq_of = {event_id: seq for seq, event_id, _ in batch}
        if unanswered := _unanswered(answer, seq_of):
            wrong = SyncError(
                f"The answer to this push from {client.url} gives no result for {unanswered:,} "
                f"of the {len(batch):,} events sent, which the ledger always does: is "
                "ledger.url the ledger's address (a proxy sending /v1 elsewhere answers so)? "
                "Nothing of that answer was stored; the events wait in the journal, and sales "
                "go on offline.",
                reason="not_ledger",
            )
            if counts["pushed"] or counts["duplicates"]:
                raise _after_some(wrong, counts, t.store.outbox_count())
            raise wrong
        settled: set[int] = set()
        progressed = False
        with t.store.transaction():
            head, lost = _ledger_holds(t, answer.get("head"))
            for result in answer.get("results", []):
                seq = seq_of.get(result.get("event_id"))
                status = result.get("status")
                if seq is None or status not in ("accepted", "duplicate", "rejected"):
                    continue
                if lost and seq > head:
                    continue  # refused for the events the ledger lost: sent again with them
                reason = result.get("reason")
                said = result.get("message")
                if status == "rejected" and str(reason or "").startswith("chain"):
                    _forked_after(t, seq - 1)  # the ledger holds another event at this seq
                # The ledger's sentence is kept beside its reason word: an event held back must
                # say why where the till's people can read it (sync's answer, the nightly job).
                noted = f"{reason}: {str(said)[:300]}" if reason and said else reason
                t.store.ack(seq, status, noted, now)
                key = {"accepted": "pushed", "duplicate": "duplicates", "rejected": "rejected"}[
                    status
                ]
                counts[key] += 1
                progressed = progressed or status != "rejected"
                if status != "rejected" or not str(reason or "").startswith(RETRYABLE_REJECTIONS):
                    settled.add(seq)
            _note_fork(t, answer.get("head"))
        if lost:
            counts["resent"] += lost
            after = head
            continue
        if not progressed:
            return counts
        still_open = [seq for seq, _, _ in batch if seq not in settled]
        after = min(still_open) - 1 if still_open else batch[-1][0]


def _unanswered(answer: Mapping[str, Any], sent: Mapping[str, int]) -> int:
    """How many of the events ``sent`` (by event id) a push's answer gives no result for. The
    ledger answers every event it is sent, in order; an answer without them is not the
    ledger's (a wrong address that answers 200 to anything), and taking it as a push with
    nothing to say made the sync a success: the till online, the nightly job green, and
    nothing reaching the ledger."""
    results = answer.get("results")
    if not isinstance(results, list):
        return len(sent)
    answered = {r.get("event_id") for r in results if isinstance(r, Mapping)}
    return sum(1 for event_id in sent if event_id not in answered)


def apply_snapshots(t: Terminal, snaps: Sequence[Mapping[str, Any]]) -> None:
    """Replace the cached state of each member in ``snaps`` (one pull page) by the ledger's, then
    replay this terminal's events the ledger has not counted yet; call inside a transaction.

    A page is read and written with a fixed number of statements, not several per member: the
    first pull into an empty terminal applies every member the ledger has.
    """
    store, terminal_id = t.store, t.config.terminal_id
    fork = chain_fork(t)
    parsed = []
    for snap in snaps:
        lots = [Lot.from_json(lot) for lot in snap.get("lots", [])]
        # The snapshot's balance is booked: all its lots, lapsed ones it has not expired yet
        # included (a refund gives back points that lapsed after the sale so), less any debt.
        held = sum(lot.points for lot in lots)
        debt = max(held - int(snap.get("balance", held)), 0)
        # Lots the ledger's expiry runs wrote off: lapsed, out of the balance, kept for a
        # refund of the sale that earned them (it takes their points from there, as the
        # ledger does, not from the member's other points).
        lots += [Lot.from_json(lot) for lot in snap.get("written_off") or ()]
        base_seq = int((snap.get("counted_through") or {}).get(terminal_id, 0))
        if fork is not None:
            # The ledger's count of this terminal's events goes past where this journal and its
            # chain went apart: the journal's events after that are none of the ones counted
            # (they are held back there), so they are replayed on the snapshot like any not yet
            # at the ledger, as the sale did on the cached account. Counted to the ledger's
            # seq, they were left out of the member's points here, and verify, which replays
            # the same way, flagged the member whose sale the till had just recorded.
            base_seq = min(base_seq, fork)
        parsed.append((snap, str(snap["member_id"]), lots, debt, base_seq))
    own = store.member_events({member_id: base_seq for _, member_id, _, _, base_seq in parsed})
    members: list[dict[str, Any]] = []
    cards: list[tuple[str, str, str]] = []
    accounts: dict[str, Account] = {}
    base_spend: list[tuple[str, int, int]] = []
    for snap, member_id, lots, debt, base_seq in parsed:
        dated = snap.get("window_spend")  # None from a ledger that does not send it
        if dated is not None:
            base_spend.extend(_dated_spend(member_id, dated))
        base_punch = dict(snap.get("punch") or {})
        punch = dict(base_punch)
        base = Account(tuple(lots), debt).with_owed_json(snap)  # "owed", "covered" when any
        account = base
        last_bonus = snap.get("last_birthday_bonus")
        for event in own.get(member_id, ()):
            account = apply_event(account, event)
            punch = punch_after(punch, event)
            if event["type"] == "checkout":
                if event.get("birthday_bonus"):
                    last_bonus = event["occurred_at"][:10]
            elif event["type"] == "refund":
                if last_bonus and event.get("birthday_bonus_returned") == last_bonus:
                    last_bonus = None
        members.append(
            {
                "member_id": member_id,
                "name": snap.get("name") or "",
                "email": snap.get("email") or "",
                "phone": snap.get("phone") or "",
                "birthday": snap.get("birthday"),
                "status": "frozen" if snap.get("status") == "frozen" else "active",
                "debt": account.debt,
                "punch": json.dumps(punch, sort_keys=True),
                "last_birthday_bonus": last_bonus,
                "base_lots": json.dumps([lot.to_json() for lot in lots]),
                "base_debt": debt,
                "base_owed": owed_text(base),
                "base_seq": base_seq,
                "base_spend_minor": int(snap.get("qualifying_spend_minor") or 0),
                "base_spend_dated": 0 if dated is None else 1,
                "base_punch": json.dumps(base_punch),
                "base_last_birthday_bonus": snap.get("last_birthday_bonus"),
                "enrolled_at": _enrolled_at(snap.get("enrolled_at")),
            }
        )
        cards.extend(
            (card["card"], member_id, "blocked" if card.get("status") == "blocked" else "active")
            for card in snap.get("cards", [])
        )
        accounts[member_id] = account
    store.replace_members(members, cards, accounts, base_spend)


def _enrolled_at(sent: Any) -> str | None:
    """A snapshot's ``enrolled_at`` as the cache keeps it (an ISO time), or None: none sent (a
    ledger before snapshot_format 4), or one that is no time (the report then counts from the
    member's first purchase here, as before)."""
    if not isinstance(sent, str):
        return None
    try:
        when = datetime.fromisoformat(sent)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def _dated_spend(member_id: str, pairs: Any) -> list[tuple[str, int, int]]:
    """A snapshot's ``window_spend`` ([occurred_at, spend_minor] pairs) as ``base_spend`` rows,
    one per moment."""
    by_moment: dict[int, int] = {}
    try:
        for at, amount in pairs:
            if not isinstance(at, str) or type(amount) is not int:
                raise TypeError(f"{[at, amount]!r} is not a time and an amount in minor units")
            when = datetime.fromisoformat(at)
            moment = epoch_us(when if when.tzinfo else when.replace(tzinfo=UTC))
            by_moment[moment] = by_moment.get(moment, 0) + amount
    except (TypeError, ValueError) as e:
        raise SyncError(
            f"The ledger sent member {member_id}'s spend in the tier window in a form this "
            f"terminal cannot read ({str(e)[:200]}); nothing of this pull page was stored."
        ) from e
    return [(member_id, moment, amount) for moment, amount in by_moment.items()]


class Pulled(NamedTuple):
    """What a pull did."""

    #: member snapshots applied
    pulled: int
    #: the ledger's change cursor now stored (the next pull's ``since``)
    cursor: str
    #: this terminal's events the pages showed the ledger had lost (restored from a backup),
    #: now waiting to be sent again
    lost: int = 0


def pull(t: Terminal, client: LedgerClient) -> Pulled:
    """Apply every member snapshot changed since the stored cursor, a page per transaction. The
    next page is asked for while this one is written (the ledger and the cache work at once).

    A ledger whose snapshots hold more than the cached ones (a higher ``snapshot_format``: an
    upgraded ledger, or a cache upgraded to keep more) brings every member again, once: a member
    who has not changed since would otherwise keep the older snapshot until they do.

    Each page also says how far the ledger holds this terminal's chain (``head``): a ledger
    restored from a backup shows it there even when the terminal has nothing new to push, and
    even after the other tills' pushes took its change cursor past this terminal's again."""
    cursor = t.store.meta("pull_cursor", "0") or "0"
    held_format = int(t.store.meta("snapshot_format", "1") or "1")
    pulled = lost = 0
    ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loyalty-pull")
    try:
        page = client.pull(cursor)
        while True:
            if not isinstance(page.get("members"), list) or type(page.get("cursor")) is not int:
                raise SyncError(
                    f"The answer to a pull from {client.url} is not the ledger's (no members "
                    "and change cursor): is ledger.url the ledger's address (a proxy sending "
                    "/v1 elsewhere answers so)? Nothing of it was stored; sales go on offline.",
                    reason="not_ledger",
                )
            new_cursor = str(page["cursor"])
            page_format = int(page.get("snapshot_format", 1))
            # A cursor going back: the ledger was restored from a backup. Either way, start over.
            if int(new_cursor) < int(cursor) or (page_format > held_format and cursor != "0"):
                cursor = "0"
                page = client.pull(cursor)
                continue
            following = ahead.submit(client.pull, new_cursor) if page.get("more") else None
            with t.store.transaction():
                # the head first: a chain gone apart from this journal shows there, and the
                # snapshots of this page are read by it
                lost += _ledger_holds(t, page.get("head"))[1]
                _note_fork(t, page.get("head"))
                snaps = page.get("members", [])
                if snaps:
                    apply_snapshots(t, snaps)
                    pulled += len(snaps)
                    # A report of a period that ended before now can no longer replay its
                    # balances from these accounts (reports.member_balances).
                    t.store.set_meta(MEMBERS_PULLED_AT, t.now().isoformat())
                program = page.get("program")
                if program:
                    _take_program(t, program)
                cursor = new_cursor
                t.store.set_meta("pull_cursor", cursor)
                if page_format != held_format:
                    held_format = page_format
                    t.store.set_meta("snapshot_format", str(held_format))
            if following is None:
                return Pulled(pulled, cursor, lost)
            page = following.result()
    finally:
        ahead.shutdown(wait=False, cancel_futures=True)


def _take_program(t: Terminal, sent: Mapping[str, Any]) -> None:
    """Rule the next sale by the ledger's program: a till with a ledger takes its program only
    from there, whatever version number the till's own has (the file it was set up with). A
    program in another currency is refused: every amount in the cache is in minor units of the
    till's currency."""
    program = parse_program(sent["rules"], "program from the ledger")
    current = t.store.program()
    if program_to_json(program) == program_to_json(current):  # the version is part of it
        return
    if program.currency != current.currency:
        raise SyncError(
            f"The ledger's program (version {program.version}) is in {program.currency}, but "
            f"this terminal keeps its prices and sales in {current.currency}: set the till up "
            "again (`loyalty-pos init`) with the ledger's currency. Its sales so far stay in its "
            "journal; nothing of this pull was stored."
        )
    t.store.take_program(program, t.now())


#: How far the till's clock may be from the ledger's before a sync says so: a sale's time
#: dates its points' expiry, the promotions it gets and the store day it is reported in.
CLOCK_TOLERANCE = timedelta(minutes=5)


def clock_offset_words(off: timedelta) -> str:
    """How far a clock is off, in the unit a person reads at a glance: minutes, hours, or from a
    week on days (a clock reset to a year long past read "175200.0 hours")."""
    seconds = abs(off.total_seconds())
    if seconds >= 7 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return f"{seconds / 3600:.1f} hours" if seconds >= 5400 else f"{round(seconds / 60)} minutes"


def clock_problem(off: timedelta) -> str | None:
    """A sentence for a till clock ``off`` from the ledger's (positive: ahead), or None."""
    if abs(off) <= CLOCK_TOLERANCE:
        return None
    amount = clock_offset_words(off)
    return (
        f"This till's clock is {amount} {'ahead of' if off > timedelta(0) else 'behind'} the "
        "ledger's: its sales are dated by it (points' expiry, promotions, the store day). Set "
        "the till's clock right (NTP); sales already made keep their time."
    )


#: The longest a sync waits for another sync of the same till to end (``one_sync_at_a_time``):
#: a long backlog takes minutes; one running longer is stuck on a ledger that does not answer,
#: and its own deadline ends it.
SYNC_WAIT_S = 300.0
#: What a sync waiting for another one of the same till says (``sync``'s ``waiting``).
ANOTHER_SYNC_RUNS = (
    "another sync of this till is running (the checkout app's, the nightly job's or another "
    "`loyalty-pos sync`): this one waits for it to end"
)


@contextmanager
def one_sync_at_a_time(t: Terminal, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold this till's sync lock (a lock on ``<cache>.sync-lock``, beside the till's SQLite
    cache, which the system lets go of when a process ends however it ends) for the block.
    Another sync of the till holding it, call ``waiting`` once and wait for it, at most
    ``SYNC_WAIT_S``, then fail saying so, having done nothing.

    Two syncs of one till at once each took what the other had just sent, answered after its
    own pull's page was read, for events the ledger had lost: they were sent again and counted
    ``resent``, as after a ledger restored from a backup."""
    path = f"{t.store.path}.sync-lock"
    lock = FileLock(path, mode=FILE_MODE)
    try:
        try:
            lock.acquire(timeout=0)
        except FileLockTimeout:
            if waiting is not None:
                waiting()
            lock.acquire(timeout=SYNC_WAIT_S, poll_interval=0.1)
    except FileLockTimeout:
        raise SyncError(
            f"Another sync of this till has been running for over {SYNC_WAIT_S:.0f} s (the "
            "checkout app's, the nightly job's or another `loyalty-pos sync`); this one did not "
            "start, and nothing was sent. Sales go on offline and are sent later.",
            reason="busy",
        ) from None
    except OSError as e:
        raise StorageError(
            f"This till's sync lock {path} cannot be opened ({e.strerror or e}): nothing was "
            "sent. Check the disk and the permissions of the till's folder."
        ) from e
    try:
        yield
    finally:
        lock.release()


def sync(
    t: Terminal,
    client: LedgerClient | None = None,
    at: datetime | None = None,
    waiting: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Push everything waiting, pull everything new; on success the terminal is online. One
    sync of a till runs at a time: ``waiting`` is called when this one waits for another
    (``one_sync_at_a_time``)."""
    own = client is None
    client = client or client_for(t)  # a till without a ledger is refused before the lock
    try:
        with one_sync_at_a_time(t, waiting):
            return _sync(t, client, at)
    finally:
        if own:
            client.close()


def _sync(t: Terminal, client: LedgerClient, at: datetime | None) -> dict[str, Any]:
    now = t.now(at)
    counts = push(t, client, now)
    try:
        pulled, cursor, lost = pull(t, client)
    except SyncError as e:
        raise _pull_failed(e, counts) from e
    if lost:  # the ledger was restored from a backup: what it lost goes again, now
        again = push(t, client, now)
        counts = {key: counts[key] + again[key] for key in counts}
        counts["resent"] += lost
    ledger_now = client.ledger_now()
    held = t.store.rejected()
    # Events the ledger cannot place in this terminal's chain (reason "chain") or refused to
    # place after an event it rejected for good ("gap") do not reach it however often they are
    # sent: this terminal's sales are then not on the ledger, so the sync did not succeed and
    # the terminal goes offline after its grace (the offline cap protects the other tills).
    # Rejections of single events (invalid, conflict) do not hold back the rest.
    blocked = any(str(row["ack_reason"] or "").startswith(BLOCKING_REJECTIONS) for row in held)
    # The ledger holds more of this terminal's chain than its journal: another till runs under
    # this terminal id, or this till's cache was restored from an older copy. Its next sales
    # take seqs the ledger has: they will be held back, so this is not a success either.
    ledger_head = int(t.store.meta(LEDGER_HEAD, "0") or "0")
    own_head = t.store.head()[0]
    blocked = blocked or ledger_head > own_head
    if not blocked:
        with t.store.transaction():
            t.store.set_meta("last_sync_at", t.now().isoformat())
    result: dict[str, Any] = {
        **counts,
        "pulled": pulled,
        "cursor": cursor,
        "online": is_online(t, t.now()),
        "waiting": t.store.outbox_count(),
        "held": len(held),
        # held events that keep this terminal's later ones off the ledger (and it offline)
        "blocked": blocked,
    }
    if held:
        result["held_through"] = int(held[-1]["seq"])
    if ledger_now is not None and (said := clock_problem(t.now() - ledger_now)):
        result["clock_off_s"] = round((t.now() - ledger_now).total_seconds())
        result["clock"] = said
    if ledger_head > own_head:
        tid = t.config.terminal_id
        grace = t.program.offline.grace_minutes
        result["problem"] = (
            f"The ledger holds terminal {tid}'s events up to seq {ledger_head}, but this "
            f"terminal's journal ends at seq {own_head}: another till runs as {tid}, or this "
            "till's cache was restored from an older copy. Its sales will be held back by the "
            "ledger, and no sync counts as good until that is sorted out: it counts as offline "
            f"(the offline cap) once {grace} minutes have passed since its last good sync. Set "
            "this till up as a new terminal id (see README, 'A till's disk died')."
        )
    elif held:
        first = held[0]
        result["problem"] = (
            f"The ledger holds back {len(held)} of this terminal's events"
            + (", and every later one waits behind them" if blocked else "")
            + f"; the first is seq {first['seq']} ({first['type']}"
            + (f" {first['receipt_id']}" if first["receipt_id"] else "")
            + f"): {first['ack_reason']}. They stay in this terminal's journal; see README, "
            "'Events the ledger holds back'."
        )
    return result
