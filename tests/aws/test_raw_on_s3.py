"""The aws profile against a real moto server: S3 landing -> raw zone in S3, same resource keys."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from assets.raw import RAW_ASSETS
from resources.profiles import resources_for

pytestmark = pytest.mark.aws


def test_aws_profile_ingests_landing_bucket_into_s3_lake(
    moto_endpoint: str, small_account: Path
) -> None:
    s3 = boto3.client("s3")
    for bucket in ("acme-egress-landing", "acme-egress-lake"):
        s3.create_bucket(Bucket=bucket)
    for path in small_account.rglob("*"):
        if path.is_file():
            s3.upload_file(
                str(path), "acme-egress-landing", path.relative_to(small_account).as_posix()
            )

    resources = resources_for("aws")
    # The same keys as the local profile, other implementations.
    assert set(resources) == {
        "landing", "lake", "etl", "sql", "aws_ip_ranges", "trainer", "scorer",
        "llm", "executor", "notifier", "workflow",
    }  # fmt: skip
    assert set(resources) == set(resources_for("local"))
    assets = [a for a in RAW_ASSETS if a.key.path[-1] in ("raw_vpc_flow_logs", "raw_cur")]
    for first, last, name in (
        ("2026-11-01-05:00", "2026-11-01-06:00", "raw_vpc_flow_logs"),
        ("2026-11-02", "2026-11-02", "raw_cur"),
    ):
        result = materialize(
            [a for a in assets if a.key.path[-1] == name],
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="acme-egress-lake")["Contents"])
    assert keys == [
        "lake/quarantine/raw_cur/partition=2026-11-02/part-00000.parquet",
        "lake/quarantine/raw_vpc_flow_logs/partition=2026-11-01-0500/part-00000.parquet",
        "lake/quarantine/raw_vpc_flow_logs/partition=2026-11-01-0600/part-00000.parquet",
        "lake/raw/raw_cur/partition=2026-11-02/part-00000.parquet",
        "lake/raw/raw_vpc_flow_logs/partition=2026-11-01-0500/part-00000.parquet",
        "lake/raw/raw_vpc_flow_logs/partition=2026-11-01-0600/part-00000.parquet",
    ]
    body = s3.get_object(
        Bucket="acme-egress-lake",
        Key="lake/raw/raw_vpc_flow_logs/partition=2026-11-01-0500/part-00000.parquet",
    )["Body"].read()
    flows = pl.read_parquet(io.BytesIO(body))
    landed = next(small_account.rglob("*_20261101T0500Z_*.log.gz"))
    from egress_platform.sources import vpc_flow

    assert flows.height == vpc_flow.parse_bytes(landed.read_bytes(), "x").records.height > 0
    cur = pl.read_parquet(
        io.BytesIO(
            s3.get_object(
                Bucket="acme-egress-lake",
                Key="lake/raw/raw_cur/partition=2026-11-02/part-00000.parquet",
            )["Body"].read()
        )
    )
    assert cur["usage_start"].dt.day().unique().to_list() == [2]
