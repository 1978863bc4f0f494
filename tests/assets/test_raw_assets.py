"""Raw assets through real Dagster: partitions, quarantine, balance check, idempotent re-runs."""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from assets.raw import BALANCE_CHECK, RAW_ASSETS
from egress_platform.app.run import run_metadata
from egress_platform.lake_layout import MANIFEST_ZONE, QUARANTINE_ZONE, RAW_ZONE, partition_path
from resources.lake import LocalLakeIOManager, LocalLandingZone

HOURS = ("2026-11-01-00:00", "2026-11-01-23:00")
DAYS = ("2026-11-01", "2026-11-02")


def run(names: list[str], lake: Path, first: str, last: str) -> dict:
    assets = [a for a in RAW_ASSETS if a.key.path[-1] in names]
    result = materialize(
        assets,
        resources={
            "landing": LocalLandingZone(root=str(lake / "landing")),
            "lake": LocalLakeIOManager(root=str(lake)),
        },
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success
    checks = {c.asset_key.path[-1]: c for c in result.get_asset_check_evaluations()}
    out = {}
    for name in names:
        # Each partition carries its own figures; the run's are their sum (as `egress run`).
        events = result.asset_materializations_for_node(name)
        figures = [{k: getattr(v, "value", v) for k, v in e.metadata.items()} for e in events]
        records = {str(e.partition): f["records"] for e, f in zip(events, figures, strict=True)}
        meta = {**run_metadata(figures), "partitions": len(events), "by_partition": records}
        out[name] = (meta, checks[name])
    return out


def partition_files(lake: Path) -> dict[str, int]:
    return {
        p.relative_to(lake).as_posix(): pl.read_parquet(p).height
        for zone in (RAW_ZONE, QUARANTINE_ZONE)
        for p in sorted((lake / zone).rglob("*.parquet"))
    }


@pytest.fixture
def lake(small_account: Path, tmp_path: Path) -> Path:
    shutil.copytree(small_account, tmp_path / "landing")
    return tmp_path


def test_hourly_sources_materialize_with_balanced_counts(lake: Path) -> None:
    names = ["raw_vpc_flow_logs", "raw_cloudtrail", "raw_s3_access_logs", "raw_cloudfront_logs"]
    results = run(names, lake, *HOURS)
    for _name, (meta, check) in results.items():
        assert check.passed and check.check_name == BALANCE_CHECK
        assert meta["partitions"] == 24
        assert meta["records"] > 0 and meta["quarantined"] == 0
        assert meta["records"] + meta["quarantined"] == meta["input_records"]
    written = partition_files(lake)
    flow_files = sorted((lake / RAW_ZONE / "raw_vpc_flow_logs").rglob("*.parquet"))
    assert len(flow_files) == 24
    # Flow logs are kept as per-hour shape sums: their flows add up to the records read, in
    # fewer rows than records, and the manifest lists each object with its size and CRC-32.
    shapes = pl.concat([pl.read_parquet(p) for p in flow_files])
    assert shapes["flows"].sum() == results["raw_vpc_flow_logs"][0]["records"] > shapes.height
    # Each hour's materialization carries that hour's own records, not the run's.
    by_hour = results["raw_vpc_flow_logs"][0]["by_partition"]
    assert [by_hour[h] for h in sorted(by_hour)] == [
        pl.read_parquet(p)["flows"].sum() for p in flow_files
    ]
    assert len(set(by_hour.values())) > 1
    assert results["raw_vpc_flow_logs"][0]["duplicates_dropped"] == 0
    manifest_path = partition_path(
        MANIFEST_ZONE, "raw_vpc_flow_logs", "2026-11-01-05:00", "landing.json"
    )
    manifest = json.loads((lake / manifest_path).read_text())["objects"]
    landed = lake / "landing" / manifest[0]["key"]
    assert manifest[0]["bytes"] == landed.stat().st_size
    assert manifest[0]["crc32"] == f"{zlib.crc32(landed.read_bytes()):08x}"
    assert (
        sum(n for k, n in written.items() if k.startswith("raw/raw_cloudtrail/"))
        == (results["raw_cloudtrail"][0]["records"])
    )


def test_daily_sources_including_monthly_cur(lake: Path) -> None:
    results = run(["raw_cur", "raw_config_items", "raw_cost_explorer"], lake, *DAYS)
    cur_meta = results["raw_cur"][0]
    assert cur_meta["partitions"] == 2 and cur_meta["records"] > 0
    day1 = pl.read_parquet(lake / "raw/raw_cur/partition=2026-11-01/part-00000.parquet")
    assert day1["usage_start"].dt.date().unique().to_list() == [date(2026, 11, 1)]
    assert all(c.passed for _, c in results.values())


def test_rerun_replaces_partitions_without_duplicates(lake: Path) -> None:
    run(["raw_vpc_flow_logs"], lake, *HOURS)
    first = partition_files(lake)
    run(["raw_vpc_flow_logs"], lake, *HOURS)
    assert partition_files(lake) == first


def test_bad_lines_land_in_quarantine_with_reason(lake: Path) -> None:
    key = next((lake / "landing").rglob("*_vpcflowlogs_*_20261101T0300Z_*.log.gz"))
    key.write_bytes(gzip.decompress(key.read_bytes()) + b"this is not a flow record\n")
    meta, check = run(["raw_vpc_flow_logs"], lake, "2026-11-01-03:00", "2026-11-01-03:00")[
        "raw_vpc_flow_logs"
    ]
    assert check.passed and meta["quarantined"] == 1
    bad = pl.read_parquet(
        lake / "quarantine/raw_vpc_flow_logs/partition=2026-11-01-0300/part-00000.parquet"
    )
    assert bad["raw"].to_list() == ["this is not a flow record"]
    assert bad["reason"].to_list() == ["expected 26 fields, found 6"]
