"""The app's one door to the application services: every call runs on one worker thread, in the
order it was asked for, and reports back with a message.

One thread keeps the SQLite connection to one thread at a time (the Store is not thread-safe) and
keeps the order of fast scans; the UI thread never waits for the disk, a device or the network.
"""

from __future__ import annotations

import logging
import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from loyalty_pos.checkout import Terminal, is_online
from loyalty_pos.domain.errors import LoyaltyPosError
from loyalty_pos.private import append

from .messages import ServiceDone, ServiceRefused

logger = logging.getLogger(__name__)

Job = Callable[[], Any]
Done = Callable[[Any], Message]


@dataclass(frozen=True, slots=True)
class _Request:
    what: str
    job: Job
    target: MessagePump
    done: Done | None


class ServiceQueue:
    """Jobs for the service thread. ``submit`` from the UI thread; ``serve`` runs on the worker."""

    def __init__(self, error_log: Path | None = None) -> None:
        self._jobs: queue.Queue[_Request] = queue.Queue()
        self._error_log = error_log

    def submit(self, what: str, job: Job, target: MessagePump, done: Done | None = None) -> None:
        """Run ``job()`` on the service thread; post ``done(result)`` (default ``ServiceDone``) or
        ``ServiceRefused`` to ``target``."""
        self._jobs.put(_Request(what, job, target, done))

    @property
    def idle(self) -> bool:
        """No job waiting or running (its result message has been posted)."""
        return self._jobs.unfinished_tasks == 0

    def serve(self, cancelled: Callable[[], bool]) -> None:
        while not cancelled():
            try:
                request = self._jobs.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                request.target.post_message(self._run(request))
            finally:
                self._jobs.task_done()

    def _run(self, request: _Request) -> Message:
        try:
            result = request.job()
            return request.done(result) if request.done else ServiceDone(request.what, result)
        except LoyaltyPosError as e:
            return ServiceRefused(request.what, str(e), e.code)
        except Exception as e:  # the edge: a bug in one job must not stop the checkout
            where = self.log_error(request.what, e)
            return ServiceRefused(
                request.what,
                f"Something went wrong ({type(e).__name__}: {e}); nothing more was done. "
                f"The details are in {where}.",
                "internal",
            )

    def log_line(self, what: str, said: str) -> None:
        """Append one line to the error log: what went wrong outside the till (a ledger out of
        reach), in the words of the part that failed, without a traceback."""
        self._append(f"{datetime.now().isoformat()} {what}: {said}\n")

    def log_error(self, what: str, error: BaseException) -> str:
        """Append ``error`` with its traceback to the error log; returns where it went."""
        trace = "".join(traceback.format_exception(error))
        return self._append(f"{datetime.now().isoformat()} {what}:\n{trace}\n")

    def _append(self, text: str) -> str:
        if self._error_log is not None:
            try:
                append(self._error_log, text)  # made the till's user's alone
                return str(self._error_log)
            except OSError:
                pass
        logger.error(text)
        return "the log"


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    """What the status bar shows about the terminal itself.

    Attributes:
        standalone: no ledger is configured; the terminal is its own record.
        last_sync: when the last successful sync ended, or None.
        waiting: journal events not yet accepted by the ledger.
        held: journal events the ledger refused (they stay here; the sync says why).
    """

    terminal_id: str
    online: bool
    standalone: bool
    last_sync: datetime | None
    waiting: int
    held: int = 0


def terminal_status(t: Terminal) -> TerminalStatus:
    now = t.now()
    last = t.store.meta("last_sync_at")
    return TerminalStatus(
        terminal_id=t.config.terminal_id,
        online=is_online(t, now),
        standalone=not t.config.ledger.configured,
        last_sync=datetime.fromisoformat(last).astimezone(now.tzinfo) if last else None,
        waiting=t.store.outbox_count(),
        held=t.store.held_count(),
    )
