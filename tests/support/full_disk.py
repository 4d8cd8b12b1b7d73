"""A till's folder on a disk that fills: runs one command at every size of free space around the
smallest it needs, and says what each run left behind.

The disk is a tmpfs mounted in a mount namespace of this process's own, so the test needs no
root and leaves no mount behind: run it as ``unshare --user --map-root-user --mount python -m
tests.support.full_disk SPEC``, where SPEC is JSON:

- ``where``: the mount point (the till's folder is ``where/h``, so the paths a config names are
  the same in every run);
- ``setup``: a command (loyalty-pos arguments) run first on a roomy disk, or none;
- ``command``: the command whose writes meet the full disk (``-`` in it: ``stdin`` is sent);
- ``stdin``: what the command reads;
- ``sweep_kib``: past the sizes where the cache itself can no longer be written, go on down to
  an empty disk in steps of this many KiB (the cache's own writes meet the full disk there).

It prints JSON: ``smallest`` (the free KiB the command needs) and ``runs``, one for each size
below it, from one page less down to where the cache itself can no longer be written: the
command's exit code and stderr, the files it left (name: content as text, or its size), and the
exit code of the same command run again once the disk has room.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGE_KIB = 4
ROOMY_KIB = 8192
LOYALTY_POS = [sys.executable, "-m", "loyalty_pos.cli"]


def mount(where: Path, kib: int) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(where)], check=True)


def resize(where: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(where)], check=True)


def used_kib(where: Path) -> int:
    st = os.statvfs(where)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def loyalty_pos(home: Path, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOYALTY_POS, "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def files(home: Path) -> dict[str, Any]:
    """What is in the till's folder: text files as their text, the rest as their size."""
    if not home.is_dir():
        return {}
    found: dict[str, Any] = {}
    for path in sorted(home.iterdir()):
        if path.suffix in (".toml", ".token", ".new") or path.name.endswith(".tmp"):
            found[path.name] = path.read_text(errors="replace")
        else:
            found[path.name] = path.stat().st_size
    return found


def main() -> int:
    spec = json.loads(sys.argv[1])
    where = Path(spec["where"])
    home = where / "h"
    template = Path(spec["template"])
    command: list[str] = spec["command"]
    stdin: str = spec.get("stdin", "")

    mount(where, ROOMY_KIB)
    if spec.get("setup"):
        made = loyalty_pos(home, spec["setup"])
        if made.returncode:
            print(json.dumps({"setup_failed": made.stderr}))
            return 1
        shutil.copytree(home, template, symlinks=True)

    def attempt(free_kib: int) -> subprocess.CompletedProcess[str]:
        mount(where, ROOMY_KIB)
        if template.exists():
            shutil.copytree(template, home, symlinks=True)
        resize(where, used_kib(where) + free_kib)
        return loyalty_pos(home, command, stdin)

    low, high = 0, ROOMY_KIB // 2  # the smallest free space the command succeeds with
    if attempt(high).returncode:
        print(json.dumps({"fails_on_a_roomy_disk": attempt(high).stderr}))
        return 1
    while high - low > PAGE_KIB:
        middle = (low + high) // 2 // PAGE_KIB * PAGE_KIB
        if attempt(middle).returncode:
            low = middle
        else:
            high = middle
    runs = []
    at_the_cache = 0
    sweep = int(spec.get("sweep_kib", 0))  # then every so many KiB down to an empty disk
    sweeping = False
    free = high - PAGE_KIB
    while free > 0 and len(runs) < 96:
        failed = attempt(free)
        run: dict[str, Any] = {
            "free_kib": free,
            "code": failed.returncode,
            "stderr": failed.stderr,
            "left": files(home),
        }
        if not sweeping:  # the command run again once there is room (the same, sweeping)
            resize(where, ROOMY_KIB)
            again = loyalty_pos(home, command, stdin)
            run["again"] = {"code": again.returncode, "stderr": again.stderr, "left": files(home)}
        runs.append(run)
        # Past the point where the cache itself cannot be written, smaller disks say the same,
        # unless a sweep is asked for: the cache's own writes meet the full disk down there.
        at_the_cache = at_the_cache + 1 if "terminal.db" in failed.stderr else 0
        if at_the_cache >= 3 and not sweeping:
            if not sweep:
                break
            sweeping = True
            free -= free % sweep
        free -= sweep if sweeping else PAGE_KIB
    print(json.dumps({"smallest": high, "runs": runs}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
