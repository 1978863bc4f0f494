"""The response workflow's steps as JSON-in, JSON-out functions.

The Step Functions state machine (``infra_cdk/constructs/response_workflow/``) runs them as
Lambda tasks in this order; the Dagster assets run the same domain functions in-process
(``rca_reports`` = GatherEvidence + RootCause, ``remediation_actions`` = ChooseActions +
Remediate, ``egress_alerts`` = Notify). Each step takes the state document and returns its part.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from egress_platform.rca.evidence import AnomalyRef, Evidence, Sources, gather_evidence
from egress_platform.rca.hypotheses import rank_hypotheses
from egress_platform.rca.report import Narrator, anomaly_facts
from egress_platform.remediate.accounts import AccountApi
from egress_platform.remediate.catalog import actions
from egress_platform.remediate.run import Ledger, Policy, remediate
from egress_platform.respond.alerts import Publish, Store, alert_messages, deliver

STEPS = ("GatherEvidence", "RootCause", "ChooseActions", "WaitForApproval", "Remediate", "Notify")


def _anomaly(event: dict[str, Any]) -> dict[str, Any]:
    row = dict(event["anomaly"])
    for key in ("onset_hour", "detected_at", "last_hour"):
        if isinstance(row.get(key), str):
            row[key] = datetime.fromisoformat(row[key])
    return row


def gather_evidence_step(event: dict[str, Any], sources: Sources) -> dict[str, Any]:
    ref = AnomalyRef.from_row(_anomaly(event))
    evidence, state = gather_evidence(ref, sources)
    return {"evidence": [e.to_dict() for e in evidence], "resources": state}


def _evidence(doc: dict[str, Any]) -> Evidence:
    when = datetime.fromisoformat(doc["time"]) if doc.get("time") else None
    return Evidence(**{**doc, "time": when})


def root_cause_step(event: dict[str, Any], narrator: Narrator) -> dict[str, Any]:
    ref = AnomalyRef.from_row(_anomaly(event))
    found = event["evidence"]
    hypotheses = rank_hypotheses(ref, [_evidence(e) for e in found["evidence"]], found["resources"])
    narrative, source = narrator(anomaly_facts(ref), hypotheses, found["evidence"])
    return {
        "hypotheses": hypotheses,
        "recommended": hypotheses[0]["actions"],
        "narrative": narrative,
        "narrative_source": source,
    }


def choose_actions_step(
    event: dict[str, Any], account: AccountApi, policy: Policy, ledger: Ledger
) -> dict[str, Any]:
    """Plan without applying; say whether a change waits for a human."""
    anomaly_id = event["anomaly"]["anomaly_id"]
    plans = remediate(
        anomaly_id, event["root_cause"]["recommended"], account, Policy("dry-run"), ledger
    )

    def approved(p: dict[str, Any]) -> bool:
        return ledger.approved(p["action_id"], json.loads(p["plan"]))

    waiting = [
        p["action_id"]
        for p in plans
        if p["status"] == "planned" and not policy.may_apply(actions[p["action"]].risk, approved(p))
    ]
    return {"plans": plans, "needs_approval": bool(waiting), "waiting": waiting}


def remediate_step(
    event: dict[str, Any], account: AccountApi, policy: Policy, ledger: Ledger
) -> dict[str, Any]:
    anomaly_id = event["anomaly"]["anomaly_id"]
    return {
        "actions": remediate(
            anomaly_id, event["root_cause"]["recommended"], account, policy, ledger
        )
    }


def notify_step(event: dict[str, Any], store: Store, publish: Publish) -> dict[str, Any]:
    """The alert for the anomaly's state; on the failure branch, a pipeline-health alert."""
    anomaly = _anomaly(event)
    if "error" in event:
        anomaly = {**anomaly, "status": "open"}
    report = None
    if "root_cause" in event:
        import json

        report = {"hypotheses": json.dumps(event["root_cause"]["hypotheses"])}
    actions = (event.get("remediation") or {}).get("actions", [])
    lineage = {
        "execution": str(event.get("execution", "")),
        "failed_step": str((event.get("error") or {}).get("Error", "")),
    }
    return {"alerts": deliver(alert_messages(anomaly, report, actions, lineage), store, publish)}
