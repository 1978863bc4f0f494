"""The egress dashboard: one self-contained HTML page (inline SVG charts, no network to view it).

Charts are drawn by matplotlib into SVG and embedded; tables are HTML. Every string that came
from logs or the account (entity names, tags, narratives) is HTML-escaped: log content is data.
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import polars as pl

from egress_platform.etl.egress_flows import top_talkers
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


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {"svg.fonttype": "none", "svg.hashsalt": "egress-dashboard", "font.size": 9}
    )
    import matplotlib.pyplot as plt

    return plt


def hourly_cost_by_class(flows: pl.DataFrame) -> pl.DataFrame:
    """Estimated $ per hour (rows) by destination class (columns), zero where none."""
    if flows.height == 0:
        return pl.DataFrame(schema={"hour": pl.Datetime("us", "UTC")})
    wide = (
        flows.group_by("hour", "dest_class")
        .agg(pl.col("estimated_usd").sum())
        .pivot(on="dest_class", index="hour", values="estimated_usd")
        .fill_null(0.0)
        .sort("hour")
    )
    classes = sorted(c for c in wide.columns if c != "hour")
    return wide.select("hour", *classes)


def cost_chart(flows: pl.DataFrame, anomalies: pl.DataFrame) -> str:
    """Stacked $ per hour by destination class, each anomaly shaded from onset to its last hour."""
    plt = _pyplot()
    wide = hourly_cost_by_class(flows)
    fig, ax = plt.subplots(figsize=(12, 4))
    if wide.height:
        classes = [c for c in wide.columns if c != "hour" and float(wide[c].sum()) > 0]
        hours = wide["hour"].to_list()
        ax.stackplot(
            hours,
            *[wide[c].to_numpy() for c in classes],
            labels=classes,
            colors=[CLASS_COLOURS.get(c, "#999999") for c in classes],
            alpha=0.85,
        )
        labels: dict[datetime, list[str]] = {}
        for i, row in enumerate(anomalies.sort("onset_hour").iter_rows(named=True), start=1):
            ax.axvspan(row["onset_hour"], row["last_hour"], color="black", alpha=0.05)
            labels.setdefault(row["onset_hour"], []).append(f"A{i}")
        for onset, names in labels.items():
            ax.axvline(onset, color="black", linewidth=0.8, linestyle="--")
            ax.annotate(
                ",".join(names),
                (onset, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                fontsize=8,
                va="top",
            )
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=7, ncol=len(classes))
    ax.set_ylabel("estimated $ per hour")
    ax.set_title("Egress $ per hour by destination class (shaded: anomalies)")
    ax.grid(alpha=0.3)
    return _svg(fig)


def reconciliation_chart(reconciliation: pl.DataFrame) -> str:
    """Per day: the CUR's data-transfer $ beside the flow-estimated $."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 3))
    if reconciliation.height:
        daily = (
            reconciliation.group_by("day")
            .agg(pl.col("cur_usd").sum(), pl.col("estimated_usd").sum())
            .sort("day")
        )
        x = list(range(daily.height))
        ax.bar([i - 0.2 for i in x], daily["cur_usd"].to_list(), 0.4, label="CUR (billed)")
        ax.bar(
            [i + 0.2 for i in x], daily["estimated_usd"].to_list(), 0.4, label="flows (estimated)"
        )
        ax.set_xticks(x, [str(d)[5:] for d in daily["day"].to_list()], rotation=60, fontsize=7)
        ax.legend(fontsize=7)
    ax.set_ylabel("$ per day")
    ax.set_title("Data-transfer $: the bill vs what the flows explain")
    ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def top_talkers_chart(talkers: pl.DataFrame) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 3.2))
    if talkers.height:
        rows = talkers.reverse()
        labels = [f"{s} -> {c}" for s, c in zip(rows["source"], rows["dest_class"], strict=True)]
        colours = [CLASS_COLOURS.get(c, "#999999") for c in rows["dest_class"]]
        ax.barh(labels, rows["usd"].to_list(), color=colours)
        ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("estimated $ over the period")
    ax.set_title("Top talkers")
    ax.grid(alpha=0.3, axis="x")
    return _svg(fig)


def top_talkers_frame(flows: pl.DataFrame) -> pl.DataFrame:
    """The etl's top talkers as a table (source, class, GB out, $)."""
    schema = {"source": pl.String, "dest_class": pl.String, "gb_out": pl.Float64}
    return pl.DataFrame(top_talkers(flows), schema={**schema, "usd": pl.Float64})


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


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return html.escape("" if value is None else str(value))


def table(frame: pl.DataFrame, limit: int = 25) -> str:
    if frame.height == 0:
        return "<p class='empty'>(no rows)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.head(limit).iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def anomaly_cards(data: DashboardData) -> str:
    """Each anomaly with its root cause, evidence and remediation status."""
    reports = {r["anomaly_id"]: r for r in data.reports.iter_rows(named=True)}
    cards = []
    for i, a in enumerate(data.anomalies.sort("onset_hour").iter_rows(named=True), start=1):
        report = reports.get(a["anomaly_id"])
        actions = (
            data.actions.filter(pl.col("anomaly_id") == a["anomaly_id"])
            if data.actions.height
            else data.actions
        )
        e = html.escape
        cause = (
            f"<p><b>Root cause</b> ({report['top_confidence']:.0%}): {e(report['top_cause'])}"
            f" &mdash; {e(report['top_event_name'] or '')} on {e(report['top_resource'] or '')}</p>"
            f"<p class='narrative'>{e(report['summary'] or '')} {e(report['explanation'] or '')}</p>"
            f"<details><summary>evidence</summary><ul>{_evidence(report['evidence'])}</ul></details>"
            if report
            else "<p><b>Root cause</b>: no report yet</p>"
        )
        action_rows = (
            actions.select(
                "action_id",
                "action",
                "resource",
                "status",
                "detail",
                "estimated_monthly_savings_usd",
            )
            if actions.height
            else actions
        )
        cards.append(
            f"<div class='card sev-{e(a['severity'])}'>"
            f"<h3>A{i}. {e(a['entity'])} &rarr; {e(a['dest_class'])} "
            f"<span class='tag'>{e(a['type'])}</span> <span class='tag'>{e(a['severity'])}</span>"
            f" <span class='tag'>{e(a['status'])}</span></h3>"
            f"<p>onset {a['onset_hour']:%Y-%m-%d %H:%M} UTC, {a['hours']} h; actual "
            f"${a['actual_usd']:,.3f}/h vs expected ${a['expected_usd']:,.3f}/h (upper "
            f"${a['upper_usd']:,.3f}); extra <b>${a['extra_usd_per_hour']:,.3f}/h</b>, projected "
            f"${a['projected_extra_usd_per_month']:,.0f}/month. id <code>{e(a['anomaly_id'])}</code></p>"
            f"{cause}<h4>Remediation</h4>{table(action_rows)}</div>"
        )
    return "".join(cards) or "<p class='empty'>(no anomalies)</p>"


def _evidence(evidence_json: str | None) -> str:
    items = json.loads(evidence_json or "[]")
    e = html.escape
    return "".join(
        f"<li><code>{e(str(item.get('evidence_id', '')))}</code> {e(str(item.get('time', '')))} "
        f"{e(str(item.get('name', '')))} on {e(str(item.get('resource_id', '')))}"
        + (f" by {e(str(item['actor']))}" if item.get("actor") else "")
        + "</li>"
        for item in items[:12]
    )


STYLE = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
.kpis{display:flex;gap:16px;margin:16px 0}.kpi{background:#f4f6f8;border-radius:6px;padding:10px 16px}
.kpi b{display:block;font-size:20px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f0f0f0}.card{border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;padding:8px 14px;margin:12px 0}
.sev-high{border-left-color:#d62728}.sev-medium{border-left-color:#ff7f0e}.sev-low{border-left-color:#1f77b4}
.tag{font-size:11px;background:#eee;border-radius:3px;padding:1px 6px;font-weight:normal}
.narrative{color:#444}.empty{color:#888}svg{max-width:100%;height:auto}
"""


def render(data: DashboardData) -> str:
    """The whole page."""
    total = float(data.flows["estimated_usd"].sum()) if data.flows.height else 0.0
    cur = float(data.reconciliation["cur_usd"].sum()) if data.reconciliation.height else 0.0
    est = float(data.reconciliation["estimated_usd"].sum()) if data.reconciliation.height else 0.0
    share = f"{est / cur:.1%}" if cur else "n/a"
    recon = data.reconciliation
    assumed = float(recon["assumed_usd"].sum()) if "assumed_usd" in recon.columns else 0.0
    unknown = (
        float(data.flows.filter(pl.col("dest_class") == "unknown")["estimated_usd"].sum())
        if data.flows.height
        else 0.0
    )
    reported = data.anomalies.height
    monthly = float(data.anomalies["projected_extra_usd_per_month"].sum()) if reported else 0.0
    hours = data.flows["hour"] if data.flows.height else None
    period = (
        f"{cast(datetime, hours.min()):%Y-%m-%d} to {cast(datetime, hours.max()):%Y-%m-%d}"
        if hours is not None
        else "no data"
    )
    talkers = top_talkers_frame(data.flows)
    views = "".join(
        f"<h3>{html.escape(name)}</h3>{table(frame)}"
        for name, frame in sorted(data.views.items())
        if name in ("nat_traffic_to_aws_services", "cross_az_pairs")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Egress Cost Optimizer dashboard</title>
<style>{STYLE}</style></head><body>
<h1>Egress Cost Optimizer</h1>
<p class="sub">{period} &middot; generated {data.generated_at:%Y-%m-%d %H:%M} UTC</p>
<div class="kpis">
<div class="kpi">estimated egress<b>${total:,.2f}</b></div>
<div class="kpi">CUR data transfer<b>${cur:,.2f}</b></div>
<div class="kpi">explained by flows<b>{share}</b></div>
<div class="kpi" title="traffic whose AZ, VPC or destination the logs and Config cannot place,
priced at its most likely rate">unknown destinations, priced as assumed<b>${unknown:,.2f}</b></div>
<div class="kpi">anomalies<b>{reported}</b></div>
<div class="kpi">projected extra / month<b>${monthly:,.0f}</b></div>
</div>
<h2>Egress by destination class</h2>{cost_chart(data.flows, data.anomalies)}
<h2>Top talkers</h2>{top_talkers_chart(talkers)}{table(talkers)}
<h2>NAT traffic to AWS services and cross-AZ pairs</h2>{views or "<p class='empty'>(no SQL views)</p>"}
<h2>Reconciliation with the bill</h2>{reconciliation_chart(data.reconciliation)}
{table(reconciliation_by_usage_type(recon))}
<p class="sub">of the estimate, ${assumed:,.2f} is priced on an assumed class (unknown
destinations); unexplained is the bill less the estimate.</p>
<h2>Anomalies, root causes and remediation</h2>{anomaly_cards(data)}
</body></html>
"""
