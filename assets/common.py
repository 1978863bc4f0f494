"""What every lake-backed asset shares: partitioned Parquet through the ``lake`` IO manager."""

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
