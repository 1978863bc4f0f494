"""The egress dashboard: one self-contained, interactive HTML page that needs no network.

The page (``dashboard.html.j2``) carries its data as one JSON document and draws it with a
little inline JavaScript and SVG: filters by account, region, destination class and entity, a
time range, hover values, anomaly markers that open their card, sortable tables with CSV
export. Every string that came from logs or the account (entity names, tags, narratives) is
escaped by the template or set as text by the script: log content is data, never markup.
Each card's dollar figures come from the anomaly's own row, once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

import jinja2
import polars as pl

from egress_platform.pricing.reconcile import by_usage_type

CLASS_COLOURS = {
    "internet": "#d62728",
    "inter_region": "#9467bd",
    "inter_az": "#ff7f0e",
    "nat_gateway": "#8c564b",
    "transit_gateway": "#e377c2",
    "peering": "#bcbd22",
    "vpc_endpoint": "#17becf",
    "cloudfront": "#1f77b4",
    "aws_service_same_region": "#2ca02c",
    "intra_az": "#7f7f7f",
    "unknown": "#000000",
}


@dataclass(frozen=True)
class DashboardData:
    """What the page shows; each frame is the whole of its asset (or view) over the lake."""

    flows: pl.DataFrame  # egress_flows_hourly
    anomalies: pl.DataFrame  # egress_anomalies, latest row per anomaly id
    reports: pl.DataFrame  # rca_reports
    actions: pl.DataFrame  # remediation_actions
    reconciliation: pl.DataFrame  # cost_reconciliation
    views: dict[str, pl.DataFrame]  # the SQL views by name
    generated_at: datetime


def reconciliation_by_usage_type(recon: pl.DataFrame) -> pl.DataFrame:
    """Per usage type: the bill, explained, priced on an assumption, unexplained."""
    schema = {
        "transfer_class": pl.String,
        "usage_types": pl.String,
        "cur_usd": pl.Float64,
        "explained_usd": pl.Float64,
        "assumed_usd": pl.Float64,
        "unexplained_usd": pl.Float64,
    }
    if recon.height == 0 or "assumed_usd" not in recon.columns:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(by_usage_type(recon), schema=schema)


SERIES_PER_CLASS = 200  # entities drawn one by one per (account, region, class); the rest fold
OTHER = "(other entities)"


def _columns(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{"name": c, "num": t.is_numeric()} for c, t in frame.schema.items()]


def _table(frame: pl.DataFrame, limit: int = 25) -> dict[str, Any]:
    return {"columns": _columns(frame), "rows": [list(r) for r in frame.head(limit).iter_rows()]}


def chart_series(flows: pl.DataFrame, hours: list[datetime]) -> list[dict[str, Any]]:
    """Hourly $ and GB per (account, region, class, entity), as sparse [hour index, $, GB]
    points: what the chart and the top-talkers table sum for any filter and time range."""
    if flows.height == 0:
        return []
    index = pl.DataFrame({"hour": hours, "i": list(range(len(hours)))})
    key = ["account_id", "region", "dest_class", "entity"]
    hourly = (
        flows.with_columns(
            pl.col("account_id").fill_null(""),
            pl.col("region").fill_null(""),
            pl.coalesce("source_id", pl.lit("-")).alias("entity"),
            ((pl.col("bytes_out") + pl.col("bytes_in").fill_null(0)) / 1024**3).alias("gb"),
        )
        .group_by(*key, "hour")
        .agg(pl.col("estimated_usd").sum(), pl.col("gb").sum())
    )
    rank = (
        hourly.group_by(key)
        .agg(pl.col("estimated_usd").sum().alias("_total"))
        .sort(["_total", "entity"], descending=[True, False])  # ties by name: reproducible
        .with_columns(
            (pl.int_range(pl.len()).over("account_id", "region", "dest_class") + 1).alias("_rank")
        )
    )
    folded = (
        hourly.join(rank, on=key)
        .with_columns(
            pl.when(pl.col("_rank") <= SERIES_PER_CLASS)
            .then(pl.col("entity"))
            .otherwise(pl.lit(OTHER))
            .alias("entity")
        )
        .group_by(*key, "hour")
        .agg(pl.col("estimated_usd").sum(), pl.col("gb").sum())
        .join(index, on="hour")
        .sort([*key, "i"])
        .group_by(key, maintain_order=True)
        .agg(pl.concat_list(pl.col("i").cast(pl.Float64), "estimated_usd", "gb").alias("points"))
    )
    return [
        {
            "account": a,
            "region": r,
            "dest_class": c,
            "entity": e,
            "points": [[int(p[0]), round(p[1], 6), round(p[2], 6)] for p in points],
        }
        for a, r, c, e, points in folded.iter_rows()
    ]


def _evidence(evidence_json: str | None) -> list[dict[str, str]]:
    items = json.loads(evidence_json or "[]")
    return [
        {
            "id": str(item.get("evidence_id", "")),
            "time": str(item.get("time", "")),
            "name": str(item.get("name", "")),
            "resource": str(item.get("resource_id", "")),
            "actor": str(item.get("actor") or ""),
        }
        for item in items[:12]
    ]


def anomaly_cards(data: DashboardData) -> list[dict[str, Any]]:
    """Each anomaly as its card shows it: figures from the anomaly's row only (the narrative's
    own sentence about $ is not repeated), its root cause, evidence and remediation."""
    reports = {r["anomaly_id"]: r for r in data.reports.iter_rows(named=True)}
    regions = _entity_regions(data.flows)
    cards = []
    for i, a in enumerate(data.anomalies.sort("onset_hour").iter_rows(named=True), start=1):
        report = reports.get(a["anomaly_id"])
        actions = (
            data.actions.filter(pl.col("anomaly_id") == a["anomaly_id"]).select(
                "action_id", "action", "resource", "status", "detail"
            )
            if data.actions.height
            else pl.DataFrame(schema={"action_id": pl.String})
        )
        cards.append(
            {
                "label": f"A{i}",
                "anomaly_id": a["anomaly_id"],
                "entity": a["entity"],
                "account": a.get("account_id") or "",
                "region": regions.get(a["entity"], ""),
                "dest_class": a["dest_class"],
                "type": a["type"],
                "severity": a["severity"],
                "status": a["status"],
                "onset": f"{a['onset_hour']:%Y-%m-%d %H:%M}",
                "onset_hour": a["onset_hour"],
                "last_hour": a["last_hour"],
                "hours": a["hours"],
                "actual": a["actual_usd"],
                "expected": a["expected_usd"],
                "upper": a["upper_usd"],
                "extra": a["extra_usd_per_hour"],
                "monthly": a["projected_extra_usd_per_month"],
                "report": {
                    "confidence": report["top_confidence"] or 0.0,
                    "cause": report["top_cause"],
                    "event_name": report["top_event_name"] or "",
                    "resource": report["top_resource"] or "",
                    "explanation": report["explanation"] or "",
                    "evidence": _evidence(report["evidence"]),
                }
                if report
                else None,
                "actions": _table(actions, limit=50),
            }
        )
    return cards


def _entity_regions(flows: pl.DataFrame) -> dict[str, str]:
    """Each entity's region: ENIs, buckets and distributions by their own rows, NAT gateways
    (an anomaly's entity for NAT traffic) by the rows that went through them."""
    if flows.height == 0:
        return {}
    found: dict[str, str] = {}
    for column in ("via_nat_gateway_id", "source_id"):
        rows = flows.group_by(column).agg(pl.col("region").drop_nulls().first())
        found |= {e: r or "" for e, r in rows.iter_rows() if e}
    return found


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("dashboard.html.j2")


def render(data: DashboardData) -> str:
    """The whole page."""
    flows, recon = data.flows, data.reconciliation
    total = float(flows["estimated_usd"].sum()) if flows.height else 0.0
    cur = float(recon["cur_usd"].sum()) if recon.height else 0.0
    est = float(recon["estimated_usd"].sum()) if recon.height else 0.0
    assumed = float(recon["assumed_usd"].sum()) if "assumed_usd" in recon.columns else 0.0
    unknown = (
        float(flows.filter(pl.col("dest_class") == "unknown")["estimated_usd"].sum())
        if flows.height
        else 0.0
    )
    hours: list[datetime] = []
    if flows.height:
        first, last = cast(datetime, flows["hour"].min()), cast(datetime, flows["hour"].max())
        hours = pl.datetime_range(first, last, "1h", time_zone="UTC", eager=True).to_list()
    cards = anomaly_cards(data)
    series = chart_series(flows, hours)
    daily = (
        recon.group_by("day")
        .agg(pl.col("cur_usd").sum(), pl.col("estimated_usd").sum())
        .sort("day")
        if recon.height
        else pl.DataFrame(
            schema={"day": pl.Date, "cur_usd": pl.Float64, "estimated_usd": pl.Float64}
        )
    )
    position = {h: i for i, h in enumerate(hours)}
    payload = {
        "hours": [f"{h:%Y-%m-%dT%H:%M:%SZ}" for h in hours],
        "classes": [c for c in CLASS_COLOURS if any(s["dest_class"] == c for s in series)]
        + sorted({s["dest_class"] for s in series} - set(CLASS_COLOURS)),
        "colours": CLASS_COLOURS,
        "series": series,
        "anomalies": [
            {
                "label": c["label"],
                "anomaly_id": c["anomaly_id"],
                "entity": c["entity"],
                "account": c["account"],
                "region": c["region"],
                "dest_class": c["dest_class"],
                "onset": position.get(c["onset_hour"], 0),
                "last": position.get(c["last_hour"], len(hours) - 1),
                "extra": c["extra"],
            }
            for c in cards
        ],
        "reconciliation": [
            {"day": f"{d}", "cur_usd": round(u, 4), "estimated_usd": round(e, 4)}
            for d, u, e in daily.iter_rows()
        ],
    }
    options = {
        name: sorted({s[key] for s in series if s[key]})
        for name, key in (
            ("account", "account"),
            ("region", "region"),
            ("dest_class", "dest_class"),
            ("entity", "entity"),
        )
    }
    views = [
        {"name": name, **_table(frame)}
        for name, frame in sorted(data.views.items())
        if name in ("nat_traffic_to_aws_services", "cross_az_pairs")
    ]
    return _template().render(
        period=f"{hours[0]:%Y-%m-%d} to {hours[-1]:%Y-%m-%d}" if hours else "no data",
        generated=f"{data.generated_at:%Y-%m-%d %H:%M}",
        first_day=f"{hours[0]:%Y-%m-%d}" if hours else "",
        last_day=f"{hours[-1]:%Y-%m-%d}" if hours else "",
        total=total,
        cur=cur,
        share=f"{est / cur:.1%}" if cur else "n/a",
        unknown=unknown,
        assumed=assumed,
        monthly=sum(c["monthly"] for c in cards),
        cards=cards,
        options=options,
        views=views,
        usage=_table(reconciliation_by_usage_type(recon), limit=100),
        payload=payload,
    )
