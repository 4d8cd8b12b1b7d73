"""What the docs tell an IT person to type, run as written, so that they cannot drift from the code."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hardware.printer_sim import PrinterSim

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


def sh_block(after_heading: str) -> list[str]:
    """The lines of the first ```sh block under ``after_heading`` in README.md, each command
    apart (``a ; b`` is two), as ``(command, comment)``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(after_heading) :]
    block = section[section.index("```sh\n") + 6 :]
    block = block[: block.index("```")]
    return [line for line in block.splitlines() if line.strip()]


def commands(line: str) -> tuple[list[list[str]], str]:
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
