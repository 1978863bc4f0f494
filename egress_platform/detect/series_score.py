"""``egress score``: the detector core on any single series (``timestamp,value``).

The series is treated like one entity's hourly cost: the same features (lags count steps, not
hours), the same LightGBM median model, retrained on everything before each block of points, and
the same robust residual spread. The surprise z (how many spreads the value sits from the model's
expectation, either direction) becomes a score in [0, 1] by :func:`likelihood`, from the second
block on: the first block's surprise is the history it is judged against.

A value unlike any seen before (none within 2 % of the range seen so far, whether beyond that
range or in an empty stretch inside it) is surprising however noisy the series usually is, the
way a new destination is: :func:`novelty` measures it and :func:`with_novel_values` makes it an
alert. On NAB's realAWSCloudwatch files this rule carries most of the score.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from egress_platform.detect.features import build_features
from egress_platform.detect.model import fit_quantile, to_target

PROBATION_SHARE = 0.15
BLOCKS = 6
MIN_SPREAD = 0.05
SHORT_WINDOW = 6
LONG_WINDOW = 1152  # points of history the surprise is judged against (4 days at 5 min)
MIN_STD = 0.1
EXCURSION = 0.99
DAMPING = 0.5
REFRACTORY = 144  # points after an alert whose scores are damped: one change, one alert
NOVELTY_SHARE = 0.02  # share of the range seen so far within which an earlier value is "alike"
NOVELTY_SCORE = 0.9995  # the alert score of a novel value, rising to NOVELTY_TOP as it is farther
NOVELTY_TOP = 0.9999
FAR_BEYOND = 0.5  # a value this share of the range away from all seen is an alert even when damped
NOVELTY_BLOCK = 512  # values compared at once: bounds the pairwise block, not the result


def read_series(path: str) -> pl.DataFrame:
    """``timestamp,value`` rows, sorted by time; a ValueError that says what is wrong otherwise."""
    try:
        frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)
    except pl.exceptions.NoDataError:
        raise ValueError(
            f"{path} is empty: expected a header timestamp,value and a row per point"
        ) from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    if frame.columns[:2] != ["timestamp", "value"]:
        raise ValueError(
            f"{path}: expected a CSV with columns timestamp,value; got {frame.columns}"
        )
    stamps, values = frame.get_column("timestamp"), frame.get_column("value")
    if stamps.dtype == pl.String:
        try:
            parsed = stamps.str.to_datetime(time_unit="us", strict=False)
        except pl.exceptions.PolarsError:
            raise ValueError(
                f"{path}: timestamp {stamps[0]!r} is not a date-time (e.g. 2026-11-01 00:00:00)"
            ) from None
        bad = stamps.filter(parsed.is_null() & stamps.is_not_null())
        if bad.len():
            raise ValueError(
                f"{path}: timestamp {bad[0]!r} is not a date-time (e.g. 2026-11-01 00:00:00)"
            )
        stamps = parsed
    number = values.cast(pl.Float64, strict=False)
    bad = values.filter(number.is_null() & values.is_not_null())
    if bad.len():
        raise ValueError(f"{path}: value {bad[0]!r} is not a number")
    if stamps.null_count() or number.null_count():
        raise ValueError(f"{path}: a row has no timestamp or no value")
    if not stamps.dtype.is_temporal():
        raise ValueError(f"{path}: the timestamp column holds {stamps.dtype}, not date-times")
    return pl.DataFrame({"timestamp": stamps.cast(pl.Datetime("us")), "value": number}).sort(
        "timestamp"
    )


def score_series(series: pl.DataFrame) -> pl.DataFrame:
    """``timestamp,value,anomaly_score`` for every point (0 through the first block)."""
    n = series.height
    values = series.get_column("value").to_numpy()
    start = max(int(n * PROBATION_SHARE), 50)
    if n - start < 2 * BLOCKS:  # too short to model: a value unlike the ones before still alerts
        scores = with_novel_values(np.zeros(n), values, max(1, n // 10)) if n else np.zeros(0)
        return series.with_columns(pl.Series("anomaly_score", np.round(scores, 6)))
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
    edges = np.linspace(start, n, BLOCKS + 1).astype(int)
    raw = np.zeros(n)
    spread = 0.0
    for lo, hi in itertools.pairwise(int(e) for e in edges):
        model = fit_quantile(features.slice(0, lo), 0.5, rounds=100)
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
    scores[: edges[1]] = 0.0  # the first block only calibrates: it is the surprise's history
    scores = with_novel_values(scores, values, start)
    return series.with_columns(pl.Series("anomaly_score", np.round(scores, 6)))


def novelty(values: np.ndarray, start: int) -> np.ndarray:
    """Per point from ``start``: the distance to the nearest earlier value, as a share of the
    range seen before it (a new high passes the top by that share; 0 before ``start``).

    Works in blocks of NOVELTY_BLOCK values against the sorted history (one merge per block).
    """
    n = len(values)
    gap = np.zeros(n)
    start = max(start, 1)
    if n <= start:
        return gap
    seen_range = np.maximum.accumulate(values) - np.minimum.accumulate(values)
    before = np.maximum(np.r_[0.0, seen_range[:-1]], 1e-9)
    history = np.sort(values[:start])
    for lo in range(start, n, NOVELTY_BLOCK):
        block = values[lo : lo + NOVELTY_BLOCK]
        at = np.searchsorted(history, block)
        below = np.where(at > 0, block - history[np.maximum(at - 1, 0)], np.inf)
        above = np.where(
            at < len(history), history[np.minimum(at, len(history) - 1)] - block, np.inf
        )
        apart = np.abs(block[None, :] - block[:, None])  # [i, j]
        within = np.where(np.tri(len(block), k=-1, dtype=bool), apart, np.inf).min(axis=1)
        gap[lo : lo + NOVELTY_BLOCK] = np.minimum(np.minimum(below, above), within)
        gap[lo : lo + NOVELTY_BLOCK] /= before[lo : lo + NOVELTY_BLOCK]
        history = np.sort(np.concatenate([history, block]), kind="stable")
    return gap


def with_novel_values(scores: np.ndarray, values: np.ndarray, start: int) -> np.ndarray:
    """Scores raised to an alert at the first novel value of each refractory period, and at any
    value far beyond everything seen (a much larger change is a new change); the farther from
    all earlier values, the higher the alert."""
    out = scores.copy()
    gap = novelty(values, start)
    last = -REFRACTORY
    for i in np.flatnonzero(gap > NOVELTY_SHARE):
        if i - last >= REFRACTORY or gap[i] > FAR_BEYOND:
            alert = NOVELTY_SCORE + (NOVELTY_TOP - NOVELTY_SCORE) * min(float(gap[i]), 1.0)
            out[i] = max(out[i], alert)
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
