"""The `egress` command: help, parse output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egress_platform.app.cli import main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("simulate", "parse", "demo"):
        assert command in out


def test_parse_json_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "flows.log"
    log.write_text(
        "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 1418530010 1418530070 ACCEPT OK\nnot a record\n"
    )
    assert main(["parse", "vpc_flow", str(log), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["path"] == str(log)
    assert (report[0]["records"], report[0]["quarantined"]) == (1, 1)
    assert report[0]["variant"].startswith("headerless v2 default")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["parse", "nope", "x"], "invalid choice"),
        (["parse", "vpc_flow", "/does/not/exist.log"], "cannot read /does/not/exist.log"),
        (["simulate", "--out", "x", "--days", "0"], "must be at least 1"),
        (["simulate", "--out", "x", "--start", "yesterday"], "use YYYY-MM-DD"),
        (
            ["parse", "vpc_flow", "x", "--log-format", "${version} ${bogus}"],
            "unknown flow-log field",
        ),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_simulate_command_writes_landing_and_ground_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "simulate",
                "--out",
                str(tmp_path),
                "--start",
                "2026-11-01",
                "--days",
                "1",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert (tmp_path / "ground_truth.json").exists()
    assert "vpc_flow" in capsys.readouterr().out
