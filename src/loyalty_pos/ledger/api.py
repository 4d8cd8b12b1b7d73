"""The ledger's HTTP API (FastAPI): thin handlers over ``LedgerStore``, auth, and error mapping.

Every error is a JSON body ``{"error": code, "message": sentence}`` with a 4xx status: wrong
types, huge numbers and malformed JSON are 400 (never FastAPI's 422, never a 500), a missing,
unknown or revoked token is 401, the wrong kind of token or another terminal's id is 403. Request
bodies are capped before they are parsed.

No ``from __future__ import annotations`` here: FastAPI must see the real ``Annotated``
dependencies of the handlers, which are closures over the store.
"""

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty_pos.domain.errors import (
    AuthError,
    ConfigError,
    LoyaltyPosError,
    NotFound,
    Refused,
    StorageError,
)
from loyalty_pos.domain.events import MAX_ID

from . import models as m
from .store import Conflict, LedgerStore, PushOutcome
from .times import parse_instant

log = logging.getLogger("loyalty_pos.ledger")

MAX_BODY_BYTES = 16 * 1024 * 1024


class Forbidden(AuthError):
    """Authenticated, but not allowed to do this (HTTP 403)."""

    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool
    terminal_id: str | None = None


def _status(error: LoyaltyPosError) -> int:
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, AuthError):
        return 401
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, Refused):
        return 400
    if isinstance(error, StorageError):
        return 503
    return 500


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413 before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"error": "too_large", "message": f"request bodies are limited to {self.limit} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is malformed"


def push_answer(outcome: PushOutcome) -> Response:
    """A push's answer, built by hand and returned as is: re-validating 1000 results against the
    response model costs more than the rest of the request (the model still documents it). The
    text is what ``JSONResponse`` writes (compact, UTF-8), written by orjson, several times
    faster; what orjson refuses (an integer past 64 bits) is written by ``JSONResponse``."""
    answer = {
        "results": [r.to_json() for r in outcome.results],
        "head": {"seq": outcome.head_seq, "hash": outcome.head_hash},
    }
    try:
        return Response(orjson.dumps(answer), media_type="application/json")
    except orjson.JSONEncodeError:
        return JSONResponse(answer)


def create_app(
    store: LedgerStore, admin_token: str | None, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    app = FastAPI(
        title="loyalty-pos central ledger",
        version="1",
        description="Double-entry points ledger for loyalty-pos terminals (DESIGN.md §8-§10).",
    )
    bearer = HTTPBearer(auto_error=False)

    @app.exception_handler(LoyaltyPosError)
    async def _refused(_request: Request, error: LoyaltyPosError) -> JSONResponse:
        status = _status(error)
        body: dict[str, Any] = {"error": error.code, "message": error.message}
        if isinstance(error, ConfigError):
            body["problems"] = error.problems
        elif "problems" in error.details:
            body["problems"] = error.details["problems"]
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500:
            log.error("ledger failure: %s", error.message)
            # The driver's words name the database's host, port and name: they go to the log,
            # not to a caller (the health check needs no token).
            body["message"] = (
                "the ledger's database is not available; the ledger's log says why"
                if isinstance(error, StorageError)
                else "the ledger failed; the ledger's log says why"
            )
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid", "message": _validation_message(error)}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {
            400: "invalid",
            401: "auth",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        return JSONResponse(
            {"error": codes.get(error.status_code, "http"), "message": str(error.detail)},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def _bug(_request: Request, error: Exception) -> JSONResponse:  # outermost edge
        log.exception("unexpected error")
        return JSONResponse(
            {"error": "internal", "message": "the ledger hit an internal error; see its log"},
            status_code=500,
        )

    def bearer_token(creds: HTTPAuthorizationCredentials | None) -> tuple[str, bool]:
        """The request's bearer token, and whether it is the admin token."""
        if creds is None or not creds.credentials:
            raise AuthError("a bearer token is required (Authorization: Bearer <token>)")
        token = creds.credentials
        is_admin = admin_token and hmac.compare_digest(token.encode(), admin_token.encode())
        return token, bool(is_admin)

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        token, is_admin = bearer_token(creds)
        if is_admin:
            return Caller(admin=True)
        return Caller(admin=False, terminal_id=store.authenticate(token))

    def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.admin:
            raise Forbidden("this needs the admin token")
        return who

    async def pusher(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> tuple[Caller, str]:
        """The terminal a push comes from, and its token: a token this process accepted before is not
        read again here (no pooled connection, no thread) because the push checks it again under
        its write lock (``LedgerStore.push(..., token=)``)."""
        token, is_admin = bearer_token(creds)
        if is_admin:
            raise Forbidden("pushes need a terminal's own token, not the admin token")
        terminal_id = store.pushing_terminal(token)
        if terminal_id is None:
            terminal_id = await run_in_threadpool(store.authenticate, token)
        return Caller(admin=False, terminal_id=terminal_id), token

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": m.Problem} for code in (400, 401, 403, 404, 409, 413)
    }
    # Path ids are checked like body ids (``models.printable``): a control character is a 400.
    MemberId = Annotated[str, Path(min_length=1, max_length=MAX_ID), AfterValidator(m.printable)]
    CardId = Annotated[str, Path(min_length=1, max_length=MAX_ID), AfterValidator(m.printable)]

    @app.get("/v1/health", response_model=m.Health, tags=["ops"])
    def health() -> dict[str, Any]:
        return store.health()

    push_body = {
        "required": True,
        "content": {"application/json": {"schema": m.PushRequest.model_json_schema()}},
    }

    @app.post(
        "/v1/sync/push",
        response_model=m.PushResponse,
        responses=errors,
        tags=["sync"],
        openapi_extra={"requestBody": push_body},
    )
    async def push(
        request: Request, auth: Annotated[tuple[Caller, str], Depends(pusher)]
    ) -> Response:
        who, token = auth
        # The body is read by pydantic's JSON parser and validated without copying the events
        # (``models.parse_push``): pushes are the hot path.
        try:
            body = m.parse_push(await request.body())
        except ValidationError as e:
            raise RequestValidationError(e.errors()) from e
        if body.terminal_id != who.terminal_id:
            raise Forbidden(
                f"this token belongs to terminal {who.terminal_id}, not {body.terminal_id}"
            )
        outcome = await run_in_threadpool(
            store.push, body.terminal_id, body.events, body.sent_at, token
        )
        return push_answer(outcome)

    @app.get("/v1/sync/pull", response_model=m.PullResponse, responses=errors, tags=["sync"])
    def pull(
        who: Annotated[Caller, Depends(caller)],
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> JSONResponse:
        # Returned as built, like the push answer: the store builds exactly the documented
        # shape (a test holds it to the model), and validating 500 snapshots again would cost a
        # quarter of the page.
        return JSONResponse(store.pull(since, limit, who.terminal_id))

    @app.get("/v1/cards/{card}", response_model=m.MemberSnapshot, responses=errors, tags=["sync"])
    def card_snapshot(card: CardId, _who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
        return store.card_snapshot(card)

    @app.get("/v1/program", response_model=m.ProgramOut, responses=errors, tags=["sync"])
    def get_program(_who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
        current = store.current_program()
        if current is None:
            raise NotFound("no program has been set yet")
        return {"version": current.version, "rules": current.rules}

    @app.post(
        "/v1/terminals",
        response_model=m.TerminalToken,
        status_code=201,
        responses=errors,
        tags=["admin"],
    )
    def add_terminal(body: m.TerminalIn, _who: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        return {"terminal_id": body.terminal_id, "token": store.add_terminal(body.terminal_id)}

    @app.delete(
        "/v1/terminals/{terminal_id}",
        response_model=m.TerminalRevoked,
        responses=errors,
        tags=["admin"],
    )
    def revoke_terminal(
        terminal_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")],
        _who: Annotated[Caller, Depends(admin)],
    ) -> dict[str, Any]:
        when = store.revoke_terminal(terminal_id)
        return {"terminal_id": terminal_id, "revoked_at": when.isoformat()}

    @app.get(
        "/v1/members/{member_id}", response_model=m.MemberView, responses=errors, tags=["admin"]
    )
    def member(member_id: MemberId, _who: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        return store.member_view(member_id)

    @app.post(
        "/v1/members/{member_id}/adjust",
        response_model=m.LedgerChange,
        responses=errors,
        tags=["admin"],
    )
    def adjust(
        member_id: MemberId, body: m.AdjustIn, _who: Annotated[Caller, Depends(admin)]
    ) -> dict[str, Any]:
        return store.adjust(member_id, body.points, body.reason)

    @app.post(
        "/v1/members/{member_id}/freeze",
        response_model=m.LedgerChange,
        responses=errors,
        tags=["admin"],
    )
    def freeze(
        member_id: MemberId, body: m.ReasonIn, _who: Annotated[Caller, Depends(admin)]
    ) -> dict[str, Any]:
        return store.set_frozen(member_id, True, body.reason)

    @app.post(
        "/v1/members/{member_id}/unfreeze",
        response_model=m.LedgerChange,
        responses=errors,
        tags=["admin"],
    )
    def unfreeze(
        member_id: MemberId, body: m.ReasonIn, _who: Annotated[Caller, Depends(admin)]
    ) -> dict[str, Any]:
        return store.set_frozen(member_id, False, body.reason)

    @app.post(
        "/v1/cards/{card}/block", response_model=m.LedgerChange, responses=errors, tags=["admin"]
    )
    def block_card(card: CardId, _who: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        return store.block_card(card)

    @app.post(
        "/v1/members/{member_id}/cards",
        response_model=m.LedgerChange,
        status_code=201,
        responses=errors,
        tags=["admin"],
    )
    def link_card(
        member_id: MemberId, body: m.CardIn, _who: Annotated[Caller, Depends(admin)]
    ) -> dict[str, Any]:
        return store.link_card(member_id, body.card)

    @app.put("/v1/program", response_model=m.ProgramStored, responses=errors, tags=["admin"])
    def put_program(
        rules: Annotated[dict[str, Any], Body(description="The program.toml tables as JSON.")],
        _who: Annotated[Caller, Depends(admin)],
    ) -> dict[str, Any]:
        return store.put_program(rules, "program")

    @app.post("/v1/expire", response_model=m.ExpireOut, responses=errors, tags=["admin"])
    def expire(
        _who: Annotated[Caller, Depends(admin)],
        at: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        return store.expire(parse_instant(at, "at") if at else None)

    @app.get("/v1/reports/summary", responses=errors, tags=["admin"])
    def report(
        _who: Annotated[Caller, Depends(admin)],
        start: Annotated[str, Query(alias="from", max_length=40)],
        end: Annotated[str, Query(alias="to", max_length=40)],
        active_days: Annotated[int, Query(ge=1, le=3650)] = 90,
    ) -> dict[str, Any]:
        first = parse_instant(start, "from")
        last = parse_instant(end, "to", end_of_day=True)
        if last <= first:
            raise Refused("'to' must be after 'from'")
        return store.report(first, last, active_days)

    @app.get("/v1/reports/balances", response_model=m.BalancesOut, responses=errors, tags=["sync"])
    def report_balances(
        _who: Annotated[Caller, Depends(caller)],
        start: Annotated[str, Query(alias="from", max_length=40)],
        end: Annotated[str, Query(alias="to", max_length=40)],
    ) -> dict[str, Any]:
        # A till's end-of-day report of a period over before its last pull asks for these
        # with its own token: the accounts it pulled hold what every till did since.
        first = parse_instant(start, "from")
        last = parse_instant(end, "to", end_of_day=True)
        if last <= first:
            raise Refused("'to' must be after 'from'")
        return store.balances(first, last)

    @app.get("/v1/audit", responses=errors, tags=["admin"])
    def audit(_who: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        return store.audit()

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app
