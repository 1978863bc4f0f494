"""Respond assets: ``rca_reports`` -> ``remediation_actions`` -> ``egress_alerts``, plus the audit log.

Each hourly partition handles the anomalies first reported in that hour. The steps are the
Step Functions workflow's (GatherEvidence, RootCause, ChooseActions/approval, Remediate, Notify),
run in-process over the lake; in the aws profile the same resources call Bedrock, boto3 and SNS.
"""

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    Config,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    Output,
    ResourceParam,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)
from pydantic import Field

from assets.common import (
    CONFIG_ITEMS,
    HOURLY_FRESHNESS,
    OWNERS,
    after_any_update,
    after_upstream,
    asset_from_code,
    each_partition,
    lake_asset,
)
from assets.partitions import HOURLY
from egress_platform.detect.anomalies import ANOMALY_SCHEMA, newly_reported
from egress_platform.lake_layout import HOUR_FORMAT, hour_keys, hour_of
from egress_platform.pricing.estimate import PRICED_SCHEMA
from egress_platform.progress import report_progress
from egress_platform.rca.evidence import LOOKBACK, Sources, latest_resources
from egress_platform.rca.report import REPORT_SCHEMA, build_reports
from egress_platform.remediate.run import ACTION_SCHEMA, Ledger, Policy, remediate
from egress_platform.respond.alerts import (
    ALERT_SCHEMA,
    DeliveryBudget,
    alert_messages,
    deliver,
)
from egress_platform.settings import get_settings
from resources.lake import LakeIOManager
from resources.respond import Executor, Llm, Notifier, Workflow

EVIDENCE_AFTER = timedelta(hours=3)


def _days(first: datetime, last: datetime) -> list[str]:
    start, end = first.date(), last.date()
    return [str(start + timedelta(days=i)) for i in range((end - start).days + 1)]


def anomalies_in(lake: LakeIOManager, key: str) -> pl.DataFrame:
    """The reported (not suppressed) anomaly rows of one hourly partition."""
    rows = lake.read_frame("egress_anomalies", [key], ANOMALY_SCHEMA)
    return rows.filter(~pl.col("suppressed")) if rows.height else rows


def read_hours(
    keys: list[str], read: Callable[[str], pl.DataFrame], log: Callable[[str], object]
) -> dict[str, pl.DataFrame]:
    """Each hour's frame by ``read``, one by one, with progress."""
    found = {}
    for done, key in enumerate(keys, start=1):
        report_progress(log, done, len(keys), "hours read")
        found[key] = read(key)
    return found


def first_reported(
    lake: LakeIOManager, keys: list[str], log: Callable[[str], object] | None = None
) -> dict[str, pl.DataFrame]:
    """Each hourly partition's anomalies reported for the first time (not in the hour before),
    each hour read once: over a range, an hour is the next one's "before"."""
    found: dict[str, pl.DataFrame] = {}
    previous_key, previous = "", pl.DataFrame()
    for done, key in enumerate(keys, start=1):
        if log is not None:
            report_progress(log, done, len(keys), "hours read")
        before_key = (hour_of(key) - timedelta(hours=1)).strftime(HOUR_FORMAT)
        before = previous if before_key == previous_key else anomalies_in(lake, before_key)
        rows = anomalies_in(lake, key)
        found[key] = newly_reported(rows, before)
        previous_key, previous = key, rows
    return found


@asset_from_code(
    description=(
        "One root-cause report per anomaly: Config changes and CloudTrail calls on the resources "
        "involved before onset, CUR deltas, top flows; ranked hypotheses with confidence and "
        "evidence ids; the recommended catalog actions; a narrative (template or Bedrock)."
    ),
    **lake_asset("respond", HOURLY, {"parquet", "bedrock"}, after_upstream(CONFIG_ITEMS)),
    deps=[
        "egress_anomalies",
        "processed_config_items",
        "processed_cloudtrail",
        "processed_cur",
        "egress_flows_hourly",
    ],
)
def rca_reports(
    context: AssetExecutionContext, lake: ResourceParam[LakeIOManager], llm: Llm
) -> Output[dict[str, pl.DataFrame]]:
    keys = list(context.partition_keys)
    new = first_reported(lake, keys, context.log.info)
    out = {k: pl.DataFrame(schema=REPORT_SCHEMA) for k in keys}
    todo = pl.concat(list(new.values())) if any(f.height for f in new.values()) else None
    if todo is not None:
        first = cast(datetime, todo["onset_hour"].min()) - LOOKBACK
        last = cast(datetime, todo["onset_hour"].max()) + EVIDENCE_AFTER
        days = _days(first - timedelta(days=1), last + timedelta(days=1))
        sources = Sources(
            lake.read_frame("processed_config_items", days, {}),
            lake.read_frame("processed_cloudtrail", hour_keys(first, last), {}),
            lake.read_frame("processed_cur", days, {}),
            lake.read_frame("egress_flows_hourly", hour_keys(first, last), PRICED_SCHEMA),
        )
        for key, frame in new.items():
            out[key] = build_reports(frame, sources, llm.narrate)
    each_partition(context, {k: report_figures(f) for k, f in out.items()})
    return Output(out)


def report_figures(reports: pl.DataFrame) -> dict[str, Any]:
    """One hour's reports, as its partition's metadata."""
    return {
        "reports": reports.height,
        "by_top_cause": MetadataValue.json(dict(Counter(reports["top_rule"].to_list()))),
        "narrative_sources": MetadataValue.json(
            dict(Counter(reports["narrative_source"].to_list()))
        ),
        "reports_list": MetadataValue.json(
            [
                {
                    "anomaly_id": r["anomaly_id"],
                    "entity": r["entity"],
                    "cause": r["top_cause"],
                    "resource": r["top_resource"],
                    "event": r["top_event_name"],
                    "confidence": r["top_confidence"],
                }
                for r in reports.iter_rows(named=True)
            ][:50]
        ),
    }


class RemediationConfig(Config):
    mode: str = Field(
        default_factory=lambda: get_settings().remediation_mode,
        description="dry-run (plan only), approve (apply approved actions) or auto",
    )
    auto_max_risk: str = Field(default="low", description="auto mode applies up to this risk")
    approve: list[str] = Field(
        default_factory=list, description="action ids to approve in this run (approve/auto)"
    )
    approved_by: str = Field(default="dagit", description="who approves, for the audit log")


@asset_from_code(
    description=(
        "The catalog actions planned for each anomaly's top hypothesis, gated by policy (dry-run "
        "by default, approval, auto up to a risk level; protected resources never touched) and "
        "applied when allowed. Every plan, approval, apply and result goes to the audit log."
    ),
    **lake_asset("respond", HOURLY, {"parquet"}, after_upstream(CONFIG_ITEMS)),
    deps=["rca_reports", "processed_config_items"],
)
def remediation_actions(
    context: AssetExecutionContext,
    config: RemediationConfig,
    lake: ResourceParam[LakeIOManager],
    executor: Executor,
) -> Output[dict[str, pl.DataFrame]]:
    keys = list(context.partition_keys)
    policy = Policy(config.mode, config.auto_max_risk)
    store = lake.store()
    ledger = Ledger(store)
    for action_id in config.approve:
        ledger.approve(action_id, config.approved_by)
    by_key = read_hours(
        keys, lambda k: lake.read_frame("rca_reports", [k], REPORT_SCHEMA), context.log.info
    )
    out = {k: pl.DataFrame(schema=ACTION_SCHEMA) for k in keys}
    onsets = [f["onset_hour"] for f in by_key.values() if f.height]
    if onsets:
        every_onset = pl.concat(onsets)
        last = cast(datetime, every_onset.max()) + timedelta(hours=1)
        days = _days(cast(datetime, every_onset.min()) - timedelta(days=2), last)
        config_items = lake.read_frame("processed_config_items", days, {})
        account = executor.account(store, latest_resources(config_items, last))
        for key, reports in by_key.items():
            rows = [
                row
                for report in reports.iter_rows(named=True)
                for row in remediate(
                    report["anomaly_id"],
                    json.loads(report["recommended_actions"]),
                    account,
                    policy,
                    ledger,
                )
            ]
            if rows:
                out[key] = pl.DataFrame(rows, schema=ACTION_SCHEMA)
        executor.commit(store, account)
    each_partition(context, {k: action_figures(f, policy.mode) for k, f in out.items()})
    return Output(out)


def action_figures(actions: pl.DataFrame, mode: str) -> dict[str, Any]:
    """One hour's actions, as its partition's metadata. An anomaly's actions are alternatives:
    its savings count once (the largest), not once per action."""
    savings = (
        actions.group_by("anomaly_id").agg(pl.col("estimated_monthly_savings_usd").max())
        if actions.height
        else actions
    )
    return {
        "mode": mode,
        "actions": actions.height,
        "by_status": MetadataValue.json(dict(Counter(actions["status"].to_list()))),
        "estimated_monthly_savings_usd": round(
            float(savings["estimated_monthly_savings_usd"].sum()) if savings.height else 0.0, 2
        ),
        "action_list": MetadataValue.json(
            [
                {
                    "action_id": r["action_id"],
                    "anomaly_id": r["anomaly_id"],
                    "action": r["action"],
                    "resource": r["resource"],
                    "status": r["status"],
                }
                for r in actions.iter_rows(named=True)
            ][:50]
        ),
    }


@asset_from_code(
    description="Every remediation plan, approval, apply and result, oldest first (append-only).",
    io_manager_key="lake",
    group_name="respond",
    owners=OWNERS,
    automation_condition=after_any_update(),
    kinds={"parquet"},
    deps=["remediation_actions"],
)
def remediation_audit_log(lake: ResourceParam[LakeIOManager]) -> Output[pl.DataFrame]:
    entries = Ledger(lake.store()).entries()
    frame = (
        pl.DataFrame(
            [
                {
                    **{
                        k: e.get(k)
                        for k in (
                            "at",
                            "seq",
                            "action_id",
                            "anomaly_id",
                            "action",
                            "step",
                            "outcome",
                            "detail",
                            "mode",
                            "actor",
                        )
                    },
                    "params": json.dumps(e.get("params", {}), sort_keys=True),
                    "changes": json.dumps(e.get("changes", [])),
                }
                for e in entries
            ],
            infer_schema_length=None,
        ).sort("at", "action_id", "seq")
        if entries
        else pl.DataFrame(schema={"at": pl.String(), "action_id": pl.String()})
    )
    steps = Counter(f"{e['step']}:{e['outcome']}" for e in entries)
    return Output(frame, metadata={"entries": len(entries), "by_step": MetadataValue.json(steps)})


@asset_from_code(
    description=(
        "One alert per anomaly state change (opened, remediated, resolved), deduplicated by "
        "anomaly and state, sent through an outbox that keeps failed deliveries for the next run."
    ),
    **lake_asset("respond", HOURLY, {"parquet", "sns"}, after_upstream()),
    deps=["egress_anomalies", "rca_reports", "remediation_actions"],
    freshness_policy=HOURLY_FRESHNESS,
)
def egress_alerts(
    context: AssetExecutionContext, lake: ResourceParam[LakeIOManager], notifier: Notifier
) -> Output[dict[str, pl.DataFrame]]:
    keys = list(context.partition_keys)
    out = {k: pl.DataFrame(schema=ALERT_SCHEMA) for k in keys}
    by_key = read_hours(keys, lambda k: anomalies_in(lake, k), context.log.info)
    onsets = [cast(datetime, f["onset_hour"].min()) for f in by_key.values() if f.height]
    if onsets:
        window = hour_keys(min(onsets), hour_of(keys[-1]))
        reports = lake.read_frame("rca_reports", window, REPORT_SCHEMA)
        by_id = {r["anomaly_id"]: r for r in reports.iter_rows(named=True)}
        actions = lake.read_frame("remediation_actions", window, ACTION_SCHEMA)
        store = lake.store()
        budget = DeliveryBudget()
        for key, rows in by_key.items():
            messages = []
            for row in rows.iter_rows(named=True):
                mine = actions.filter(pl.col("anomaly_id") == row["anomaly_id"]).to_dicts()
                report = by_id.get(row["anomaly_id"])
                lineage = {
                    "egress_anomalies": key,
                    "rca_reports": report["onset_hour"].strftime(HOUR_FORMAT) if report else "",
                    "run_id": context.run.run_id,
                }
                messages.extend(alert_messages(row, report, mine, lineage))
            delivered = deliver(messages, store, notifier.publish, budget=budget)
            if delivered:
                out[key] = pl.DataFrame(delivered, schema=ALERT_SCHEMA)
    each_partition(
        context,
        {
            k: {
                "sent": int(f["delivered"].sum()) if f.height else 0,
                "kept_in_outbox": int((~f["delivered"]).sum()) if f.height else 0,
                "by_state": MetadataValue.json(dict(Counter(f["state"].to_list()))),
            }
            for k, f in out.items()
        },
    )
    return Output(out)


RESPOND_ASSETS = [rca_reports, remediation_actions, remediation_audit_log, egress_alerts]

respond_job = define_asset_job(
    "respond_to_anomaly",
    selection=AssetSelection.assets(*(a.key for a in RESPOND_ASSETS)),
    description="Root cause, planned (or approved) remediation and alerts for an hour's anomalies.",
)


def start_responses(
    lake: LakeIOManager, workflow: Workflow, partitions: list[str]
) -> list[tuple[dict[str, Any], str]]:
    """Start the response workflow (a Step Functions execution named after the anomaly on AWS,
    so a repeat is a no-op) for each anomaly first reported in these hourly partitions."""
    started = []
    for partition, rows in first_reported(lake, partitions).items():
        for row in rows.iter_rows(named=True):
            payload = {
                "anomaly_id": row["anomaly_id"],
                "partition": partition,
                "account_id": row["account_id"],
                "entity": row["entity"],
                "dest_class": row["dest_class"],
            }
            started.append((row, workflow.start(row["anomaly_id"], payload)))
    return started


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
        AssetRecordsFilter(asset_key=AssetKey("egress_anomalies"), after_storage_id=after),
        limit=500,
        ascending=True,
    )
    requests = []
    cursor = context.cursor
    for record in found.records:
        cursor = str(record.storage_id)
        key = record.partition_key
        if key is None:
            continue
        for row, started in start_responses(lake, workflow, [key]):
            requests.append(
                RunRequest(
                    run_key=row["anomaly_id"],
                    partition_key=key,
                    tags={"egress/anomaly_id": row["anomaly_id"], "egress/workflow": started},
                )
            )
    return SensorResult(run_requests=requests, cursor=cursor)


defs = Definitions(assets=RESPOND_ASSETS, jobs=[respond_job], sensors=[anomaly_response_sensor])
