"""End to end: `egress demo` on a small account, as `make demo` runs it, then its lineage audit.

The demo runs as a process (as a user runs it) with its own lake and Dagster instance; the tests
read what it wrote: summary.json, the dashboard and the instance's event log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from tests.conftest import egress

INCIDENT_KINDS = {"public_bucket", "sg_exfiltration", "nat_s3", "replication", "cross_az",
                  "cloudfront_cache_miss"}  # fmt: skip


@pytest.fixture(scope="module")
def demo(demo_lake: tuple[Path, str, dict[str, Any]]) -> tuple[Path, str, dict[str, Any]]:
    return demo_lake


def test_every_incident_kind_is_detected_with_its_root_cause(
    demo: tuple[Path, str, dict[str, Any]],
) -> None:
    _, out, summary = demo
    score = summary["ground_truth_score"]
    detected = {i["kind"] for i in score["per_incident"] if i["detected"]}
    assert detected == INCIDENT_KINDS
    assert score["rca_judged"] == len(INCIDENT_KINDS) == score["rca_correct"]
    assert score["precision"] == 1.0 and score["benign_alerts"] == 0
    assert summary["reconciliation"]["within_tolerance"]
    for anomaly in summary["anomalies"]:
        assert anomaly["top_cause"] and anomaly["remediation"], anomaly
        assert all(a["status"] in ("planned", "recommended") for a in anomaly["remediation"])
    assert "score against the ground truth: 6/6 incidents detected" in out
    assert "Warning" not in out and "Telemetry" not in out


def test_a_second_run_over_the_demo_landing_zone_does_no_work(
    demo: tuple[Path, str, dict[str, Any]],
) -> None:
    lake, _, _ = demo
    summary = lake / "reports" / "summary.json"
    before = (summary.read_bytes(), summary.stat().st_mtime_ns)
    again = egress(["run", "--landing", str(lake / "landing"), "--lake", str(lake)], lake)
    assert again.returncode == 0, again.stderr
    assert "nothing new since the last run: no work done" in again.stdout
    assert (summary.read_bytes(), summary.stat().st_mtime_ns) == before
    assert again.stderr == ""


def test_evaluate_scores_a_landing_zone_that_is_already_there_against_its_truth_file(
    demo: tuple[Path, str, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 15, item 5: `egress evaluate --landing DIR --truth FILE` runs the pipeline on a
    landing zone (here the demo's, already processed: the run does no work) and scores it the
    way the simulated seeds are scored; a truth file that breaks the schema is one line."""
    lake, _, summary = demo
    landing, out = lake / "landing", tmp_path / "evaluation.json"
    truth = landing / "ground_truth.json"
    args = ["evaluate", "--landing", str(landing), "--truth", str(truth), "--lake", str(lake)]
    done = egress([*args, "--out", str(out)], lake)
    assert done.returncode == 0, done.stderr[-2000:]
    overall = json.loads(out.read_text())["overall"]
    demo_score = summary["ground_truth_score"]
    for key in ("incidents", "detected", "precision", "benign_alerts", "rca_correct"):
        assert overall[key] == demo_score[key], key
    assert overall["bill_explained"] >= 0.95
    assert {r["transfer_class"] for r in overall["bill_by_usage_type"]} >= {"internet", "inter_az"}
    broken = tmp_path / "truth.json"
    doc = json.loads(truth.read_text())
    del doc["incidents"][0]["entity"]
    broken.write_text(json.dumps(doc))
    refused = egress(["evaluate", "--landing", str(landing), "--truth", str(broken)], lake)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr
    assert "at incidents/0: 'entity' is a required property" in refused.stderr


def test_dashboard_is_self_contained_html_with_charts_and_every_anomaly(
    demo: tuple[Path, str, dict[str, Any]],
) -> None:
    lake, _, summary = demo
    page = (lake / "reports" / "dashboard.html").read_text()
    assert page.startswith("<!doctype html>")
    # Its charts are drawn by its own inline script from its own JSON (the browser test,
    # tests/e2e/test_dashboard_browser.py, draws them); nothing is loaded from anywhere.
    assert page.count("<script") == 2 and "src=" not in page and "<link" not in page
    assert 'id="chart"' in page and 'id="recon-chart"' in page
    for anomaly in summary["anomalies"]:
        assert f'id="card-{anomaly["anomaly_id"]}"' in page
    for heading in (
        "Top talkers",
        "nat_traffic_to_aws_services",
        "cross_az_pairs",
        "Reconciliation with the bill",
    ):
        assert heading in page


def test_audit_lineage_walks_recorded_runs_back_to_the_landed_files(
    demo: tuple[Path, str, dict[str, Any]],
) -> None:
    lake, _, summary = demo
    anomaly_id = summary["anomalies"][0]["anomaly_id"]
    done = egress(["audit-lineage", anomaly_id, "--json"], lake)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    steps = {s["asset"]: s for s in report["steps"]}
    assert report["steps"][0]["asset"] == "egress_anomalies"
    assert {
        "egress_features",
        "egress_model",
        "egress_flows_hourly",
        "processed_vpc_flow_logs",
        "raw_vpc_flow_logs",
        "raw_config_items",
    } <= set(steps)
    flows = steps["raw_vpc_flow_logs"]
    assert flows["partition"] == report["anomaly"]["first_reported_partition"]
    assert flows["landing_objects"] and all(
        o["key"].startswith("AWSLogs/") and "/vpcflowlogs/" in o["key"]
        for o in flows["landing_objects"]
    )
    for obj in flows["landing_objects"]:
        assert (lake / "landing" / obj["key"]).stat().st_size == obj["bytes"]
    instance = DagsterInstance.from_config(str(lake / ".dagster"))
    for step in report["steps"]:
        run = instance.get_run_by_id(step["run_id"])
        assert run is not None and run.is_success, step["node"]
        assert step["data_version"] and step["code_version"], step["node"]
        # Dagit's Runs page says which layer ran (not __ephemeral_asset_job__).
        assert run.job_name.startswith("egress_run_"), run.job_name
    tree = egress(["audit-lineage", anomaly_id], lake)
    assert "landed: AWSLogs/" in tree.stdout
    unknown = egress(["audit-lineage", "anom-0000000000000000"], lake)
    assert unknown.returncode == 2 and "no anomaly 'anom-0000000000000000'" in unknown.stderr
