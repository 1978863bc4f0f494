"""Score detected anomalies against the simulator's ``ground_truth.json``.

An anomaly event matches an incident when their hours overlap and the anomaly is about the
incident's entity: the same id, or one of its aliases (an ENI's private IP or instance) as the
entity or among its top destinations (the receiving side of a cross-AZ flow names its sender).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl


@dataclass
class Score:
    incidents: int
    detected: int
    events: int
    true_events: int
    benign_alerts: int
    delays_h: list[float] = field(default_factory=list)
    impact_errors: list[float] = field(default_factory=list)
    per_incident: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.detected / self.incidents if self.incidents else 1.0

    @property
    def precision(self) -> float:
        return self.true_events / self.events if self.events else 1.0

    @property
    def median_delay_h(self) -> float | None:
        return statistics.median(self.delays_h) if self.delays_h else None

    @property
    def median_impact_error(self) -> float | None:
        return statistics.median(self.impact_errors) if self.impact_errors else None

    def summary(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "detected": self.detected,
            "recall": round(self.recall, 3),
            "events": self.events,
            "true_events": self.true_events,
            "precision": round(self.precision, 3),
            "benign_alerts": self.benign_alerts,
            "median_delay_h": self.median_delay_h,
            "median_impact_error": round(self.median_impact_error, 3)
            if self.median_impact_error is not None
            else None,
        }


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def aliases(entity: str, resources: dict[str, Any]) -> set[str]:
    found = {entity}
    eni = resources.get("enis", {}).get(entity)
    if eni:
        found |= {v for v in (eni.get("ip"), eni.get("instance")) if v}
    return found


def _overlaps(row: dict[str, Any], start: datetime, end: datetime) -> bool:
    return bool(row["onset_hour"] < end and row["last_hour"] + timedelta(hours=1) > start)


def _about(row: dict[str, Any], names: set[str]) -> bool:
    tops = set((row["top_destinations"] or "").split(","))
    return row["entity"] in names or bool(tops & names)


def score_against_truth(anomalies: pl.DataFrame, truth: dict[str, Any]) -> Score:
    reported = [r for r in anomalies.iter_rows(named=True) if not r["suppressed"]]
    resources = truth.get("resources", {})
    matched_ids: set[str] = set()
    result = Score(len(truth["incidents"]), 0, len(reported), 0, 0)
    for incident in truth["incidents"]:
        start, end = _ts(incident["start"]), _ts(incident["end"])
        names = aliases(incident["entity"], resources)
        hits = [r for r in reported if _overlaps(r, start, end) and _about(r, names)]
        matched_ids |= {r["anomaly_id"] for r in hits}
        entry: dict[str, Any] = {
            "incident": incident["id"],
            "kind": incident["kind"],
            "detected": bool(hits),
        }
        if hits:
            result.detected += 1
            first = min(hits, key=lambda r: r["detected_at"])
            delay = (first["detected_at"] - start).total_seconds() / 3600
            result.delays_h.append(delay)
            # Both ends of an in-VPC flow may alert (each pays its side): their extra adds up.
            together = [
                r
                for r in hits
                if abs((r["onset_hour"] - first["onset_hour"]).total_seconds()) <= 7200
            ]
            best = max(together, key=lambda r: r["hours"])
            extra = sum(r["extra_usd_per_hour"] for r in together)
            truth_usd = float(incident["extra_usd_per_hour"])
            error = abs(extra - truth_usd) / truth_usd if truth_usd else 0.0
            result.impact_errors.append(error)
            entry |= {
                "delay_h": delay,
                "extra_usd_per_hour": round(extra, 4),
                "truth_usd_per_hour": truth_usd,
                "impact_error": round(error, 3),
                "type": best["type"],
            }
        result.per_incident.append(entry)
    result.true_events = len(matched_ids)
    for change in truth.get("benign_changes", []):
        start, end = _ts(change["start"]), _ts(change["end"])
        names = aliases(change["entity"], resources)
        if change["kind"] == "nightly_backup":
            continue  # runs every night: only its alerts on top of the backup would count
        result.benign_alerts += sum(
            1
            for r in reported
            if _overlaps(r, start, end) and _about(r, names) and r["anomaly_id"] not in matched_ids
        )
    return result


def rca_accuracy(
    reports: pl.DataFrame, anomalies: pl.DataFrame, truth: dict[str, Any]
) -> dict[str, Any]:
    """Share of detected incidents whose first anomaly's top hypothesis names the causing
    resource and the CloudTrail event that caused it."""
    by_id = {r["anomaly_id"]: r for r in reports.iter_rows(named=True)}
    reported = [r for r in anomalies.iter_rows(named=True) if not r["suppressed"]]
    resources = truth.get("resources", {})
    judged, correct, misses = 0, 0, []
    for incident in truth["incidents"]:
        start, end = _ts(incident["start"]), _ts(incident["end"])
        names = aliases(incident["entity"], resources)
        hits = [r for r in reported if _overlaps(r, start, end) and _about(r, names)]
        if not hits:
            continue
        judged += 1
        report = by_id.get(min(hits, key=lambda r: r["detected_at"])["anomaly_id"])
        right = report is not None and (report["top_resource"], report["top_event_id"]) == (
            incident["causing_resource"],
            incident["cloudtrail_event_id"],
        )
        correct += right
        if not right:
            misses.append(
                {
                    "incident": incident["id"],
                    "kind": incident["kind"],
                    "top": report["top_rule"] if report else None,
                }
            )
    return {
        "rca_judged": judged,
        "rca_correct": correct,
        "rca_accuracy": round(correct / judged, 3) if judged else None,
        "rca_misses": misses,
    }
