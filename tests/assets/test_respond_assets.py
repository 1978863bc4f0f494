"""Respond through real Dagster: the anomaly sensor, RCA, gated remediation, audit log, alerts."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from assets.respond import anomaly_response_sensor
from egress_platform.app.definitions import ALL_ASSETS
from egress_platform.lake_layout import CURATED_ZONE, HOUR_FORMAT, partition_path
from egress_platform.simulate import simulate
from resources.lake import LocalLakeIOManager, to_parquet
from resources.respond import LocalWorkflow
from tests.assets.test_egress_assets import meta, resources
from tests.conftest import samples_dir
from tests.respond_fixtures import incident_anomalies, truth

HOURS = ("2026-11-01-00:00", "2026-11-04-23:00")
DAYS = ("2026-11-01", "2026-11-04")


def run(
    lake: Path,
    instance: DagsterInstance,
    name: str,
    window: tuple[str, str],
    run_config: dict[str, Any] | None = None,
) -> Any:
    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey(name)],
        resources=resources(lake, str(samples_dir() / "network" / "ip-ranges.json")),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": window[0],
            "dagster/asset_partition_range_end": window[1],
        },
        run_config=run_config,
    )
    assert result.success
    return result


@pytest.fixture(scope="module")
def responded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lake = tmp_path_factory.mktemp("respond-lake")
    simulate(lake / "landing", date(2026, 11, 1), 4, seed=5)
    instance = DagsterInstance.ephemeral()
    for name, window in [
        ("raw_config_items", DAYS),
        ("processed_config_items", DAYS),
        ("raw_cloudtrail", HOURS),
        ("processed_cloudtrail", HOURS),
        ("raw_cur", DAYS),
        ("processed_cur", DAYS),
    ]:
        run(lake, instance, name, window)
    anomalies = incident_anomalies(lake / "landing")
    store = LocalLakeIOManager(root=str(lake)).store()
    keys = []
    for (onset,), rows in anomalies.group_by("onset_hour"):
        assert isinstance(onset, datetime)
        key = onset.strftime(HOUR_FORMAT)
        keys.append(key)
        store.write(partition_path(CURATED_ZONE, "egress_anomalies", key), to_parquet(rows))
        instance.report_runless_asset_event(AssetMaterialization("egress_anomalies", partition=key))
    return {"lake": lake, "instance": instance, "keys": sorted(keys), "anomalies": anomalies}


def test_sensor_starts_one_response_per_anomaly(responded: dict[str, Any]) -> None:
    lake_resource = LocalLakeIOManager(root=str(responded["lake"]))
    context = build_sensor_context(
        instance=responded["instance"],
        resources={"lake": lake_resource, "workflow": LocalWorkflow()},
    )
    result = anomaly_response_sensor(context)
    ids = sorted(r.run_key for r in result.run_requests)
    assert ids == sorted(responded["anomalies"]["anomaly_id"].to_list())
    assert {r.partition_key for r in result.run_requests} == set(responded["keys"])
    again = anomaly_response_sensor(
        build_sensor_context(
            instance=responded["instance"],
            cursor=result.cursor,
            resources={"lake": lake_resource, "workflow": LocalWorkflow()},
        )
    )
    assert again.run_requests == []


def test_reports_actions_audit_and_alerts(responded: dict[str, Any]) -> None:
    lake, instance = responded["lake"], responded["instance"]
    window = (responded["keys"][0], responded["keys"][-1])
    reports = meta(run(lake, instance, "rca_reports", window), "rca_reports")
    assert reports["reports"] == 6
    found = {r["entity"]: r for r in reports["reports_list"]}
    for inc in truth(lake / "landing")["incidents"]:
        assert found[inc["entity"]]["resource"] == inc["causing_resource"], inc["kind"]

    actions = meta(run(lake, instance, "remediation_actions", window), "remediation_actions")
    assert actions["mode"] == "dry-run"
    assert actions["by_status"] == {"planned": 3, "recommended": 4}
    sg = next(a for a in actions["action_list"] if a["action"] == "sg-revoke-open-ingress")

    approved = meta(
        run(
            lake,
            instance,
            "remediation_actions",
            window,
            {
                "ops": {
                    "remediation_actions": {
                        "config": {
                            "mode": "approve",
                            "approve": [sg["action_id"]],
                            "approved_by": "alice",
                        }
                    }
                }
            },
        ),
        "remediation_actions",
    )
    assert approved["by_status"] == {"applied": 1, "awaiting_approval": 2, "recommended": 4}
    fake = json.loads((lake / "remediation" / "fake_account.json").read_text())
    ranges = [
        r["CidrIp"]
        for p in fake["security_groups"][sg["resource"]]["ingress"]
        for r in p["IpRanges"]
        if p.get("FromPort") == 22
    ]
    assert ranges == ["10.0.0.0/16"]

    audit = run(lake, instance, "remediation_audit_log", window)
    log = pl.read_parquet(
        lake / CURATED_ZONE / "remediation_audit_log" / "partition=all" / "*.parquet"
    )
    mine = log.filter(pl.col("action_id") == sg["action_id"]).sort("seq")
    assert mine["step"].to_list() == ["plan", "approve", "apply", "approval", "result"]
    assert mine.filter(pl.col("step") == "approve")["actor"].to_list() == ["alice"]
    assert meta(audit, "remediation_audit_log")["entries"] == log.height

    alerts = meta(run(lake, instance, "egress_alerts", window), "egress_alerts")
    assert alerts["by_state"] == {"opened": 6, "remediated": 1} and alerts["kept_in_outbox"] == 0
    lines = [json.loads(x) for x in (lake / "reports" / "alerts.jsonl").read_text().splitlines()]
    assert sorted(
        x["attributes"]["anomaly_id"] for x in lines if x["attributes"]["state"] == "opened"
    ) == sorted(responded["anomalies"]["anomaly_id"].to_list())
    body = next(x["body"] for x in lines if x["body"]["entity"] in found)
    assert body["top_hypothesis"]["cloudtrail_event_id"] and body["lineage"]["egress_anomalies"]
    assert meta(run(lake, instance, "egress_alerts", window), "egress_alerts")["sent"] == 0


def test_egress_approve_applies_one_planned_action(responded: dict[str, Any]) -> None:
    from egress_platform.app.errors import CliError
    from egress_platform.app.operate import approve_action, find_action

    lake, instance = responded["lake"], responded["instance"]
    window = (responded["keys"][0], responded["keys"][-1])
    run(lake, instance, "rca_reports", window)
    run(lake, instance, "remediation_actions", window)
    store = LocalLakeIOManager(root=str(lake)).store()
    bucket = next(i for i in truth(lake / "landing")["incidents"] if i["kind"] == "public_bucket")
    from egress_platform.remediate.run import action_id

    block = action_id(
        f"anom-{bucket['id']}", "s3-block-public-access", {"bucket": bucket["entity"]}
    )
    said: list[str] = []
    env = resources(lake, str(samples_dir() / "network" / "ip-ranges.json"))
    assert approve_action(block, "carol", said.append, env, instance) == 0
    assert said[-1].startswith(f"{block}: applied")
    assert find_action(store, block)[1]["status"] == "applied"
    fake = json.loads((lake / "remediation" / "fake_account.json").read_text())
    assert fake["buckets"][bucket["entity"]]["public_access_block"]["BlockPublicPolicy"] is True
    with pytest.raises(CliError, match="no action 'act-0000'"):
        approve_action("act-0000", "carol", said.append, env, instance)
    nat = next(i for i in truth(lake / "landing")["incidents"] if i["kind"] == "nat_s3")
    advice = next(
        r
        for r in (find_action(store, a)[1] for a in _action_ids(store))
        if r["anomaly_id"] == f"anom-{nat['id']}" and r["kind"] != "change"
    )
    with pytest.raises(CliError, match="make it through your infrastructure code"):
        approve_action(advice["action_id"], "carol", said.append, env, instance)


def _action_ids(store: Any) -> list[str]:
    import io

    rows = [
        pl.read_parquet(io.BytesIO(store.read(k)))
        for k, _ in store.list("curated/remediation_actions/")
        if k.endswith(".parquet")
    ]
    return sorted({a for frame in rows for a in frame["action_id"].to_list()})
