"""Run pcscd in the foreground for tests, the bench and demos: start it, wait until the virtual
readers are there, kill or restart it mid-test, stop it at the end.

Always by the pid we started (or the pid in pcscd's own pidfile, after checking that it really is
a pcscd), never by name: a developer's machine may run other things called pcscd-something.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

PIDFILE = Path("/run/pcscd/pcscd.pid")
VIRTUAL_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (our own child, not yet reaped) is not running
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_pcscd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "pcscd"
    except OSError:
        return False


def stop_stale_pcscd(timeout: float = 5.0) -> int | None:
    """Stop a pcscd left running (an earlier test run, a daemonised one) via its pidfile.
    Returns the pid stopped, or None."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid) or not _is_pcscd(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return pid


def missing_requirements() -> list[str]:
    """What is missing to run pcscd with the virtual readers (empty when all is there)."""
    missing = []
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        missing.append("pcscd (apt-get install pcscd)")
    if not VPCD_CONF.exists():
        missing.append("the vpcd reader driver (apt-get install vsmartcard-vpcd)")
    try:
        import smartcard  # noqa: F401
    except ImportError:
        missing.append("pyscard (pip install 'loyalty-pos[pcsc]'; needs libpcsclite-dev, swig)")
    return missing


class Pcscd:
    """One pcscd process in the foreground, owned by this object."""

    def __init__(self, *, log: Path | None = None, debug: bool = False) -> None:
        self.binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        self.log = log
        self.debug = debug
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, wait: bool = True, timeout: float = 10.0) -> Pcscd:
        if self.running:
            return self
        stop_stale_pcscd()
        args = [self.binary, "--foreground"] + (["--debug", "--apdu"] if self.debug else [])
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log is not None:
            self._log_file = self.log.open("ab")
            output = self._log_file
        self.process = subprocess.Popen(
            args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the virtual readers are listed (pcscd is answering and vpcd is loaded)."""
        from smartcard.scard import (
            SCARD_S_SUCCESS,
            SCARD_SCOPE_USER,
            SCardEstablishContext,
            SCardListReaders,
            SCardReleaseContext,
        )

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"pcscd exited with code {self.process and self.process.poll()}")
            hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
            if hresult == SCARD_S_SUCCESS:
                hresult, readers = SCardListReaders(context, [])
                SCardReleaseContext(context)
                if hresult == SCARD_S_SUCCESS and all(r in readers for r in VIRTUAL_READERS):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"pcscd did not show the virtual readers within {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM our pcscd, SIGKILL it if it does not exit in time."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def kill(self) -> None:
        """SIGKILL our pcscd: a crash, as far as its clients can tell."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def restart(self, *, kill: bool = False, pause: float = 0.0) -> Pcscd:
        self.kill() if kill else self.stop()
        time.sleep(pause)
        return self.start()

    def __enter__(self) -> Pcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
