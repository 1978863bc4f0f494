"""How the lake is laid out: zones, partition keys and the path of each partition's file.

One place for what the assets (through the IO manager), the Glue job and the response Lambdas
(which carry no Dagster) all read and write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
