"""The nightly job's steps on a real cache: a step that fails for a fault of the program's own
(an exception no step expects) is reported, and the steps after it still run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty_pos import checkout as svc
from loyalty_pos import nightly
from loyalty_pos.bootstrap import make_demo_home


def _broken(*_: object, **__: object) -> None:
    raise KeyError("total_minor")


@pytest.mark.parametrize("broken", ["verify", "report"])
def test_a_step_that_fails_unexpectedly_is_an_internal_error_and_the_night_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    broken: str,
) -> None:
    """QA: only the store's own errors were caught; any other exception ended the run in a
    traceback, with no backup and no report."""
    home = tmp_path / "till"
    t = make_demo_home(home)
    svc.checkout(t, "LC00100037", svc.resolve_items(t, [("MILK", 2)]))
    t.store.close()
    if broken == "verify":
        monkeypatch.setattr(nightly.svc, "verify", _broken)
    else:
        monkeypatch.setattr(nightly, "end_of_day_report", _broken)

    code = nightly.main(["--home", str(home), "--json", "--date", "2026-01-01"])

    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert not result["ok"]
    [failure] = result["failures"]
    assert failure.startswith(f"{broken}: internal error (KeyError: 'total_minor')")
    assert "Traceback" not in failure
    # The steps after the broken one ran: a backup was taken, and the report was written
    # unless it was the one broken.
    assert Path(result["backup"]).exists()  # a verify that did not finish: kept as unverified
    if broken == "verify":
        assert Path(result["report"]["json"]).exists()
    else:
        assert result["verify"]["ok"]
        assert not (home / "reports" / "2026-01-01.json").exists()
