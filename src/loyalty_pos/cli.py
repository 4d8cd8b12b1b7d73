"""``loyalty-pos``: the headless command line, for scripts, an existing POS and tests.

Every command takes ``--home`` and ``--json``. With ``--json`` the result is JSON on stdout and an
error is JSON on stderr. Exit codes: 0 done, 2 refused or bad input (nothing recorded), 1 an
internal or device fault (``devices``: a configured device that is not usable, after the
listing; ``verify``: a cache that does not match its journal, after the listing). A person
never sees a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from . import checkout as svc
from .bootstrap import (
    empty_home_problem,
    init_terminal,
    open_terminal,
    resolve_home,
    set_ledger_token,
    set_manager_pin,
)
from .checkout import OPEN_LINE, Terminal, shown
from .domain.errors import ConfigError, DeviceError, LoyaltyPosError, Refused
from .domain.events import MAX_POINTS
from .domain.quote import MAX_QTY
from .domain.zones import YEARS
from .exits import Parser, closed_pipe, write_problems
from .imports import import_catalog, import_members
from .private import append, make_folder
from .receipts.text import MAX_WIDTH, MIN_WIDTH
from .reports import parse_day

Handler = Callable[[argparse.Namespace], Any]


def _at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(
            f"--at {text!r} is not an ISO-8601 time such as 2026-11-22T14:00:00+01:00"
        ) from None
    if when.year not in YEARS:
        raise Refused(f"--at {text!r} is not between {YEARS[0]} and {YEARS[-1]}")
    return when


def _number(kind: Callable[[str], Any], ok: Callable[[Any], bool], wanted: str) -> Any:
    """An argparse type: ``kind`` of the text (float, int) when ``ok`` holds (false for nan)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:  # not a number, or an integer of over 4,300 digits
            raise argparse.ArgumentTypeError(f"{shown(text)}: give {wanted}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{shown(text)}: give {wanted}")
        return value

    return parse


#: ``--timeout``: a wait of more than 0 seconds and at most an hour.
_seconds = _number(float, lambda s: 0 < s <= 3600, "0 < seconds <= 3600")
#: ``--since``: a seq of this terminal's journal (0 for all of it).
_seq = _number(int, lambda n: 0 <= n < 2**63, "a seq from 0")


def _item(text: str) -> tuple[str, int]:
    code, colon, qty = text.partition(":")
    if code + colon == OPEN_LINE:  # a free-amount line's SKU holds a colon: OPEN:grocery[:QTY]
        rest = text[len(OPEN_LINE) :]
        category, colon, qty = rest.rpartition(":")
        if not (colon and qty.isascii() and qty.isdigit()):
            category, colon, qty = rest, "", ""
        code = OPEN_LINE + category
    if not code:
        raise Refused(f"--item {shown(text)}: give SKU or SKU:QTY")
    if colon and not (qty.isascii() and qty.isdigit()):  # int() also takes " 3", "1_0", "+3"
        raise Refused(f"--item {shown(text)}: the quantity must be a whole number")
    # A quantity of thousands of digits is out of range, not a fault (int() refuses it).
    n = (int(qty) if len(qty) <= 9 else MAX_QTY + 1) if colon else 1
    if not 1 <= n <= MAX_QTY:
        raise Refused(f"--item {shown(text)}: the quantity must be from 1 to {MAX_QTY}")
    return code, n


def _open_line(text: str) -> tuple[str, str]:
    amount, _, category = text.partition(":")
    if not amount or not category:
        raise Refused(f"--line {text!r}: give AMOUNT:CATEGORY, e.g. 4.99:grocery")
    return amount, category


def _redeem(text: str | None) -> int | str | None:
    if text is None:
        return None
    if text == "max":
        return "max"
    if not (text.isascii() and text.isdigit()):  # int() also takes " 3", "1_0", "+3", "٣"
        raise Refused(f"--redeem {shown(text)}: give a number of points or max")
    if len(text) > 18:  # thousands of digits: out of range, not a fault (int() refuses them)
        raise Refused(f"--redeem {shown(text)}: one sale can pay at most {MAX_POINTS:,} points")
    return int(text)


def _points(text: str) -> int:
    """``adjust``'s points: a whole number, negative for a clawback, in ASCII digits: int()
    would also take "1_000", " 7 " and other scripts' digits, which the app refuses."""
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"{shown(text)}: give a whole number of points")
    if len(digits) > 18:
        raise argparse.ArgumentTypeError(f"{shown(text)}: at most {MAX_POINTS:,} points")
    return int(text)


def _terminal(args: argparse.Namespace) -> Terminal:
    return open_terminal(resolve_home(args.home))


# -- commands ------------------------------------------------------------------------------


def _token_arg(text: str | None) -> str:
    """``--token``: the token, or ``-`` for a line read from stdin (out of the shell's history
    and ``ps``). A token piped from a file saved as "UTF-8 with BOM" starts with the mark: not
    the token's."""
    if text == "-":
        if sys.stdin.isatty():  # typed or pasted: say what is awaited, and do not echo it
            import getpass

            try:
                return getpass.getpass("Ledger token (paste it, then Enter; it is not shown): ")
            except EOFError:  # Ctrl+D: no token came, which init and token set then say
                return ""
        return sys.stdin.readline().removeprefix("\ufeff")
    return text or ""


def cmd_init(args: argparse.Namespace) -> Any:
    t = init_terminal(
        resolve_home(args.home),
        args.terminal_id,
        Path(args.program),
        args.manager_pin,
        args.ledger_url or "",
        _token_arg(args.token),
        args.store_name or "",
    )
    return {
        "home": str(t.home),
        "terminal_id": t.config.terminal_id,
        "program": t.program.id,
        "program_version": t.program.version,
    }


def cmd_members_import(args: argparse.Namespace) -> Any:
    return import_members(_terminal(args), Path(args.file))


def cmd_catalog_import(args: argparse.Namespace) -> Any:
    return import_catalog(_terminal(args), Path(args.file))


def cmd_checkout(args: argparse.Namespace) -> Any:
    t = _terminal(args)
    at = _at(args.at)
    lines = svc.resolve_items(t, [_item(i) for i in args.item], [_open_line(x) for x in args.line])
    return svc.checkout(t, args.card, lines, _redeem(args.redeem), at)


def cmd_refund(args: argparse.Namespace) -> Any:
    t = _terminal(args)
    items: dict[str, int] | None = None
    if args.item:
        items = {}
        for text in args.item:
            code, qty = _item(text)
            row = t.store.item(code)
            sku = row["sku"] if row else code
            items[sku] = items.get(sku, 0) + qty
    return svc.refund(t, args.receipt_id, items, args.manager_pin, _at(args.at))


def cmd_balance(args: argparse.Namespace) -> Any:
    return svc.balance(_terminal(args), args.card, _at(args.at))


def _typed_card(t: Terminal, card: str) -> str:
    """``card`` as typed on the command line: refused when it is a product's barcode (a GTIN-14
    with its check digit) that is no card here, as the app's card fields refuse it typed: a
    carton's ITF-14 enrolled by a slip would then attach that member wherever it is scanned. A
    card whose UID only looks like one is a card by the reader's word: tap it at F4."""
    if problem := svc.product_barcode(t, card):
        raise Refused(
            f"{problem} A card whose number only looks like one is taken by tapping it on "
            "the reader at a card field of the checkout app (F4 to enrol, F8 for a new card)."
        )
    return card


def cmd_enroll(args: argparse.Namespace) -> Any:
    t = _terminal(args)
    return svc.enroll(
        t,
        _typed_card(t, args.card),
        args.name or "",
        args.email or "",
        args.phone or "",
        args.birthday or "",
        _at(args.at),
    )


def cmd_adjust(args: argparse.Namespace) -> Any:
    return svc.adjust(
        _terminal(args), args.card, args.points, args.reason, args.manager_pin, _at(args.at)
    )


def cmd_card_block(args: argparse.Namespace) -> Any:
    return svc.block_card(_terminal(args), args.card, args.manager_pin, _at(args.at))


def cmd_card_link(args: argparse.Namespace) -> Any:
    t = _terminal(args)
    card = _typed_card(t, args.card)
    return svc.link_card(t, card, args.member, args.manager_pin, _at(args.at))


def _device_tables(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The [reader] and [scanner] tables of this terminal's config, if it has one."""
    reader, scanner, _, source = _all_device_tables(args)
    return reader, scanner, source


def _all_device_tables(
    args: argparse.Namespace,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """The [reader], [scanner] and [printer] tables of this terminal's config, if it has one."""
    home = resolve_home(args.home)
    if (home / "terminal.toml").exists():
        from .config import load_terminal_config

        cfg = load_terminal_config(home / "terminal.toml")
        return cfg.reader, cfg.scanner, cfg.printer, str(home / "terminal.toml")
    return {}, {}, {}, "defaults"


def cmd_devices(args: argparse.Namespace) -> Any:
    """What is connected, and each configured device found or not, with the reason: a wrong
    scanner port or printer address shows here, not only in the app."""
    from .devices import device_enabled
    from .devices.commands import list_devices
    from .devices.pcsc import ReaderConfig
    from .devices.serial_scanner import ScannerConfig
    from .receipts.printer import printer_configured

    reader, scanner, printer, source = _all_device_tables(args)
    # A table the app cannot read is listed as a device in error, as the app shows it, and the
    # rest are still looked for.
    unreadable: list[dict[str, Any]] = []
    reader_config: ReaderConfig | None = None
    try:
        reader_config = ReaderConfig.from_dict(reader, source, "reader")
    except ConfigError as e:
        if device_enabled(reader):
            unreadable.append(_unreadable("reader", reader.get("name_filter"), e))
    scanners: list[ScannerConfig] = []
    if device_enabled(scanner):
        try:
            scanners.append(ScannerConfig.from_dict(scanner, source, "scanner"))
        except ConfigError as e:
            unreadable.append(_unreadable("scanner", scanner.get("port"), e))
    listing = list_devices(
        reader_config,
        reader_configured=device_enabled(reader) and reader_config is not None,
        scanners=scanners,
    )
    configured = listing["configured"]
    assert isinstance(configured, list)
    configured.extend(unreadable)
    if printer_configured(printer):
        configured.append(_configured_printer(printer, source))
    unusable = [d for d in configured if d["state"] != "found"]
    if unusable:  # the listing, then exit 1: a till install script must see it failed
        _emit(args, listing)
        names = "; ".join(f"{d['kind']} {d['name']}: {d['state']}" for d in unusable)
        said = (
            f"{len(unusable)} of the {len(configured)} configured devices "
            f"{'is' if len(unusable) == 1 else 'are'} not usable ({names}); see each one's reason."
        )
        _fail(args, DeviceError(said, devices=[d["name"] for d in unusable]), said)
        raise SystemExit(1)
    return listing


def _unreadable(kind: str, name: object, error: ConfigError) -> dict[str, Any]:
    return {"kind": kind, "name": str(name or kind), "state": "error", "reason": str(error)}


def _configured_printer(table: dict[str, Any], source: str) -> dict[str, Any]:
    from .receipts.printer import PrinterConfig, probe_printer

    entry: dict[str, Any] = {"kind": "printer", "name": str(table.get("url"))}
    try:
        state, reason = probe_printer(PrinterConfig.from_dict(table, source))
    except LoyaltyPosError as e:  # the settings themselves are wrong
        state, reason = "error", str(e)
    return {**entry, "state": state, "reason": reason}


def cmd_card_read(args: argparse.Namespace) -> Any:
    from .devices.commands import read_card
    from .devices.pcsc import ReaderConfig

    reader, _, source = _device_tables(args)
    return read_card(args.reader, args.timeout, ReaderConfig.from_dict(reader, source, "reader"))


def cmd_scan(args: argparse.Namespace) -> Any:
    from .devices.commands import scan_serial
    from .devices.serial_scanner import ScannerConfig, port_problem

    # Said of --serial, as typed: checked with the config's table, it was named as a fault
    # of terminal.toml's scanner.port, which holds no such value.
    if not args.serial.strip():
        raise Refused("--serial is empty: give the scanner's port (/dev/ttyACM0, usb:VID:PID).")
    if problem := port_problem(args.serial):
        raise Refused(f"--serial {shown(args.serial)}: {problem}.")
    _, scanner, source = _device_tables(args)
    table = {**scanner, "port": args.serial, "enabled": True}
    return scan_serial(args.serial, args.timeout, ScannerConfig.from_dict(table, source, "scanner"))


def cmd_journal(args: argparse.Namespace) -> Any:
    t = _terminal(args)
    if args.held:  # the events the ledger refused, each with the ledger's reason
        for row in t.store.rejected():
            if row["seq"] > args.since:
                event = t.store.event_at(row["seq"])
                line = {"held": row["ack_reason"], "event": event}
                sys.stdout.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
        return None
    for event in t.store.events(since=args.since):
        sys.stdout.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
    return None


def cmd_verify(args: argparse.Namespace) -> Any:
    """The check, then exit 1 when it found problems: a cache that is not what its journal
    says is a fault, as one that does not open is (not 2: nothing typed was refused)."""
    from .store.db import damaged

    t = _terminal(args)
    result = svc.verify(t, _at(args.at))
    if not result["ok"]:
        _emit(args, result)
        n = len(result["problems"])
        said = f"verify found {n} problem{'' if n == 1 else 's'}"
        error = damaged(str(t.store.path), said)
        _fail(args, error, str(error))
        raise SystemExit(1)
    return result


def cmd_pin_set(args: argparse.Namespace) -> Any:
    _at(args.at)  # refused as everywhere; the PIN and its lockout run on the clock
    return set_manager_pin(_terminal(args), args.new_pin, args.manager_pin)


def cmd_token_set(args: argparse.Namespace) -> Any:
    _at(args.at)
    # The till is opened without its token: a lost or unreadable token file is what this mends.
    t = open_terminal(resolve_home(args.home), need_token=False)
    return set_ledger_token(t, _token_arg(args.token), args.manager_pin)


def cmd_program_set(args: argparse.Namespace) -> Any:
    from .domain.program import parse_program_text

    t = _terminal(args)
    if t.config.ledger.configured:
        raise Refused(
            "This terminal takes its program from the ledger: set it there "
            "(`loyalty-ledger program set`); the terminal gets it at its next sync."
        )
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")  # with or without a byte order mark
    except OSError as e:
        raise Refused(f"cannot read {path} ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise Refused(f"{path} is not UTF-8 text (byte {e.start})") from e
    program = parse_program_text(text, str(path))
    current = t.store.latest_program_version()
    if program.version <= current:
        raise Refused(f"{path}: program.version must be above the current {current}")
    currency = t.store.program_currency()  # the stored program may be one that no longer parses
    if currency is not None and program.currency != currency:
        raise Refused(
            f"{path}: the currency is {program.currency}, this terminal's is {currency}: every "
            f"price and sale here is stored in {currency}, so a new currency needs a new terminal"
        )
    with t.store.transaction():
        t.store.save_program(program, t.now())
    return {"program": program.id, "version": program.version}


def _needs_a_terminal(command: str) -> None:
    """The checkout app reads keys from its standard input and draws on its standard error (as
    Textual does): started without a terminal there (a service or cron job, ssh without -t, a
    pipe) it drew into the pipe and spun at most of a core for ever, with no word of why."""
    missing = [
        name
        for name, stream in (("input", sys.stdin), ("error", sys.stderr))
        if stream is None or not stream.isatty()
    ]
    if missing:
        raise Refused(
            f"The checkout app needs a terminal: `loyalty-pos {command}` was started with its "
            f"standard {' and '.join(missing)} not a terminal (a service or cron job, ssh "
            "without -t, a pipe or a file). Start it in a terminal (a console, tmux, ssh -t), "
            "or use the headless commands (loyalty-pos checkout ...)."
        )


def cmd_run(args: argparse.Namespace) -> Any:
    from .tui.app import run_app

    t = _terminal(args)
    _needs_a_terminal("run")
    if code := run_app(t):
        raise SystemExit(code)
    return None


def demo_home(args: argparse.Namespace) -> Path:
    """``--home`` if given, else a per-user demo folder (never the real terminal's home)."""
    import platformdirs

    return (
        Path(args.home)
        if args.home
        else Path(platformdirs.user_cache_dir("loyalty-pos", appauthor=False)) / "demo"
    )


def cmd_demo(args: argparse.Namespace) -> Any:
    import shutil

    from .bootstrap import CONFIG_FILE, DB_FILE, check_home, is_demo_home, make_demo_home

    home = demo_home(args)
    check_home(home)
    if not args.script:
        _needs_a_terminal("demo")
    holds_till = (home / CONFIG_FILE).exists() or (home / DB_FILE).exists()
    if holds_till and not is_demo_home(home):
        raise Refused(
            f"{home} holds a terminal, not the demo store: the demo starts from a fresh copy of "
            "its folder, so it does not run there. Use `loyalty-pos run` for this terminal, or "
            "give the demo another --home (or none)."
        )
    if holds_till and not args.keep:
        shutil.rmtree(home)
    t = open_terminal(home) if (home / CONFIG_FILE).exists() else make_demo_home(home)
    if args.script:
        return scripted_demo(t)
    from .tui.app import run_app

    if code := run_app(t, simulate=True):
        raise SystemExit(code)
    return None


def scripted_demo(t: Terminal) -> Any:
    """A demo without a screen: two sales, a points payment and a partial refund."""
    card = "04A1B2C3D4E500"
    first = svc.checkout(
        t,
        card,
        svc.resolve_items(t, [("MASCARA", 1), ("BOOK-COOK", 1), ("OLIVEOIL", 3), ("FACECREAM", 1)]),
    )
    second = svc.checkout(t, card, svc.resolve_items(t, [("COFFEE", 2), ("MILK", 1)]), "max")
    refund = svc.refund(t, first["receipt_id"], {"OLIVEOIL": 1}, "1234")
    return {
        "home": str(t.home),
        "first_sale": first,
        "paid_with_points": second,
        "refund": refund,
        "balance": svc.balance(t, card),
        "verify": svc.verify(t),
    }


def cmd_receipt(args: argparse.Namespace) -> Any:
    from . import printing

    if args.width is not None and not MIN_WIDTH <= args.width <= MAX_WIDTH:
        raise Refused(f"--width must be {MIN_WIDTH}-{MAX_WIDTH} characters (32, 42 or 48)")
    t = _terminal(args)
    result: dict[str, Any] = {"receipt_id": printing.build_receipt(t, args.receipt_id).receipt_id}
    if args.png:
        result["png"] = str(printing.save_png(t, args.receipt_id, Path(args.png)))
    if args.print_to is not None:
        if not args.print_to and printing.printer_config(t).url == "none":
            raise Refused(
                "No receipt printer is set up on this terminal: give one (--print "
                "tcp://HOST:9100, --print file:/dev/usb/lp0) or set printer.url in terminal.toml."
            )
        result.update(printing.print_receipt(t, args.receipt_id, args.print_to or None))
    text = printing.receipt_text(t, args.receipt_id, args.width)
    if args.json:
        return {**result, "text": text}
    if args.text or (args.png is None and args.print_to is None):
        sys.stdout.write(text + "\n")
    else:
        return result
    return None


def cmd_sync(args: argparse.Namespace) -> Any:
    from .sync import sync
    from .sync.client import ANOTHER_SYNC_RUNS, SYNC_WAIT_S

    def waiting() -> None:  # said at once: a sync from cron may wait minutes for the app's
        if not args.json:  # its stderr is one JSON object, on failure
            sys.stderr.write(
                f"loyalty-pos: {ANOTHER_SYNC_RUNS} (at most {SYNC_WAIT_S / 60:.0f} minutes).\n"
            )
            sys.stderr.flush()

    result = sync(_terminal(args), waiting=waiting)
    if result.get("blocked"):  # the answer, then exit 1: this till's sales are not reaching it
        _emit(args, result)
        raise SystemExit(1)
    return result


def cmd_report(args: argparse.Namespace) -> Any:
    from .bootstrap import end_of_day_report
    from .reports import report_text

    t = _terminal(args)
    # An empty value (a script's unset variable) is refused, not read as today.
    start = parse_day(args.date, "--date") if args.date is not None else t.now().date()
    end = parse_day(args.to, "--to") if args.to is not None else None
    if end is not None and end < start:
        raise Refused(f"--to {end} is before the first day {start}")
    report = end_of_day_report(t, start, end)
    if args.json:
        return report
    sys.stdout.write(report_text(report) + "\n")
    return None


# -- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="the terminal's folder (default: $LOYALTY_POS_HOME or the data dir)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    at = Parser(add_help=False)
    at.add_argument("--at", help="when it happens (ISO-8601); default: now")
    pin = Parser(add_help=False)
    pin.add_argument("--manager-pin", help="the manager PIN")

    parser = Parser(
        prog="loyalty-pos",
        parents=[common],
        description="A loyalty terminal for a store's checkout.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Handler, help: str, *parents: argparse.ArgumentParser, into: Any = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = into.add_parser(name, help=help, parents=[common, *parents])
        p.set_defaults(handler=handler)
        return p

    p = add("init", cmd_init, "create a terminal: config, program, empty cache")
    p.add_argument("--terminal-id", required=True)
    p.add_argument("--program", required=True, help="the program's TOML file")
    p.add_argument("--manager-pin")
    p.add_argument("--ledger-url")
    p.add_argument(
        "--token", help="this terminal's ledger token (stored in a 0600 file), or - for stdin"
    )
    p.add_argument("--store-name")

    for noun, handler in (("members", cmd_members_import), ("catalog", cmd_catalog_import)):
        group = sub.add_parser(noun, help=f"{noun} CSV import", parents=[common])
        nsub = group.add_subparsers(dest="action", required=True)
        p = add("import", handler, f"import {noun} from a CSV file (all or nothing)", into=nsub)
        p.add_argument("file")

    p = add("checkout", cmd_checkout, "record a sale", at)
    p.add_argument("--card", help="the member's card (none: a sale without a member)")
    p.add_argument("--item", action="append", default=[], metavar="SKU[:QTY]")
    p.add_argument("--line", action="append", default=[], metavar="AMOUNT:CATEGORY")
    p.add_argument("--redeem", metavar="POINTS|max")

    p = add("refund", cmd_refund, "refund a receipt, or some of its units", at, pin)
    p.add_argument("receipt_id")
    p.add_argument("--item", action="append", default=[], metavar="SKU:QTY")

    p = add("balance", cmd_balance, "a member's points, tier and expiring points", at)
    p.add_argument("card")

    p = add("enroll", cmd_enroll, "enrol a new member with a card", at)
    p.add_argument("--card", required=True)
    p.add_argument("--name")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--birthday", metavar="YYYY-MM-DD")

    p = add("adjust", cmd_adjust, "correct a member's points (manager)", at, pin)
    p.add_argument("card")
    p.add_argument("points", type=_points, help="points to add; negative to take back")
    p.add_argument("--reason", required=True)

    card = sub.add_parser(
        "card", help="cards: block a lost card, link a new one, read a tap", parents=[common]
    )
    csub = card.add_subparsers(dest="action", required=True)
    p = add("block", cmd_card_block, "block a lost card (manager)", at, pin, into=csub)
    p.add_argument("card")
    p = add("link", cmd_card_link, "give a member a new card (manager)", at, pin, into=csub)
    p.add_argument("card")
    p.add_argument("--member", required=True)

    p = add("read", cmd_card_read, "wait for one tap on a PC/SC reader and print it", into=csub)
    p.add_argument("--reader", help="a reader's name, or part of it (default: the config's filter)")
    p.add_argument(
        "--timeout", type=_seconds, default=10.0, metavar="S", help="seconds to wait (default 10)"
    )

    add(
        "devices",
        cmd_devices,
        "list the configured reader, scanner and printer (found or not, and why), "
        "PC/SC readers and serial ports",
    )
    p = add("scan", cmd_scan, "wait for one code from a serial scanner and print it")
    p.add_argument(
        "--serial",
        required=True,
        metavar="PORT",
        help="a path, /dev/serial/by-id/..., or usb:VID:PID",
    )
    p.add_argument(
        "--timeout", type=_seconds, default=10.0, metavar="S", help="seconds to wait (default 10)"
    )

    p = add("journal", cmd_journal, "print the journal as JSON lines")
    p.add_argument("--since", type=_seq, default=0, metavar="SEQ")
    p.add_argument(
        "--held", action="store_true", help="only the events the ledger refused, with its reason"
    )
    add("verify", cmd_verify, "check the hash chain and every balance against the journal", at)

    program = sub.add_parser("program", help="the loyalty program", parents=[common])
    psub = program.add_subparsers(dest="action", required=True)
    p = add("set", cmd_program_set, "load a new program version (validated)", into=psub)
    p.add_argument("file")

    manager = sub.add_parser("pin", help="the manager PIN", parents=[common])
    msub = manager.add_subparsers(dest="action", required=True)
    p = add(
        "set",
        cmd_pin_set,
        "set the manager PIN (a new one needs the current one as --manager-pin)",
        at,
        pin,
        into=msub,
    )
    p.add_argument("--new-pin", required=True, help="4 to 12 digits")

    token = sub.add_parser("token", help="the ledger token", parents=[common])
    tsub = token.add_subparsers(dest="action", required=True)
    p = add(
        "set",
        cmd_token_set,
        "install a new ledger token (from `loyalty-ledger terminal add`)",
        at,
        pin,
        into=tsub,
    )
    p.add_argument("--token", required=True, help="the token, or - to read it from stdin")

    p = add("run", cmd_run, "open the checkout app")
    p = add("demo", cmd_demo, "open the checkout app on a fresh copy of the demo store")
    p.add_argument("--keep", action="store_true", help="reuse the demo home if it exists")
    p.add_argument(
        "--script", action="store_true", help="run a scripted demo checkout instead of the app"
    )

    p = add("receipt", cmd_receipt, "show, save or print a recorded receipt")
    p.add_argument("receipt_id", help="a receipt id, or 'last'")
    p.add_argument("--text", action="store_true", help="print the text receipt (the default)")
    p.add_argument("--png", metavar="FILE", help="save the receipt image with its barcode")
    p.add_argument(
        "--print",
        nargs="?",
        const="",
        metavar="PRINTER_URL",
        dest="print_to",
        help="send to the configured printer, or to PRINTER_URL (tcp://host:9100)",
    )
    p.add_argument(
        "--width",
        type=int,
        help="the text receipt's width in characters, 24-64 (default: [printer] width_chars; "
        "32 for 58 mm paper, 42 or 48 for 80 mm)",
    )

    add("sync", cmd_sync, "push the journal to the ledger and pull member changes")
    p = add("report", cmd_report, "the end-of-day report for a store day (default: today)")
    p.add_argument("--date", metavar="YYYY-MM-DD")
    p.add_argument("--to", metavar="YYYY-MM-DD", help="last day of a longer period")
    return parser


def _emit(args: argparse.Namespace, result: Any) -> None:
    if result is None:
        return
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(_human(result) + "\n")


def _human(result: Any, indent: str = "") -> str:
    if isinstance(result, dict):
        lines = []
        for key, value in result.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{indent}{key}:")
                lines.append(_human(value, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {'-' if value is None else value}")
        return "\n".join(lines)
    if isinstance(result, list):
        return "\n".join(
            f"{indent}- "
            + (", ".join(f"{k}={v}" for k, v in r.items()) if isinstance(r, dict) else str(r))
            for r in result
        )
    return f"{indent}{result}"


def _fail(args: argparse.Namespace | None, error: LoyaltyPosError | None, message: str) -> None:
    as_json = bool(args is not None and getattr(args, "json", False))
    if as_json:
        payload = error.to_dict() if error else {"error": "internal", "message": message}
        sys.stderr.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stderr.write(f"loyalty-pos: {message}\n")
        problems = error.details.get("problems") if error is not None else None
        if isinstance(problems, list):
            write_problems(problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.home = getattr(args, "home", None)
    args.json = getattr(args, "json", False)
    try:
        if problem := empty_home_problem(args.home):
            raise Refused(problem)
        _emit(args, args.handler(args))
        return 0
    except Refused as e:
        problems = e.details.get("problems")
        _fail(args, e, f"{e.details.get('file')} is invalid:" if problems else str(e))
        return 2
    except LoyaltyPosError as e:
        _fail(args, e, str(e))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return closed_pipe()
    except Exception as e:  # the outermost edge: a bug must still not show a traceback
        import traceback

        log = resolve_home(args.home) / "error.log"
        where = f"; details in {log}"
        try:
            make_folder(log.parent, parents=True)
            append(log, f"{datetime.now().isoformat()} {traceback.format_exc()}\n")
        except OSError as log_error:  # the report itself must not end in a traceback
            where = f" (the details could not be written to {log}: {log_error.strerror})"
        _fail(args, None, f"internal error ({type(e).__name__}: {e}){where}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
