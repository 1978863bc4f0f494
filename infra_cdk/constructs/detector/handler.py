"""The pipeline Lambda: one layer of the asset graph for the hour (or day) that just closed.

Each EventBridge Scheduler schedule names its layer in the event (``{"layer": ...}``):

- ``ingest`` (hourly, :05): the hourly raw sources, their processed tables (flow logs through the
  Glue job) and ``egress_flows_hourly`` for the previous hour;
- ``detect`` (hourly, :15): features and anomalies for the previous hour, then one Step
  Functions execution per anomaly first reported in it, named by the anomaly id so a retry of
  the Lambda starts nothing twice (a sensor could not see this ephemeral instance's runs);
- ``daily`` (00:45): the daily sources (CUR, Config, Cost Explorer) and the reconciliation for
  yesterday, today's model (a SageMaker training job), the SQL views and the dashboard.

The same assets as the Dagster jobs and schedules, materialized in-process with the aws
profile's resources (lake in S3, Glue, SageMaker, Step Functions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

HOURLY_SOURCES = [
    "raw_vpc_flow_logs",
    "raw_s3_access_logs",
    "raw_cloudfront_logs",
    "raw_cloudtrail",
    "processed_vpc_flow_logs",
    "processed_s3_access_logs",
    "processed_cloudfront_logs",
    "processed_cloudtrail",
    "egress_flows_hourly",
]
DAILY_SOURCES = [
    "raw_cur",
    "raw_config_items",
    "raw_cost_explorer",
    "processed_cur",
    "processed_config_items",
    "processed_cost_explorer",
    "cost_reconciliation",
]
# Each layer: its steps, each a selection of assets and which partition of the clock it takes.
LAYERS: dict[str, list[tuple[list[str], str]]] = {
    "ingest": [(HOURLY_SOURCES, "previous_hour")],
    "detect": [(["egress_features", "egress_anomalies"], "previous_hour")],
    "daily": [
        (DAILY_SOURCES, "yesterday"),
        (["egress_model"], "today"),
        (["egress_sql_views", "egress_dashboard"], "none"),
    ],
}


def partition_for(clock: str, when: datetime) -> str | None:
    """The partition a step takes at ``when`` (the schedule's time)."""
    if clock == "previous_hour":
        return (when - timedelta(hours=1)).strftime("%Y-%m-%d-%H:00")
    if clock == "yesterday":
        return (when - timedelta(days=1)).strftime("%Y-%m-%d")
    if clock == "today":
        return when.strftime("%Y-%m-%d")
    return None


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    from dagster import AssetKey, DagsterInstance, materialize

    from assets.respond import start_responses
    from egress_platform.app.definitions import ALL_ASSETS, defs

    layer = event.get("layer", "detect")
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; the schedules send one of {sorted(LAYERS)}")
    when = datetime.fromisoformat(event["time"]) if event.get("time") else datetime.now(UTC)
    done = []
    for names, clock in LAYERS[layer]:
        partition = partition_for(clock, when)
        result = materialize(
            ALL_ASSETS,
            selection=[AssetKey(n) for n in names],
            resources=defs.resources,
            instance=DagsterInstance.ephemeral(),
            partition_key=partition,
        )
        if not result.success:
            raise RuntimeError(f"{layer}: {', '.join(names)} for {partition or 'all'} failed")
        done.append({"assets": names, "partition": partition})
    answer: dict[str, Any] = {"layer": layer, "success": True, "steps": done}
    if layer == "detect":
        resources = defs.resources or {}
        hour = str(done[0]["partition"])
        started = start_responses(resources["lake"], resources["workflow"], [hour])
        answer |= {"partition": hour, "executions": [arn for _, arn in started]}
    return answer
