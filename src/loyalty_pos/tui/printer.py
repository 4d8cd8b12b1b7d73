"""The receipt printer from the app: the receipt is built on the service thread (it reads the
store) and sent on a thread of its own, so a printer that stalls never holds up the checkout. A
receipt that did not print stays queued (``mark_printed`` with the error) for a reprint.

A printer that is absent or in error (at start, or after a print that failed) is asked for its
status again every ``recheck_s`` on a worker thread, until it answers ready: the status bar then
shows it back, and the cashier is told once, with the receipts waiting for F8 5."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.timer import Timer

from loyalty_pos.domain.errors import LoyaltyPosError

from .messages import DeviceStatusChanged, ServiceDone


@dataclass
class PrinterState:
    """What the app keeps track of while it prints.

    Attributes:
        threads: the names of the threads waiting on the printer (a print, a status check).
        sending: the receipts being sent to the printer right now, originals and copies.
        in_flight: the originals sent to the printer and not yet done: queued meanwhile
            (``INTERRUPTED``) in case the till is closed. Added to on the service thread, taken
            from on the printer's (set.add and discard are atomic).
        quit_when_printed: Ctrl+Q was pressed while a receipt printed: the app ends once it
            is done.
    """

    threads: list[str] = field(default_factory=list)
    sending: list[str] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    quit_when_printed: bool = False


class Printing:
    """Mix into the App: ``print_receipt(receipt_id)`` after a sale, a refund or a reprint."""

    terminal: Any
    devices: Any
    services: Any
    submit: Any
    post_message: Any
    call_from_thread: Any
    notify: Any
    set_timer: Any
    exit: Any
    is_running: bool

    _printer_recheck: Timer | None = None

    def __init__(self) -> None:
        super().__init__()
        self._printer = PrinterState()

    def unprinted_here(self) -> list[str]:
        """The receipts whose print failed (``Store.unprinted``; on a worker thread), less the
        ones printing right now: F8 5 pressed as the sale's receipt comes out, or the printer's
        return, does not call it one that did not print."""
        printing = set(self._printer.in_flight)
        return [r for r in self.terminal.store.unprinted() if r not in printing]

    def _on_printer_thread(self, target: Callable[..., None], *args: Any) -> None:
        """Run ``target`` on a daemon thread of its own. Not one of Textual's thread workers:
        those run on asyncio's default executor, which the app waits for as it ends, so Ctrl+Q
        with a printer that took the connection and stopped answering left a blank screen for
        the printer's timeout (QA). The app waits for a receipt on screen instead (``quit``),
        and ends without waiting for a status check (``run_app``)."""
        busy = self._printer.threads

        def run() -> None:
            try:
                target(*args)
            except Exception as e:  # noqa: BLE001 - a thread's edge: logged, never a traceback
                self.services.log_error(f"printer: {type(e).__name__}: {e}", e)
            finally:
                busy.remove(name)

        name = f"loyalty-printer-{target.__name__}"
        busy.append(name)
        threading.Thread(target=run, name=name, daemon=True).start()

    def printer_busy(self) -> bool:
        """A print or a status check is still waiting on the printer."""
        return bool(self._printer.threads)

    def printing_now(self) -> list[str]:
        """The receipts being sent to the printer right now, originals and copies."""
        return list(self._printer.sending)

    def check_printer(self) -> None:
        self._on_printer_thread(self._check_printer)

    def _check_printer(self) -> None:
        if not self.devices.has_printer:
            return
        from loyalty_pos.printing import printer_config

        try:
            config = printer_config(self.terminal)
        except LoyaltyPosError as e:
            self.post_message(DeviceStatusChanged("printer", "printer", "error", str(e)))
            return  # the settings are wrong: asking again will not change that
        if self.devices.check_printer(config) != "ready":
            self._from_printer_thread(self.recheck_printer, config.recheck_s)

    def _from_printer_thread(self, callback: Callable[..., None], *args: Any) -> None:
        if not self.is_running:
            return  # the app is ending or has ended: nothing more to show
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:
            pass  # it ended meanwhile

    def recheck_printer(self, after_s: float) -> None:
        """Ask the printer for its status again in ``after_s`` seconds (once, however often
        this is called meanwhile)."""
        if self._printer_recheck is None:
            self._printer_recheck = self.set_timer(after_s, self._recheck_now)

    def _recheck_now(self) -> None:
        self._printer_recheck = None
        self.check_printer()

    def printer_back(self) -> None:
        """The printer answers again after being absent or in error: say so once, with the
        receipts that did not print meanwhile."""
        self.submit(
            "printer-back",
            self.unprinted_here,
            self,
            done=lambda q: ServiceDone("printer-back", q),
        )

    def print_receipt(self, receipt_id: str) -> None:
        if not self.devices.has_printer:
            return
        from loyalty_pos.printing import build_receipt, printer_config

        t = self.terminal

        def build() -> tuple[str, Any, Any]:
            copy = t.store.was_printed(receipt_id)
            receipt, config = build_receipt(t, receipt_id, copy=copy), printer_config(t)
            if not copy:
                # Queued until the printer has taken it: a till closed (Ctrl+Q, a power cut)
                # while it printed learns nothing more of it, and F8 5 then offers it.
                t.store.mark_printed(receipt_id, None, INTERRUPTED)
                self._printer.in_flight.add(receipt_id)
            return receipt_id, receipt, config

        self.submit("print", build, self, done=lambda found: ServiceDone("print", found))

    def on_service_done(self, message: ServiceDone) -> None:
        if message.what == "print":
            self._printer.sending.append(message.result[0])
            self._on_printer_thread(self._send_to_printer, *message.result)
        elif message.what == "printer-back":
            queued: list[str] = message.result
            said = "Printer ready again."
            if queued:
                which = "it" if len(queued) == 1 else "them"
                said += (
                    f" {len(queued)} receipt(s) did not print ({', '.join(queued)}): "
                    f"F8 then 5 prints {which}."
                )
            self.notify(said, title="Printer", timeout=10)

    def _send_to_printer(self, receipt_id: str, receipt: Any, config: Any) -> None:
        problem: tuple[str, str] | None = None
        try:
            problem = self.devices.print(receipt, config)
            self._record_print(receipt_id, problem)
        finally:
            self._printer.in_flight.discard(receipt_id)
            self._printer.sending.remove(receipt_id)
            self._from_printer_thread(self._printed, receipt_id, problem)
        if problem:
            self._from_printer_thread(self.recheck_printer, config.recheck_s)

    def _record_print(self, receipt_id: str, problem: tuple[str, str] | None) -> None:
        """Record the print's outcome here, on the printing thread, with a connection of its
        own: a receipt printing as the till is closed (F9 then Ctrl+Q) ends after the app's
        service thread has stopped, and its outcome went unrecorded (queued, it would print
        again as a second original)."""
        from loyalty_pos.store import open_store

        t = self.terminal
        when = None if problem else t.now()
        error = stored_error(*problem) if problem else None
        try:
            store = open_store(t.store.path)
            try:
                store.mark_printed(receipt_id, when, error)
            finally:
                store.close()
        except (LoyaltyPosError, sqlite3.Error) as e:
            self.services.log_error(f"recording the print of {receipt_id}", e)

    def _printed(self, receipt_id: str, problem: tuple[str, str] | None) -> None:
        if problem:
            self.notify(
                not_printed(receipt_id, *problem), title="Printer", severity="error", timeout=10
            )
        if self._printer.quit_when_printed and not self.printing_now():
            self.exit()  # Ctrl+Q was pressed while it printed: its outcome is recorded now

    def quit_when_printed(self) -> bool:
        """Ctrl+Q: True when the app may end now. With a receipt still going to the printer,
        the app waits for it on screen, saying so (its outcome is then recorded: printed, or
        queued for F8 5), and ends when it is done; Ctrl+Q again ends it at once, the receipt
        left queued as one that was printing as the till was closed."""
        printing = self.printing_now()
        if not printing or self._printer.quit_when_printed:
            return True
        self._printer.quit_when_printed = True
        which = (
            "receipt " + printing[0] if len(printing) == 1 else "receipts " + ", ".join(printing)
        )
        self.notify(
            f"Waiting for the printer to finish {which}; the app then closes. Ctrl+Q again "
            "closes it now: a receipt not printed then waits for F8 then 5.",
            title="Closing",
            timeout=120,
        )
        return False


#: Kept with a receipt while it prints, as why it did not: what stays when the till is closed
#: before the printer has taken it.
INTERRUPTED = "The till was closed while the receipt was printing."


def stored_error(what: str, todo: str) -> str:
    """Why a receipt did not print, as kept with it for the reprint list: what went wrong, then
    what to do as a sentence of its own (``todo`` comes without a full stop, or empty)."""
    return f"{what} {todo}." if todo else what


def not_printed(receipt_id: str, what: str, todo: str) -> str:
    """One message for a receipt that did not print: what went wrong, then what to do, the
    reprint key last (the printer's status is not said again beside it)."""
    todo = f"{todo[:1].lower()}{todo[1:]}, then press" if todo else "press"
    return (
        f"{what} Receipt {receipt_id} did not print and stays queued: {todo} F8 then 5 to print it."
    )
