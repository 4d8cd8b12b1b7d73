"""Tap-to-event latency of the card reader path, measured through the real stack: virtual card
placed on vpcd -> pcscd notices it -> pyscard -> ``ReaderLoop`` reads the card -> ``DeviceEvent``.

``measure_tap_latency(n)`` returns the n latencies in seconds (card placed -> event emitted), for
``scripts/bench`` and for ``python -m hardware.tap_latency`` (run from the repository root).

Each tap is placed after a random pause of up to one pcscd poll period, as a customer's card
would be: pcscd asks the vpcd driver whether a card is present every 400 ms, so the latency here
is mostly where in that cycle the card arrives. A USB CCID reader with an interrupt endpoint
reports a card without that poll.
"""

from __future__ import annotations

import argparse
import queue
import random
import statistics
import sys
import time

from hardware.pcscd import Pcscd
from hardware.virtual_card import DEFAULT_PORT, VirtualCard
from loyalty_pos.devices.codes import DEFAULT_RULES
from loyalty_pos.devices.events import DeviceEvent, StatusBoard
from loyalty_pos.devices.pcsc import CardSource, ReaderConfig, ReaderLoop, read_card_on
from loyalty_pos.domain.errors import DeviceError

READER_FOR_PORT = {35963: "Virtual PCD 00 00", 35964: "Virtual PCD 00 01"}
PCSCD_POLL_S = 0.4


def measure_tap_latency(
    n: int = 200,
    *,
    port: int = DEFAULT_PORT,
    card_source: CardSource = "uid",
    start_pcscd: bool | None = None,
    jitter_s: float = PCSCD_POLL_S,
    timeout_s: float = 5.0,
    seed: int | None = 0,
) -> list[float]:
    """Tap ``n`` virtual cards and return each tap's latency in seconds.

    ``start_pcscd``: True starts (and stops) a pcscd of its own, False uses the running one, None
    starts one only if none answers. Raises TimeoutError when a tap produces no event.
    """
    daemon: Pcscd | None = None
    if start_pcscd or (start_pcscd is None and not _pcscd_answers()):
        daemon = Pcscd().start()
    events: queue.Queue[DeviceEvent] = queue.Queue()
    board = StatusBoard()
    reader = READER_FOR_PORT.get(port, "Virtual PCD")
    config = ReaderConfig(name_filter=reader, card_source=card_source, poll_timeout_s=1.0)
    loop = ReaderLoop(config, events.put, board, rules=DEFAULT_RULES).start()
    pause = random.Random(seed)
    latencies: list[float] = []
    try:
        if board.wait_for(reader, "ready", timeout_s) is None:
            raise TimeoutError(f"{reader} did not become ready within {timeout_s} s")
        for i in range(n):
            time.sleep(pause.uniform(0, jitter_s))
            card = VirtualCard(uid=f"04{i:012X}", ndef_text=f"BENCH-{i:06d}", port=port)
            card.place()
            try:
                event = events.get(timeout=timeout_s)
            except queue.Empty as e:
                raise TimeoutError(f"tap {i} produced no event within {timeout_s} s") from e
            finally:
                card.remove()
            assert card.placed_at is not None
            latencies.append(event.at - card.placed_at)
            _wait_until_seen_removed(loop, reader, timeout_s)
    finally:
        loop.stop()
        if daemon is not None:
            daemon.stop()
    return latencies


def measure_read_latency(
    n: int = 200,
    *,
    port: int = DEFAULT_PORT,
    card_source: CardSource = "uid",
    start_pcscd: bool | None = None,
    timeout_s: float = 5.0,
) -> list[float]:
    """Read a card already on the reader ``n`` times (``read_card_on``: connect, the APDUs,
    release) and return each read's time in seconds: the reader loop's own share of a tap, the
    part that does not wait for pcscd to notice the card."""
    daemon: Pcscd | None = None
    if start_pcscd or (start_pcscd is None and not _pcscd_answers()):
        daemon = Pcscd().start()
    reader = READER_FOR_PORT.get(port, "Virtual PCD")
    card = VirtualCard(uid="04A1B2C3D4E500", ndef_text="READ-BENCH", port=port)
    card.place()
    try:
        deadline = time.monotonic() + timeout_s
        while True:  # until pcscd has noticed the card
            try:
                read_card_on(reader, card_source)
                break
            except DeviceError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no card seen on {reader} within {timeout_s} s") from None
                time.sleep(0.05)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            read_card_on(reader, card_source)
            times.append(time.perf_counter() - started)
        return times
    finally:
        card.remove()
        if daemon is not None:
            daemon.stop()


def _wait_until_seen_removed(loop: ReaderLoop, reader: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while reader in loop.cards_present:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the card on {reader} was not seen leaving")
        time.sleep(0.005)


def _pcscd_answers() -> bool:
    from smartcard.scard import (
        SCARD_S_SUCCESS,
        SCARD_SCOPE_USER,
        SCardEstablishContext,
        SCardReleaseContext,
    )

    hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult == SCARD_S_SUCCESS:
        SCardReleaseContext(context)
        return True
    return False


def summary(latencies: list[float]) -> dict[str, float]:
    """Median, p99 and max in milliseconds."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--card-source", choices=("uid", "ndef_text"), default="uid")
    args = parser.parse_args(argv)
    print(summary(measure_tap_latency(args.n, card_source=args.card_source)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
