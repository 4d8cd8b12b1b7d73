"""What the docs tell an IT person to type, run as written, so that it cannot drift from the code."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hardware.printer_sim import PrinterSim
from loyalty_pos.ledger.store import LedgerStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "command"),
    [  # as hardware/README.md runs them, from the repository's root
        ("virtual_card.py", ["hardware/virtual_card.py"]),
        ("pty_scanner.py", ["hardware/pty_scanner.py"]),
        ("tap_latency.py", ["-m", "hardware.tap_latency"]),
    ],
)
def test_a_simulators_help_says_what_it_is_in_a_whole_sentence(
    script: str, command: list[str]
) -> None:
    """QA: `python hardware/virtual_card.py --help` said "A virtual NFC loyalty card for
    vsmartcard's virtual reader (vpcd), so tests and demos go", its docstring's first line."""
    path = ROOT / "hardware" / script
    out = subprocess.run(
        [sys.executable, *command, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    description = out.stdout.split("\n\n")[1]
    first_paragraph = path.read_text().split('"""')[1].split("\n\n")[0]
    assert " ".join(description.split()) == " ".join(first_paragraph.split())
    assert description.rstrip().endswith(".")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"the ledger at {base_url} did not answer within 30 s")


def sh_block(after_heading: str) -> list[str]:
    """The lines of the first ```sh block under ``after_heading`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(after_heading) :]
    block = section[section.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    return [line for line in block.splitlines() if line.strip()]


def commands(line: str) -> tuple[list[list[str]], str]:
    """A block's line as its commands (``a ; b`` is two), each split as the shell does, and its
    comment."""
    code, _, comment = line.partition("  #")
    return [shlex.split(part) for part in code.split(" ; ")], comment.strip()


def test_the_readmes_headless_cli_examples_run_as_written_on_the_till_they_make(
    tmp_path: Path,
) -> None:
    """Every line of "The headless CLI" block, in order, on the standalone till its first line
    makes: each one is done (exit 0), but for those marked for a till with a ledger, which this
    one refuses (exit 2, naming the ledger). Run from a folder holding the checkout's config/,
    as from the repository's root; the block's printer is a printer on loopback."""
    home, cwd = tmp_path / "till", tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "config").symlink_to(ROOT / "config")
    example = (ROOT / "config" / "program.example.toml").read_text(encoding="utf-8")
    (cwd / "new-program.toml").write_text(example.replace("version = 1", "version = 2"))
    env = {**os.environ, "LOYALTY_POS_HOME": str(home)}
    lines = sh_block("## The headless CLI")
    assert len(lines) >= 15
    ran = []
    with PrinterSim() as printer:
        for line in lines:
            parts, comment = commands(line)
            for argv in parts:
                assert argv[0] == "loyalty-pos", line
                argv = [a.replace("192.0.2.10:9100", f"127.0.0.1:{printer.port}") for a in argv]
                out = subprocess.run(
                    [sys.executable, "-m", "loyalty_pos.cli", *argv[1:]],
                    input="lpt_example-token\n",
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=cwd,
                    env=env,
                )
                if "with a ledger" in comment:
                    assert out.returncode == 2, (line, out.stdout, out.stderr)
                    assert "ledger" in out.stderr, line
                else:
                    assert out.returncode == 0, (line, out.stdout, out.stderr)
                ran.append(argv[1])
        assert any(job for job in printer.wait_for_jobs(1))
    assert (cwd / "receipt.png").stat().st_size > 0
    assert {"init", "checkout", "refund", "receipt", "sync", "token"} <= set(ran)


def test_the_readmes_ledger_set_up_runs_as_written_and_sync_answers_the_keys_it_names(
    tmp_path: Path,
) -> None:
    """ "The central ledger and sync" block, line by line: a SQLite ledger (the block's other
    URL), its program, members and a terminal, the service on loopback, a till given the token
    on stdin, and its first sync, whose JSON has exactly the keys the block's comment lists."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "config").symlink_to(ROOT / "config")
    env = {**os.environ, "LOYALTY_POS_HOME": str(tmp_path / "till")}
    port = str(free_port())
    token = ""
    server: subprocess.Popen[bytes] | None = None
    sync: dict[str, object] = {}
    try:
        for line in sh_block("## The central ledger and sync"):
            [argv], comment = commands(line)
            argv = [a.replace("8700", port) for a in argv]
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                if name == "LOYALTY_LEDGER_DB":  # the comment's SQLite URL, in this test's folder
                    assert "sqlite:////" in comment
                    value = f"sqlite:///{tmp_path / 'ledger.db'}"
                env[name] = value
                continue
            module = {"loyalty-ledger": "loyalty_pos.ledger", "loyalty-pos": "loyalty_pos.cli"}
            command = [sys.executable, "-m", module[argv[0]], *argv[1:]]
            if argv[1] == "serve":
                server = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.DEVNULL)
                wait_for_health(f"http://127.0.0.1:{port}")
                continue
            out = subprocess.run(
                command, input=token, capture_output=True, text=True, timeout=60, cwd=cwd, env=env
            )
            assert out.returncode == 0, (line, out.stdout, out.stderr)
            if argv[1:3] == ["terminal", "add"]:
                token = json.loads(out.stdout)["token"] + "\n"
            if argv[1] == "sync":
                sync = json.loads(out.stdout)
                named = comment[comment.index("{") + 1 : comment.index("}")]
                assert set(sync) == {key.strip() for key in named.split(",")}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    assert sync["pulled"] == 20 and sync["online"] is True  # the members imported above


def test_the_readmes_check_and_chmod_make_a_till_set_up_before_private_and_it_still_sells(
    tmp_path: Path, permissive_umask: int
) -> None:
    """ "Who can read a till's files": on a till whose files an earlier release made with the
    umask's mode, the block's `find` names them, its `chmod` makes them the till's user's
    alone (the `find` then prints nothing), and the till sells and runs its night as before."""
    home = tmp_path / "till"
    env = {**os.environ, "LOYALTY_POS_HOME": str(home)}

    def till(*argv: str) -> None:
        out = subprocess.run(
            [sys.executable, "-m", "loyalty_pos.cli", *argv], capture_output=True, env=env
        )
        assert out.returncode == 0, out.stderr

    till("init", "--terminal-id", "T1", "--program", str(ROOT / "config/program.example.toml"))
    for path in [home, *home.rglob("*")]:  # as an earlier release left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    [find, chmod] = [
        line.partition("  #")[0].replace("/var/lib/loyalty-pos", str(home))
        for line in sh_block("### Who can read a till's files")
    ]
    listed = subprocess.run(find, shell=True, capture_output=True, text=True, check=True)
    assert str(home / "terminal.db") in listed.stdout.split()
    subprocess.run(chmod, shell=True, check=True)
    assert subprocess.run(find, shell=True, capture_output=True, text=True).stdout == ""
    assert {p.stat().st_mode & 0o777 for p in [home, *home.rglob("*")]} == {0o700, 0o600}
    till("enroll", "--card", "LC12345678", "--name", "Ada")
    night = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.nightly", "--home", str(home)], capture_output=True
    )
    assert night.returncode == 0, night.stderr
    assert subprocess.run(find, shell=True, capture_output=True, text=True).stdout == ""


def test_the_readmes_online_backup_of_the_ledger_runs_as_written_and_its_copy_is_private(
    tmp_path: Path, permissive_umask: int
) -> None:
    """ "Backups, restores and upgrades": the embedded ledger's online backup, the one-liner as
    written, run while the service runs: its copy is the ledger's user's alone whatever the
    umask, and is a ledger holding what the original held. QA: run from any other folder than
    the ledger's, the line made an empty `ledger.db` there, copied that, and said nothing."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("**The ledger's database**") :]
    [line] = [code for code in section.split("`")[1::2] if ".backup(" in code][:1]
    folder = tmp_path / "loyalty"
    folder.mkdir(mode=0o700)
    url = f"sqlite:///{folder / 'ledger.db'}"
    env = {**os.environ, "LOYALTY_LEDGER_DB": url, "LOYALTY_LEDGER_ADMIN_TOKEN": "admin"}
    added = subprocess.run(
        [sys.executable, "-m", "loyalty_pos.ledger", "terminal", "add", "T1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    token = json.loads(added.stdout)["token"]
    port = str(free_port())
    server = subprocess.Popen(
        [sys.executable, "-m", "loyalty_pos.ledger", "serve", "--port", port],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}")
        # from another folder, as an IT person's shell is (the line's own `cd` takes it there)
        line = line.replace("/var/lib/loyalty", str(folder))
        subprocess.run(line, shell=True, cwd=tmp_path, check=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert not (tmp_path / "ledger.db").exists()
    copy = folder / "ledger-copy.db"
    assert copy.stat().st_mode & 0o777 == 0o600
    store = LedgerStore.open(f"sqlite:///{copy}")
    try:
        assert store.authenticate(token) == "T1"
    finally:
        store.close()
