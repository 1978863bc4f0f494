"""NAB scoring arithmetic on a hand-checked case, and the generic series scorer's contract."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from egress_platform.app.cli import main
from egress_platform.detect import core, nab


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


def test_a_value_unlike_any_seen_before_is_novel_by_its_share_of_the_range() -> None:
    # Distance to the nearest earlier value over the range seen before: 10.1 is 0.1 from 10
    # (range 10); 5 is 5 from 0 and 10 (range 10.1); 5.1 is 0.1 from 5; 11 is 0.9 above 10.1;
    # 2.7 is 2.3 from 5 (range 11); 2.8 is 0.1 from 2.7; 18 is 7 above 11 (range 11).
    values = np.array([0, 10, 10.1, 5, 5.1, 11, 2.7, 2.8, 18])
    expected = [0, 0, 0.01, 5 / 10.1, 0.1 / 10.1, 0.9 / 10.1, 2.3 / 11, 0.1 / 11, 7 / 11]
    np.testing.assert_allclose(core.novelty(values, start=2), expected)
    # Points before ``start`` are not judged, but they are history.
    np.testing.assert_allclose(core.novelty(values, start=4), [0] * 4 + expected[4:])


def test_novelty_in_blocks_matches_a_point_by_point_scan() -> None:
    rng = np.random.default_rng(3)
    values = np.r_[rng.gamma(2.0, 1.0, 3500), rng.gamma(2.0, 3.0, 1500)]  # no exact ties
    expected = []
    for i in range(len(values)):
        past = values[:i]
        reach = 0.02 * max(float(np.ptp(past)) if i else 0.0, 1e-9)
        expected.append(i >= 100 and not np.any(np.abs(past - values[i]) <= reach))
    found = core.novelty(values, start=100) > 0.02
    assert found.tolist() == expected
    assert 5 < found.sum() < 100  # the check is not vacuous: some values are novel, most not


def test_one_change_one_alert_but_a_stronger_second_change_still_alerts() -> None:
    settings = core.DEFAULT_SETTINGS.with_(refractory=3)
    found = np.array([0.0, 1.5, 1.2, 0.5, 1.6, 1.1, 0.2, 0.2, 1.3, 1.0])
    # 1.5 alerts; 1.2 two points later is the same change (weaker): held below the line; 1.6 is
    # stronger: a new alert that starts its own period, so 1.1 is held; 1.3 comes 4 points
    # after 1.6 (past the period): it alerts, and 1.0 right after it is held.
    np.testing.assert_allclose(
        core.settle(found, settings), [0.0, 1.5, 0.999, 0.5, 1.6, 0.999, 0.2, 0.2, 1.3, 0.999]
    )


def test_scores_start_at_the_first_points_graded_by_history() -> None:
    calm = np.r_[np.full(20, 10.0), [100.0], np.full(20, 10.0)]
    found = core.strength(calm)
    # A constant series surprises nobody: at most an even-odds tail (0.301 digits of 2.5), faded
    # in over the warm-up.
    assert found[:20].max() == pytest.approx(np.log10(2) / 2.5 * 19 / 50)
    # Point 20 is far beyond everything seen (novelty capped at 12), counted at 20/50 of its
    # strength for the short history behind it: 4.8, an alert in the 21st row.
    assert found[20] == pytest.approx(core.MAX_STRENGTH * 20 / 50)
    assert found[21:].max() < 1.0  # back to 10: seen before, and the same change
    # Without a warm-up (the product's hourly view) the first point counts in full: a series
    # whose first hour is judged can alert at once.
    hourly = core.DEFAULT_SETTINGS.with_(novelty_share=float("inf"), warmup=0, refractory=0)
    forecast = (np.array([1.0, 1.0]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(core.strength(np.array([4.0, 1.5]), hourly, forecast), [3.0, 0.5])
    # Forecast view: 1 at the bound, 0 at the expectation, and nothing below it.
    np.testing.assert_allclose(
        core.forecast_surprise(np.array([5.0, 9.0, 13.0, 1.0]), np.full(4, 5.0), np.full(4, 9.0)),
        [0.0, 1.0, 2.0, 0.0],
    )


@pytest.mark.parametrize(
    "values",
    [
        [],
        [7.0],
        [7.0, 7.0],
        [1e15, 1e15, 3e15, 1e15],
        [1.0, float("nan"), 1.0, 50.0],
        [float("nan")] * 3,
        list(np.linspace(0, 1, 60)),
    ],
    ids=["empty", "one", "constant-two", "huge", "nan-gap", "all-nan", "ramp-60"],
)
def test_the_core_scores_any_length_and_odd_values(values: list[float]) -> None:
    scores = core.score(np.array(values))
    assert len(scores) == len(values)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores < 1))
    nan = np.isnan(np.array(values, dtype=float))
    assert np.all(scores[nan] == 0.0)  # a gap scores 0


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_score_command_on_short_unsorted_and_gappy_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _csv(tmp_path / "one.csv", "timestamp,value\n2026-01-01 00:00:00,3\n")
    assert main(["score", str(one)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["2026-01-01T00:00:00.000000,3.0,0.0"]
    unsorted = _csv(
        tmp_path / "unsorted.csv",
        "timestamp,value\n2026-01-01 02:00:00,5\n2026-01-01 00:00:00,3\n2026-01-01 01:00:00,\n",
    )
    assert main(["score", str(unsorted)]) == 0
    captured = capsys.readouterr()
    assert [r.split(",")[:2] for r in captured.out.splitlines()[1:]] == [
        ["2026-01-01T00:00:00.000000", "3.0"],
        ["2026-01-01T01:00:00.000000", ""],
        ["2026-01-01T02:00:00.000000", "5.0"],
    ]
    assert "sorted by timestamp" in captured.err and "1 rows have no value" in captured.err
    for name, text in {"empty": "", "header": "timestamp,value\n"}.items():
        assert main(["score", str(_csv(tmp_path / f"{name}.csv", text))]) == 2
        assert "Traceback" not in capsys.readouterr().err


def test_leave_one_corpus_out_chooses_on_the_other_corpora_by_hand() -> None:
    items = [nab.LabelledFile(f"{c}/f.csv", np.zeros(10), [(5, 6)]) for c in ("c1", "c2")]
    # Raw score of each file (rows c1, c2) at two thresholds (columns), for two settings.
    tables = {"a": np.array([[0.5, 1.0], [1.0, -1.0]]), "b": np.array([[0.9, 0.0], [0.2, 0.8]])}
    weights = nab.PROFILES["standard"]
    folds, total = nab.leave_one_corpus_out(
        tables, items, ["c1", "c2"], weights, np.array([0.6, 0.7])
    )
    # c1 held out: on c2 the best is a at 0.6 (1.0), which gives c1 0.5; c2 held out: on c1 the
    # best is a at 0.7 (1.0), which gives c2 -1.0, though b at 0.7 would have given it 0.8.
    assert [(f.corpus, f.setting, f.threshold, f.raw) for f in folds] == [
        ("c1", "a", 0.6, 0.5),
        ("c2", "a", 0.7, -1.0),
    ]
    assert [f.normalised for f in folds] == [75.0, 0.0]  # (raw + 1) / 2 per one-window corpus
    assert total == pytest.approx(100 * (-0.5 + 2) / 4)  # null -2, perfect 2 over both


def test_nab_eval_on_the_samples_prints_the_held_out_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.conftest import samples_dir

    out = tmp_path / "nab.json"
    assert main(["nab-eval", str(samples_dir() / "nab"), "--cv", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "egress (held-out, CV)" in printed and "ARTime" in printed
    report = json.loads(out.read_text())
    assert report["corpora"] == [
        "artificialNoAnomaly", "artificialWithAnomaly", "realAWSCloudwatch", "realTweets",
    ]  # fmt: skip
    held = report["table"]["egress (held-out, CV)"]["standard"]
    # The figures in docs/ARCHITECTURE.md (held-out total 69.2, in-sample 71.5).
    assert held["total"] == pytest.approx(69.2, abs=0.05)
    assert report["table"]["egress (in-sample)"]["standard"]["total"] == pytest.approx(
        71.5, abs=0.05
    )
    assert {f["corpus"] for f in report["cv"]["standard"]} == set(report["corpora"])
