"""How the lake is laid out: zones, partition keys and the path of each partition's file.

One place for what the assets (through the IO manager), the Glue job and the response Lambdas
(which carry no Dagster) all read and write.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

RAW_ZONE = "raw"
QUARANTINE_ZONE = "quarantine"
PROCESSED_ZONE = "processed"
CURATED_ZONE = "curated"
MANIFEST_ZONE = "manifests"  # per raw partition: the landed objects it was parsed from
STAGING_ZONE = "_staging"  # <run id>/<key>: an output's files until all are written
PART_FILE = "part-00000.parquet"
UNPARTITIONED = "all"
HOUR_FORMAT = "%Y-%m-%d-%H:%M"  # an hourly partition key (Dagster's hourly format)
DAY_FORMAT = "%Y-%m-%d"
PARTITION = (
    "partition"  # the column that tags rows with their partition key in multi-partition frames
)


def tag_partitions(parts: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Partitions as one frame, each row with its PARTITION key: a range taken in one pass (a
    polars plan per hourly partition cost more than its few rows), split again on the way out."""
    return pl.concat(
        [f.with_columns(pl.lit(k).alias(PARTITION)) for k, f in parts.items()],
        how="diagonal_relaxed",
    )


def split_on(
    frame: pl.DataFrame,
    column: str,
    keys: list[str],
    keep_column: bool = False,
    empty: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Each key's rows of ``frame`` by ``column`` (in the frame's order; a key with none gets
    ``empty``, by default the frame's columns with no rows): a frame taken in one pass, cut
    back into its partitions or objects."""
    parts = frame.partition_by(column, as_dict=True, maintain_order=True, include_key=keep_column)
    blank = empty if empty is not None else (frame if keep_column else frame.drop(column)).clear()
    return {k: parts.get((k,), blank) for k in keys}


def zone_of(asset: str) -> str:
    if asset.startswith("raw_"):
        return RAW_ZONE
    if asset.startswith("processed_"):
        return PROCESSED_ZONE
    return CURATED_ZONE


def partition_path(zone: str, asset: str, partition: str, file: str = PART_FILE) -> str:
    return f"{zone}/{asset}/partition={partition.replace(':', '')}/{file}"


def partition_of_path(path: str) -> str:
    """The partition key back from a lake path (``2026-11-04-1000`` -> ``2026-11-04-10:00``)."""
    folder = path.split("/")[-2].removeprefix("partition=")
    return f"{folder[:13]}:{folder[13:]}" if len(folder) == 15 else folder


def hour_of(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)


def hour_keys(first: datetime, last: datetime) -> list[str]:
    """Hourly partition keys from ``first`` to ``last`` inclusive."""
    keys, hour = [], first
    while hour <= last:
        keys.append(hour.strftime(HOUR_FORMAT))
        hour += timedelta(hours=1)
    return keys
