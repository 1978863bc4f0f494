"""Detector Lambda: judge the hour that just closed (features, then anomalies) in the aws profile.

The same assets as the hourly Dagster schedule, materialized in-process with the aws profile's
resources (lake in S3, the SageMaker endpoint as scorer); then it starts one Step Functions
execution per anomaly first reported in the hour, named by the anomaly id so a retry of the
Lambda starts nothing twice (a sensor could not see this ephemeral instance's runs).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    from dagster import AssetKey, DagsterInstance, materialize

    from assets.respond import start_responses
    from egress_platform.app.definitions import ALL_ASSETS, defs

    when = datetime.fromisoformat(event["time"]) if event.get("time") else datetime.now(UTC)
    hour = (when - timedelta(hours=1)).strftime("%Y-%m-%d-%H:00")
    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey("egress_features"), AssetKey("egress_anomalies")],
        resources=defs.resources,
        instance=DagsterInstance.ephemeral(),
        partition_key=hour,
    )
    if not result.success:
        raise RuntimeError(f"detection for {hour} failed")
    resources = defs.resources or {}
    started = start_responses(resources["lake"], resources["workflow"], [hour])
    return {"partition": hour, "success": True, "executions": [arn for _, arn in started]}
