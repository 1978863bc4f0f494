"""The lake lock on S3 (issue 16, item 10): the lock object is created with If-None-Match, so a
second `egress run` of the same lake is refused, and a lock whose lease ran out is taken over."""

from __future__ import annotations

import json

import boto3
import pytest

from egress_platform.lake_layout import STAGING_ZONE
from resources.run_state import LOCK_KEY, LakeBusy, lake_lock
from resources.storage import S3Store

pytestmark = pytest.mark.aws

BUCKET = "acme-egress-lock"


def test_one_run_holds_an_s3_lake_and_a_killed_runs_lock_expires(moto_endpoint: str) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    store = S3Store(BUCKET, "lake")
    with lake_lock(store):
        held = json.loads(store.read(LOCK_KEY))
        with pytest.raises(LakeBusy) as raised, lake_lock(store):
            pass
        assert f"(pid {held['pid']} on {held['host']} since {held['since']})" in str(raised.value)
    assert not store.exists(LOCK_KEY)  # released

    killed = {"pid": 1, "host": "gone", "since": "2026-01-01T00:00:00Z"}
    store.write(LOCK_KEY, json.dumps(killed | {"expires": "2026-01-01T06:00:00Z"}).encode())
    with lake_lock(store):  # the lease ran out: taken over
        assert json.loads(store.read(LOCK_KEY))["host"] != "gone"
    store.write(LOCK_KEY, json.dumps(killed | {"expires": "2999-01-01T00:00:00Z"}).encode())
    with pytest.raises(LakeBusy), lake_lock(store):
        pass


def test_an_s3_move_replaces_the_target_and_removes_the_staged_object(moto_endpoint: str) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET + "-move")
    store = S3Store(BUCKET + "-move", "lake")
    store.write("curated/t/partition=2026-01-01/part-00000.parquet", b"old")
    store.write(f"{STAGING_ZONE}/run-1/curated/t/partition=2026-01-01/part-00000.parquet", b"new")
    store.move(
        f"{STAGING_ZONE}/run-1/curated/t/partition=2026-01-01/part-00000.parquet",
        "curated/t/partition=2026-01-01/part-00000.parquet",
    )
    assert store.read("curated/t/partition=2026-01-01/part-00000.parquet") == b"new"
    assert store.list(STAGING_ZONE + "/") == []
    with pytest.raises(FileNotFoundError):
        store.read("curated/t/partition=2026-01-02/part-00000.parquet")
