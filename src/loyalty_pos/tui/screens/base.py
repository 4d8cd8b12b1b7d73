"""What every window of the app shares: a handle on the app's services and scan hand-off."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual import events
from textual.screen import ModalScreen

from ..edge import StaysUp
from ..messages import CodeScanned, ServiceRefused
from ..services import Done, Job

#: The class of a field where no code is expected (a name, an email, a reason, a PIN): every key
#: goes to it, however fast it is typed; the keyboard-wedge detector does not look.
FREE_TEXT = "free-text"

#: The checkout's keys. In a window each either closes it and acts, or is refused with a toast
#: (``PosModal.on_key``); F1 (help) and F12 (sync) are the app's and act over any window.
CHECKOUT_KEYS = frozenset({"f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10"})

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

    #: Where a checkout key is refused, as its toast says it: "F9 is not taken here".
    REFUSED_WHERE = "here"

    def holds_typing(self) -> bool:
        """Something typed or chosen in this window that closing it would lose."""
        return False

    def step_under_way(self) -> bool:
        """A step of this window is on the service thread (a card looked up at its Enter, the
        form being confirmed): the keys typed behind it wait for where it takes the focus."""
        return False

    def on_key(self, event: events.Key) -> None:
        """A checkout key (F2 ... F10) the window does not bind itself: in a window holding
        nothing typed (help, a summary, a form or the refund still empty) it closes the window
        and acts, as if the window was not there; in one holding what was typed it is refused
        with a toast, and the typing is kept. Either way the cashier is never left with a key
        that did nothing (QA). A window's own ``on_key`` runs first and may have handled it."""
        key = event.key
        if (
            key not in CHECKOUT_KEYS
            or key in self._bindings.key_to_bindings
            or self.app.screen is not self
        ):
            return
        event.stop()
        event.prevent_default()
        if self.holds_typing():
            self.notify(
                f"{key.upper()} is not taken {self.REFUSED_WHERE}: finish this window "
                f"(Enter) or close it (Esc), then press {key.upper()} again.",
                severity="warning",
            )
            return
        self.dismiss(None)
        self.pos.key_next(key)

    def on_service_refused(self, message: ServiceRefused) -> None:
        """The one handler of this window's refused jobs: a window shows them its own way
        (``refused``). Textual calls a handler of each class up the MRO, so a window's own
        ``on_service_refused`` beside this one would show every refusal twice, once in the
        window and once as a toast (QA: a toast at each key typed into F5)."""
        message.stop()
        self.refused(message)

    def refused(self, message: ServiceRefused) -> None:
        """How this window shows a refusal of one of its jobs: by default a notification."""
        self.notify(message.message, severity="error" if message.code == "internal" else "warning")
