"""Progress of a long step: about twenty lines from the asset, drawn as lines or a bar by the run."""

from __future__ import annotations

import pytest

from egress_platform.app import run
from egress_platform.app.run import StepProgress
from egress_platform.progress import parse_progress, report_progress


def test_a_step_reports_about_twenty_times_whatever_its_size() -> None:
    lines: list[str] = []
    for done in range(1, 505):
        report_progress(lines.append, done, 504, "partitions written")
    assert len(lines) == 21  # every 25th partition, and the last
    assert lines[0] == "progress 25/504 partitions written"
    assert lines[-1] == "progress 504/504 partitions written"
    assert parse_progress(lines[-1]) == (504, 504, "partitions written")
    assert parse_progress("raw_cur: 3 records") is None
    few: list[str] = []
    for done in range(1, 4):
        report_progress(few.append, done, 3, "hours read")
    assert few == [f"progress {i}/3 hours read" for i in (1, 2, 3)]


def test_without_a_terminal_a_long_step_says_where_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(run, "PROGRESS_EVERY_SECONDS", 0.0)
    with StepProgress(said.append, terminal=False) as shown:
        shown.update(126, 504, "partitions written")
    assert len(said) == 1 and said[0].startswith("            126/504 partitions written (")
    monkeypatch.setattr(run, "PROGRESS_EVERY_SECONDS", 3600.0)
    quiet: list[str] = []
    with StepProgress(quiet.append, terminal=False) as shown:
        shown.update(126, 504, "partitions written")
    assert quiet == []  # a short step adds nothing to a log
