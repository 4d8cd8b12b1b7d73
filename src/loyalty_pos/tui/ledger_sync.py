"""Sync with the central ledger from the app: F12 now, right after each sale, refund and
enrolment, and every ``sync_interval_s`` quietly.

The sync runs on a thread and a database connection of its own, so a slow or absent ledger never
holds up a scan; the result comes back to the checkout screen as ``ServiceDone`` or
``ServiceRefused`` (what = ``sync`` or ``sync-background``) and the status line is refreshed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from textual.message import Message

from loyalty_pos.checkout import Terminal
from loyalty_pos.domain.errors import LoyaltyPosError

from .messages import ServiceDone, ServiceRefused
from .words import SYNC_WAITS, sync_failure

SyncHook = Callable[[Terminal], Mapping[str, Any]]
#: The longest the background sync waits for a ledger's ``Retry-After`` (a proxy asking for
#: a day would keep the till offline, past its grace, for it).
HOLD_MAX_S = 15 * 60


class LedgerSync:
    """Mix into the App; ``sync_hook`` defaults to ``loyalty_pos.sync.sync``."""

    terminal: Terminal
    checkout: Any
    sync_hook: SyncHook | None
    _syncing: bool = False
    _sync_again: bool = False  # an event was recorded while a sync ran: one more when it ends
    _sync_terminal: Terminal | None = None
    _sync_logged = ""  # the last failure logged (``_log_sync``)
    #: from when until when (the terminal's clock) the ledger asked not to be called again
    _sync_hold: tuple[datetime, datetime] | None = None

    def sync_running(self) -> bool:
        """Whether a sync of this app's is under way (its thread has not ended)."""
        return self._syncing

    def action_sync(self) -> None:
        app: Any = self
        if not self.terminal.config.ledger.configured:
            app.notify("No ledger configured: this terminal is its own record, nothing to sync.")
        elif self._syncing:
            app.notify("A sync is already running.")
        else:
            app.notify("Syncing with the ledger…")
            self._sync("sync")

    def sync_quietly(self) -> None:
        if not self._syncing and not self._sync_held():
            self._sync("sync-background")

    def _sync_held(self) -> bool:
        """Whether the ledger's ``Retry-After`` (a 429 or 5xx, longer than a sync waits for)
        has not passed yet: the background sync does not call it before then. F12 does: the
        person pressing it may know the ledger is back, and it is one request. A clock set back
        before the answer ends the hold."""
        if self._sync_hold is None:
            return False
        since, until = self._sync_hold
        if since <= self.terminal.clock() < until:
            return True
        self._sync_hold = None
        return False

    def sync_soon(self) -> None:
        """After an event is recorded: send it now, not at the next interval (a new member can
        pay with points, and the other tills see the balance, once the ledger has it). A sync
        already running may have read the outbox before the event: one more follows it."""
        if not self.terminal.config.ledger.configured:
            return
        if self._syncing:
            self._sync_again = True
        elif not self._sync_held():  # the interval's sync after the hold sends it
            self._sync("sync-background")

    def _sync(self, what: str) -> None:
        """Start a sync on a thread of its own. Not one of Textual's thread workers: those run
        on asyncio's default executor, which the app waits for as it ends, so Ctrl+Q during a
        sync to a ledger that does not answer left a blank screen for its timeouts and retries
        (12-20 s, QA). This thread is a daemon, and the app ends without waiting for it
        (``run_app``): its cache transaction is rolled back, an unanswered push is sent again."""
        self._syncing = True
        threading.Thread(
            target=self._sync_on_thread, args=(what,), name="loyalty-sync", daemon=True
        ).start()

    def _sync_on_thread(self, what: str) -> None:
        app: Any = self
        try:
            if self._sync_terminal is None:
                from loyalty_pos.store import open_store

                t = self.terminal
                store = open_store(t.store.path)
                self._sync_terminal = Terminal(
                    store=store, config=t.config, home=t.home, clock=t.clock
                )
            if self.sync_hook is None:
                from loyalty_pos.sync import sync

                waits = functools.partial(self._sync_waits, what)
                result = dict(sync(self._sync_terminal, waiting=waits))
            else:
                result = dict(self.sync_hook(self._sync_terminal))
            self._log_sync(
                what, " ".join(str(result[k]) for k in ("problem", "clock") if result.get(k))
            )
            self._sync_hold = None
            message: Message = ServiceDone(what, result)
        except LoyaltyPosError as e:
            self._hold_for(e.details.get("retry_after_s"))
            self._log_sync(what, e.message)
            message = ServiceRefused(what, sync_failure(e.code, e.details), e.code)
        except Exception as e:  # noqa: BLE001 - a thread's edge: logged, said, never a traceback
            app.services.log_error(f"sync: {type(e).__name__}: {e}", e)
            message = ServiceRefused(what, sync_failure("internal", {}), "internal")
        finally:
            self._syncing = False
        self.checkout.post_message(message)
        if self._sync_again:
            self._sync_again = False
            try:
                app.call_from_thread(self.sync_quietly)
            except RuntimeError:
                pass  # the app has ended meanwhile

    def _hold_for(self, after: object) -> None:
        """Hold the background sync ``after`` seconds (at most ``HOLD_MAX_S``), the ledger's
        ``Retry-After``, when it sent one."""
        if isinstance(after, (int, float)) and after > 0:
            now = self.terminal.clock()
            self._sync_hold = (now, now + timedelta(seconds=min(after, HOLD_MAX_S)))

    def _sync_waits(self, what: str) -> None:
        """Another sync of this till runs (the nightly job's, ``loyalty-pos sync``): F12's says
        that it waits for it; a background one waits quietly."""
        if what != "sync":
            return
        app: Any = self
        try:
            app.call_from_thread(app.notify, SYNC_WAITS, title="Sync")
        except RuntimeError:
            pass  # the app has ended meanwhile

    def _log_sync(self, what: str, said: str) -> None:
        """The sync's own words (an address, a status, an exception's name) go to the error
        log, for the IT person; the cashier reads ``words.sync_failure``. A background sync
        logs a failure when it differs from the last one logged, not at every interval."""
        if not said:
            self._sync_logged = ""
        elif what == "sync" or said != self._sync_logged:
            self._sync_logged = said
            app: Any = self
            app.services.log_line(what, said)

    def close_sync(self) -> None:
        if self._sync_terminal is not None:
            self._sync_terminal.store.close()
            self._sync_terminal = None
