"""Numbers and pictures of the app for the bench script and the docs.

``measure_startup()`` is the time from starting ``python -m loyalty_pos.tui`` (a fresh process,
the demo store) to the checkout screen being ready: mounted, the service thread up, any open basket
restored and shown (``CheckoutReady``). It includes the interpreter's start and every import,
so it is what a cashier waits after launching the app. ``save_checkout_screenshot`` writes the
SVG in ``docs/checkout-screen.svg``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TARGET_S = 1.5


def measure_startup(runs: int = 3, home: Path | None = None) -> float:
    """Median seconds from process start to a ready checkout screen (demo store, 80x24)."""
    from loyalty_pos.bootstrap import make_demo_home

    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as tmp:
        if home is None:
            home = Path(tmp) / "demo"
            make_demo_home(home).store.close()
        times = [_one_start(home) for _ in range(runs)]
    return statistics.median(times)


def _one_start(home: Path) -> float:
    env = {**os.environ, "LOYALTY_POS_BENCH_T0": repr(time.time())}
    out = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.tui", "--home", str(home), "--bench"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def save_checkout_screenshot(path: Path, size: tuple[int, int] = (100, 30)) -> Path:
    """The checkout screen of the demo store with a member and a few items, as an SVG."""
    import asyncio

    from loyalty_pos.bootstrap import make_demo_home
    from loyalty_pos.checkout import checkout, resolve_items

    from .app import CheckoutApp
    from .messages import CodeScanned

    async def shoot(app: CheckoutApp) -> None:
        async with app.run_test(size=size) as pilot:
            for text, qty in (("04A1B2C3D4E500", 1), ("MASCARA", 1), ("COFFEE", 6), ("CAPPU", 1)):
                app.post_message(CodeScanned(text, "typed", qty=qty))
            for _ in range(500):
                await pilot.pause()
                if (
                    app.services.idle
                    and app.checkout.view
                    and len(app.checkout.view.quote.lines) == 3
                ):
                    break
            await pilot.pause()
            app.checkout.item_field.cursor_blink = False
            app.save_screenshot(path.name, path=str(path.parent))

    with tempfile.TemporaryDirectory(prefix="loyalty-shot-") as tmp:
        t = make_demo_home(Path(tmp) / "demo")
        t.clock = lambda: datetime(2026, 11, 22, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
        checkout(t, "04A1B2C3D4E500", resolve_items(t, [("ESPRESSO", 20)]))
        asyncio.run(shoot(CheckoutApp(t)))
        t.store.close()
    return path


if __name__ == "__main__":
    if sys.argv[1:2] == ["--screenshot"]:
        print(save_checkout_screenshot(Path(sys.argv[2])))
    else:
        seconds = measure_startup()
        print(f"startup to a ready checkout: {seconds:.3f} s (target < {TARGET_S} s)")
