"""What every window of the app shares: a handle on the app's services and scan hand-off."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import ModalScreen

from ..edge import StaysUp
from ..messages import CodeScanned, ServiceRefused
from ..services import Done, Job

#: The class of a field where no code is expected (a name, an email, a reason, a PIN): every key
#: goes to it, however fast it is typed; the keyboard-wedge detector does not look.
FREE_TEXT = "free-text"

if TYPE_CHECKING:
    from ..app import CheckoutApp

R = TypeVar("R")


class PosModal(StaysUp, ModalScreen[R]):
    """A window over the checkout. Esc closes it (``dismiss(None)``)."""

    BINDINGS = [("escape", "cancel", "Close")]

    @property
    def pos(self) -> CheckoutApp:
        return cast("CheckoutApp", self.app)

    def submit(self, what: str, job: Job, done: Done | None = None) -> None:
        """Run ``job`` on the service thread; its result comes back to this window."""
        self.pos.submit(what, job, target=self, done=done)

    def take_scan(self, message: CodeScanned) -> bool:
        """A code was scanned while this window is open: True if the window used it."""
        return False

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_service_refused(self, message: ServiceRefused) -> None:
        """Refusals of this window's jobs are shown in it by default as a notification."""
        message.stop()
        self.notify(message.message, severity="error" if message.code == "internal" else "warning")
