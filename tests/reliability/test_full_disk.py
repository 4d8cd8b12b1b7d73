"""The till's own files on a disk that fills: `init`, `pin set` and `token set` write each file
whole or not at all, say so in a sentence, and leave the folder as it was.

The disk is a real tmpfs of the size wanted, mounted in a namespace of the test's own
(``tests/support/full_disk.py``), and each command is run at every size of free space from one
page short of what it needs down to where the cache itself no longer opens: whichever write
meets the full disk, the result must be the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = ["unshare", "--user", "--map-root-user", "--mount"]


@pytest.fixture(autouse=True, scope="module")
def _own_mounts() -> None:
    """A mount namespace of the test's own (as root, or with unprivileged user namespaces, as
    on Debian): without one the tests skip on a developer's machine and fail in CI."""
    try:
        made = subprocess.run([*NAMESPACE, "true"], capture_output=True, text=True, timeout=30)
        said = made.stderr.strip()
    except OSError as e:
        made, said = None, str(e)
    if made is None or made.returncode:
        message = f"no mount namespace for a test disk ({said}): util-linux's unshare"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


PROGRAM = str(ROOT / "config" / "program.example.toml")
INIT = ["init", "--terminal-id", "T1", "--program", PROGRAM, "--manager-pin", "1234"]


def on_a_filling_disk(tmp_path: Path, command: list[str], **spec: Any) -> dict[str, Any]:
    spec = {"where": str(tmp_path / "disk"), "template": str(tmp_path / "template"), **spec}
    done = subprocess.run(
        [
            *NAMESPACE,
            sys.executable,
            "-m",
            "tests.support.full_disk",
            json.dumps({**spec, "command": command}),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["runs"], result
    return result


def said_in_a_sentence(run: dict[str, Any]) -> None:
    assert run["code"] == 1, run  # a fault of the disk's, not of what was typed
    assert run["stderr"].startswith("loyalty-pos: "), run
    assert "internal error" not in run["stderr"] and "Traceback" not in run["stderr"], run
    assert "full" in run["stderr"], run


def test_init_on_a_disk_that_fills_leaves_no_half_written_config_and_can_be_run_again(
    tmp_path: Path,
) -> None:
    """QA: init on a disk with room for the cache but not its config left an empty
    terminal.toml (and said 'internal error (OSError ...)'); the till then refused to start and
    init refused the folder as a terminal's already, so the IT person had to clear it by hand.
    With less room, the cache's own upgrade met the full disk and said "could not be used:
    cannot rollback - no transaction is active", not that the disk was full."""
    result = on_a_filling_disk(tmp_path, INIT, sweep_kib=24)
    for run in result["runs"]:
        said_in_a_sentence(run)
        left = run["left"]
        assert "terminal.toml" not in left, run  # none, rather than part of one
        assert not [name for name in left if name.endswith((".new", ".tmp"))], run
        # What this init made is gone with it: the folder is as it was.
        assert left == {}, run
        if again := run.get("again"):
            assert again["code"] == 0, again
            assert 'id = "T1"' in again["left"]["terminal.toml"]
    assert len([run for run in result["runs"] if "again" in run]) >= 3


def test_pin_and_token_set_on_a_full_disk_keep_the_config_and_token_they_had(
    tmp_path: Path,
) -> None:
    """The config they rewrite is written aside and renamed over the old one: a full disk leaves
    the old one whole, and it is a fault (exit 1), not a refusal of what was typed (it said
    exit 2, 'cannot be written'). A token set that fails keeps the old token in its file, as the
    config does: the till goes on as before, and says the new token was not installed."""
    ledger = ["--ledger-url", "http://127.0.0.1:9", "--token", "old-token"]
    pin = on_a_filling_disk(
        tmp_path / "pin",
        ["pin", "set", "--new-pin", "2468", "--manager-pin", "1234"],
        setup=[*INIT, *ledger],
    )
    token = on_a_filling_disk(
        tmp_path / "token",
        ["token", "set", "--token", "-", "--manager-pin", "1234"],
        setup=[*INIT, *ledger],
        stdin="new-token\n",
    )
    for run in pin["runs"] + token["runs"]:
        said_in_a_sentence(run)
        left = run["left"]
        assert "pin_hash" in left["terminal.toml"], run
        assert left["ledger.token"] == "old-token\n", run
        assert not [name for name in left if name.endswith((".new", ".tmp"))], run
        assert run["again"]["code"] == 0, run["again"]
    assert any("terminal.toml" in run["stderr"] for run in pin["runs"])
    assert any("ledger.token" in run["stderr"] for run in token["runs"])


def test_a_till_on_a_read_only_disk_says_its_folder_cannot_be_written(tmp_path: Path) -> None:
    """QA: a till whose disk went read-only (the kernel remounts it so after I/O errors) said
    "The database .../terminal.db could not be used: unable to open database file" to every
    command, reading ones too: SQLite's words, which name neither the folder nor the cause."""
    disk = tmp_path / "disk"
    home = disk / "h"
    cli = f"{sys.executable} -m loyalty_pos.cli --home {home}"
    script = f"""
        set -e
        mkdir -p {disk}
        mount -t tmpfs -o size=8m tmpfs {disk}
        {cli} {" ".join(INIT)} >/dev/null
        mkdir {disk}/new
        mount -o remount,ro {disk}
        for command in "balance LC00100037" "checkout --item MILK" "--json journal"; do
            {cli} $command 2>&1 && exit 9 || echo "exit $?"
        done
        {sys.executable} -m loyalty_pos.cli --home {disk}/new {" ".join(INIT)} 2>&1 && exit 9
        echo "exit $?"
        ls {disk}
    """
    done = subprocess.run(
        [*NAMESPACE, "sh", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout.splitlines()
    assert len(said) == 10, said
    for sentence, code in zip(said[:6:2], said[1:6:2], strict=True):
        assert code == "exit 1", said  # the disk's fault, not what was typed
        assert "unable to open database file" not in sentence, sentence
        assert f"{home} cannot be written (read-only" in sentence, sentence
    # init there is refused (the folder is the one to change), naming why: it said
    # "permission denied", and the IT person looked at the folder's owner
    assert said[6:] == [
        f"loyalty-pos: The folder {disk}/new cannot be written to (read-only file system): "
        "check the disk, or use another --home on one that can be written.",
        "exit 2",
        "h",
        "new",
    ], said
