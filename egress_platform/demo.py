"""``make demo``: simulate an account, then ingest every source through Dagster and summarise."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from egress_platform.sources import SOURCES

Say = Callable[[str], None]
INSTANCE_SETTINGS = "telemetry:\n  enabled: false\n"  # the demo's own instance: no banner, no calls


@dataclass(frozen=True)
class Scale:
    days: int
    enis: int


SCALES = {"default": Scale(21, 10), "large": Scale(28, 40)}


def demo_scale() -> Scale:
    """``EGRESS_SCALE`` (default or large) picks the simulated account's size."""
    name = os.environ.get("EGRESS_SCALE", "default") or "default"
    if name not in SCALES:
        raise ValueError(f"EGRESS_SCALE={name!r}: use one of {', '.join(SCALES)}")
    return SCALES[name]


def quiet_dagster() -> None:
    """Dagster's beta/preview warnings say nothing to a user of the demo."""
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")


def dagster_instance(lake: Path) -> Any:
    """The persistent instance under the lake, so `make dev` shows the demo's runs and lineage."""
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(lake / ".dagster")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.is_file() or not settings.read_text().strip():
        settings.write_text(INSTANCE_SETTINGS)  # otherwise defaults: all under DAGSTER_HOME
    return DagsterInstance.get()


WARMUP_DAYS = 3
SAMPLE_IP_RANGES = Path(__file__).resolve().parents[2] / "shared/samples/network/ip-ranges.json"


def materialize_asset(asset_name: str, first: str, last: str, instance: Any) -> dict[str, Any]:
    """Materialize one asset over a partition range in a single run; return its metadata."""
    from dagster import AssetKey, materialize

    from egress_platform.definitions import ALL_ASSETS, defs

    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey(asset_name)],
        resources=defs.resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
        if first
        else {},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        raise RuntimeError(f"materializing {asset_name} failed; see the run in `make dev`")
    event = result.asset_materializations_for_node(asset_name)[0]
    meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    checks = result.get_asset_check_evaluations()
    meta["check_passed"] = all(c.passed for c in checks)
    return meta


def run_demo(start: date, days: int, seed: int, say: Say, enis: int = 10) -> int:
    from egress_platform.simulate import simulate
    from resources.profiles import lake_dir

    quiet_dagster()
    began = time.monotonic()
    if not os.environ.get("EGRESS_IP_RANGES") and SAMPLE_IP_RANGES.is_file():
        os.environ["EGRESS_IP_RANGES"] = str(SAMPLE_IP_RANGES)
    lake = lake_dir()
    landing = lake / "landing"
    say(
        f"[1/7] simulating {days} days of account activity into {landing} (seed {seed}, {enis} ENIs)"
    )
    t0 = time.monotonic()
    sim = simulate(landing, start, days, seed, enis, progress=lambda m: say(f"      {m}"))
    say(
        f"      account {sim.account_id}, {sim.incidents} incidents injected, {time.monotonic() - t0:.1f}s"
    )

    instance = dagster_instance(lake)
    end = start + timedelta(days=days - 1)
    hourly = (f"{start}-00:00", f"{end}-23:00")
    daily = (str(start), str(end))

    def window(spec_partitioning: str) -> tuple[str, str]:
        return hourly if spec_partitioning == "hourly" else daily

    say(
        f"[2/7] ingesting every source into the raw zone through Dagster (instance {instance.root_directory})"
    )
    rows = []
    for i, spec in enumerate(SOURCES.values(), start=1):
        first, last = window(spec.partitioning)
        t = time.monotonic()
        say(f"      ({i}/{len(SOURCES)}) {spec.asset_name}: partitions {first} .. {last} ...")
        meta = materialize_asset(spec.asset_name, first, last, instance)
        elapsed = time.monotonic() - t
        rows.append((spec.name, meta, elapsed))
        say(
            f"            {meta['records']:,} records, {meta['quarantined']:,} quarantined in {elapsed:.1f}s"
        )
    checks_ok = all(meta["check_passed"] for _, meta, _ in rows)

    say(
        "[3/7] the Glue layer: processed tables, flows classified by destination "
        f"(ip-ranges: {os.environ.get('EGRESS_IP_RANGES') or 'not configured'})"
    )
    processed = [s for s in SOURCES.values() if s.name == "config"] + [
        s for s in SOURCES.values() if s.name != "config"
    ]
    for spec in processed:
        name = spec.asset_name.replace("raw_", "processed_", 1)
        t = time.monotonic()
        meta = materialize_asset(name, *window(spec.partitioning), instance)
        checks_ok &= meta["check_passed"]
        count = meta.get("records", meta.get("facts", 0))
        say(f"      {name}: {count:,} rows in {time.monotonic() - t:.1f}s")

    say("[4/7] pricing egress per hour and reconciling it with the CUR")
    t = time.monotonic()
    flows = materialize_asset("egress_flows_hourly", *hourly, instance)
    say(f"      egress_flows_hourly: {flows['rows']:,} rows in {time.monotonic() - t:.1f}s")
    t = time.monotonic()
    recon = materialize_asset("cost_reconciliation", *daily, instance)
    checks_ok &= recon["check_passed"]
    say(f"      cost_reconciliation: {recon['days']} days in {time.monotonic() - t:.1f}s")

    anomalies: dict[str, Any] = {}
    if days > WARMUP_DAYS:
        say("[5/7] detection: features, a model retrained each day, hourly anomalies")
        judged = start + timedelta(days=WARMUP_DAYS)
        t = time.monotonic()
        materialize_asset("egress_features", *hourly, instance)
        model = materialize_asset("egress_model", str(judged), str(end), instance)
        checks_ok &= model["check_passed"]
        anomalies = materialize_asset("egress_anomalies", f"{judged}-00:00", hourly[1], instance)
        say(
            f"      {anomalies['anomalies']} anomalies ({anomalies['suppressed']} suppressed as planned) in {time.monotonic() - t:.1f}s"
        )
    else:
        say(f"[5/7] detection skipped: it needs more than {WARMUP_DAYS} days of history")

    response: dict[str, Any] = {}
    if anomalies:
        say("[6/7] respond: root cause per anomaly, remediation plans (dry run), audit log, alerts")
        judged_hours = (f"{start + timedelta(days=WARMUP_DAYS)}-00:00", hourly[1])
        t = time.monotonic()
        for name in ("rca_reports", "remediation_actions", "egress_alerts"):
            response[name] = materialize_asset(name, *judged_hours, instance)
        response["audit"] = materialize_asset("remediation_audit_log", "", "", instance)
        say(
            f"      {response['rca_reports']['reports']} reports, "
            f"{response['remediation_actions']['actions']} planned actions "
            f"({response['remediation_actions']['mode']}), "
            f"{response['egress_alerts']['sent']} alerts in {time.monotonic() - t:.1f}s"
        )
    else:
        say("[6/7] respond skipped: no anomalies")

    say("[7/7] report: SQL views and the dashboard")
    t = time.monotonic()
    materialize_asset("egress_sql_views", "", "", instance)
    dashboard = materialize_asset("egress_dashboard", "", "", instance)
    say(
        f"      egress_dashboard: {dashboard['bytes'] / 1e3:,.0f} kB in {time.monotonic() - t:.1f}s"
    )

    truth = json.loads((landing / "ground_truth.json").read_text())
    score = ground_truth_score(lake, truth)
    summary = demo_summary(sim.account_id, days, seed, enis, rows, flows, recon, anomalies,
                           response, score)  # fmt: skip
    say_summary(summary, rows, say)
    reports = lake / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    summary["seconds"] = round(time.monotonic() - began, 1)
    (reports / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    say(
        f"\nraw zone: {lake / 'raw'}   processed: {lake / 'processed'}   curated: {lake / 'curated'}"
    )
    say(f"summary: {reports / 'summary.json'}   dashboard: {dashboard['path']}")
    say(f"ground truth: {landing / 'ground_truth.json'}")
    if summary["anomalies"]:
        say(f"lineage of an anomaly: egress audit-lineage {summary['anomalies'][0]['anomaly_id']}")
    say("browse the assets, partitions, lineage and checks with `make dev`")
    say(f"done in {summary['seconds']:.0f}s")
    return 0 if checks_ok else 1


def ground_truth_score(lake: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """The detections and root causes in the lake scored against the simulator's ground truth."""
    from assets.report import latest_events
    from egress_platform.detect.evaluate import rca_accuracy, score_against_truth
    from egress_platform.rca.report import REPORT_SCHEMA
    from resources.lake import LocalLakeIOManager

    store = LocalLakeIOManager(root=str(lake))
    events = latest_events(store)  # both scores leave the suppressed ones out themselves
    score = score_against_truth(events, truth)
    rca = rca_accuracy(store.read_all("rca_reports", REPORT_SCHEMA), events, truth)
    return {**score.summary(), **rca, "per_incident": score.per_incident}


def demo_summary(
    account_id: str,
    days: int,
    seed: int,
    enis: int,
    rows: list[tuple[str, dict[str, Any], float]],
    flows: dict[str, Any],
    recon: dict[str, Any],
    anomalies: dict[str, Any],
    response: dict[str, Any],
    score: dict[str, Any],
) -> dict[str, Any]:
    """What `make demo` found, as ``lake/reports/summary.json`` holds it."""
    reports = {r["anomaly_id"]: r for r in response.get("rca_reports", {}).get("reports_list", [])}
    actions: dict[str, list[dict[str, Any]]] = {}
    for action in response.get("remediation_actions", {}).get("action_list", []):
        actions.setdefault(action["anomaly_id"], []).append(action)
    listed = []
    for a in anomalies.get("anomaly_list", []):
        report = reports.get(a["id"], {})
        listed.append(
            {
                "anomaly_id": a["id"], "entity": a["entity"], "dest_class": a["class"],
                "type": a["type"], "onset": a["onset"], "severity": a["severity"],
                "extra_usd_per_hour": a["extra_usd_per_hour"],
                "projected_extra_usd_per_month": round(a["extra_usd_per_hour"] * 730, 2),
                "top_cause": report.get("cause"), "confidence": report.get("confidence"),
                "cause_event": report.get("event"), "cause_resource": report.get("resource"),
                "remediation": [{"action_id": x["action_id"], "action": x["action"],
                                 "status": x["status"]} for x in actions.get(a["id"], [])],
            }
        )  # fmt: skip
    by_class = flows["usd_by_destination_class"]
    return {
        "account_id": account_id,
        "days": days,
        "seed": seed,
        "enis": enis,
        "sources": {
            name: {k: meta[k] for k in ("partitions", "files", "records", "quarantined")}
            | {"seconds": round(elapsed, 1), "check_passed": meta["check_passed"]}
            for name, meta, elapsed in rows
        },
        "usd_by_destination_class": dict(sorted(by_class.items(), key=lambda kv: -kv[1])),
        "estimated_usd": round(sum(by_class.values()), 2),
        "top_talkers": flows["top_talkers"][:5],
        "reconciliation": {
            "cur_transfer_usd": recon["cur_transfer_usd"],
            "estimated_usd": recon["estimated_usd"],
            "explained_share": recon["explained_share"],
            "within_tolerance": recon["check_passed"],
        },
        "anomalies": listed,
        "suppressed": anomalies.get("suppressed", 0),
        "ground_truth_score": score,
    }


def say_summary(
    summary: dict[str, Any], rows: list[tuple[str, dict[str, Any], float]], say: Say
) -> None:
    say("")
    say(
        f"{'source':<14}{'partitions':>11}{'files':>8}{'records':>12}{'quarantined':>13}{'MB read':>10}{'seconds':>9}  check"
    )
    for name, meta, elapsed in rows:
        say(
            f"{name:<14}{meta['partitions']:>11,}{meta['files']:>8,}{meta['records']:>12,}{meta['quarantined']:>13,}"
            f"{meta['bytes_read'] / 1e6:>10.1f}{elapsed:>9.1f}  {'ok' if meta['check_passed'] else 'FAILED'}"
        )
    say("")
    say("estimated egress $ by destination class")
    for cls, usd in summary["usd_by_destination_class"].items():
        say(f"  {cls:<26}{usd:>12,.2f}")
    say(f"  {'total':<26}{summary['estimated_usd']:>12,.2f}")
    say("top talkers")
    for talker in summary["top_talkers"]:
        say(
            f"  {talker['source']:<48}{talker['dest_class']:<16}{talker['gb_out']:>10,.1f} GB{talker['usd']:>10,.2f} $"
        )
    recon = summary["reconciliation"]
    say(
        f"bill reconciliation: CUR data transfer ${recon['cur_transfer_usd']:,.2f}, flows explain "
        f"${recon['estimated_usd']:,.2f} = {recon['explained_share']:.1%} "
        f"({'within' if recon['within_tolerance'] else 'OUTSIDE'} the 3% tolerance)"
    )
    if summary["anomalies"]:
        say("anomalies found (onset, entity, class, type, extra $/h, projected $/month, severity)")
        for a in summary["anomalies"]:
            say(
                f"  {a['onset'][:16]}  {a['entity']:<28}{a['dest_class']:<14}{a['type']:<17}"
                f"{a['extra_usd_per_hour']:>8.3f}{a['projected_extra_usd_per_month']:>10,.0f}  {a['severity']}"
            )
        say("root causes and remediation (dry run: `egress approve <action-id>` applies one)")
        for a in summary["anomalies"]:
            event = f"{a['cause_event']} on " if a["cause_event"] else ""
            confidence = f" ({a['confidence']:.0%})" if a["confidence"] is not None else ""
            say(f"  {a['entity']:<28} {a['top_cause']}{confidence}: {event}{a['cause_resource']}")
            for action in a["remediation"]:
                say(f"      {action['status']:<18}{action['action']:<36}{action['action_id']}")
    s = summary["ground_truth_score"]
    if summary["days"] <= WARMUP_DAYS:
        say(
            f"score against the ground truth: not judged (detection needs more than {WARMUP_DAYS} days)"
        )
        return
    delay = f"{s['median_delay_h']:.1f} h" if s["median_delay_h"] is not None else "n/a"
    error = f"{s['median_impact_error']:.1%}" if s["median_impact_error"] is not None else "n/a"
    say(
        f"score against the ground truth: {s['detected']}/{s['incidents']} incidents detected "
        f"(recall {s['recall']:.0%}), precision {s['precision']:.0%} over {s['events']} events, "
        f"{s['benign_alerts']} alerts on benign changes, median delay {delay}, "
        f"median $ impact error {error}, root cause right for {s['rca_correct']}/{s['rca_judged']}"
    )
