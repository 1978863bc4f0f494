"""Sensors: one response per new anomaly, and a pipeline-health alert when a run fails."""

import json
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultSensorStatus,
    ResourceParam,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    run_failure_sensor,
    sensor,
)

from assets.partitions import partitions_for
from assets.respond import first_reported
from egress_platform.automation import respond_job
from egress_platform.run import list_landing
from egress_platform.sources import SOURCES
from egress_platform.sources.discover import changed, discover
from resources.lake import LakeIOManager, LandingZone
from resources.respond import Notifier, Workflow
from resources.run_state import LANDING_INDEX_KEY, read_state

ANOMALIES = AssetKey("egress_anomalies")


def start_responses(
    lake: LakeIOManager, workflow: Workflow, partition: str
) -> list[tuple[dict[str, Any], str]]:
    """Start the response workflow (a Step Functions execution named after the anomaly on AWS,
    so a repeat is a no-op) for each anomaly first reported in this hourly partition."""
    started = []
    for row in first_reported(lake, partition).iter_rows(named=True):
        payload = {"anomaly_id": row["anomaly_id"], "partition": partition,
                   "account_id": row["account_id"], "entity": row["entity"],
                   "dest_class": row["dest_class"]}  # fmt: skip
        started.append((row, workflow.start(row["anomaly_id"], payload)))
    return started


@sensor(
    asset_selection=AssetSelection.groups("raw"),
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Lists the landing zone, groups the objects by source and partition (AWS's key layouts) "
        "and requests the raw partitions whose objects are new or changed since the last "
        "`egress run` or tick; the automation conditions take it from there to the alerts."
    ),
)
def landing_sensor(
    context: SensorEvaluationContext,
    landing: ResourceParam[LandingZone],
    lake: ResourceParam[LakeIOManager],
) -> SensorResult:
    seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
    recorded = read_state(lake.store(), LANDING_INDEX_KEY).get("partitions", {})
    baseline = {s: {**recorded.get(s, {}), **seen.get(s, {})} for s in {*recorded, *seen}}
    landed = discover(list_landing(landing), lambda key: landing.store_for(key).read(key))
    current = landed.digests()
    requests = []
    for source, parts in changed(current, baseline).items():
        spec = SOURCES[source]
        partitions = partitions_for(spec)
        for part in parts:
            if not partitions.has_partition_key(part):
                context.log.warning(f"{source} objects for {part} lie outside the partitions")
                continue
            requests.append(
                RunRequest(
                    run_key=f"{source}:{part}:{current[source][part]}",
                    asset_selection=[AssetKey(spec.asset_name)],
                    partition_key=part,
                )
            )
            seen.setdefault(source, {})[part] = current[source][part]
    return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


@sensor(
    job=respond_job,
    minimum_interval_seconds=60,
    # It starts side effects (a Step Functions execution per anomaly on AWS): off until turned on.
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "For each anomaly first reported by a new egress_anomalies materialization: start its "
        "response workflow (a Step Functions execution named after the anomaly on AWS) and a run "
        "of the respond assets, with the anomaly id as run key so it starts only once."
    ),
)
def anomaly_response_sensor(
    context: SensorEvaluationContext,
    lake: ResourceParam[LakeIOManager],
    workflow: ResourceParam[Workflow],
) -> SensorResult:
    after = int(context.cursor) if context.cursor else None
    found = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=ANOMALIES, after_storage_id=after), limit=500, ascending=True
    )
    requests = []
    cursor = context.cursor
    for record in found.records:
        cursor = str(record.storage_id)
        key = record.partition_key
        if key is None:
            continue
        for row, started in start_responses(lake, workflow, key):
            requests.append(
                RunRequest(
                    run_key=row["anomaly_id"],
                    partition_key=key,
                    tags={"egress/anomaly_id": row["anomaly_id"], "egress/workflow": started},
                )
            )
    return SensorResult(run_requests=requests, cursor=cursor)


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends a pipeline-health alert through the notifier when any run fails.",
)
def pipeline_health_sensor(context: RunFailureSensorContext, notifier: Notifier) -> None:
    run = context.dagster_run
    body = {"kind": "pipeline_health", "run_id": run.run_id, "job": run.job_name,
            "error": (context.failure_event.message or "")[:500]}  # fmt: skip
    notifier.publish(
        f"[egress high] run failed: {run.job_name}"[:100],
        json.dumps(body),
        {"severity": "high", "state": "run_failed", "anomaly_id": run.run_id},
    )


SENSORS = [landing_sensor, anomaly_response_sensor, pipeline_health_sensor]
