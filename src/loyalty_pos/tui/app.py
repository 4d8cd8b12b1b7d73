"""The checkout app: wiring only. Screens and widgets show, the session does the work on the
service thread, the devices hook and the keyboard-wedge detector (``keyboard``) feed codes in, and
every code from every source goes to one router (``CheckoutScreen.route``). Printing
(``printer``) and the ledger sync (``ledger_sync``) run on threads of their own.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message_pump import MessagePump
from textual.worker import get_current_worker

from loyalty_pos.checkout import Terminal
from loyalty_pos.domain.errors import LoyaltyPosError

from .devices import DeviceLink
from .edge import StaysUp
from .key_gate import KeyGate
from .keyboard import KeyClock, WedgeKeys
from .ledger_sync import LedgerSync, SyncHook
from .messages import (
    BasketChanged,
    CheckoutReady,
    CodeScanned,
    DeviceStatusChanged,
    ScanRejected,
    ServiceDone,
    StatusRefreshed,
)
from .printer import Printing
from .screens.base import PosModal
from .screens.checkout import CheckoutScreen
from .screens.help import HelpScreen
from .screens.text import ConfirmScreen
from .services import Done, Job, ServiceQueue, terminal_status
from .session import CheckoutSession
from .wedge import WedgeDetector

STATUS_EVERY_S = 15.0


class CheckoutApp(StaysUp, KeyGate, WedgeKeys, Printing, LedgerSync, App[None]):
    checkout: CheckoutScreen

    CSS_PATH = "app.tcss"
    TITLE = "loyalty-pos"
    ENABLE_COMMAND_PALETTE = False
    # The app's keys act over any window, hence priority: a window stops the app's other
    # bindings, so F1 and F12 did nothing in a form, the refund or the points window (and closed
    # the receipt preview or the manager menu to act), and the demo's tap and scan (Ctrl+T,
    # Ctrl+G) never reached F4's card field. None of them types anything a field could want.
    BINDINGS = [
        Binding("f1", "help", "Help", key_display="F1", priority=True),
        Binding("f12", "sync", "Sync", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+t", "simulate('tap')", show=False, priority=True),
        Binding("ctrl+g", "simulate('scan')", show=False, priority=True),
    ]

    def __init__(
        self,
        terminal: Terminal,
        *,
        simulate: bool = False,
        sync: SyncHook | None = None,
        key_clock: KeyClock | None = None,
        stay_up: bool = False,
    ) -> None:
        """``stay_up``: after a bug in the app itself, log it and keep the checkout running
        (``run_app`` sets it; tests leave it off so that a bug fails them)."""
        super().__init__()
        self.stay_up = stay_up
        self.terminal = terminal
        self.simulate = simulate
        self.sync_hook = sync
        self.services = ServiceQueue(terminal.home / "error.log")
        self.refusal_shown = False  # a warning or an error toast is up (``notify``)
        self.session = CheckoutSession(terminal)
        self.devices = DeviceLink(terminal, self.post_message, simulate=simulate)
        self.wedge = WedgeDetector(
            terminal.config.wedge_max_gap_ms / 1000, terminal.config.wedge_min_length
        )
        self.key_clock: KeyClock = key_clock or (lambda event: event.time)
        self.ready_at: float | None = None

    def get_default_screen(self) -> CheckoutScreen:
        self.checkout = CheckoutScreen()
        return self.checkout

    def on_mount(self) -> None:
        self._serve()
        self.submit("restore", self.session.restore, self.checkout, done=_restored)
        self.refresh_status()
        self.devices.start()
        self.check_printer()
        self.set_interval(STATUS_EVERY_S, self.refresh_status)
        if self.terminal.config.ledger.configured:
            self.set_interval(self.terminal.config.ledger.sync_interval_s, self.sync_quietly)

    def on_unmount(self) -> None:
        self.devices.stop()
        self.close_sync()

    # -- the service thread -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="services", exit_on_error=False)
    def _serve(self) -> None:
        worker = get_current_worker()
        self.services.serve(lambda: worker.is_cancelled)

    def submit(
        self, what: str, job: Job, target: MessagePump | None = None, done: Done | None = None
    ) -> None:
        self.services.submit(what, job, target or self.screen, done)

    def notify(self, message: str, **options: Any) -> None:
        """A toast; a warning or an error goes at the next step that works (``clear_refusals``)
        if its time has not run out before, so that it is not read as said of what came after.
        A refusal of the cashier's step (a warning or an error without a title: an unknown
        code, a key not taken) replaces the ones up before it: the newest is about the last
        step, and three stacked at 80x24 covered the totals, the amount due among them, for
        their whole time (QA). News with a title (a device, the sync) is not replaced.

        Never read as markup: a toast says what was typed or scanned, a member's name, an
        item's; "[/]" in them stopped the app (Textual's markup error), "[b]" was dropped."""
        options["markup"] = False
        severity, title = options.get("severity", "information"), options.get("title", "")
        refusal = severity != "information"
        for shown in list(self._notifications):
            # The same words again (a frozen member's note at each repricing: the sync's, F5's,
            # F9's) are one toast, shown anew: three of them covered the amount due (QA).
            same = (shown.message, shown.title, shown.severity) == (message, title, severity)
            replaced = refusal and not title and shown.severity != "information" and not shown.title
            if same or replaced:
                self._unnotify(shown, refresh=False)
        if refusal:
            self.refusal_shown = True
        super().notify(message, **options)

    def clear_refusals(self) -> None:
        """A step worked (a scan, a line removed, the card taken off): the toasts that said an
        earlier one did not go away, with what was shown beside them. Information shown since
        (a manager's adjustment done, a sync's report) runs its own time."""
        if self.refusal_shown:
            self.refusal_shown = False
            for shown in list(self._notifications):
                if shown.severity != "information":
                    self._unnotify(shown, refresh=False)
            self._refresh_notifications()

    def refresh_status(self) -> None:
        """The status line, and the basket priced again if another connection wrote to the cache
        since it was shown (a sync that pulled the member, a manager's CLI adjustment): the
        member panel and the totals never show a balance or status the member no longer has."""
        t = self.terminal
        self.submit("status", lambda: terminal_status(t), self.checkout, done=StatusRefreshed)
        self.submit("reload", self.session.refresh_if_changed, self.checkout, done=_reloaded)

    def reprice(self) -> None:
        self.submit("reprice", self.session.view, self.checkout, done=BasketChanged)

    def on_checkout_ready(self, message: CheckoutReady) -> None:
        self.ready_at = time.perf_counter()

    def _handle_exception(self, error: Exception) -> None:
        """Whatever stops the app is logged first (see ``edge`` for what does not stop it)."""
        self.services.log_error(f"{type(error).__name__}: {error}", error)
        super()._handle_exception(error)

    def on_code_scanned(self, message: CodeScanned) -> None:
        # A wedge scan is validated before a window takes it: its AIM identifier, if the
        # scanner sends one, is then off the code and known (a card field refuses a product).
        if message.source == "wedge" and not self._valid_wedge_code(message):
            return
        screen = self.screen
        if isinstance(screen, PosModal) and screen.take_scan(message):
            return
        self.checkout.route(message)

    def _valid_wedge_code(self, message: CodeScanned) -> bool:
        """A keyboard-wedge scan the validator refuses is told as the serial scanner's are, in
        the cashier's words; the validator's own (byte values, positions) go to the error log.
        A valid one goes on as validated: without its AIM identifier, which it carries apart."""
        from loyalty_pos.devices.codes import BadCode, validate_code

        try:
            code = validate_code(message.text, "wedge", symbology=message.symbology)
        except BadCode as e:
            self.services.log_line("keyboard-wedge scan refused", e.reason)
            self.scan_not_read(e.said)
            return False
        message.text, message.symbology = code.text, code.symbology
        return True

    def on_scan_rejected(self, message: ScanRejected) -> None:
        self.scan_not_read(message.said)

    def scan_not_read(self, said: str) -> None:
        """The scanner beeped but nothing came of it: without a word the cashier would wait.
        ``said``: why, in the cashier's words (``devices.codes.SAID``)."""
        said = said[:1].upper() + said[1:]
        self.notify(
            f"The last scan was not read: scan it again. {said}.",
            title="Scanner",
            severity="warning",
            timeout=8,
        )

    def on_device_status_changed(self, message: DeviceStatusChanged) -> None:
        """The status bar, and a toast with the reason for an error, and for a device that is
        missing at start or was lost since ("No scanner at /dev/ttyACM0: is it plugged in?"):
        the status bar says only "scanner absent", and the reasons are in F1, not in sight."""
        before = self.checkout.status_bar.devices.get(message.name)
        self.checkout.status_bar.show_device(
            message.name, message.kind, message.state, message.reason
        )
        lost = message.state == "absent" and (before is None or before[1] == "ready")
        same = before is not None and before[1:] == (message.state, message.reason)
        if message.quiet or same:
            return
        if message.state == "ready" and before is not None and before[1] != "ready":
            if message.kind == "printer":  # found back by a status check, not by a print
                self.printer_back()
            return
        if message.reason and (message.state == "error" or lost):
            self.notify(
                message.reason,
                title=message.kind.capitalize(),
                severity="warning",
                timeout=30 if before is None else 10,  # at start: IT may be looking elsewhere
            )

    # -- global keys ----------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.simulate, self.checkout.status_bar.devices))

    async def action_quit(self) -> None:
        if not self.checkout.has_basket:
            if self.quit_when_printed():
                self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes and self.quit_when_printed():
                self.exit()

        kept = (
            # the demo starts from a fresh copy of its store unless told --keep (QA)
            "The demo starts afresh next time; `loyalty-pos demo --keep` brings it back."
            if self.simulate
            else "It is kept and comes back at the next start."
        )
        question = ConfirmScreen(
            "Quit", f"A basket is open. Quit anyway? {kept}", self.checkout.type_on
        )
        self.push_screen(question, answered)

    def action_help_quit(self) -> None:
        """Ctrl+C: Textual's own hint, in plain words (its markup is not read in toasts)."""
        self.notify("Ctrl+Q quits the app.", title="Do you want to quit?")

    def action_simulate(self, what: str) -> None:
        if self.simulate:
            (self.devices.simulate_tap if what == "tap" else self.devices.simulate_scan)()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "simulate":
            return self.simulate
        return True


def _reloaded(view: Any) -> ServiceDone:
    return ServiceDone("reloaded", view)


def _restored(result: tuple[Any, bool]) -> ServiceDone:
    return ServiceDone("restored", result)


def run_app(
    terminal: Terminal,
    *,
    simulate: bool = False,
    sync: SyncHook | None = None,
    headless: bool = False,
) -> int:
    """Run the checkout until the cashier quits; the exit code for the CLI (0 = normal)."""
    app = CheckoutApp(terminal, simulate=simulate, sync=sync, stay_up=True)
    try:
        app.run(headless=headless)
    except LoyaltyPosError as e:
        print(f"loyalty-pos: {e}")
        return 2
    code = app.return_code or 0
    if app.sync_running() or app.printer_busy():
        # A sync still waiting on a ledger that does not answer would hold the process up to
        # its timeouts and retries, a blank screen for 12-20 s after Ctrl+Q (QA). Nothing is
        # lost by not waiting: its cache transaction is rolled back by SQLite, and a push the
        # ledger took without its answer arriving is sent again at the next sync (idempotent).
        # Likewise a printer's status check, or a receipt left printing by Ctrl+Q pressed
        # twice: it stays queued for F8 5, as after a power cut.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
