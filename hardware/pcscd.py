"""Run pcscd in the foreground for tests, the bench and demos: start it, wait until the virtual
readers are there, kill or restart it mid-test, stop it at the end.

Always by the pid we started, or, for one an earlier run left behind (a test run killed before its
fixtures stopped theirs), by the mark every pcscd started here carries in its environment
(``MARK``), never by name or by pcscd's own pidfile: a developer's machine may run other things
called pcscd-something, and the system's pcscd, serving a real reader, is never stopped.
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


#: In the environment of every pcscd started here (``Pcscd``, ``scripts/hardware-env start``): a
#: pcscd that has it is ours to stop, whichever run started it and whatever the pidfile says.
MARK = "LOYALTY_POS_TEST_PCSCD"


def _marked(pid: int) -> bool:
    """Whether process ``pid`` carries ``MARK`` in its environment (unreadable: it is not ours)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return any(item.startswith(MARK.encode() + b"=") for item in environ.split(b"\0"))


def marked_pcscds() -> list[int]:
    """The pids of the running pcscds started here (by this run or an earlier one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            if _is_pcscd(pid) and _marked(pid) and _alive(pid):
                found.append(pid)
    return sorted(found)


def stop_stale_pcscd(timeout: float = 5.0) -> list[int]:
    """Stop every pcscd started here that is still running: an earlier test run killed before
    its fixtures stopped theirs left one, which holds the PC/SC socket and vpcd's ports so that
    the next run's pcscd cannot serve the virtual readers. Found by ``MARK``, not by
    /run/pcscd/pcscd.pid, which need not name it (and may name the system's pcscd, which is
    never stopped; and pcsc-lite ends it with a NUL, which made it unreadable to the earlier
    way of finding it). Returns the pids stopped."""
    stopped = marked_pcscds()
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in stopped:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return stopped


def pidfile_pid() -> int | None:
    """The pid in pcscd's pidfile, or None. pcsc-lite writes it with a NUL after the newline
    (``"1234\\n\\0"``), which ``str.strip`` keeps: read so, it was never a number, and the
    pcscd it named was never found."""
    try:
        return int(PIDFILE.read_bytes().strip(b"\0 \t\r\n"))
    except (OSError, ValueError):
        return None


def foreign_pcscd() -> int | None:
    """The pid of a running pcscd not started here (the system's, for a real reader), from
    pcscd's pidfile, or None."""
    pid = pidfile_pid()
    if pid is None:
        return None
    if _alive(pid) and _is_pcscd(pid) and not _marked(pid):
        return pid
    return None


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
        if (other := foreign_pcscd()) is not None:
            raise RuntimeError(
                f"A pcscd that these tools did not start runs (pid {other}, in {PIDFILE}): it "
                "may serve a real reader, so it is not stopped here. Stop it to run the PC/SC "
                "tests (sudo systemctl stop pcscd.socket pcscd)."
            )
        args = [self.binary, "--foreground"] + (["--debug", "--apdu"] if self.debug else [])
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log is not None:
            self._log_file = self.log.open("ab")
            output = self._log_file
        self.process = subprocess.Popen(
            args,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, MARK: str(os.getpid())},
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
