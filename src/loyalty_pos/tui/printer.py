"""The receipt printer from the app: the receipt is built on the service thread (it reads the
store) and sent on a thread of its own, so a printer that stalls never holds up the checkout. A
receipt that did not print stays queued (``mark_printed`` with the error) for a reprint."""

from __future__ import annotations

from typing import Any

from textual import work

from loyalty_pos.domain.errors import LoyaltyPosError

from .messages import DeviceStatusChanged, ServiceDone


class Printing:
    """Mix into the App: ``print_receipt(receipt_id)`` after a sale, a refund or a reprint."""

    terminal: Any
    devices: Any
    submit: Any
    post_message: Any
    call_from_thread: Any
    notify: Any

    @work(thread=True, exclusive=True, group="printer", exit_on_error=False)
    def check_printer(self) -> None:
        if not self.devices.has_printer:
            return
        from loyalty_pos.printing import printer_config

        try:
            config = printer_config(self.terminal)
        except LoyaltyPosError as e:
            self.post_message(DeviceStatusChanged("printer", "printer", "error", str(e)))
            return
        self.devices.check_printer(config)

    def print_receipt(self, receipt_id: str) -> None:
        if not self.devices.has_printer:
            return
        from loyalty_pos.printing import build_receipt, printer_config

        t = self.terminal
        self.submit(
            "print",
            lambda: (
                receipt_id,
                build_receipt(t, receipt_id, copy=t.store.was_printed(receipt_id)),
                printer_config(t),
            ),
            self,
            done=lambda found: ServiceDone("print", found),
        )

    def on_service_done(self, message: ServiceDone) -> None:
        if message.what == "print":
            self._send_to_printer(*message.result)

    @work(thread=True, group="printer", exit_on_error=False)
    def _send_to_printer(self, receipt_id: str, receipt: Any, config: Any) -> None:
        problem = self.devices.print(receipt, config)
        self.call_from_thread(self._printed, receipt_id, problem)

    def _printed(self, receipt_id: str, problem: tuple[str, str] | None) -> None:
        t = self.terminal
        when = None if problem else t.now()
        error = " ".join(problem) if problem else None
        self.submit("printed", lambda: t.store.mark_printed(receipt_id, when, error), self)
        if problem:
            self.notify(
                not_printed(receipt_id, *problem), title="Printer", severity="error", timeout=10
            )


def not_printed(receipt_id: str, what: str, todo: str) -> str:
    """One message for a receipt that did not print: what went wrong, then what to do, the
    reprint key last (the printer's status is not said again beside it)."""
    todo = f"{todo[:1].lower()}{todo[1:]}, then press" if todo else "press"
    return (
        f"{what} Receipt {receipt_id} did not print and stays queued: {todo} F8 then 5 to print it."
    )
