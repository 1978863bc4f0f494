"""Alert messages per anomaly state change, delivered through an outbox so none is lost.

States: ``opened`` (the anomaly is reported), ``remediated`` (an action was applied) and
``resolved`` (the anomaly closed). Each (anomaly, state) is sent once: the message is first
written to the outbox, then published, then moved to ``sent``; a failed publish stays in the
outbox and is retried by the next run, before new messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from egress_platform.store import Store

OUTBOX = "alerts/outbox/"
SENT = "alerts/sent/"
ATTEMPTS = 3
ALERT_SCHEMA: dict[str, pl.DataType] = {
    "alert_key": pl.String(),
    "anomaly_id": pl.String(),
    "state": pl.String(),
    "severity": pl.String(),
    "delivered": pl.Boolean(),
    "message_id": pl.String(),
    "error": pl.String(),
    "body": pl.String(),
}
# (subject, body, attributes) -> message id
Publish = Callable[[str, str, dict[str, str]], str]


def alert_states(anomaly: dict[str, Any], actions: list[dict[str, Any]]) -> list[str]:
    states = ["opened"]
    if any(a["status"] == "applied" for a in actions):
        states.append("remediated")
    if anomaly["status"] == "closed":
        states.append("resolved")
    return states


def alert_messages(
    anomaly: dict[str, Any],
    report: dict[str, Any] | None,
    actions: list[dict[str, Any]],
    lineage: dict[str, str],
) -> list[dict[str, Any]]:
    """One JSON body per state the anomaly has reached."""
    top = json.loads(report["hypotheses"])[0] if report else {}
    base = {
        "anomaly_id": anomaly["anomaly_id"],
        "account_id": anomaly["account_id"],
        "entity": anomaly["entity"],
        "entity_type": anomaly["entity_type"],
        "dest_class": anomaly["dest_class"],
        "onset": anomaly["onset_hour"].isoformat(),
        "type": anomaly["type"],
        "severity": anomaly["severity"],
        "extra_usd_per_hour": round(anomaly["extra_usd_per_hour"], 4),
        "projected_extra_usd_per_month": round(anomaly["projected_extra_usd_per_month"], 2),
        "top_hypothesis": {
            k: top.get(k)
            for k in ("title", "resource_id", "event_name", "cloudtrail_event_id", "confidence")
        },
        "evidence_ids": top.get("evidence_ids", []),
        "actions": [
            {"action_id": a["action_id"], "action": a["action"], "status": a["status"]}
            for a in actions
        ],
        "lineage": lineage,
    }
    return [{"state": s, **base} for s in alert_states(anomaly, actions)]


def alert_key(message: dict[str, Any]) -> str:
    return f"{message['anomaly_id']}-{message['state']}"


def _subject(message: dict[str, Any]) -> str:
    return (
        f"[egress {message['severity']}] {message['state']}: {message['entity']} "
        f"{message['dest_class']} +${message['extra_usd_per_hour']:,.2f}/h"
    )[:100]


class DeliveryBudget:
    """Bounded delivery work per run: once the notifier has failed one message through all its
    attempts, the rest of the run keeps its messages in the outbox without trying (a notifier
    that is down must not stall every hourly partition with retries and back-off)."""

    def __init__(self) -> None:
        self.down = ""

    def tried(self, error: str) -> None:
        if error:
            self.down = error


def deliver(
    messages: list[dict[str, Any]],
    store: Store,
    publish: Publish,
    sleep: Callable[[float], None] = time.sleep,
    budget: DeliveryBudget | None = None,
) -> list[dict[str, Any]]:
    """Send what was not sent yet (older outbox entries first); return one row per attempt."""
    budget = budget or DeliveryBudget()
    for message in messages:
        key = alert_key(message)
        if not store.exists(f"{SENT}{key}.json") and not store.exists(f"{OUTBOX}{key}.json"):
            store.write(f"{OUTBOX}{key}.json", json.dumps(message, sort_keys=True).encode())
    rows = []
    for path, _ in store.list(OUTBOX):
        message = json.loads(store.read(path))
        key = alert_key(message)
        body = json.dumps(message, sort_keys=True)
        attributes = {
            "severity": message["severity"],
            "state": message["state"],
            "anomaly_id": message["anomaly_id"],
        }
        message_id, error = "", ""
        if budget.down:
            error = f"not tried: the notifier failed earlier in this run ({budget.down})"
        for attempt in range(0 if budget.down else ATTEMPTS):
            try:
                message_id = publish(_subject(message), body, attributes)
                error = ""
                break
            except Exception as failure:  # kept in the outbox, retried later
                error = f"{type(failure).__name__}: {failure}"
                if attempt + 1 < ATTEMPTS:
                    sleep(0.5 * 2**attempt)
        if not budget.down:
            budget.tried(error)
        if not error:
            store.write(
                f"{SENT}{key}.json", json.dumps({"message_id": message_id, **message}).encode()
            )
            store.delete(path)
        rows.append(
            {
                "alert_key": key,
                "anomaly_id": message["anomaly_id"],
                "state": message["state"],
                "severity": message["severity"],
                "delivered": not error,
                "message_id": message_id,
                "error": error,
                "body": body,
            }
        )
    return rows
