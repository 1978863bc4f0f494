"""What every lake-backed asset shares: partitioned Parquet through the ``lake`` IO manager."""

from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import BackfillPolicy, PartitionsDefinition

OWNERS = ["team:egress-platform"]


def lake_asset(group: str, partitions: PartitionsDefinition, kinds: set[str]) -> dict[str, Any]:
    """``@asset`` arguments for a partitioned lake asset; a backfill runs as one run."""
    return {
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "io_manager_key": "lake",
        "group_name": group,
        "owners": OWNERS,
        "kinds": kinds,
    }


HOUR_FORMAT = "%Y-%m-%d-%H:%M"  # Dagster's hourly partition keys


def hour_of(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)


def hour_keys(first: datetime, last: datetime) -> list[str]:
    """Hourly partition keys from ``first`` to ``last`` inclusive."""
    keys, hour = [], first
    while hour <= last:
        keys.append(hour.strftime(HOUR_FORMAT))
        hour += timedelta(hours=1)
    return keys
