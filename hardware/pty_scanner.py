"""A serial barcode scanner simulated on a pseudo-terminal pair, so the terminal's serial path
(pyserial, termios, framing, unplug) is exercised without a scanner.

The terminal opens the pty's slave path exactly as it would open ``/dev/ttyACM0``; this side
writes scanner frames to the master. Closing the master is what an unplug looks like to the
reader; ``replug()`` makes a fresh pair and points the stable link at it, as udev does with
``/dev/serial/by-id/...`` when a scanner comes back as ttyACM1.

Library::

    with PtyScanner(link=tmp_path / "scanner") as scanner:
        scanner.send("4006381333931")            # one frame + CR
        scanner.write(b"\\x1b[2J garbage")       # raw bytes
        scanner.unplug(); scanner.replug()

Command line (prints the port, then sends each --code and each line typed on stdin)::

    python hardware/pty_scanner.py [--code 4006381333931 ...] [--terminator cr|lf|crlf]
                                   [--aim ]E0] [--link /tmp/scanner] [--delay S] [--hold S]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import tty
from pathlib import Path

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "none": b""}


class PtyScanner:
    """One simulated scanner. ``path`` is what the terminal opens (the link when given)."""

    def __init__(self, *, link: Path | None = None, terminator: bytes = b"\r") -> None:
        self.link = link
        self.terminator = terminator
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_path = ""
        self.plug()

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.slave_path

    def plug(self) -> None:
        """Create the pty pair (raw mode, so no echo or CR/LF translation before the terminal
        opens it) and point the link at it."""
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.slave_path = os.ttyname(self._slave)
        if self.link is not None:
            temporary = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            temporary.symlink_to(self.slave_path)
            temporary.replace(self.link)

    def release_slave(self) -> None:
        """Close our own handle on the slave once the terminal has opened it, so that
        ``unplug()`` leaves the terminal the only one holding the line."""
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def unplug(self) -> None:
        self.release_slave()
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def write(self, data: bytes) -> None:
        if self.master is None:
            raise OSError("the simulated scanner is unplugged")
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def send(self, code: str, *, aim: str = "", terminator: bytes | None = None) -> None:
        """One scan: optional AIM identifier, the code, the terminator."""
        end = self.terminator if terminator is None else terminator
        self.write(aim.encode("ascii") + code.encode("ascii") + end)

    def close(self) -> None:
        self.unplug()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def __enter__(self) -> PtyScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", action="append", default=[], help="a code to send (repeat)")
    parser.add_argument("--terminator", choices=sorted(TERMINATORS), default="cr")
    parser.add_argument("--aim", default="", help="AIM symbology identifier, e.g. ]E0")
    parser.add_argument("--link", type=Path, default=None, help="a stable symlink to the port")
    parser.add_argument(
        "--delay",
        type=float,
        default=2.0,
        help="seconds to wait before sending the --code codes (the terminal must have opened the "
        "port: opening a serial port flushes what was sent before)",
    )
    parser.add_argument(
        "--hold", type=float, default=1.0, help="seconds to keep the port open after the input"
    )
    args = parser.parse_args(argv)
    scanner = PtyScanner(link=args.link, terminator=TERMINATORS[args.terminator])
    print(scanner.path, flush=True)
    try:
        if args.code:
            time.sleep(args.delay)
        for code in args.code:
            scanner.send(code, aim=args.aim)
        for line in sys.stdin:
            if line.strip():
                scanner.send(line.strip(), aim=args.aim)
        time.sleep(args.hold)  # let the terminal read the last frames before the "unplug"
    except KeyboardInterrupt:
        pass
    finally:
        scanner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
