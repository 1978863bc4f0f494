"""`egress run` on a landing zone the simulator did not write in its default shape: two accounts in
two regions (an Organizations-style bucket, a second CUR report), data from 2025-12-30 so that a
month and a year boundary fall inside it, earlier objects arriving after later ones, and one hour
with no objects at all."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from egress_platform.app.run import run_landing
from egress_platform.pricing.estimate import PRICED_SCHEMA
from egress_platform.simulate import simulate
from resources.lake import LocalLakeIOManager

START = date(2025, 12, 30)
DAYS = 3  # 2025-12-30 .. 2026-01-01: the month and the year change inside it
GAP = "2026-01-01-05:00"  # no source delivered anything for this hour
GAP_STAMPS = ("20260101T05", "2026-01-01-05-", ".2026-01-01-05.")
OTHER_REGION = "us-west-2"


def in_gap(key: str) -> bool:
    return "/Config/" not in key and any(stamp in key for stamp in GAP_STAMPS)


def as_other_region(key: str, data: bytes) -> tuple[str, bytes]:
    """Account B's objects as its region would deliver them (key path, record contents), under
    an organization trail's prefix (``AWSLogs/<org-id>/<account>/...``)."""
    if key.startswith("AWSLogs/"):
        key = key.replace("us-east-1", OTHER_REGION).replace(
            "AWSLogs/", "AWSLogs/o-exampleorg1/", 1
        )
        packed = data[:2] == b"\x1f\x8b"
        text = gzip.decompress(data) if packed else data
        text = text.replace(b"us-east-1", OTHER_REGION.encode()).replace(b"use1-az", b"usw2-az")
        data = gzip.compress(text, mtime=0) if packed else text
    elif key.startswith("cur/"):  # a second report definition beside A's
        key = key.replace("cur/egress-cur/", "cur/egress-cur-linked/")
        if key.endswith("Manifest.json"):
            data = data.replace(b"egress-cur/", b"egress-cur-linked/")
    return key, data


def land(objects: dict[str, bytes], landing: Path, keys: list[str]) -> None:
    for key in keys:
        path = landing / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(objects[key])


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("foreign")
    objects: dict[str, bytes] = {}
    accounts = []
    for seed, other_region in ((31, False), (32, True)):
        stage = root / f"stage-{seed}"
        accounts.append(simulate(stage, START, DAYS, seed).account_id)
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            key, data = path.relative_to(stage).as_posix(), path.read_bytes()
            if key in ("ground_truth.json", "ip-ranges.json"):
                continue
            if other_region:
                key, data = as_other_region(key, data)
            assert key not in objects, f"two accounts wrote {key}"
            if not in_gap(key):
                objects[key] = data
    landing, lake = root / "landing", root / "lake"
    landing.mkdir()
    shutil.copy2(root / "stage-31" / "ip-ranges.json", landing / "ip-ranges.json")
    late_day = str(START + timedelta(days=1)).replace("-", "")  # B's second day arrives last
    late = sorted(k for k in objects if accounts[1] in k and late_day in k and "/vpcflowlogs/" in k)
    land(objects, landing, [k for k in objects if k not in late])
    say: list[str] = []
    first = run_landing(str(landing), str(lake), say.append, dagster_home=lake / ".dagster")
    land(objects, landing, late)
    second = run_landing(str(landing), str(lake), say.append, dagster_home=lake / ".dagster")
    third = run_landing(str(landing), str(lake), say.append, dagster_home=lake / ".dagster")
    return {
        "lake": lake,
        "accounts": accounts,
        "objects": objects,
        "late": late,
        "runs": (first, second, third),
        "said": say,
    }


def hours(first: datetime, last: datetime) -> set[str]:
    out, hour = set(), first
    while hour <= last:
        out.add(hour.strftime("%Y-%m-%d-%H:%M"))
        hour += timedelta(hours=1)
    return out


def test_every_landed_hour_is_a_partition_across_the_year_boundary_and_the_gap_is_not(
    foreign: dict[str, Any],
) -> None:
    instance = DagsterInstance.from_config(str(foreign["lake"] / ".dagster"))
    t0 = datetime(START.year, START.month, START.day, tzinfo=UTC)
    expected = hours(t0, t0 + timedelta(days=DAYS, hours=-1)) - {GAP}
    for asset in ("raw_vpc_flow_logs", "processed_vpc_flow_logs", "egress_flows_hourly"):
        assert instance.get_materialized_partitions(AssetKey(asset)) == expected, asset
    days = {str(START + timedelta(days=i)) for i in range(DAYS)}
    assert instance.get_materialized_partitions(AssetKey("raw_config_items")) == days
    assert instance.get_materialized_partitions(AssetKey("cost_reconciliation")) == days


def test_counts_balance_and_every_object_is_read_once_per_run(foreign: dict[str, Any]) -> None:
    first, second, third = foreign["runs"]
    assert first.ran and second.ran and not third.ran  # the third run had nothing new
    for run in (first, second):
        for name, row in run.summary["sources"].items():
            if "records" in row:
                assert row["check_passed"], name
                counted = row["records"] + row["duplicates_dropped"] + row["quarantined"]
                assert counted == row["input_records"], name
    late = second.summary["sources"]["vpc_flow"]
    assert late["files"] >= len(foreign["late"])  # the late hours were read (with the other
    # accounts' objects of the same hours, which share the partitions)
    landed_keys = sum(r["landed_objects"] for r in second.summary["sources"].values())
    assert landed_keys == len(foreign["objects"])
    assert second.summary["unmatched_objects"] == 0


def test_both_accounts_and_regions_are_kept_on_the_facts(foreign: dict[str, Any]) -> None:
    flows = LocalLakeIOManager(root=str(foreign["lake"])).read_all(
        "egress_flows_hourly", PRICED_SCHEMA
    )
    assert flows.schema == pl.Schema(PRICED_SCHEMA)
    assert set(flows["account_id"].unique()) == set(foreign["accounts"])
    regions = (
        flows.filter(pl.col("product_code") == "AmazonEC2")
        .group_by("account_id")
        .agg(pl.col("region").unique())
    )
    by_account = {a: set(r) for a, r in regions.iter_rows()}
    assert by_account == {
        foreign["accounts"][0]: {"us-east-1"},
        foreign["accounts"][1]: {OTHER_REGION},
    }
    assert flows.filter(pl.col("hour") == datetime(2026, 1, 1, 5, tzinfo=UTC)).height == 0
    assert set(foreign["runs"][1].summary["accounts"]) == set(foreign["accounts"])
