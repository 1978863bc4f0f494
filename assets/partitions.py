"""The hourly and daily partitions every lake asset shares, starting where the data starts.

The first day comes from ``EGRESS_PARTITIONS_START`` when set, else from the earliest landed day
that `egress run` recorded in the lake (``state/partitions.json``), else the first day of last
month, so a fresh `dagster dev` has a sensible range. `egress run` records the start before it
loads the definitions, so older data is never silently left out.
"""

from datetime import UTC, date, datetime, timedelta

from dagster import DailyPartitionsDefinition, HourlyPartitionsDefinition, PartitionsDefinition

from egress_platform.settings import get_settings
from egress_platform.sources import SourceSpec
from resources.run_state import recorded_partitions_start


def _default_start(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def partitions_start() -> str:
    settings = get_settings()
    if settings.partitions_start:
        return settings.partitions_start
    return recorded_partitions_start(settings) or str(_default_start(datetime.now(UTC).date()))


PARTITIONS_START = partitions_start()
HOURLY = HourlyPartitionsDefinition(start_date=f"{PARTITIONS_START}-00:00", timezone="UTC")
DAILY = DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


def partitions_for(spec: SourceSpec) -> PartitionsDefinition:
    return HOURLY if spec.partitioning == "hourly" else DAILY
