"""``egress_dashboard``: the self-contained HTML report over everything the lake holds."""

import json
from datetime import UTC, datetime

import polars as pl
from dagster import (
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    RunFailureSensorContext,
    run_failure_sensor,
)

from assets.common import OWNERS, after_any_update, asset_from_code
from egress_platform.detect.anomalies import ANOMALY_SCHEMA, latest_rows
from egress_platform.pricing.estimate import PRICED_SCHEMA
from egress_platform.pricing.reconcile import RECONCILIATION_SCHEMA
from egress_platform.rca.report import REPORT_SCHEMA
from egress_platform.remediate.run import ACTION_SCHEMA
from egress_platform.report.dashboard import DashboardData, render
from resources.lake import LakeIOManager
from resources.respond import Notifier
from resources.sql import LakeSql

DASHBOARD_KEY = "reports/dashboard.html"


def latest_events(lake: LakeIOManager) -> pl.DataFrame:
    """Each anomaly event in the lake once, as of the last hour it was seen (suppressed too)."""
    return latest_rows(lake.read_all("egress_anomalies", ANOMALY_SCHEMA))


def reported(events: pl.DataFrame) -> pl.DataFrame:
    """The events not suppressed as planned changes."""
    return events.filter(~pl.col("suppressed")) if events.height else events


@asset_from_code(
    description=(
        "A self-contained interactive HTML dashboard (viewable offline, no network): egress $ "
        "per hour by destination class with hover values and anomaly markers that open their "
        "card, filters by account, region, class and entity and a time range, top talkers, NAT "
        "traffic to AWS services, cross-AZ pairs, reconciliation with the bill, each anomaly's "
        "RCA and remediation; sortable tables with CSV export."
    ),
    group_name="report",
    owners=OWNERS,
    automation_condition=after_any_update(),
    kinds={"html", "javascript"},
    deps=[
        "egress_flows_hourly",
        "cost_reconciliation",
        "egress_sql_views",
        "egress_anomalies",
        "rca_reports",
        "remediation_actions",
    ],
)
def egress_dashboard(lake: ResourceParam[LakeIOManager], sql: LakeSql) -> MaterializeResult:
    views = {name: sql.view(name, limit=25) for name in sql.create_views()}
    data = DashboardData(
        flows=lake.read_all("egress_flows_hourly", PRICED_SCHEMA),
        anomalies=reported(latest_events(lake)),
        reports=lake.read_all("rca_reports", REPORT_SCHEMA),
        actions=lake.read_all("remediation_actions", ACTION_SCHEMA),
        reconciliation=lake.read_all("cost_reconciliation", RECONCILIATION_SCHEMA),
        views=views,
        generated_at=datetime.now(UTC),
    )
    page = render(data).encode()
    store = lake.store()
    store.write(DASHBOARD_KEY, page)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(store.uri(DASHBOARD_KEY)),
            "bytes": len(page),
            "hours": data.flows["hour"].n_unique() if data.flows.height else 0,
            "anomalies": data.anomalies.height,
            "estimated_usd": round(float(data.flows["estimated_usd"].sum()), 2)
            if data.flows.height
            else 0.0,
        }
    )


REPORT_ASSETS = [egress_dashboard]


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends a pipeline-health alert through the notifier when any run fails.",
)
def pipeline_health_sensor(context: RunFailureSensorContext, notifier: Notifier) -> None:
    run = context.dagster_run
    body = {
        "kind": "pipeline_health",
        "run_id": run.run_id,
        "job": run.job_name,
        "error": (context.failure_event.message or "")[:500],
    }
    notifier.publish(
        f"[egress high] run failed: {run.job_name}"[:100],
        json.dumps(body),
        {"severity": "high", "state": "run_failed", "anomaly_id": run.run_id},
    )


defs = Definitions(assets=REPORT_ASSETS, sensors=[pipeline_health_sensor])
