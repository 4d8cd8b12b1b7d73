"""What the docs tell an IT person to type, run as written, so that they cannot drift from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
