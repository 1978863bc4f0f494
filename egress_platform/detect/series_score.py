"""``egress score``: the detector core on any single series (``timestamp,value``).

The series is treated like one entity's hourly cost: the same features (lags count steps, not
hours), the same LightGBM median model, retrained on everything before each block of points, and
the same robust residual spread. The surprise z (how many spreads the value sits from the model's
expectation, either direction) becomes a score in [0, 1] by :func:`likelihood`. A value beyond
the whole range seen so far (by a tenth of that range) is surprising however noisy the series
usually is, the way a new top talker is: :func:`new_extremes` scores it as an alert too.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from egress_platform.detect.features import build_features
from egress_platform.detect.model import _fit, to_target

PROBATION_SHARE = 0.15
BLOCKS = 6
SCORE_HALF = 8.0  # z at which the score is 0.5
MIN_SPREAD = 0.05
SHORT_WINDOW = 6
LONG_WINDOW = 1152  # points of history the surprise is judged against (4 days at 5 min)
MIN_STD = 0.1
EXCURSION = 0.99
DAMPING = 0.5
REFRACTORY = 144  # points after an alert whose scores are damped: one change, one alert
EXTREME_MARGIN = 0.1  # share of the range seen so far a value must pass it by
EXTREME_SCORE = 0.9995


def read_series(path: str) -> pl.DataFrame:
    frame = pl.read_csv(path, try_parse_dates=True)
    if frame.columns[:2] != ["timestamp", "value"]:
        raise ValueError(
            f"{path}: expected a CSV with columns timestamp,value; got {frame.columns}"
        )
    return frame.select(
        pl.col("timestamp").cast(pl.Datetime("us")), pl.col("value").cast(pl.Float64)
    ).sort("timestamp")


def score_series(series: pl.DataFrame) -> pl.DataFrame:
    """``timestamp,value,anomaly_score`` for every point (0 through the first block)."""
    n = series.height
    values = series.get_column("value").to_numpy()
    scale = float(np.median(np.abs(values[: max(1, int(n * PROBATION_SHARE))]))) or 1.0
    frame = series.with_columns(
        (pl.col("value") / scale).clip(lower_bound=0).alias("usd"),
        pl.col("timestamp").dt.replace_time_zone("UTC").alias("hour"),
        pl.lit("series").alias("account_id"),
        pl.lit("series").alias("entity"),
        pl.lit("eni").alias("entity_type"),
        pl.lit("internet").alias("dest_class"),
        pl.lit(0.0).alias("new_destination_share"),
        pl.lit(1.0).alias("gb"),
    )
    features = build_features(frame).with_columns(pl.col("hour").dt.replace_time_zone(None))
    y = to_target(features.get_column("usd").to_numpy())
    scores = np.zeros(n)
    start = max(int(n * PROBATION_SHARE), 50)
    edges = np.linspace(start, n, BLOCKS + 1).astype(int)
    raw = np.zeros(n)
    spread = 0.0
    for lo, hi in itertools.pairwise(int(e) for e in edges):
        model = _fit(features.slice(0, lo), 0.5, rounds=100)
        block = features.slice(lo, hi - lo)
        predicted = model.predict(block.select(model.feature_name()).to_numpy().astype(np.float64))
        residual = y[lo:hi] - predicted
        if spread == 0.0:  # the first block's own out-of-sample spread sets the scale
            spread = float(np.median(np.abs(residual - np.median(residual)))) * 1.4826
        # A flat series has no spread; a 5 % move (0.05 in log units) is the least that counts.
        spread = max(spread, MIN_SPREAD)
        z = np.abs(residual) / spread
        raw[lo:hi] = z
        # Later blocks are judged against the spread seen so far (out of sample, robust).
        spread = max(spread, float(np.median(np.abs(residual - np.median(residual)))) * 1.4826)
    scores[start:] = likelihood(raw[start:])
    scores = with_new_extremes(scores, values, start)
    return series.with_columns(pl.Series("anomaly_score", np.round(scores, 6)))


def new_extremes(values: np.ndarray, start: int, margin: float = EXTREME_MARGIN) -> np.ndarray:
    """True where a value passes the highest (or lowest) value seen before it by ``margin`` of
    the range seen so far; never before ``start``."""
    high = np.r_[np.nan, np.maximum.accumulate(values)[:-1]]
    low = np.r_[np.nan, np.minimum.accumulate(values)[:-1]]
    spread = np.maximum(high - low, 1e-9)
    beyond = np.nan_to_num(np.maximum((values - high) / spread, (low - values) / spread))
    found = beyond > margin
    found[:start] = False
    return found


def with_new_extremes(scores: np.ndarray, values: np.ndarray, start: int) -> np.ndarray:
    """Scores raised to an alert at the first new extreme of each refractory period."""
    out = scores.copy()
    last = -REFRACTORY
    for i in np.flatnonzero(new_extremes(values, start)):
        if i - last >= REFRACTORY:
            out[i] = max(out[i], EXTREME_SCORE)
            last = int(i)
    return out


def likelihood(z: np.ndarray, short: int = SHORT_WINDOW, long: int = LONG_WINDOW) -> np.ndarray:
    """How unusual the recent surprise is against this series' usual surprise (0..1).

    A series that is always a little surprising (spiky, discrete) raises its own bar; a calm
    series that suddenly misbehaves scores high at once. Only the first point of an excursion
    keeps the full score, later points of the same excursion are damped, so one change gives
    one alert.
    """
    from math import erfc, sqrt

    series = pl.Series(np.log1p(z))
    recent = series.rolling_mean(short, min_samples=1).to_numpy()
    history = series.shift(short)
    mean = history.rolling_mean(long, min_samples=short).fill_null(strategy="forward").to_numpy()
    std = history.rolling_std(long, min_samples=short).fill_null(strategy="forward").to_numpy()
    mean = np.nan_to_num(mean, nan=float(np.nanmedian(series.to_numpy())))
    std = np.maximum(np.nan_to_num(std, nan=1.0), MIN_STD)
    tail = np.array([0.5 * erfc(x / sqrt(2)) for x in (recent - mean) / std])
    score = 1.0 - tail
    damped = score.copy()
    quiet_until = -1
    for i in range(len(score)):
        if i <= quiet_until:
            damped[i] = score[i] * DAMPING
        elif score[i] >= EXCURSION:
            quiet_until = i + REFRACTORY
    return np.clip(damped, 0.0, 1.0)
