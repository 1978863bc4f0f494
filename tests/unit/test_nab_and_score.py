"""NAB scoring arithmetic on a hand-checked case, and the generic series scorer's contract."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from egress_platform.cli import main
from egress_platform.detect import nab


def case() -> nab.LabelledFile:
    scores = np.zeros(100)
    for i in (10, 20, 40, 45, 60):  # probation, lone FP, window start, same window, FP after
        scores[i] = 0.9
    return nab.LabelledFile("f.csv", scores, [(40, 49)])


def test_nab_score_by_hand() -> None:
    weights = nab.PROFILES["standard"]
    assert nab.probation(100) == 15
    fp_after = 2 / (1 + math.exp(5 * 11 / 9)) - 1  # 11 points past a 10-point window
    expected = 1.0 + 0.11 * fp_after - 0.11  # TP at the window start, two FPs, 10 in probation
    assert nab.score_file(case(), 0.5, weights) == pytest.approx(expected)
    assert expected == pytest.approx(0.780486, abs=1e-6)
    assert nab.normalised(expected, [case()], weights) == pytest.approx(100 * (expected + 1) / 2)
    # No detection at all is the null detector: the window is missed.
    assert nab.score_file(case(), 0.95, weights) == -1.0
    low_fn = nab.PROFILES["reward_low_FN_rate"]
    assert nab.null_and_perfect([case()], low_fn) == (-2.0, 1.0)


def test_late_detection_scores_less_and_best_threshold_is_global() -> None:
    late = nab.LabelledFile("g.csv", np.where(np.arange(100) == 48, 0.8, 0.0), [(40, 49)])
    early = nab.score_file(case(), 0.5, nab.PROFILES["standard"])
    assert 0 < nab.score_file(late, 0.5, nab.PROFILES["standard"]) < early
    threshold, value = nab.best_threshold([case(), late], nab.PROFILES["standard"])
    assert threshold <= 0.8 and value > 0


def test_score_command_writes_scores_in_unit_interval(tmp_path: Path) -> None:
    hours = pl.datetime_range(
        pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 15), "1h", eager=True
    ).alias("timestamp")
    rng = np.random.default_rng(3)
    values = (
        100 + 20 * np.sin(np.arange(hours.len()) / 24 * 2 * np.pi) + rng.normal(0, 2, hours.len())
    )
    values[300] = 400  # one spike
    source = tmp_path / "series.csv"
    pl.DataFrame({"timestamp": hours, "value": values}).write_csv(source)
    out = tmp_path / "scored.csv"
    assert main(["score", str(source), "--out", str(out)]) == 0
    scored = pl.read_csv(out)
    assert scored.columns == ["timestamp", "value", "anomaly_score"]
    assert scored["anomaly_score"].min() >= 0 and scored["anomaly_score"].max() < 1  # type: ignore[operator]
    assert (
        300 <= (scored["anomaly_score"].arg_max() or 0) <= 305
    )  # the spike, within a short window


def test_score_rejects_a_file_without_the_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,v\n2026-01-01 00:00:00,1\n")
    assert main(["score", str(bad)]) == 2


def test_a_value_beyond_the_range_seen_so_far_is_an_alert_once() -> None:
    from egress_platform.detect.series_score import EXTREME_SCORE, new_extremes, with_new_extremes

    # 10.5 passes the top (10) by 5 % of the range 0..10: not enough; 12 passes 10.5 by 14 % of
    # 0..10.5: an extreme; 12.5 passes 12 by 4 %; -2 passes the bottom by 16 % of 0..12.5.
    values = np.array([0, 10, 5, 10.5, 12, 12.5, 5, -2.0])
    assert new_extremes(values, start=2).tolist() == [
        False, False, False, False, True, False, False, True,
    ]  # fmt: skip
    # Points before ``start`` are never alerts.
    assert new_extremes(values, start=5).tolist() == [False] * 7 + [True]
    scores = with_new_extremes(np.zeros(len(values)), values, start=2)
    # One alert per refractory period: -2 comes 3 points after 12 and stays as it was.
    assert scores.tolist() == [0, 0, 0, 0, EXTREME_SCORE, 0, 0, 0]
