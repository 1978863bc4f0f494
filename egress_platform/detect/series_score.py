"""``egress score``: the detector core (:mod:`egress_platform.detect.core`) on any single series.

The CSV is ``timestamp,value``. Rows are judged in time order (an unsorted file is sorted, and
says so); a row without a value is a gap: it scores 0 and is not history. Every point is scored,
from the first on: a series too short to model is judged by novelty and by its distance from
the level seen so far.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from egress_platform.detect import core


def read_series(path: str) -> tuple[pl.DataFrame, list[str]]:
    """``timestamp,value`` rows, sorted by time, and notes on what was mended (rows out of
    order, gaps); a ValueError that says what is wrong otherwise."""
    try:
        # Every column as text, parsed here: schema inference with date parsing over the
        # whole file costs 14 s per million rows, the parse below 0.5 s.
        frame = pl.read_csv(path, infer_schema_length=0)
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
    if frame.height == 0:
        raise ValueError(f"{path} has a header but no rows: nothing to score")
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
    if stamps.null_count():
        raise ValueError(f"{path}: a row has no timestamp")
    if not stamps.dtype.is_temporal():
        raise ValueError(f"{path}: the timestamp column holds {stamps.dtype}, not date-times")
    notes = []
    if number.null_count():
        notes.append(f"{number.null_count():,} rows have no value: scored 0, not history")
    series = pl.DataFrame({"timestamp": stamps.cast(pl.Datetime("us")), "value": number})
    if not series.get_column("timestamp").is_sorted():
        notes.append("rows were not in time order: sorted by timestamp")
        series = series.sort("timestamp", maintain_order=True)
    return series, notes


def score_series(
    series: pl.DataFrame, settings: core.CoreSettings = core.DEFAULT_SETTINGS
) -> pl.DataFrame:
    """``timestamp,value,anomaly_score`` for every point (``core.ALERT_SCORE`` is the alert
    line; NAB chooses its own threshold per profile)."""
    values = series.get_column("value").fill_null(float("nan")).to_numpy()
    scores = core.score(values, settings)
    return series.with_columns(pl.Series("anomaly_score", np.round(scores, 6)))
