"""``loyalty-ledger``: run the ledger service and administer it from a shell, over the same store.

Every command takes ``--db URL`` (default: env ``LOYALTY_LEDGER_DB``) and migrates the database
first. Errors are one sentence on stderr (a JSON object with ``--json``); the exit status is 2 when
the request was refused or the input is bad and 1 for an internal fault. Never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loyalty_pos.domain.errors import ConfigError, LoyaltyPosError, Refused
from loyalty_pos.domain.program import parse_program_text, program_to_json
from loyalty_pos.exits import Parser, closed_pipe, write_problems

from .report import render
from .store import LedgerStore
from .times import parse_instant

ADMIN_TOKEN_ENV = "LOYALTY_LEDGER_ADMIN_TOKEN"
DB_ENV = "LOYALTY_LEDGER_DB"


def _parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--db",
        help=f"sqlite:////abs/path/ledger.db (four slashes before an absolute path) or "
        f"postgresql://user@host/db (default: ${DB_ENV})",
    )
    common.add_argument("--json", action="store_true", help="print JSON (errors too)")

    parser = Parser(prog="loyalty-ledger", description="The loyalty-pos central ledger.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700)
    serve.add_argument(
        "--admin-token-file",
        type=Path,
        help=f"file holding the admin token (default: ${ADMIN_TOKEN_ENV})",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--no-access-log", action="store_true")
    serve.add_argument(
        "--ssl-certfile",
        type=Path,
        metavar="FILE",
        help="speak HTTPS with this certificate (PEM; with --ssl-keyfile), instead of a proxy",
    )
    serve.add_argument(
        "--ssl-keyfile", type=Path, metavar="FILE", help="the certificate's private key (PEM)"
    )

    terminal = sub.add_parser("terminal", help="register or revoke a terminal")
    tsub = terminal.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = tsub.add_parser("add", parents=[common], help="register a terminal; prints its token")
    add.add_argument("terminal_id")
    revoke = tsub.add_parser("revoke", parents=[common], help="revoke a terminal's token now")
    revoke.add_argument("terminal_id")

    mem = sub.add_parser("members", help="bulk operations on members")
    msub = mem.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = msub.add_parser(
        "import",
        parents=[common],
        help="enrol members from a CSV (member_id,card,name,birthday,email)",
    )
    imp.add_argument("file", type=Path)

    prog = sub.add_parser("program", help="the loyalty program's rules")
    psub = prog.add_subparsers(dest="action", required=True, metavar="ACTION")
    pset = psub.add_parser("set", parents=[common], help="store a new program version from TOML")
    pset.add_argument("file", type=Path)

    exp = sub.add_parser("expire", parents=[common], help="expire lapsed points lots")
    exp.add_argument("--at", help="ISO date or date-time (default: now)")

    rep = sub.add_parser("report", parents=[common], help="the summary report for a period")
    rep.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    rep.add_argument("--to", dest="end", required=True, help="last day, included")
    rep.add_argument(
        "--active-days",
        type=int,
        default=90,
        help="a member is active if they enrolled or bought within this many days",
    )
    return parser


def _read(path: Path, save_as: str = "UTF-8") -> str:
    # utf-8-sig: a byte order mark at the start (Excel's "CSV UTF-8" writes one) is dropped, not
    # read as part of the first column's name; a file without one reads as plain UTF-8.
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Refused(f"cannot read {path}: {e.strerror or e}") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # A spreadsheet's plain "CSV" is in the machine's code page ("Chloé" as Chlo\xe9): the
        # line and what comes before the byte, and how to save the file, as the till says it.
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        before = data[start : e.start].decode("utf-8", "replace").lstrip("\ufeff")[-40:]
        raise Refused(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} after "
            f"{before!r}): save the file as {save_as}"
        ) from None


def _admin_token(args: argparse.Namespace) -> str | None:
    if args.admin_token_file is not None:
        token = _read(args.admin_token_file).strip()
        if not token:
            raise Refused(f"{args.admin_token_file} is empty")
        return token
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def _check_can_listen(host: str, port: int) -> None:
    """Refuse with a sentence before uvicorn would log an error and exit with its own code."""
    if not 0 < port < 65536:
        raise Refused(f"--port {port} is not a TCP port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as e:
        raise Refused(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def _check_tls(cert: Path | None, key: Path | None) -> None:
    """Refuse a certificate uvicorn could not use with a sentence, before it would fail with an
    SSL error of its own after start-up."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        raise Refused("--ssl-certfile and --ssl-keyfile go together: give both, or neither")
    for path in (cert, key):
        _read(path)  # "cannot read FILE: why"
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as e:
        raise Refused(
            f"--ssl-certfile {cert} and --ssl-keyfile {key} are not a PEM certificate and its "
            f"private key ({e})"
        ) from e


def _serve(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any] | None:
    import uvicorn

    from .api import create_app

    token = _admin_token(args)
    if token is None:
        print(
            f"loyalty-ledger: no admin token (${ADMIN_TOKEN_ENV} or --admin-token-file): "
            "admin calls are refused",
            file=sys.stderr,
        )
    _check_can_listen(args.host, args.port)
    _check_tls(args.ssl_certfile, args.ssl_keyfile)
    app = create_app(store, token)
    # A push allocates tens of thousands of short-lived objects; the start-up heap (FastAPI,
    # SQLAlchemy, pydantic) is large and permanent. Freezing it and collecting less often keeps
    # the collector from walking all of it several times per push (~15% of push time, measured).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    return None


def _terminal(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "add":
        token = store.add_terminal(args.terminal_id)
        if not args.json:
            print(
                f"terminal {args.terminal_id} added; its token is shown only once:", file=sys.stderr
            )
            print(token)
        return {"terminal_id": args.terminal_id, "token": token}
    when = store.revoke_terminal(args.terminal_id)
    if not args.json:
        print(f"terminal {args.terminal_id} revoked at {when.isoformat()}")
    return {"terminal_id": args.terminal_id, "revoked_at": when.isoformat()}


def _members(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any]:
    result = store.import_members(
        _read(args.file, 'CSV UTF-8 (a spreadsheet\'s "CSV UTF-8" type)'), str(args.file)
    )
    if not args.json:
        print(f"imported {result['imported']} members from {args.file}")
    return result


def _program(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any]:
    program = parse_program_text(_read(args.file), str(args.file))
    result = store.put_program(program_to_json(program), str(args.file))
    if not args.json and result.get("unchanged"):
        print(f"program version {result['version']} is the one in force already: nothing stored")
    elif not args.json:
        print(f"program version {result['version']} stored")
    return result


def _expire(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any]:
    result = store.expire(parse_instant(args.at, "--at") if args.at else None)
    if not args.json:
        print(
            f"expired {result['points']} points in {result['lots']} lots of "
            f"{result['members']} members (as of {result['at']})"
        )
    return result


def _report(store: LedgerStore, args: argparse.Namespace) -> dict[str, Any]:
    start = parse_instant(args.start, "--from")
    end = parse_instant(args.end, "--to", end_of_day=True)
    if end <= start:
        raise Refused("--to must not be before --from")
    if not 1 <= args.active_days <= 3650:
        raise Refused("--active-days must be between 1 and 3650")
    result = store.report(start, end, args.active_days)
    if not args.json:
        print(render(result))
    return result


COMMANDS: dict[str, Callable[[LedgerStore, argparse.Namespace], dict[str, Any] | None]] = {
    "serve": _serve,
    "terminal": _terminal,
    "members": _members,
    "program": _program,
    "expire": _expire,
    "report": _report,
}


def _open_store(typed: str | None) -> LedgerStore:
    """The ledger at ``--db``, else at ``$LOYALTY_LEDGER_DB``. A URL refused is named by where
    it came from: the README exports the variable, and "--db is invalid" named an option nobody
    had typed."""
    url, source = (typed, "--db") if typed else (os.environ.get(DB_ENV), f"${DB_ENV}")
    if not url:
        raise Refused(f"no database: pass --db URL or set ${DB_ENV}")
    try:
        return LedgerStore.open(url)
    except ConfigError as e:
        if source == "--db" or e.source != "--db":
            raise
        raise ConfigError(source, e.problems) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        store = _open_store(args.db)
        try:
            result = COMMANDS[args.command](store, args)
        finally:
            store.close()
        if as_json and result is not None:
            print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    except LoyaltyPosError as e:
        _fail(e.to_dict(), e.message, as_json, e.details.get("problems"))
        return 2 if isinstance(e, Refused) else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return closed_pipe()
    except Exception as e:  # noqa: BLE001 - the outermost edge: a sentence, never a traceback
        _fail(
            {"error": "internal", "message": f"internal error: {type(e).__name__}: {e}"},
            f"internal error: {type(e).__name__}: {e}",
            as_json,
        )
        return 1


def _fail(body: dict[str, Any], sentence: str, as_json: bool, problems: Any = None) -> None:
    """The error on stderr: as JSON, or as a sentence with each problem on a line of its own
    (as ``loyalty-pos`` says them: forty problems of a members file were one line of 3,000
    characters)."""
    if as_json:
        print(json.dumps(body, sort_keys=True, default=str), file=sys.stderr)
        return
    if not isinstance(problems, list) or not problems:
        print(f"loyalty-ledger: {sentence}", file=sys.stderr)
        return
    where = sentence.find(str(problems[0]))  # the sentence goes on with the problems
    head = sentence[:where].rstrip(" :;") if where > 0 else ""
    if str(body.get("error")) == "config" and "file" in body:
        head = f"{body['file']} is invalid"
    print(f"loyalty-ledger: {head or 'refused'}:", file=sys.stderr, flush=True)
    write_problems(problems)
