"""The local detection pipeline over a window of priced flows: daily retraining, hourly judging.

Used by ``egress evaluate`` and mirrored by the assets (``egress_model`` retrains daily on a
trailing window; ``egress_anomalies`` judges each hour with the latest model and carries open
events from the hour before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from egress_platform.detect.anomalies import (
    ANOMALY_SCHEMA,
    DEFAULT_CONFIG,
    DetectorConfig,
    OpenEvent,
    detect,
)
from egress_platform.detect.features import build_features, series_frame
from egress_platform.detect.model import EgressModel, train

TRAINING_DAYS = 14
WARMUP_DAYS = 3


@dataclass
class DetectionRun:
    anomalies: pl.DataFrame  # latest state of every event
    features: pl.DataFrame
    models: int


def score(model: EgressModel, features: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([features, model.predict(features)], how="horizontal")


def run_detection(
    flows: pl.DataFrame,
    planned: dict[str, str] | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
    warmup_days: int = WARMUP_DAYS,
) -> DetectionRun:
    """Train each day on the days before it, then judge that day hour by hour."""
    features = build_features(series_frame(flows))
    if features.height == 0:
        return DetectionRun(pl.DataFrame(schema=ANOMALY_SCHEMA), features, 0)
    first: datetime = features.get_column("hour").min()  # type: ignore[assignment]
    last: datetime = features.get_column("hour").max()  # type: ignore[assignment]
    day = first.replace(hour=0) + timedelta(days=warmup_days)
    open_events: list[OpenEvent] = []
    latest: dict[str, dict[str, object]] = {}
    models = 0
    while day <= last:
        window = features.filter(
            (pl.col("hour") < day) & (pl.col("hour") >= day - timedelta(days=TRAINING_DAYS))
        )
        model = train(window)
        models += 1
        # The day before rides along: the baseline of an event is the 24 hours before onset.
        today = features.filter(
            (pl.col("hour") >= day - timedelta(days=1)) & (pl.col("hour") < day + timedelta(days=1))
        )
        found, open_events = detect(score(model, today), day, config, open_events, planned)
        for row in found.iter_rows(named=True):
            latest[row["anomaly_id"]] = row
        day += timedelta(days=1)
    frame = (
        pl.DataFrame(list(latest.values()), schema=ANOMALY_SCHEMA)
        if latest
        else pl.DataFrame(schema=ANOMALY_SCHEMA)
    )
    return DetectionRun(frame.sort("onset_hour", "entity"), features, models)
