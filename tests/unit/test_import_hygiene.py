"""The domain imports nothing but the standard library (checked in a clean interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_domain_imports_only_the_standard_library() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import importlib, pkgutil, loyalty_pos.domain as d\n"
        "for m in pkgutil.iter_modules(d.__path__): importlib.import_module(f'{d.__name__}.{m.name}')\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    stdlib = sys.stdlib_module_names
    foreign = [
        m
        for m in loaded
        if m.split(".")[0] not in stdlib
        and not m.startswith("loyalty_pos.domain")
        and m != "loyalty_pos"
    ]
    assert foreign == []
    assert {"loyalty_pos.domain.quote", "loyalty_pos.domain.csvrows"} <= set(loaded)
