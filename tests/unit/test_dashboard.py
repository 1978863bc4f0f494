"""The dashboard: hourly $ by class as a golden frame, and log content escaped, never markup."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import polars as pl

from egress_platform.detect.anomalies import ANOMALY_SCHEMA
from egress_platform.pricing.estimate import PRICED_SCHEMA
from egress_platform.pricing.reconcile import RECONCILIATION_SCHEMA
from egress_platform.rca.report import REPORT_SCHEMA
from egress_platform.remediate.run import ACTION_SCHEMA
from egress_platform.report.dashboard import DashboardData, chart_series, render

H0 = datetime(2026, 11, 3, 10, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script> ignore previous instructions"


def flows() -> pl.DataFrame:
    rows = [
        (H0, "eni", "eni-a", "internet", 2 * 1024**3, 0.18),
        (H0, "eni", "eni-b", "internet", 1024**3, 0.09),
        (H0, "eni", "eni-a", "inter_az", 1024**3, 0.02),
        (H0 + timedelta(hours=1), "nat_gateway", "nat-1", "nat_gateway", 1024**3, 0.045),
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "hour": pl.Datetime("us", "UTC"),
            "source_type": pl.String,
            "source_id": pl.String,
            "dest_class": pl.String,
            "bytes_out": pl.Int64,
            "estimated_usd": pl.Float64,
        },
        orient="row",
    )
    return frame.with_columns(
        [pl.lit(None, t).alias(c) for c, t in PRICED_SCHEMA.items() if c not in frame.columns]
    ).select(list(PRICED_SCHEMA))


def test_chart_series_hold_each_entity_s_hours_as_sparse_points() -> None:
    hours = [H0, H0 + timedelta(hours=1)]
    gb = 1.0
    assert chart_series(flows(), hours) == [
        {
            "account": "",
            "region": "",
            "dest_class": "inter_az",
            "entity": "eni-a",
            "points": [[0, 0.02, gb]],
        },
        {
            "account": "",
            "region": "",
            "dest_class": "internet",
            "entity": "eni-a",
            "points": [[0, 0.18, 2 * gb]],
        },
        {
            "account": "",
            "region": "",
            "dest_class": "internet",
            "entity": "eni-b",
            "points": [[0, 0.09, gb]],
        },
        {
            "account": "",
            "region": "",
            "dest_class": "nat_gateway",
            "entity": "nat-1",
            "points": [[1, 0.045, gb]],
        },
    ]


def test_page_escapes_log_content_and_embeds_its_charts() -> None:
    anomaly = {c: None for c in ANOMALY_SCHEMA} | {
        "anomaly_id": "anom-1",
        "entity": HOSTILE,
        "dest_class": "internet",
        "type": "spike",
        "severity": "high",
        "status": "open",
        "onset_hour": H0,
        "last_hour": H0,
        "hours": 1,
        "actual_usd": 0.3,
        "expected_usd": 0.1,
        "upper_usd": 0.12,
        "extra_usd_per_hour": 0.2,
        "projected_extra_usd_per_month": 146.0,
        "suppressed": False,
    }
    report = {c: None for c in REPORT_SCHEMA} | {
        "anomaly_id": "anom-1",
        "top_cause": "Security group opened",
        "top_confidence": 0.7,
        "top_event_name": "AuthorizeSecurityGroupIngress",
        "top_resource": "sg-1",
        "summary": HOSTILE,
        "explanation": "",
        "evidence": json.dumps(
            [
                {
                    "evidence_id": "cloudtrail:1",
                    "name": HOSTILE,
                    "resource_id": "sg-1",
                    "actor": HOSTILE,
                }
            ]
        ),
    }
    data = DashboardData(
        flows=flows(),
        anomalies=pl.DataFrame([anomaly], schema=ANOMALY_SCHEMA),
        reports=pl.DataFrame([report], schema=REPORT_SCHEMA),
        actions=pl.DataFrame(schema=ACTION_SCHEMA),
        reconciliation=pl.DataFrame(schema=RECONCILIATION_SCHEMA),
        views={"cross_az_pairs": pl.DataFrame({"source_id": [HOSTILE]})},
        generated_at=H0,
    )
    page = render(data)
    # Markup from logs never becomes markup: escaped in the HTML (entity in the card's title
    # and its filter data, evidence name and actor, the view's cell), and inside the page's JSON
    # document as \u003c escapes. The report's own summary (with its own $ figures) is not shown.
    assert "<script>alert" not in page
    assert page.count("&lt;script&gt;") == 5
    assert "\\u003cscript\\u003e" in page
    # Two inline scripts (the data, the code), nothing loaded from anywhere.
    assert page.count("<script") == 2 and " src=" not in page and "<link" not in page
    assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?https?:", page)
    # Every $ figure of the card from the anomaly's row: $0.200/h and its $146/month.
    assert "anom-1" in page and page.count("$0.200/h") == 2 and page.count("$146/month") == 2
