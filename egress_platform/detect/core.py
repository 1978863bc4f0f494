"""The detector core: how surprising each point of a series is, from the first point on.

``egress score`` (any ``timestamp,value`` series) and ``egress_anomalies`` (each entity x
destination class's hourly cost) both judge points here. A point's *strength* is the largest of
what the core can see, each scaled so that 1 is "alert":

- **novelty**: the distance to the nearest earlier value, as a share of the range seen so far
  (a new high, a new low, or a value in an empty stretch inside the range), over
  ``novelty_share``. A new destination or a bucket suddenly downloaded is this.
- **surprise**: with a forecast (the product's LightGBM expectation and upper bound), how far the
  value passes the bound; without one, how unusual the recent distance from the trailing robust
  level is against this series' own usual distance (the anomaly likelihood), in decimal digits
  of tail probability over ``likelihood_digits``. A spiky series raises its own bar; a calm one
  that misbehaves scores high at once.

One change, one alert: after an alert, the next ``refractory`` points stay below alert unless
they are stronger than it (a second, larger change still alerts; there is no fixed quiet period
that hides it). Early points are judged too, with a strength that grows with the history behind
them over ``warmup`` points, so a first alert needs a clear change.

Every setting is chosen by leave-one-corpus-out cross-validation on NAB (``egress nab-eval
--corpus all --cv``), never on the files it is scored on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

NOVELTY_BLOCK = 2048  # values judged against the sorted history at once (one merge each)
NOVELTY_SUB_BLOCK = 128  # values compared pairwise at once: bounds the work, not the result
MAX_DIGITS = 12.0  # tail probabilities below 1e-12 are all "certain"
MAX_STRENGTH = 12.0  # beyond this every point is as certain as the next (score 0.999994)


@dataclass(frozen=True)
class CoreSettings:
    novelty_share: float = 0.02  # share of the range within which an earlier value is "alike"
    likelihood_digits: float = 2.5  # tail digits (1e-2.5) of the surprise that make an alert
    level_window: int = 288  # trailing points of the robust level and spread (a day at 5 min)
    recent: int = 6  # points averaged into "recent surprise"
    memory: int = 2000  # points of surprise history the recent surprise is judged against
    min_std: float = 0.1  # least spread of that history (log units)
    floor_share: float = 0.01  # least spread of the level, as a share of the range seen
    excursion: float = 0.99  # a likelihood this high is an excursion: only its first point counts
    refractory: int = 50  # points after an alert that must be stronger than it to alert again
    warmup: int = 50  # points of history before a point's strength counts in full

    def with_(self, **changes: float | int) -> CoreSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_SETTINGS = CoreSettings()


def novelty(values: np.ndarray, start: int = 1) -> np.ndarray:
    """Per point from ``start``: the distance to the nearest earlier value, as a share of the
    range seen before it (a new high passes the top by that share; 0 before ``start``).

    Works in blocks of NOVELTY_BLOCK values against the sorted history (one merge per block);
    inside a block, in sub-blocks of NOVELTY_SUB_BLOCK compared pairwise.
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
        nearest = np.minimum(_distance_to_sorted(history, block), _nearest_earlier(block))
        gap[lo : lo + NOVELTY_BLOCK] = nearest / before[lo : lo + NOVELTY_BLOCK]
        history = np.sort(np.concatenate([history, block]), kind="stable")  # a merge of 2 runs
    return gap


def _distance_to_sorted(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Distance from each value to the nearest element of a sorted array (inf if empty)."""
    if not len(ordered):
        return np.full(len(values), np.inf)
    at = np.searchsorted(ordered, values)
    below = np.where(at > 0, values - ordered[np.maximum(at - 1, 0)], np.inf)
    above = np.where(at < len(ordered), ordered[np.minimum(at, len(ordered) - 1)] - values, np.inf)
    return np.minimum(below, above)


def _nearest_earlier(block: np.ndarray) -> np.ndarray:
    """Distance from each value to the nearest one before it in the same block."""
    out = np.full(len(block), np.inf)
    seen = np.zeros(0)
    for lo in range(0, len(block), NOVELTY_SUB_BLOCK):
        part = block[lo : lo + NOVELTY_SUB_BLOCK]
        apart = np.abs(part[None, :] - part[:, None])  # [i, j]
        within = np.where(np.tri(len(part), k=-1, dtype=bool), apart, np.inf).min(axis=1)
        out[lo : lo + NOVELTY_SUB_BLOCK] = np.minimum(_distance_to_sorted(seen, part), within)
        seen = np.sort(np.concatenate([seen, part]))
    return out


def level_distance(values: np.ndarray, settings: CoreSettings) -> np.ndarray:
    """How many robust spreads each value sits from the trailing median (0 for the first)."""
    history = pl.Series(values).shift(1)
    window = settings.level_window
    median = history.rolling_median(window, min_samples=1).to_numpy()
    q75 = history.rolling_quantile(0.75, window_size=window, min_samples=1).to_numpy()
    q25 = history.rolling_quantile(0.25, window_size=window, min_samples=1).to_numpy()
    seen = np.maximum.accumulate(values) - np.minimum.accumulate(values)
    floor = settings.floor_share * np.r_[0.0, seen[:-1]] + 1e-9
    spread = np.maximum(np.nan_to_num((q75 - q25) / 1.349), floor)
    distance = np.abs(values - np.nan_to_num(median, nan=float(values[0]))) / spread
    distance[0] = 0.0
    return distance


def tail_digits(z: np.ndarray) -> np.ndarray:
    """-log10 of the upper normal tail beyond ``z`` (0.3 at z=0, 2.5 near z=2.8), capped."""
    tail = np.array([0.5 * math.erfc(x / math.sqrt(2.0)) for x in z.tolist()])
    return np.minimum(-np.log10(np.maximum(tail, 10.0**-MAX_DIGITS)), MAX_DIGITS)


def likelihood_digits(distance: np.ndarray, settings: CoreSettings) -> np.ndarray:
    """Tail digits of the recent surprise against this series' own surprise history; only the
    first point of an excursion keeps them (later points of the same excursion are halved)."""
    surprise = pl.Series(np.log1p(distance))
    recent = surprise.rolling_mean(settings.recent, min_samples=1).to_numpy()
    history = surprise.shift(settings.recent)
    mean = history.rolling_mean(settings.memory, min_samples=1).fill_null(0.0).to_numpy()
    std = history.rolling_std(settings.memory, min_samples=2).fill_null(1.0).to_numpy()
    std = np.maximum(np.nan_to_num(std, nan=1.0), settings.min_std)
    digits = tail_digits((recent - mean) / std)
    excursion = digits >= -math.log10(1.0 - settings.excursion)
    inside = excursion & np.r_[False, excursion[:-1]]
    return np.where(inside, -np.log10(1.0 - 0.5 * (1.0 - 10.0**-digits)), digits)


def forecast_surprise(actual: np.ndarray, expected: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """How far each value passes its forecast bound: 1 at the bound, 0 at the expectation."""
    room = np.maximum(bound - expected, 1e-12)
    return np.maximum(actual - expected, 0.0) / room


def settle(strength: np.ndarray, settings: CoreSettings) -> np.ndarray:
    """One change, one alert: within ``refractory`` points of an alert, a point alerts only when
    it is stronger than that alert (and then starts its own period)."""
    out = strength.copy()
    until, level = -1, 0.0
    for i in np.flatnonzero(strength >= 1.0).tolist():
        if i <= until and strength[i] <= level:
            out[i] = min(strength[i], 0.999)
            continue
        until, level = i + settings.refractory, float(strength[i])
    return out


def strength(
    values: np.ndarray,
    settings: CoreSettings = DEFAULT_SETTINGS,
    forecast: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per point, how surprising it is (1 = alert), from the first point on.

    ``forecast`` is (expected, bound) per point when a model predicts the series; without it the
    core judges the value against its own trailing level. Missing values (NaN) score 0 and do not
    become history.
    """
    raw = np.asarray(values, dtype=np.float64)
    n = len(raw)
    if n == 0:
        return np.zeros(0)
    present = np.isfinite(raw)
    if not present.any():
        return np.zeros(n)
    kept = raw[present]
    views = [np.zeros(len(kept))]
    if math.isfinite(settings.novelty_share):  # the product's hourly view has it off
        views.append(novelty(kept) / settings.novelty_share)
    if forecast is None:
        digits = likelihood_digits(level_distance(kept, settings), settings)
        views.append(digits / settings.likelihood_digits)
    else:
        expected, bound = (np.asarray(f, dtype=np.float64)[present] for f in forecast)
        views.append(forecast_surprise(kept, expected, bound))
    found = np.minimum(np.maximum.reduce(views), MAX_STRENGTH)
    if settings.warmup > 0:  # no warm-up: every point counts in full, the first one too
        found *= np.minimum(1.0, np.arange(len(kept)) / settings.warmup)
    out = np.zeros(n)
    out[present] = settle(found, settings) if settings.refractory > 0 else found
    return out


def to_score(found: np.ndarray) -> np.ndarray:
    """Strength as a score in [0, 1): 1 - e^-strength (0.632 at the alert line)."""
    return 1.0 - np.exp(-np.maximum(found, 0.0))


ALERT_SCORE = float(to_score(np.array([1.0]))[0])


def score(values: np.ndarray, settings: CoreSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Anomaly score in [0, 1) per point of a univariate series (no forecast)."""
    return to_score(strength(values, settings))
