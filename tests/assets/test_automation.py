"""Unattended: one more landed hour becomes that hour's alert through the landing sensor and the
assets' automation conditions, ticked by hand (as the daemon under `dagster dev` ticks them)."""

from __future__ import annotations

import shutil
from datetime import date
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from assets.raw import landing_sensor
from egress_platform.app.definitions import ALL_ASSETS
from egress_platform.app.run import configure, run_landing
from egress_platform.simulate import simulate
from resources.profiles import resources_for

HELD_BACK = "2026-11-04-23:00"
HELD_BACK_STAMPS = ("20261104T23", "2026-11-04-23-")  # flow logs/CloudTrail, S3/CloudFront keys


def held_back(key: str) -> bool:
    """The hourly sources' objects of the last hour (a Config delivery of that hour stays: a
    changed day of Config items rightly re-prices the whole day)."""
    if "/Config/" in key:
        return False
    return any(stamp in key for stamp in HELD_BACK_STAMPS) or ".2026-11-04-23." in key


@pytest.fixture(scope="module")
def lake_before_the_last_hour(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("automation")
    staging, landing, lake = root / "staging", root / "landing", root / "lake"
    simulate(staging, date(2026, 11, 1), 4, seed=5)
    late = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        key = path.relative_to(staging).as_posix()
        target = (root / "late" if held_back(key) else landing) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        if held_back(key):
            late.append(key)
    run_landing(str(landing), str(lake), lambda _: None, dagster_home=lake / ".dagster")
    resources = resources_for(settings=configure(str(landing), str(lake)))
    return {
        "root": root,
        "landing": landing,
        "lake": lake,
        "late": late,
        "resources": resources,
        "instance": DagsterInstance.from_config(str(lake / ".dagster")),
    }


def requested(result: Any) -> set[tuple[str, str | None]]:
    pairs: set[tuple[str, str | None]] = set()
    for asset in ALL_ASSETS:
        for key in asset.keys:
            parts = result.get_requested_partitions(key)
            if parts is None:
                continue
            for part in parts:
                pairs.add((key.to_user_string(), part))
            if not parts and result.get_num_requested(key):
                pairs.add((key.to_user_string(), None))
    return pairs


def test_one_more_landed_hour_becomes_its_alert_and_nothing_else_reruns(
    lake_before_the_last_hour: dict[str, Any],
) -> None:
    env = lake_before_the_last_hour
    instance, resources = env["instance"], env["resources"]
    defs = Definitions(assets=ALL_ASSETS, resources=resources)
    baseline = evaluate_automation_conditions(defs, instance)
    assert baseline.total_requested == 0  # egress run left nothing to do

    context = build_sensor_context(instance=instance, resources=resources)
    assert not landing_sensor(context).run_requests  # nothing new landed yet
    assert env["late"]
    for key in env["late"]:
        target = env["landing"] / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(env["root"] / "late" / key, target)
    sensed = landing_sensor(build_sensor_context(instance=instance, resources=resources))
    raw = {(r.asset_selection[0].to_user_string(), r.partition_key) for r in sensed.run_requests}
    assert raw == {
        (a, HELD_BACK)
        for a in (
            "raw_vpc_flow_logs",
            "raw_s3_access_logs",
            "raw_cloudfront_logs",
            "raw_cloudtrail",
        )
    }
    assert all(r.run_key and HELD_BACK in r.run_key for r in sensed.run_requests)
    again = landing_sensor(
        build_sensor_context(instance=instance, resources=resources, cursor=sensed.cursor)
    )
    assert not again.run_requests  # the cursor remembers what it requested

    for asset, part in raw:
        materialize(
            ALL_ASSETS,
            selection=[AssetKey(asset)],
            partition_key=part,
            resources=resources,
            instance=instance,
        )
    ran: set[tuple[str, str | None]] = set()
    cursor = baseline.cursor
    for _tick in range(12):
        result = evaluate_automation_conditions(defs, instance, cursor=cursor)
        cursor = result.cursor
        todo = requested(result)
        if not todo:
            break
        by_partition: dict[str | None, list[AssetKey]] = {}
        for asset, part in todo:
            by_partition.setdefault(part, []).append(AssetKey(asset))
        # As the daemon launches them: one run per partition, hours before days before reports.
        for part in sorted(by_partition, key=lambda p: (p is None, -len(p or ""), p or "")):
            done = materialize(
                ALL_ASSETS,
                selection=by_partition[part],
                partition_key=part,
                resources=resources,
                instance=instance,
            )
            assert done.success, (part, by_partition[part])
        ran |= todo
    partitioned = {(a, p) for a, p in ran if p is not None}
    assert partitioned == {
        *(
            (a, HELD_BACK)
            for a in (
                "processed_vpc_flow_logs",
                "processed_s3_access_logs",
                "processed_cloudfront_logs",
                "processed_cloudtrail",
                "egress_flows_hourly",
                "egress_features",
                "egress_anomalies",
                "rca_reports",
                "remediation_actions",
                "egress_alerts",
            )
        ),
        ("cost_reconciliation", "2026-11-04"),  # the day's bill vs estimate, with its last hour
    }
    assert {a for a, p in ran if p is None} <= {
        "remediation_audit_log",
        "egress_sql_views",
        "egress_dashboard",
    }
    assert ("egress_model", "2026-11-04") not in ran  # the day's model stays the day's model
