"""Every subcommand, given bad input, says what is wrong in one line and exits 2: no traceback."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from egress_platform.app.cli import main


@pytest.fixture()
def bad_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EGRESS_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "lake" / ".dagster"))
    files = {
        "empty.csv": "",
        "nonnum.csv": "timestamp,value\n2026-01-01 00:00:00,abc\n",
        "badts.csv": "timestamp,value\nnot-a-time,1\nx,2\n",
        "one.csv": "timestamp,value\n2026-01-01 00:00:00,1\n",
        "nab/labels/combined_windows.json": "{",
        "nab/data/c/a.csv": "timestamp,value\n",
        "nab-empty/labels/combined_windows.json": "{}",
        "nab-blank/labels/combined_windows.json": "{}",
        "nab-blank/data/c/e.csv": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "nab-empty" / "data" / "c").mkdir(parents=True)
    (tmp_path / "a-folder").mkdir()
    return tmp_path


CASES = [
    ["score", "missing.csv"], ["score", "empty.csv"], ["score", "nonnum.csv"],
    ["score", "badts.csv"], ["score", "one.csv", "--out", "a-folder"],
    ["score", "one.csv", "--out", "no/such/folder.csv"],
    ["simulate", "--out", "s", "--seed", "-1"], ["simulate", "--out", "s", "--start", "9999-12-31"],
    ["simulate", "--out", "s", "--days", "100000000"], ["simulate", "--out", "s", "--enis", "100000"],
    ["simulate", "--out", "s", "--days", "0"], ["simulate", "--out", "s", "--start", "tomorrow"],
    ["parse", "vpc_flow", "one.csv", "--log-format", ""], ["parse", "nosuch", "one.csv"],
    ["parse", "vpc_flow", "missing.log"],
    ["nab-eval", "nab", "--corpus", "c"], ["nab-eval", "nab-empty", "--corpus", "c"],
    ["nab-eval", "nab-blank", "--corpus", "c"], ["nab-eval", "not-a-folder"],
    ["evaluate", "--ip-ranges", "/missing.json", "--seeds", "1"], ["evaluate", "--seeds", ""],
    ["evaluate", "--seeds", "x"], ["evaluate", "--seeds", "1", "--out", "a-folder"],
    ["evaluate", "--landing", "a-folder"], ["evaluate", "--landing", "/nonexistent", "--truth", "one.csv"],
    ["evaluate", "--landing", "a-folder", "--truth", "one.csv"],
    ["evaluate", "--landing", "a-folder", "--truth", "missing.json"],
    ["evaluate", "--cv", "/nonexistent"], ["evaluate", "--cv", "a-folder"],
    ["run", "--landing", "/nonexistent"], ["run", "--landing", "a-folder"],
    ["run", "--landing", "a-folder", "--since", "2026-02-01", "--until", "2026-01-01"],
    ["audit-lineage", "anom-0000000000000000"], ["approve", "act-0000000000000000"],
    ["demo", "--days", "-3"], ["no-such-command"], [],
]  # fmt: skip


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_bad_input_is_one_line_and_exit_2(bad_inputs: Path, args: list[str]) -> None:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(args)
        except SystemExit as stop:  # argparse's own usage errors
            code = stop.code  # type: ignore[assignment]
    message = err.getvalue().strip()
    assert code == 2, (code, message, out.getvalue()[-500:])
    assert "Traceback" not in message + out.getvalue()
    if args:  # no arguments at all prints the help
        assert len(message.splitlines()) == 1 and message.startswith("egress"), message


def test_a_demo_days_setting_that_is_not_a_number_is_one_line(
    bad_inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from egress_platform.settings import reload_settings

    monkeypatch.setenv("EGRESS_DEMO_DAYS", "abc")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["demo"])
    monkeypatch.delenv("EGRESS_DEMO_DAYS")
    reload_settings()
    assert code == 2 and err.getvalue().startswith("egress: error: EGRESS_DEMO_DAYS")
