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
        "landing",
        "lake",
        "etl",
        "sql",
        "aws_ip_ranges",
        "detection",
        "trainer",
        "scorer",
        "llm",
        "executor",
        "notifier",
        "workflow",
    }
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
        "lake/manifests/raw_cur/partition=2026-11-02/landing.json",
        "lake/manifests/raw_vpc_flow_logs/partition=2026-11-01-0500/landing.json",
        "lake/manifests/raw_vpc_flow_logs/partition=2026-11-01-0600/landing.json",
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

    # The raw zone keeps the hour's shape sums: their flows count the landed object's records.
    assert flows["flows"].sum() == vpc_flow.parse_bytes(landed.read_bytes(), "x").records.height
    assert flows.height > 0
    cur = pl.read_parquet(
        io.BytesIO(
            s3.get_object(
                Bucket="acme-egress-lake",
                Key="lake/raw/raw_cur/partition=2026-11-02/part-00000.parquet",
            )["Body"].read()
        )
    )
    assert cur["usage_start"].dt.day().unique().to_list() == [2]


def test_access_logs_from_their_log_bucket_and_quarantine_into_its_own_bucket(
    moto_endpoint: str, small_account: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 access logs cannot land in a KMS bucket: they come from the log-target bucket, the
    rest from the raw bucket; quarantined records go to the quarantine bucket."""
    s3 = boto3.client("s3")
    for bucket in (
        "acme-egress-landing",
        "acme-egress-lake",
        "acme-source-logs",
        "acme-quarantine",
    ):
        s3.create_bucket(Bucket=bucket)
    logs = sorted(small_account.glob("s3-access-logs/*/2026-11-01-07-*"))
    assert logs
    for path in logs:
        s3.upload_file(str(path), "acme-source-logs", path.relative_to(small_account).as_posix())
    broken = "s3-access-logs/acme-app/2026-11-01-07-10-00-0123456789ABCDEF"
    s3.put_object(Bucket="acme-source-logs", Key=broken, Body=b"not an access log line\n")
    monkeypatch.setenv("EGRESS_ACCESS_LOG_BUCKET", "acme-source-logs")
    monkeypatch.setenv("EGRESS_QUARANTINE_BUCKET", "acme-quarantine")
    resources = resources_for("aws")
    result = materialize(
        [a for a in RAW_ASSETS if a.key.path[-1] == "raw_s3_access_logs"],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        partition_key="2026-11-01-07:00",
    )
    assert result.success
    part = "partition=2026-11-01-0700/part-00000.parquet"
    raw = pl.read_parquet(
        io.BytesIO(
            s3.get_object(Bucket="acme-egress-lake", Key=f"lake/raw/raw_s3_access_logs/{part}")[
                "Body"
            ].read()
        )
    )
    bad = pl.read_parquet(
        io.BytesIO(
            s3.get_object(Bucket="acme-quarantine", Key=f"quarantine/raw_s3_access_logs/{part}")[
                "Body"
            ].read()
        )
    )
    assert raw.height > 0 and bad["source_file"].to_list() == [broken]
    lake_keys = [o["Key"] for o in s3.list_objects_v2(Bucket="acme-egress-lake")["Contents"]]
    assert not [k for k in lake_keys if "/quarantine/raw_s3_access_logs/" in k]
    landed = resources["lake"].landing_objects("raw_s3_access_logs", "2026-11-01-07:00")
    assert sorted(o["key"] for o in landed) == sorted(
        [broken, *(p.relative_to(small_account).as_posix() for p in logs)]
    )
