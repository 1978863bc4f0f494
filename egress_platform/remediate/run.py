"""Plan, gate and apply an anomaly's recommended actions; write every step to the audit log.

Policy: ``dry-run`` (the default) only plans; ``approve`` applies an action once someone ran
``egress approve <action-id>``; ``auto`` applies actions up to ``auto_max_risk`` and waits for
approval above it. Whatever the mode, a resource tagged ``egress:protected=true`` is never
changed, a resource already in the desired state is left alone (so applying twice is a no-op),
and recommendation-only actions are never applied.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from egress_platform.remediate.accounts import AccountApi, ResourceMissing
from egress_platform.remediate.catalog import RISKS, Plan, actions
from egress_platform.store import Store

MODES = ("dry-run", "approve", "auto")
ACTION_SCHEMA: dict[str, pl.DataType] = {
    "action_id": pl.String(),
    "anomaly_id": pl.String(),
    "action": pl.String(),
    "kind": pl.String(),
    "risk": pl.String(),
    "resource": pl.String(),
    "params": pl.String(),
    "status": pl.String(),
    "detail": pl.String(),
    "plan": pl.String(),
    "rollback": pl.String(),
    "estimated_monthly_savings_usd": pl.Float64(),
    "mode": pl.String(),
}


@dataclass(frozen=True)
class Policy:
    mode: str = "dry-run"
    auto_max_risk: str = "low"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"remediation mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.auto_max_risk not in RISKS:
            raise ValueError(f"auto_max_risk {self.auto_max_risk!r} is not one of {RISKS}")

    def may_apply(self, risk: str, approved: bool) -> bool:
        if self.mode == "dry-run":
            return False
        if approved:
            return True
        return self.mode == "auto" and RISKS.index(risk) <= RISKS.index(self.auto_max_risk)


AUDIT_PREFIX = "remediation/audit/"
APPROVAL_TTL = timedelta(hours=24)
APPROVAL_PREFIX = "remediation/approvals/"


class Ledger:
    """Append-only audit log (one object per entry) and the approvals, in the lake's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def entries(self, action_id: str | None = None) -> list[dict[str, Any]]:
        prefix = AUDIT_PREFIX + (f"{action_id}/" if action_id else "")
        return [json.loads(self.store.read(key)) for key, _ in self.store.list(prefix)]

    def record(self, action_id: str, step: str, outcome: str, **fields: Any) -> bool:
        """Append an entry unless it repeats the action's last one (re-runs add nothing)."""
        previous = self.entries(action_id)
        entry = {"action_id": action_id, "step": step, "outcome": outcome, **fields}
        comparable = {k: v for k, v in entry.items() if k != "at"}
        if previous and {k: v for k, v in previous[-1].items() if k not in ("at", "seq")} == (
            comparable
        ):
            return False
        entry = {"seq": len(previous), "at": datetime.now(UTC).isoformat(), **entry}
        key = f"{AUDIT_PREFIX}{action_id}/{len(previous):04d}-{step}.json"
        self.store.write(key, json.dumps(entry, sort_keys=True, default=str).encode())
        return True

    def approve(self, action_id: str, who: str, ttl: timedelta = APPROVAL_TTL) -> None:
        """Approve the action's last recorded plan (what the approver was shown): the approval
        holds for that exact plan only, once, until it expires."""
        planned = [e for e in self.entries(action_id) if e["step"] == "plan"]
        changes = planned[-1].get("changes", []) if planned else []
        now = datetime.now(UTC)
        self.store.write(
            f"{APPROVAL_PREFIX}{action_id}.json",
            json.dumps(
                {
                    "action_id": action_id,
                    "approved_by": who,
                    "at": now.isoformat(),
                    "expires_at": (now + ttl).isoformat(),
                    "plan_digest": plan_digest(changes),
                }
            ).encode(),
        )
        self.record(action_id, "approve", "approved", actor=who, plan_digest=plan_digest(changes))

    def approval(self, action_id: str) -> dict[str, Any] | None:
        key = f"{APPROVAL_PREFIX}{action_id}.json"
        if not self.store.exists(key):
            return None
        doc: dict[str, Any] = json.loads(self.store.read(key))
        return doc

    def approved(self, action_id: str, changes: list[str], now: datetime | None = None) -> bool:
        """An unused, unexpired approval of exactly this plan."""
        doc = self.approval(action_id)
        if doc is None or doc.get("used_at"):
            return False
        if datetime.fromisoformat(doc["expires_at"]) <= (now or datetime.now(UTC)):
            return False
        return bool(doc.get("plan_digest") == plan_digest(changes))

    def consume(self, action_id: str, reason: str) -> None:
        """Spend an approval (it was used, or what it approved can no longer happen)."""
        doc = self.approval(action_id)
        if doc is None or doc.get("used_at"):
            return
        doc |= {"used_at": datetime.now(UTC).isoformat(), "used_for": reason}
        self.store.write(f"{APPROVAL_PREFIX}{action_id}.json", json.dumps(doc).encode())
        self.record(action_id, "approval", "consumed", reason=reason)

    def applied(self, action_id: str) -> bool:
        return any(
            e["step"] == "result" and e["outcome"] == "applied" for e in self.entries(action_id)
        )


def plan_digest(changes: list[str]) -> str:
    return hashlib.sha256(json.dumps(list(changes)).encode()).hexdigest()[:16]


def action_id(anomaly_id: str, action: str, params: dict[str, Any]) -> str:
    text = f"{anomaly_id}|{action}|{json.dumps(params, sort_keys=True)}"
    return "act-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _row(
    anomaly_id: str,
    aid: str,
    rec: dict[str, Any],
    policy: Policy,
    status: str,
    detail: str,
    plan: Plan | None,
) -> dict[str, Any]:
    action = actions.get(rec["action"])
    return {
        "action_id": aid,
        "anomaly_id": anomaly_id,
        "action": rec["action"],
        "kind": action.kind if action else "unknown",
        "risk": action.risk if action else "unknown",
        "resource": plan.resource if plan else "",
        "params": json.dumps(rec.get("params", {}), sort_keys=True),
        "status": status,
        "detail": detail,
        "plan": json.dumps(plan.changes if plan else []),
        "rollback": json.dumps(plan.rollback if plan else {}, default=str, sort_keys=True),
        "estimated_monthly_savings_usd": float(rec.get("estimated_monthly_savings_usd") or 0.0),
        "mode": policy.mode,
    }


def remediate_one(
    anomaly_id: str, rec: dict[str, Any], account: AccountApi, policy: Policy, ledger: Ledger
) -> dict[str, Any]:
    """Plan one recommended action, gate it, apply it if allowed; return its status row."""
    params = rec.get("params", {})
    aid = action_id(anomaly_id, rec["action"], params)
    action = actions.get(rec["action"])

    def done(
        status: str, detail: str, plan: Plan | None = None, step: str = "plan"
    ) -> dict[str, Any]:
        ledger.record(
            aid,
            step,
            status,
            anomaly_id=anomaly_id,
            action=rec["action"],
            params=params,
            detail=detail,
            mode=policy.mode,
            changes=plan.changes if plan else [],
        )
        return _row(anomaly_id, aid, rec, policy, status, detail, plan)

    if action is None:
        return done("rejected", f"{rec['action']!r} is not in the remediation catalog")
    errors = action.validate(params)
    if errors:
        return done("rejected", "invalid parameters: " + "; ".join(errors))
    try:
        plan = action.plan(account if action.kind == "change" else None, params)
    except ResourceMissing as missing:
        return done("precondition_failed", str(missing))
    if action.kind == "recommendation":
        return done("recommended", plan.changes[0], plan)
    if plan.protected:
        ledger.consume(aid, "resource is protected")  # never applies once the tag is removed
        return done("blocked_protected", f"{plan.resource} is tagged egress:protected=true", plan)
    if plan.noop:
        ledger.consume(aid, "already in the desired state")
        if ledger.applied(aid):
            return done("applied", "already applied; nothing left to change", plan)
        return done("no_op", "already in the desired state", plan)
    approved = ledger.approved(aid, plan.changes)
    if not policy.may_apply(action.risk, approved):
        if policy.mode == "dry-run":
            return done("planned", "dry run: " + "; ".join(plan.changes), plan)
        return done("awaiting_approval", f"run `egress approve {aid}` to apply", plan)
    ledger.record(
        aid,
        "apply",
        "started",
        anomaly_id=anomaly_id,
        action=rec["action"],
        params=params,
        changes=plan.changes,
        approved=approved,
    )
    if approved:
        ledger.consume(aid, "applied")  # single use: a rule re-added later needs a new approval
    try:
        action.apply(account, params)
        after = action.plan(account, params)
    except Exception as error:  # every failure is recorded, then reported
        return done("failed", f"{type(error).__name__}: {error}", plan, step="result")
    if not after.noop:
        return done(
            "failed",
            "applied, but the resource is still not in the desired state",
            plan,
            step="result",
        )
    return done("applied", "; ".join(plan.changes), plan, step="result")


def remediate(
    anomaly_id: str,
    recommended: list[dict[str, Any]],
    account: AccountApi,
    policy: Policy,
    ledger: Ledger,
) -> list[dict[str, Any]]:
    return [remediate_one(anomaly_id, rec, account, policy, ledger) for rec in recommended]
