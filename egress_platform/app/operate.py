"""Operator commands that act through Dagster: approving a planned remediation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from egress_platform.app.errors import CliError
from egress_platform.lake_layout import partition_of_path
from egress_platform.remediate.run import Ledger

Say = Callable[[str], None]
ACTIONS_PREFIX = "curated/remediation_actions/"


class UnknownAction(LookupError):
    pass


def find_action(store: Any, action_id: str) -> tuple[str, dict[str, Any]]:
    """(hourly partition key, action row) of a planned action, newest partition first."""
    import io

    for key, _ in sorted(store.list(ACTIONS_PREFIX), reverse=True):
        rows = pl.read_parquet(io.BytesIO(store.read(key))).filter(pl.col("action_id") == action_id)
        if rows.height:
            return partition_of_path(key), rows.row(0, named=True)
    raise UnknownAction(
        f"no action {action_id!r} in remediation_actions; list them in Dagit or lake/curated/"
        "remediation_actions (ids look like act-1f2e3d4c5b6a7988)"
    )


def approve_action(
    action_id: str,
    who: str,
    say: Say,
    resources: dict[str, Any] | None = None,
    instance: Any = None,
) -> int:
    from dagster import AssetKey, DagsterInstance, materialize

    from egress_platform.app.definitions import ALL_ASSETS, defs

    resources = resources or dict(defs.resources or {})
    lake = resources["lake"]
    store = lake.store()
    try:
        partition, row = find_action(store, action_id)
    except UnknownAction as missing:
        raise CliError(str(missing)) from None
    say(
        f"{action_id}: {row['action']} on {row['resource'] or '-'} (anomaly {row['anomaly_id']}), "
        f"now {row['status']}"
    )
    if row["kind"] != "change":
        raise CliError(
            f"{action_id} is a recommendation ({row['action']}): a change the product does not "
            "make itself (it needs a design decision or new infrastructure); make it through your "
            "infrastructure code. `egress approve` applies actions whose status is planned"
        )
    Ledger(store).approve(action_id, who)
    resources["workflow"].approve(action_id, store)
    if instance is None:
        instance = DagsterInstance.get() if _has_home() else DagsterInstance.ephemeral()
    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey("remediation_actions"), AssetKey("egress_alerts")],
        resources=resources,
        instance=instance,
        partition_key=partition,
        run_config={
            "ops": {
                "remediation_actions": {
                    "config": {"mode": "approve", "approve": [action_id], "approved_by": who}
                }
            },
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
    )
    if not result.success:
        raise CliError("the remediation run failed; see it in `make dev`")
    _, after = find_action(store, action_id)
    say(f"{action_id}: {after['status']} - {after['detail']}")
    return 0 if after["status"] in ("applied", "no_op") else 1


def _has_home() -> bool:
    import os

    return bool(os.environ.get("DAGSTER_HOME"))
