"""One root-cause report per anomaly: evidence, ranked hypotheses, actions, narrative."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from egress_platform.rca.evidence import AnomalyRef, Sources, gather_evidence
from egress_platform.rca.hypotheses import link_note, rank_hypotheses
from egress_platform.rca.narrative import template_narrative

# (anomaly, hypotheses, evidence) -> (narrative fields, where it came from)
Narrator = Callable[
    [dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]], tuple[dict[str, str], str]
]

REPORT_SCHEMA: dict[str, pl.DataType] = {
    "anomaly_id": pl.String(),
    "account_id": pl.String(),
    "entity": pl.String(),
    "entity_type": pl.String(),
    "dest_class": pl.String(),
    "onset_hour": pl.Datetime("us", "UTC"),
    "top_rule": pl.String(),
    "top_cause": pl.String(),
    "top_resource": pl.String(),
    "top_event_name": pl.String(),
    "top_event_id": pl.String(),
    "top_confidence": pl.Float64(),
    "hypotheses": pl.String(),  # JSON list, best first
    "evidence": pl.String(),  # JSON list
    "recommended_actions": pl.String(),  # JSON list of {action, params, savings}
    "summary": pl.String(),
    "explanation": pl.String(),
    "narrative_source": pl.String(),
}


def template_narrator(
    anomaly: dict[str, Any], hypotheses: list[dict[str, Any]], _: list[dict[str, Any]]
) -> tuple[dict[str, str], str]:
    return template_narrative(anomaly, hypotheses), "template"


def anomaly_facts(ref: AnomalyRef) -> dict[str, Any]:
    return {
        "anomaly_id": ref.anomaly_id,
        "entity": ref.entity,
        "entity_type": ref.entity_type,
        "dest_class": ref.dest_class,
        "onset": ref.onset.isoformat(),
        "extra_usd_per_hour": round(ref.extra_usd_per_hour, 4),
        "top_destinations": ref.top_destinations,
    }


def build_report(
    row: dict[str, Any], sources: Sources, narrator: Narrator = template_narrator
) -> dict[str, Any]:
    ref = AnomalyRef.from_row(row)
    evidence, state = gather_evidence(ref, sources)
    hypotheses = rank_hypotheses(ref, evidence, state)
    top = hypotheses[0]
    evidence_docs = [e.to_dict() for e in evidence]
    narrative, source = narrator(anomaly_facts(ref), hypotheses, evidence_docs)
    return {
        "anomaly_id": ref.anomaly_id,
        "account_id": ref.account_id,
        "entity": ref.entity,
        "entity_type": ref.entity_type,
        "dest_class": ref.dest_class,
        "onset_hour": ref.onset,
        "top_rule": top["rule"],
        "top_cause": top["title"],
        "top_resource": top["resource_id"],
        "top_event_name": top["event_name"],
        "top_event_id": top["cloudtrail_event_id"],
        "top_confidence": top["confidence"],
        "hypotheses": json.dumps(hypotheses, sort_keys=True),
        "evidence": json.dumps(evidence_docs, default=str, sort_keys=True),
        "recommended_actions": json.dumps(top["actions"], sort_keys=True),
        "summary": narrative["summary"],
        "explanation": " ".join(
            part for part in (narrative["explanation"], link_note(top, ref.entity)) if part
        ),
        "narrative_source": source,
    }


def build_reports(
    anomalies: pl.DataFrame, sources: Sources, narrator: Narrator = template_narrator
) -> pl.DataFrame:
    """Reports for the anomalies that are reported (not suppressed as planned changes)."""
    rows = (
        [
            build_report(row, sources, narrator)
            for row in anomalies.filter(~pl.col("suppressed")).iter_rows(named=True)
        ]
        if anomalies.height
        else []
    )
    return pl.DataFrame(rows, schema=REPORT_SCHEMA) if rows else pl.DataFrame(schema=REPORT_SCHEMA)
