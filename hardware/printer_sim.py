#!/usr/bin/env python3
"""A network receipt printer on loopback: records what it is sent and answers status queries.

Tests need a real TCP peer to print to (DESIGN §2: the real thing on loopback, not a mock), one
that can also misbehave the way printers do: be switched off (``refuse``: nothing listens on the
port), hang (``stall``: accept, then stop reading, optionally after some bytes), drop the
connection in the middle of a receipt (``close_after``), or run out of paper.

Like an ESC/POS printer, it answers real-time status requests (DLE EOT n) as they arrive and
does not count them as print data: ``received`` holds each connection's print data, ``raw`` every
byte as sent.

Library use::

    with PrinterSim() as sim:                     # or PrinterSim(stall_after=0), mode="refuse", ...
        print_to(f"tcp://127.0.0.1:{sim.port}")
        sim.wait_for_jobs(1)
        data = sim.received[0]

Command line (stops on Ctrl-C)::

    python hardware/printer_sim.py --port 9100 --out /tmp/jobs
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

DLE_EOT = b"\x10\x04"
# Status bytes as an Epson TM printer sends them: bits 1 and 4 always set.
_OK = 0x12
_OFFLINE = 0x08  # DLE EOT 1, bit 3
_PAPER_NEAR_END = 0x0C  # DLE EOT 4, bits 2-3
_PAPER_OUT = 0x60  # DLE EOT 4, bits 5-6

Paper = Literal["ok", "low", "out"]
#: A slow printer's (``rate``) input buffer, in bytes.
INPUT_BUFFER = 1024


class PrinterSim:
    """A TCP receipt printer on 127.0.0.1. Use as a context manager; ``port`` is where it listens.

    Args:
        port: Port to listen on; 0 picks a free one.
        mode: "listen" (a printer) or "refuse" (nothing listens on ``port``: connection refused).
        stall_after: Stop reading after this many bytes of a connection (0: never read at all);
            the connection stays open until the simulator stops. None: read everything.
        close_after: Close the connection after this many bytes. None: read to the end.
        rate: Print this many bytes per second from an input buffer of ``INPUT_BUFFER``
            bytes, and read no more than the buffer has room for, as a printer takes a long
            receipt; status requests are answered as they are read into the buffer, as a
            printer's real-time commands are. None: read everything at once.
        paper: "ok", "low" (near end, still prints) or "out" (out of paper, offline).
        online: False to report offline (cover open) on status requests.
        out_dir: Save each connection's print data there as job-0001.bin, ...
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        mode: Literal["listen", "refuse"] = "listen",
        stall_after: int | None = None,
        close_after: int | None = None,
        rate: int | None = None,
        paper: Paper = "ok",
        online: bool = True,
        out_dir: str | Path | None = None,
        log: bool = False,
    ) -> None:
        self.host = host
        self.mode = mode
        self.stall_after = stall_after
        self.close_after = close_after
        self.rate = rate
        self.paper: Paper = paper
        self.online = online
        self.out_dir = Path(out_dir) if out_dir else None
        self.log = log
        self._requested_port = port
        self._port = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Condition()
        self._raw: list[bytearray] = []
        self._print: list[bytearray] = []
        self._done = 0

    # -------------------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self._port}"

    def start(self) -> PrinterSim:
        if self.mode == "refuse":
            # Take a free port and let it go: connecting to it is refused, as to a printer that
            # is switched off. (Another process could grab it meanwhile; on loopback it won't.)
            with socket.socket() as s:
                s.bind((self.host, self._requested_port))
                self._port = s.getsockname()[1]
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rate is not None:
            # A printer's input buffer is a few KB: what it has not printed yet waits in the
            # sender's queue, as it does in front of a real printer (the kernel doubles it).
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        listener.bind((self.host, self._requested_port))
        listener.listen()
        listener.settimeout(0.05)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> PrinterSim:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------- results

    @property
    def received(self) -> list[bytes]:
        """Print data per connection, in connection order (status requests left out)."""
        with self._lock:
            return [bytes(b) for b in self._print]

    @property
    def raw(self) -> list[bytes]:
        """Every byte read per connection, status requests included."""
        with self._lock:
            return [bytes(b) for b in self._raw]

    def wait_for_jobs(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until ``n`` connections have ended (or stalled); return ``received``."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._done >= n, timeout):
                raise TimeoutError(f"{self._done} of {n} print jobs finished in {timeout} s")
        return self.received

    # --------------------------------------------------------------------------------- serving

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                job = len(self._raw)
                self._raw.append(bytearray())
                self._print.append(bytearray())
            self._spawn(self._serve, conn, job)

    def _serve(self, conn: socket.socket, job: int) -> None:
        conn.settimeout(0.05)
        raw, printed = self._raw[job], self._print[job]
        scanned = 0  # raw[:scanned] has been split into print data and status requests
        limit = min(x for x in (self.stall_after, self.close_after, sys.maxsize) if x is not None)
        buffered, printed_at = 0.0, time.monotonic()  # bytes in the input buffer (``rate``)
        try:
            while not self._stop.is_set() and len(raw) < limit:
                size = 4096
                if self.rate is not None:
                    now = time.monotonic()
                    buffered = max(0.0, buffered - (now - printed_at) * self.rate)
                    printed_at = now
                    size = int(INPUT_BUFFER - buffered)
                    if size <= 0:
                        self._stop.wait(0.01)  # printing: the buffer is full
                        continue
                try:
                    chunk = conn.recv(min(size, limit - len(raw)))
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                buffered += len(chunk)
                with self._lock:
                    raw += chunk
                    scanned = self._split(conn, raw, printed, scanned, final=False)
            with self._lock:
                self._split(conn, raw, printed, scanned, final=True)
            if self.stall_after is not None and len(raw) >= self.stall_after:
                self._finish(job)
                self._stop.wait()  # hold the connection open, reading nothing
                return
        finally:
            conn.close()
        self._finish(job)

    def _finish(self, job: int) -> None:
        with self._lock:
            self._done += 1
            self._lock.notify_all()
            data = bytes(self._print[job])
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / f"job-{job + 1:04d}.bin"
            path.write_bytes(data)
        if self.log:
            where = f" -> {path}" if self.out_dir is not None else ""
            print(f"job {job + 1}: {len(data)} bytes{where}", flush=True)

    def _split(
        self, conn: socket.socket, raw: bytearray, printed: bytearray, start: int, final: bool
    ) -> int:
        """Move raw[start:] to ``printed``, answering DLE EOT n instead of printing it.

        Returns how far it got: a DLE at the very end may be the start of a request still
        arriving, so it waits for the next chunk unless ``final``.
        """
        i = start
        while i < len(raw):
            if raw[i : i + 2] == DLE_EOT and i + 2 < len(raw) and raw[i + 2] in (1, 2, 3, 4):
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([self._status(raw[i + 2])]))
                i += 3
                continue
            if not final and raw[i] == DLE_EOT[0] and len(raw) - i < 3:
                break
            printed.append(raw[i])
            i += 1
        return i

    def _status(self, n: int) -> int:
        if n == 1:
            offline = not self.online or self.paper == "out"
            return _OK | (_OFFLINE if offline else 0)
        if n == 4:
            return _OK | {"ok": 0, "low": _PAPER_NEAR_END, "out": _PAPER_OUT}[self.paper]
        return _OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A network ESC/POS receipt printer on loopback.")
    parser.add_argument("--port", type=int, default=9100, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--out", type=Path, help="save each job's print data in this folder")
    parser.add_argument("--paper", choices=["ok", "low", "out"], default="ok")
    parser.add_argument("--stall-after", type=int, help="stop reading after N bytes")
    parser.add_argument("--close-after", type=int, help="drop the connection after N bytes")
    parser.add_argument("--rate", type=int, help="read at most N bytes per second (a slow printer)")
    args = parser.parse_args(argv)
    sim = PrinterSim(
        args.port,
        host=args.host,
        paper=args.paper,
        stall_after=args.stall_after,
        close_after=args.close_after,
        rate=args.rate,
        out_dir=args.out,
        log=True,
    )
    # Ctrl-C or a service manager's SIGTERM stops it. SIGINT is set here, not left to Python's
    # default: a shell that starts a program in the background makes it ignore SIGINT, and
    # Python then keeps it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    with sim:
        print(f"printer simulator listening on {sim.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
