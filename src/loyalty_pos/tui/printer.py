"""The receipt printer from the app: the receipt is built on the service thread (it reads the
store) and sent on a thread of its own, so a printer that stalls never holds up the checkout. A
receipt that did not print stays queued (``mark_printed`` with the error) for a reprint.

A printer that is absent or in error (at start, or after a print that failed) is asked for its
status again every ``recheck_s`` on a worker thread, until it answers ready: the status bar then
shows it back, and the cashier is told once, with the receipts waiting for F8 5."""

from __future__ import annotations

import sqlite3
from typing import Any

from textual import work
from textual.timer import Timer

from loyalty_pos.domain.errors import LoyaltyPosError

from .messages import DeviceStatusChanged, ServiceDone


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

    _printer_recheck: Timer | None = None

    def _in_flight(self) -> set[str]:
        """Receipts sent to the printer and not yet done: queued meanwhile (``INTERRUPTED``) in
        case the till is closed, but not receipts that "did not print" while this app runs.
        Added to on the service thread, taken from on the printer's (set.add and discard are
        atomic)."""
        return vars(self).setdefault("_printing_now", set())  # type: ignore[no-any-return]

    def unprinted_here(self) -> list[str]:
        """The receipts whose print failed (``Store.unprinted``; on a worker thread), less the
        ones printing right now: F8 5 pressed as the sale's receipt comes out, or the printer's
        return, does not call it one that did not print."""
        printing = set(self._in_flight())
        return [r for r in self.terminal.store.unprinted() if r not in printing]

    @work(thread=True, exclusive=True, group="printer-status", exit_on_error=False)
    def check_printer(self) -> None:
        if not self.devices.has_printer:
            return
        from loyalty_pos.printing import printer_config

        try:
            config = printer_config(self.terminal)
        except LoyaltyPosError as e:
            self.post_message(DeviceStatusChanged("printer", "printer", "error", str(e)))
            return  # the settings are wrong: asking again will not change that
        if self.devices.check_printer(config) != "ready":
            self.call_from_thread(self.recheck_printer, config.recheck_s)

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
                self._in_flight().add(receipt_id)
            return receipt_id, receipt, config

        self.submit("print", build, self, done=lambda found: ServiceDone("print", found))

    def on_service_done(self, message: ServiceDone) -> None:
        if message.what == "print":
            self._send_to_printer(*message.result)
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

    @work(thread=True, group="printer", exit_on_error=False)
    def _send_to_printer(self, receipt_id: str, receipt: Any, config: Any) -> None:
        try:
            problem = self.devices.print(receipt, config)
            self._record_print(receipt_id, problem)
        finally:
            self._in_flight().discard(receipt_id)
        self.call_from_thread(self._printed, receipt_id, problem)
        if problem:
            self.call_from_thread(self.recheck_printer, config.recheck_s)

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
