"""Anomaly rows for a simulated account's injected incidents, as the detector would report them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from egress_platform.detect.anomalies import ANOMALY_SCHEMA


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def truth(landing: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((landing / "ground_truth.json").read_text())
    return found


def incident_anomalies(landing: Path) -> pl.DataFrame:
    """One open anomaly per injected incident, at its first hour."""
    doc = truth(landing)
    rows = []
    for inc in doc["incidents"]:
        onset = _ts(inc["start"])
        extra = float(inc["extra_usd_per_hour"])
        rows.append(
            {
                "anomaly_id": f"anom-{inc['id']}",
                "account_id": doc["account_id"],
                "entity": inc["entity"],
                "entity_type": inc["entity_type"],
                "dest_class": inc["destination_class"],
                "top_destinations": "",
                "onset_hour": onset,
                "detected_at": onset + timedelta(hours=1),
                "last_hour": onset,
                "hours": 1,
                "status": "open",
                "type": "spike",
                "severity": "high",
                "actual_usd": extra * 1.5,
                "expected_usd": extra * 0.5,
                "upper_usd": extra * 0.6,
                "extra_usd_per_hour": extra,
                "projected_extra_usd_per_day": extra * 24,
                "projected_extra_usd_per_month": extra * 730,
                "suppressed": False,
                "suppressed_reason": None,
                "baseline_profile": "[]",
                "quiet_hours": 0,
            }
        )
    return pl.DataFrame(rows, schema=ANOMALY_SCHEMA)
