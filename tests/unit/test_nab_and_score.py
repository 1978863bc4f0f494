"""NAB scoring arithmetic on a hand-checked case, and the generic series scorer's contract."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from egress_platform.app.cli import main
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


def test_a_value_unlike_any_seen_before_is_an_alert_once() -> None:
    from egress_platform.detect.series_score import (
        NOVELTY_SCORE,
        NOVELTY_TOP,
        novelty,
        with_novel_values,
    )

    # Distance to the nearest earlier value over the range seen before: 10.1 is 0.1 from 10
    # (range 10); 5 is 5 from 0 and 10 (range 10.1); 5.1 is 0.1 from 5; 11 is 0.9 above 10.1;
    # 2.7 is 2.3 from 5 (range 11); 2.8 is 0.1 from 2.7; 18 is 7 above 11 (range 11).
    values = np.array([0, 10, 10.1, 5, 5.1, 11, 2.7, 2.8, 18])
    expected = [0, 0, 0.01, 5 / 10.1, 0.1 / 10.1, 0.9 / 10.1, 2.3 / 11, 0.1 / 11, 7 / 11]
    np.testing.assert_allclose(novelty(values, start=2), expected)
    # Points before ``start`` are not judged, but they are history.
    np.testing.assert_allclose(novelty(values, start=4), [0] * 4 + expected[4:])
    scores = with_novel_values(np.zeros(len(values)), values, start=2)
    # One alert per refractory period (5, while 11 and 2.7 stay as they were), except a value far
    # beyond everything seen: 18 passes the top by 64 % of the range. Farther is higher.
    alert = [NOVELTY_SCORE + (NOVELTY_TOP - NOVELTY_SCORE) * g for g in (5 / 10.1, 7 / 11)]
    np.testing.assert_allclose(scores, [0, 0, 0, alert[0], 0, 0, 0, 0, alert[1]])


def test_novelty_in_blocks_matches_a_point_by_point_scan() -> None:
    from egress_platform.detect import series_score

    rng = np.random.default_rng(3)
    values = np.r_[rng.gamma(2.0, 1.0, 1500), rng.gamma(2.0, 3.0, 700)]  # no exact ties
    expected = []
    for i in range(len(values)):
        past = values[:i]
        reach = 0.02 * max(float(np.ptp(past)) if i else 0.0, 1e-9)
        expected.append(i >= 100 and not np.any(np.abs(past - values[i]) <= reach))
    found = series_score.novelty(values, start=100) > 0.02
    assert found.tolist() == expected
    assert 5 < found.sum() < 100  # the check is not vacuous: some values are novel, most not
