"""``python -m loyalty_pos.tui [--home DIR] [--demo] [--simulate]``: the checkout app without the CLI.

``--demo`` makes a demo store in ``--home`` (default: a per-user cache folder, never the real
terminal's home) when it holds none yet, and simulates the reader and scanner (Ctrl+T, Ctrl+G). ``--bench`` runs
headless, prints the seconds from ``LOYALTY_POS_BENCH_T0`` (a ``time.time()`` taken by the caller
before it started this process) to the ready checkout screen, and exits: see ``tui.bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loyalty_pos.tui")
    parser.add_argument("--home", help="the terminal's folder (default: $LOYALTY_POS_HOME)")
    parser.add_argument("--demo", action="store_true", help="make a demo store in --home if empty")
    parser.add_argument("--simulate", action="store_true", help="simulated reader and scanner")
    parser.add_argument("--bench", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from loyalty_pos.bootstrap import make_demo_home, open_terminal, resolve_home
    from loyalty_pos.domain.errors import LoyaltyPosError

    if args.demo and not args.home:
        import platformdirs  # never the real terminal's home

        home = Path(platformdirs.user_cache_dir("loyalty-pos", appauthor=False)) / "demo"
    else:
        home = resolve_home(args.home)
    try:
        if args.demo and not (home / "terminal.toml").exists():
            terminal = make_demo_home(home)
        else:
            terminal = open_terminal(home)
    except LoyaltyPosError as e:
        sys.stderr.write(f"loyalty-pos: {e}\n")
        return 2
    if args.bench:
        return _bench(terminal)
    from .app import run_app

    return run_app(terminal, simulate=args.simulate or args.demo)


def _bench(terminal: object) -> int:
    from .app import CheckoutApp
    from .messages import CheckoutReady

    t0 = float(os.environ.get("LOYALTY_POS_BENCH_T0") or time.time())

    ready: list[float] = []

    class BenchApp(CheckoutApp):
        def on_checkout_ready(self, message: CheckoutReady) -> None:
            ready.append(time.time() - t0)
            self.exit()

    BenchApp(terminal, simulate=True).run(headless=True, size=(80, 24))  # type: ignore[arg-type]
    if not ready:
        return 1
    sys.stdout.write(f"{ready[0]:.4f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
