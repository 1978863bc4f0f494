"""Fault injection through the pipeline (issue 16): a poison object for every source in the
landing zone, and `egress run` killed with SIGKILL in the middle. The next run reports the
interrupted run, finishes, and nothing valid is lost: every source's records are exactly what
the clean objects hold, each poison object is quarantined with its key, nothing stays staged
and no run stays STARTED. (A notifier that is down: tests/unit/test_remediate.py.)"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from egress_platform.lake_layout import STAGING_ZONE
from egress_platform.sources import SOURCES
from egress_platform.sources.discover import discover
from egress_platform.sources.ingest import ingest_objects
from resources.storage import LocalStore
from tests.conftest import EGRESS, ROOT, egress, egress_env

FLOW_HEADER_TWICE = b"version account-id interface-id bytes bytes start end action log-status\n"


def poison(landing: Path) -> dict[str, str]:
    """Beside one real object of each source, a poison one in the same layout; the CUR and Cost
    Explorer files, one per report and day, get bad lines and bytes of their own. Returns the
    key each source's poison is quarantined under."""
    keys = sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file())

    def first(part: str) -> str:
        return next(k for k in keys if part in k)

    def put(key: str, data: bytes) -> str:
        (landing / key).write_bytes(data)
        return key

    flow = first("/vpcflowlogs/")
    trail = first("/CloudTrail/")
    config = first("/ConfigHistory/")
    access = first("s3-access-logs/")
    edge = first("cloudfront-logs/")
    costs = first("cost-explorer/")
    report = next(k for k in keys if k.startswith("cur/") and k.endswith(".csv.gz"))
    nested = b'{"Records": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    placed = {
        "vpc_flow": put(
            flow.rsplit("_", 1)[0] + "_deadbeef.log.gz",
            gzip.compress(FLOW_HEADER_TWICE + b"2 1 eni-1 5 6 1 2 ACCEPT OK\n", mtime=0),
        ),
        "cloudtrail": put(trail.rsplit("_", 1)[0] + "_DEADBEEF00000000.json.gz", nested),
        "config": put(
            config.replace("_1.json.gz", "_9.json.gz"),
            b'{"configurationItems": [{"resourceType": ' + b"9" * 5000 + b"}]}",
        ),
        "s3_access": put(access[:-16] + "DEADBEEF00000000", bytes(range(256)) * 8),
        "cloudfront": put(edge.rsplit(".", 2)[0] + ".deadbeef.gz", gzip.compress(b"x" * 999)[:40]),
        "cost_explorer": put(costs.rsplit("/", 1)[0] + "/poison.json", b"\xef\xbb\xbf{]"),
    }
    # The bill: a ragged line and a Latin-1 byte in the report itself.
    lines = gzip.decompress((landing / report).read_bytes()).rstrip(b"\n")
    bad_lines = (
        b"\n" + b",".join([b"x"] * 400) + b"\n" + lines.split(b"\n")[1].replace(b"a", b"\xe9", 1)
    )
    (landing / report).write_bytes(gzip.compress(lines + bad_lines + b"\n", mtime=0))
    placed["cur"] = report
    # An object under a log prefix in no layout AWS writes: left where it is, and quarantined.
    placed["unmatched"] = put(flow.rsplit("/", 1)[0] + "/notes.txt", b"copied by hand\n")
    return placed


def records_of(landing: Path, source: str) -> int:
    """The records of one source's landed objects, parsed here without the pipeline."""
    store = LocalStore(landing)
    landed = discover(store.list(""), store.read)
    objects = [(key, store.read(key)) for key in landed.keys(source)]
    batch = ingest_objects(SOURCES[source], objects)
    return batch.records.height


def wait_for_a_started_run(home: Path) -> None:
    instance = DagsterInstance.from_config(str(home))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            return
        time.sleep(0.05)
    raise AssertionError("no step of the processed layer started within 60 s")


@pytest.fixture(scope="module")
def faulted(small_account: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("faults")
    clean, landing, lake = root / "clean", root / "landing", root / "lake"
    shutil.copytree(small_account, clean, ignore=shutil.ignore_patterns("ground_truth.json"))
    shutil.copytree(clean, landing)
    placed = poison(landing)
    expected = {s: records_of(clean, s) for s in SOURCES}

    run = subprocess.Popen(
        [*EGRESS, "run", "--landing", str(landing)],
        cwd=ROOT,
        env=egress_env(lake) | {"PYTHONUNBUFFERED": "1"},  # its progress lines as said
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    assert run.stdout is not None
    for line in run.stdout:  # killed in the processed layer: raw is in, the rest is not
        seen.append(line)
        if "processed_" in line:
            wait_for_a_started_run(lake / ".dagster")
            run.send_signal(signal.SIGKILL)
            break
    run.wait(timeout=120)
    assert run.returncode == -signal.SIGKILL, "".join(seen)[-3000:]

    resumed = egress(["run", "--landing", str(landing)], lake)
    summary = json.loads((lake / "reports" / "summary.json").read_text())
    return {
        "lake": lake,
        "landing": landing,
        "placed": placed,
        "expected": expected,
        "resumed": resumed,
        "summary": summary,
    }


def test_the_run_after_a_kill_says_so_and_finishes(faulted: dict[str, Any]) -> None:
    resumed = faulted["resumed"]
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "was interrupted (its process ended): marked failed" in resumed.stdout
    assert "Traceback" not in resumed.stdout + resumed.stderr
    lake = faulted["lake"]
    assert not (lake / STAGING_ZONE).exists()
    instance = DagsterInstance.from_config(str(lake / ".dagster"))
    live = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]
    assert [r.run_id for r in instance.get_runs() if r.status in live] == []


def test_every_valid_record_is_in_the_lake_and_every_poison_in_quarantine(
    faulted: dict[str, Any],
) -> None:
    lake: Path = faulted["lake"]
    for source, spec in SOURCES.items():
        row = faulted["summary"]["sources"][source]
        assert faulted["expected"][source] > 0, source
        assert row["records"] == faulted["expected"][source], source
        assert row["records"] + row["quarantined"] == row["input_records"], source
        stored = pl.read_parquet(lake / "raw" / spec.asset_name / "*" / "*.parquet")
        # Flow logs are stored as per-hour shape sums: their flows count the records.
        kept = stored["flows"].sum() if source == "vpc_flow" else stored.height
        assert kept == faulted["expected"][source], source
        quarantined = pl.read_parquet(lake / "quarantine" / spec.asset_name / "*" / "*.parquet")
        assert faulted["placed"][source] in quarantined.get_column("source_file").to_list(), source
    assert faulted["summary"]["unmatched_objects"] == 1
    unmatched = pl.read_parquet(
        lake / "quarantine" / "unmatched_objects" / "partition=all" / "*.parquet"
    )
    assert unmatched.get_column("source_file").to_list() == [faulted["placed"]["unmatched"]]
    assert "matches none of AWS's delivery layouts under AWSLogs/" in unmatched["reason"][0]
    assert (faulted["landing"] / faulted["placed"]["unmatched"]).is_file()  # nothing lost
