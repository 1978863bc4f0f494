"""What every lake-backed asset shares: partitioned Parquet through the ``lake`` IO manager."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import BackfillPolicy, PartitionsDefinition

OWNERS = ["team:egress-platform"]
_ROOT = Path(__file__).resolve().parents[1]


def _code_version() -> str:
    """A digest of the platform's Python sources: it changes whenever the code that computes an
    asset may have changed, and each materialization records it (the lineage audit prints it)."""
    digest = hashlib.sha256()
    for package in ("egress_platform", "assets", "resources"):
        for path in sorted(p for p in (_ROOT / package).rglob("*") if p.suffix in (".py", ".sql")):
            digest.update(path.relative_to(_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CODE_VERSION = _code_version()


def lake_asset(group: str, partitions: PartitionsDefinition, kinds: set[str]) -> dict[str, Any]:
    """``@asset`` arguments for a partitioned lake asset; a backfill runs as one run."""
    return {
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "io_manager_key": "lake",
        "group_name": group,
        "owners": OWNERS,
        "kinds": kinds,
        "code_version": CODE_VERSION,
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
