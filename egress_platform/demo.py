"""``make demo``: simulate an account, then ingest every source through Dagster and summarise."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from egress_platform.sources import SOURCES

Say = Callable[[str], None]


def dagster_instance(lake: Path) -> Any:
    """The persistent instance under the lake, so `make dev` shows the demo's runs and lineage."""
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(lake / ".dagster")))
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()  # defaults: everything stored under DAGSTER_HOME
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


def say_response(response: dict[str, Any], say: Say) -> None:
    """Each anomaly's top root cause and its planned remediations."""
    actions: dict[str, list[dict[str, Any]]] = {}
    for action in response["remediation_actions"]["action_list"]:
        actions.setdefault(action["anomaly_id"], []).append(action)
    say("root causes and remediation (dry run: `egress approve <action-id>` applies one)")
    for report in response["rca_reports"]["reports_list"]:
        event = f"{report['event']} on " if report["event"] else ""
        say(
            f"  {report['entity']:<28} {report['cause']} ({report['confidence']:.0%}): "
            f"{event}{report['resource']}"
        )
        for action in actions.get(report["anomaly_id"], []):
            say(f"      {action['status']:<18}{action['action']:<36}{action['action_id']}")


def run_demo(start: date, days: int, seed: int, say: Say) -> int:
    from egress_platform.simulate import simulate
    from resources.profiles import lake_dir

    if not os.environ.get("EGRESS_IP_RANGES") and SAMPLE_IP_RANGES.is_file():
        os.environ["EGRESS_IP_RANGES"] = str(SAMPLE_IP_RANGES)
    lake = lake_dir()
    landing = lake / "landing"
    say(f"[1/6] simulating {days} days of account activity into {landing} (seed {seed})")
    t0 = time.monotonic()
    sim = simulate(landing, start, days, seed, progress=lambda m: say(f"      {m}"))
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
        f"[2/6] ingesting every source into the raw zone through Dagster (instance {instance.root_directory})"
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
        "[3/6] the Glue layer: processed tables, flows classified by destination "
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

    say("[4/6] pricing egress per hour and reconciling it with the CUR")
    t = time.monotonic()
    flows = materialize_asset("egress_flows_hourly", *hourly, instance)
    say(f"      egress_flows_hourly: {flows['rows']:,} rows in {time.monotonic() - t:.1f}s")
    t = time.monotonic()
    recon = materialize_asset("cost_reconciliation", *daily, instance)
    checks_ok &= recon["check_passed"]
    say(f"      cost_reconciliation: {recon['days']} days in {time.monotonic() - t:.1f}s")

    anomalies: dict[str, Any] = {}
    if days > WARMUP_DAYS:
        say("[5/6] detection: features, a model retrained each day, hourly anomalies")
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
        say(f"[5/6] detection skipped: it needs more than {WARMUP_DAYS} days of history")

    response: dict[str, Any] = {}
    if anomalies:
        say("[6/6] respond: root cause per anomaly, remediation plans (dry run), audit log, alerts")
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
    by_class = flows["usd_by_destination_class"]
    for cls, usd in sorted(by_class.items(), key=lambda kv: -kv[1]):
        say(f"  {cls:<26}{usd:>12,.2f}")
    say(f"  {'total':<26}{sum(by_class.values()):>12,.2f}")
    say("top talkers")
    for talker in flows["top_talkers"][:5]:
        say(
            f"  {talker['source']:<48}{talker['dest_class']:<16}{talker['gb_out']:>10,.1f} GB{talker['usd']:>10,.2f} $"
        )
    say(
        f"bill reconciliation: CUR data transfer ${recon['cur_transfer_usd']:,.2f}, flows explain "
        f"${recon['estimated_usd']:,.2f} = {recon['explained_share']:.1%} "
        f"({'within' if recon['check_passed'] else 'OUTSIDE'} the 3% tolerance)"
    )
    if anomalies:
        say("anomalies found (onset, entity, class, type, extra $/h, projected $/month, severity)")
        for a in anomalies["anomaly_list"]:
            say(
                f"  {a['onset'][:16]}  {a['entity']:<28}{a['class']:<14}{a['type']:<17}"
                f"{a['extra_usd_per_hour']:>8.3f}{a['extra_usd_per_hour'] * 730:>10,.0f}  {a['severity']}"
            )
    if response:
        say_response(response, say)
    say(
        f"\nraw zone: {lake / 'raw'}   processed: {lake / 'processed'}   curated: {lake / 'curated'}"
    )
    say(f"ground truth: {landing / 'ground_truth.json'}")
    say("browse the assets, partitions, lineage and checks with `make dev`")
    return 0 if checks_ok else 1
