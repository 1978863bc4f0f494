"""What every lake-backed asset shares: partitioned Parquet through the ``lake`` IO manager."""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    PartitionsDefinition,
)

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


CONFIG_ITEMS = "processed_config_items"


def _not_blocked(may_be_missing: tuple[str, ...]) -> AutomationCondition:
    missing = AutomationCondition.any_deps_missing()
    if may_be_missing:
        missing = missing.ignore(AssetSelection.assets(*may_be_missing))
    return (
        ~missing & ~AutomationCondition.any_deps_in_progress() & ~AutomationCondition.in_progress()
    )


def after_upstream(*may_be_missing: str) -> AutomationCondition:
    """An hour's (or day's) partition runs once what it reads was updated, or will be in the same
    tick, and none of it is missing or in progress: one landed hour becomes one run from the
    processed layer to the alert. Any hour, not only the latest, so late and out-of-order
    deliveries count. ``may_be_missing``: inputs read as of their latest state (Config items of
    a day that has not landed yet), which must not hold the partition back."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled() & _not_blocked(may_be_missing)
    ).with_label("after_upstream")


def after_upstream_done(*may_be_missing: str) -> AutomationCondition:
    """Like :func:`after_upstream` but only once the inputs were really written: for a partition
    that cannot share the upstream run (a day over hourly inputs, an unpartitioned report)."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (updated.since_last_handled() & _not_blocked(may_be_missing)).with_label(
        "after_upstream_done"
    )


def after_any_update() -> AutomationCondition:
    """An unpartitioned report over the whole lake: refresh when anything under it was written."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (
        updated.since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after_any_update")


def when_first_needed() -> AutomationCondition:
    """A day's model: trained once, when the day's first features were written (retrain_daily and
    `egress run` retrain it when its history changes)."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (
        AutomationCondition.missing()
        & updated.since_last_handled()
        & ~AutomationCondition.in_progress()
    ).with_label("when_first_needed")


def lake_asset(
    group: str,
    partitions: PartitionsDefinition,
    kinds: set[str],
    automation: AutomationCondition | None = None,
) -> dict[str, Any]:
    """``@asset`` arguments for a partitioned lake asset; a backfill runs as one run. Raw assets
    have no condition: the landing sensor requests them when objects land."""
    return {
        "automation_condition": automation,
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "io_manager_key": "lake",
        "group_name": group,
        "owners": OWNERS,
        "kinds": kinds,
        "code_version": CODE_VERSION,
    }


def each_partition(
    context: AssetExecutionContext, figures: Mapping[str, Mapping[str, Any]], totals: str = ""
) -> None:
    """Each partition's materialization carries its own figures (a backfill of 504 hours in one
    run must not show the run's totals on every hour as if they were its own); the run's
    totals, if any, go to the run's log."""
    for key, metadata in figures.items():
        context.add_asset_metadata(dict(metadata), partition_key=key)
    if totals:
        context.log.info(f"run totals: {totals}")
