"""The last-resort edge: a bug in one of the app's handlers is logged and told in a sentence,
and the checkout keeps running with its basket (which is saved after every change anyway).

Textual stops a widget's message loop, and then the app, at the first unhandled exception. For a
till that must not happen in the middle of a sale, so the app and its screens catch what escapes
a handler here (and only here). Refusals never get this far: they are ``LoyaltyPosError`` and are
handled where they happen. Before the checkout is ready, and in tests (``stay_up`` off), Textual's
own handling stops the app so a bug is seen.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class StaysUp:
    """Mix into an App or Screen: exceptions from its message handlers go to ``keep_going``."""

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except Exception as error:
            if not keep_going(self.app, error):  # type: ignore[attr-defined]
                raise


def keep_going(app: Any, error: Exception) -> bool:
    """Log ``error`` and tell the cashier; False when the app should stop instead."""
    if not getattr(app, "stay_up", False) or getattr(app, "ready_at", None) is None:
        return False
    where = app.services.log_error(f"{type(error).__name__}: {error}", error)
    app.notify(
        f"Something went wrong ({type(error).__name__}); the basket is kept. "
        f"Details are in {where}.",
        severity="error",
        timeout=10,
    )
    return True
