"""The test pcscd's own housekeeping: a pcscd an earlier, killed test run left running is found
and stopped before the next one starts, and a pcscd these tools did not start (the system's,
serving a real reader) is never stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.pcscd import MARK, Pcscd, _alive, foreign_pcscd, pidfile_pid, stop_stale_pcscd

pytestmark = pytest.mark.hardware

ROOT = Path(__file__).resolve().parents[2]


def _end(pid: int) -> None:
    """Stop ``pid`` (a pcscd this test made) whatever the code under test did."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def orphan(pcsc_stack: None, tmp_path: Path) -> Iterator[int]:
    """A pcscd left by a test run killed mid-test: started by the fixtures' own code in another
    process, which then died without stopping it."""
    if (other := foreign_pcscd()) is not None:  # it is not ours to stop, nor to start beside
        pytest.skip(f"a pcscd these tools did not start runs (pid {other})")
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from hardware.pcscd import Pcscd\n"
        f"daemon = Pcscd(log=Path({str(tmp_path / 'orphan.log')!r})).start()\n"
        "print(daemon.pid, flush=True)\n"
        "os._exit(0)  # as a run killed with SIGKILL: no fixture's teardown\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    assert _alive(pid)
    yield pid
    _end(pid)


def test_a_pcscd_left_by_a_killed_run_is_stopped_before_the_next_one_starts(orphan, tmp_path):
    """QA: an orphan pcscd of a killed run outlived the next run's stop_stale_pcscd, which went
    by /run/pcscd/pcscd.pid only and read it with str.strip: pcsc-lite ends the pid with a NUL,
    so it was never a number and nothing was stopped. The orphan held the PC/SC socket and
    vpcd's ports, and the later hardware tests failed. It is found by the mark in its
    environment now, whatever the pidfile says."""
    assert pidfile_pid() == orphan  # the NUL after the pid is read past
    daemon = Pcscd(log=tmp_path / "pcscd.log")
    try:
        daemon.start()  # stops the orphan first, then serves the virtual readers itself
        assert not _alive(orphan)
        assert stop_stale_pcscd() == [daemon.pid]  # the one running now is found the same way
    finally:
        daemon.stop()


def test_a_pcscd_these_tools_did_not_start_is_never_stopped(pcsc_stack, tmp_path):
    """A pcscd started without the mark (the system's, as systemd runs it, serving a real
    reader) is left running: stop_stale_pcscd does not touch it, and a test pcscd is refused
    with a sentence saying which pcscd to stop, instead of failing as a second pcscd."""
    stop_stale_pcscd()
    system: subprocess.Popen[bytes] | None = None
    if (pid := foreign_pcscd()) is None:  # else the one running already is the system's
        env = {k: v for k, v in os.environ.items() if k != MARK}
        with (tmp_path / "system.log").open("wb") as log:
            system = subprocess.Popen(
                [Pcscd().binary, "--foreground"], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        pid = system.pid
    try:
        deadline = time.monotonic() + 10
        while pidfile_pid() != pid:
            assert time.monotonic() < deadline, "the system-like pcscd did not start"
            time.sleep(0.05)
        assert stop_stale_pcscd() == []
        assert _alive(pid)
        with pytest.raises(RuntimeError, match=f"did not start runs \\(pid {pid}"):
            Pcscd(log=tmp_path / "pcscd.log").start()
        assert _alive(pid)
    finally:
        if system is not None:
            system.terminate()
            system.wait(10)
