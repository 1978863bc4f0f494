"""Lambda code of the response workflow: one entry per function, dispatching on the step.

Each task sends ``{"step": ..., "state": <the execution's state document>}``; a step's result
lands at ``state.<name>.value`` (see the ASL). The work is the platform's own code: evidence
from the lake's processed tables in S3, ranking, Bedrock narrative, the remediation catalog
through boto3, and the alert outbox. Configuration comes from the environment CDK sets.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from egress_platform.lake_layout import HOUR_FORMAT, partition_path
from egress_platform.rca.evidence import LOOKBACK, Sources
from egress_platform.rca.narrative import converse_narrative
from egress_platform.remediate.aws_account import Boto3Account
from egress_platform.remediate.run import Ledger, Policy
from egress_platform.respond import steps
from egress_platform.settings import get_settings
from resources.storage import S3Store

APPROVAL_TOKENS = "remediation/approval_tokens/"


def _lake() -> S3Store:
    settings = get_settings()
    return S3Store(settings.lake_bucket, settings.lake_prefix)


def _document(event: dict[str, Any]) -> dict[str, Any]:
    state = event["state"]
    doc = {k: v["value"] for k, v in state.items() if isinstance(v, dict) and "value" in v}
    return {
        **doc,
        "anomaly": state["anomaly"],
        **({"error": state["error"]} if "error" in state else {}),
    }


def _partitions(store: S3Store, zone: str, asset: str, keys: list[str]) -> pl.DataFrame:
    frames = []
    for key in keys:
        path = partition_path(zone, asset, key)
        if store.exists(path):
            frames.append(pl.read_parquet(io.BytesIO(store.read(path))))
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()


def _sources(store: S3Store, onset: datetime) -> Sources:
    hours = [(onset - LOOKBACK + timedelta(hours=i)).strftime(HOUR_FORMAT) for i in range(52)]
    days = sorted({(onset + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(-3, 2)})
    return Sources(
        _partitions(store, "processed", "processed_config_items", days),
        _partitions(store, "processed", "processed_cloudtrail", hours),
        _partitions(store, "processed", "processed_cur", days),
        _partitions(store, "curated", "egress_flows_hourly", hours),
    )


def rca_handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    import boto3

    doc = _document(event)
    if event["step"] == "gather_evidence":
        onset = datetime.fromisoformat(str(doc["anomaly"]["onset_hour"]))
        return steps.gather_evidence_step(doc, _sources(_lake(), onset))
    client = boto3.client("bedrock-runtime")
    model = get_settings().bedrock_model_id

    def narrator(anomaly: Any, hypotheses: Any, evidence: Any) -> tuple[dict[str, str], str]:
        return converse_narrative(client, model, anomaly, hypotheses, evidence)

    return steps.root_cause_step(doc, narrator)


def remediation_handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    doc = _document(event)
    settings = get_settings()
    account = Boto3Account.from_session(settings.region)
    policy = Policy(settings.remediation_mode, settings.auto_max_risk)
    ledger = Ledger(_lake())
    if event["step"] == "choose_actions":
        return steps.choose_actions_step(doc, account, policy, ledger)
    return steps.remediate_step(doc, account, policy, ledger)


def notify_handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    import boto3

    sns = boto3.client("sns")
    topic = get_settings().alert_topic_arn

    def publish(subject: str, body: str, attributes: dict[str, str]) -> str:
        answer = sns.publish(
            TopicArn=topic,
            Subject=subject,
            Message=body,
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
        return str(answer["MessageId"])

    doc, store = _document(event), _lake()
    if event["step"] == "request_approval":
        waiting = doc.get("choice", {}).get("waiting", [])
        for action_id in waiting:
            store.write(
                f"{APPROVAL_TOKENS}{action_id}.json",
                json.dumps({"task_token": event["task_token"]}).encode(),
            )
        publish(
            f"[egress approval] {len(waiting)} action(s) wait for `egress approve`",
            json.dumps({"anomaly": doc["anomaly"], "waiting": waiting}, default=str),
            {
                "severity": "medium",
                "state": "approval_requested",
                "anomaly_id": str(doc["anomaly"]["anomaly_id"]),
            },
        )
        return {"waiting": waiting}
    return steps.notify_step(doc, store, publish)
