"""The file-level flow path: same facts as the processed path, duplicates and bad lines handled."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from egress_platform.etl.flow_files import facts_from_files
from egress_platform.network.classify import FACT_KEY, flow_facts
from egress_platform.sources import SOURCES
from egress_platform.sources.ingest import ingest_objects


def flow_objects(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())[:12]


def expected(paths: list[Path]) -> pl.DataFrame:
    records = ingest_objects(SOURCES["vpc_flow"], ((str(p), p.read_bytes()) for p in paths)).records
    return flow_facts(records.lazy(), "us-east-1").collect().sort(FACT_KEY, nulls_last=True)


def test_plain_and_gzip_objects_give_the_processed_paths_facts(
    small_account: Path, tmp_path: Path
) -> None:
    objects = flow_objects(small_account)
    plain = []
    for i, path in enumerate(objects):
        target = tmp_path / f"{i:03d}.log"
        target.write_bytes(gzip.decompress(path.read_bytes()))
        plain.append(target)
    want = expected(objects)
    for inputs in (objects, plain):
        facts, stats = facts_from_files(inputs, "us-east-1", batch_bytes=1 << 20)
        assert stats.robust_files == 0 and stats.quarantined == 0
        assert stats.records == sum(
            gzip.decompress(p.read_bytes()).count(b"\n") - 1 for p in objects
        )
        assert_frame_equal(facts.sort(FACT_KEY, nulls_last=True), want)


def test_redelivered_objects_count_once(small_account: Path, tmp_path: Path) -> None:
    objects = flow_objects(small_account)[:3]
    copy = tmp_path / "copy.log.gz"
    shutil.copy(objects[0], copy)
    facts, stats = facts_from_files([*objects, copy], "us-east-1")
    assert stats.duplicate_files == 1
    assert_frame_equal(facts.sort(FACT_KEY, nulls_last=True), expected(objects))


def test_a_bad_line_sends_its_batch_to_the_robust_parser(
    small_account: Path, tmp_path: Path
) -> None:
    objects = flow_objects(small_account)[:2]
    text = gzip.decompress(objects[0].read_bytes())
    lines = text.split(b"\n")
    lines[3] = lines[3].replace(b"ACCEPT", b"MAYBE", 1)
    broken = tmp_path / "broken.log"
    broken.write_bytes(b"\n".join(lines))
    facts, stats = facts_from_files([broken, objects[1]], "us-east-1")
    assert stats.robust_files == 2 and stats.quarantined == 1
    total = sum(gzip.decompress(p.read_bytes()).count(b"\n") - 1 for p in objects)
    assert stats.records + stats.quarantined == total
    assert facts.height > 0
