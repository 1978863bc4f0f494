"""``egress_features``: per entity x destination class x hour, what the model looks at.

A series is one entity (ENI, NAT gateway, bucket, distribution) sending to one destination
class. Traffic through a NAT gateway belongs to the NAT gateway: it is what processes (and
bills) it. Series are dense: an hour with no traffic is a zero.

An hour's features depend only on the ``LOOKBACK_HOURS`` before it, never on how far back the
run's window happens to reach: a series has a row in an hour when it had traffic in the
trailing window, its history and "new" flags count inside that window, and so a four-hour run
and a backfill give the same rows for the same hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import polars as pl

from egress_platform.pricing.price_book import DEST_CLASSES, GB

SERIES_KEY = ["account_id", "entity", "entity_type", "dest_class"]
LAGS = (1, 2, 3, 24, 168)
FEATURES = [
    *(f"lag_{k}" for k in LAGS),
    "roll_mean_24",
    "roll_std_24",
    "roll_max_24",
    "hour_of_day",
    "day_of_week",
    "class_code",
    "entity_type_code",
    "new_class",
    "new_destination_share",
    "share_of_entity",
    "usd_per_gb",
    "history_hours",
]
LOOKBACK_HOURS = 192  # the longest lag (a week) plus a day of rolling level
CLASS_CODES = {c: i for i, c in enumerate(DEST_CLASSES)}  # the model's code for each class
ENTITY_TYPE_CODES = {"eni": 0, "nat_gateway": 1, "vpc_endpoint": 2, "bucket": 3, "distribution": 4}


def series_frame(
    flows: pl.DataFrame, start: datetime | None = None, end: datetime | None = None
) -> pl.DataFrame:
    """Hourly USD and GB per series, dense over the window (``start``..``end``, by default the
    first and last hour of traffic), with its top destinations. USD is the marginal cost
    (``marginal_usd``: the free tier at the paid rate), what a change in traffic costs."""
    if flows.height == 0:
        return pl.DataFrame(
            schema={
                "hour": pl.Datetime("us", "UTC"),
                **dict.fromkeys(SERIES_KEY, pl.String),
                "usd": pl.Float64,
                "gb": pl.Float64,
                "new_destination_share": pl.Float64,
                "top_destinations": pl.String,
            }
        )
    nat = pl.col("dest_class") == "nat_gateway"
    keyed = flows.with_columns(
        pl.when(nat & pl.col("via_nat_gateway_id").is_not_null())
        .then(pl.col("via_nat_gateway_id"))
        .otherwise(pl.col("source_id"))
        .alias("entity"),
        pl.when(nat & pl.col("via_nat_gateway_id").is_not_null())
        .then(pl.lit("nat_gateway"))
        .otherwise(pl.col("source_type"))
        .alias("entity_type"),
        pl.coalesce("dest_prefix", "dest_service", "dest_region", pl.lit("-")).alias("dest"),
        ((pl.col("bytes_out") + pl.col("bytes_in")) / GB).alias("gb"),
    )
    by_dest = (
        keyed.group_by([*SERIES_KEY, "hour", "dest"])
        .agg(pl.col("marginal_usd").sum(), pl.col("gb").sum())
        # A fixed order for the sums below: group-bys leave rows in any order, and floating
        # sums in another order differ in the last bit, which moved the model (0.1 % of $).
        .sort([*SERIES_KEY, "dest", "hour"])
    )
    before = pl.col("hour").shift(1).over([*SERIES_KEY, "dest"])
    by_dest = by_dest.with_columns(
        (before.is_null() | (pl.col("hour") - before > timedelta(hours=LOOKBACK_HOURS))).alias(
            "is_new"
        )
    ).sort([*SERIES_KEY, "hour", "dest"])
    series = by_dest.group_by([*SERIES_KEY, "hour"]).agg(
        pl.col("marginal_usd").sum().alias("usd"),
        pl.col("gb").sum(),
        (pl.col("gb").filter(pl.col("is_new")).sum() / pl.col("gb").sum())
        .fill_nan(0.0)
        .alias("new_destination_share"),
        pl.col("dest")
        .sort_by(["gb", "dest"], descending=[True, False])  # ties broken by name: reproducible
        .head(3)
        .str.join(",")
        .alias("top_destinations"),
    )
    first = start or cast(datetime, keyed.get_column("hour").min())
    last = end or cast(datetime, keyed.get_column("hour").max())
    hours = pl.DataFrame(
        {"hour": pl.datetime_range(first, last, "1h", time_zone="UTC", eager=True)}
    )
    grid = series.select(SERIES_KEY).unique().join(hours, how="cross")
    return (
        grid.join(series, on=[*SERIES_KEY, "hour"], how="left")
        .with_columns(
            pl.col("usd", "gb", "new_destination_share").fill_null(0.0),
            pl.col("top_destinations").fill_null(""),
        )
        .sort([*SERIES_KEY, "hour"])
    )


PEAK_HOURS = 168


def recent_peak() -> pl.Expr:
    """Not a model input: the detector's measure of the bursts a series has, its highest hour
    in the week before this one (rows sorted by series and hour)."""
    before = pl.col("usd").shift(1)
    return before.rolling_max(PEAK_HOURS, min_samples=1).over(SERIES_KEY).alias("peak_usd_168")


def build_features(series: pl.DataFrame) -> pl.DataFrame:
    """Lagged, rolling and calendar features; lags before the window are null (cold start).

    Rows are kept for the hours whose trailing ``LOOKBACK_HOURS`` hold traffic of the series."""
    over = SERIES_KEY
    target = pl.col("usd")
    shifted = target.shift(1).over(over)
    entity_total = pl.col("usd").sum().over(["account_id", "entity", "hour"])
    traffic = pl.col("gb") > 0
    # The position of the earliest hour with traffic among this one and the LOOKBACK before it.
    first_traffic = (
        pl.when(traffic)
        .then(pl.col("position").cast(pl.Float64))
        .otherwise(float("inf"))
        .rolling_min(LOOKBACK_HOURS + 1, min_samples=1)
        .over(over)
    )
    traffic_before = traffic.cast(pl.Int32).shift(1).rolling_sum(LOOKBACK_HOURS, min_samples=1)
    frame = series.sort([*over, "hour"]).with_columns(
        pl.int_range(pl.len()).over(over).alias("position")
    )
    frame = frame.with_columns(
        *[target.shift(k).over(over).alias(f"lag_{k}") for k in LAGS],
        shifted.rolling_mean(24, min_samples=1).over(over).alias("roll_mean_24"),
        shifted.rolling_std(24, min_samples=2).over(over).alias("roll_std_24"),
        shifted.rolling_max(24, min_samples=1).over(over).alias("roll_max_24"),
        recent_peak(),
        pl.col("hour").dt.hour().cast(pl.Int32).alias("hour_of_day"),
        pl.col("hour").dt.weekday().cast(pl.Int32).alias("day_of_week"),
        pl.col("dest_class")
        .replace_strict(CLASS_CODES, default=len(CLASS_CODES))
        .alias("class_code"),
        pl.col("entity_type")
        .replace_strict(ENTITY_TYPE_CODES, default=9)
        .alias("entity_type_code"),
        (traffic_before.over(over).fill_null(0) == 0).cast(pl.Int8).alias("new_class"),
        (target / entity_total).fill_nan(0.0).shift(1).over(over).alias("share_of_entity"),
        (target / pl.col("gb")).fill_nan(0.0).shift(1).over(over).alias("usd_per_gb"),
        (pl.col("position") - first_traffic).alias("history_hours"),
    )
    # A lag that reaches back before the series' first traffic is unknown, not zero: a series
    # that started six days ago had no traffic "a week ago" only because it did not exist, and a
    # zero there taught the model to expect little (it underpredicted the whole second week).
    before_start = [
        pl.when(pl.col("history_hours") >= k).then(pl.col(f"lag_{k}")).alias(f"lag_{k}")
        for k in LAGS
    ]
    return (
        frame.filter(pl.col("history_hours").is_finite())
        .with_columns(pl.col("history_hours").cast(pl.Int64))
        .with_columns(before_start)
        .drop("position")
    )
