"""The cashier's checkout app (Textual): keys and device messages in, service calls out.

``run_app(terminal)`` is the entry point the CLI calls; everything else in this package is screens,
widgets and the plumbing that keeps blocking work (SQLite, devices, network) off the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loyalty_pos.checkout import Terminal

__all__ = ["run_app"]


def run_app(terminal: Terminal, *, simulate: bool = False, **kwargs: Any) -> int:
    """Run the checkout app on ``terminal`` until the cashier quits (see ``tui.app.run_app``)."""
    from .app import run_app as _run_app

    return _run_app(terminal, simulate=simulate, **kwargs)
