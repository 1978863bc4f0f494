"""A delivery hour's objects to shape sums: the records' facts, each record once, on both paths."""

from __future__ import annotations

import gzip
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.etl.flow_files import SHAPES_SCHEMA, shapes_of_objects
from egress_platform.network.classify import (
    FACT_KEY,
    HOUR_EPOCH,
    STAGE_KEY,
    finish_facts,
    flow_facts,
)
from egress_platform.sources import SOURCES
from egress_platform.sources.ingest import ingest_objects

KEYS = [HOUR_EPOCH, *STAGE_KEY]


def flow_objects(root: Path, count: int = 12) -> list[tuple[str, bytes]]:
    paths = sorted(p for p in root.rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())[:count]
    return [(p.relative_to(root).as_posix(), p.read_bytes()) for p in paths]


def facts_of_records(objects: list[tuple[str, bytes]]) -> pl.DataFrame:
    """The reference: every record parsed by the robust parser, then the records' facts."""
    records = ingest_objects(SOURCES["vpc_flow"], objects).records
    return flow_facts(records.lazy(), "us-east-1").collect().sort(FACT_KEY, nulls_last=True)


def facts_of_shapes(shapes: pl.DataFrame) -> pl.DataFrame:
    return finish_facts(shapes.lazy(), "us-east-1").collect().sort(FACT_KEY, nulls_last=True)


def record_lines(data: bytes) -> list[bytes]:
    return gzip.decompress(data).rstrip(b"\n").split(b"\n")[1:]


def test_plain_and_gzip_objects_give_the_records_facts(small_account: Path) -> None:
    objects = flow_objects(small_account)
    plain = [(key.removesuffix(".gz"), gzip.decompress(data)) for key, data in objects]
    want = facts_of_records(objects)
    for landed in (objects, plain):
        shapes = shapes_of_objects(partial(list, landed))
        assert not shapes.careful and shapes.quarantine.height == 0
        assert shapes.shapes.schema == pl.Schema(SHAPES_SCHEMA)
        assert shapes.records == sum(len(record_lines(d)) for _, d in objects) > 1000
        assert shapes.duplicates == 0 and shapes.input_records == shapes.records
        assert_frame_equal(facts_of_shapes(shapes.shapes), want)


def overlapping(objects: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The hour as a flaky delivery leaves it: an object re-sent whole, a second object
    repeating half of another's records, and one record twice inside an object."""
    (key_a, a), (key_b, b) = objects[0], objects[1]
    header = gzip.decompress(a).split(b"\n", 1)[0]
    lines_a, lines_b = record_lines(a), record_lines(b)
    half = lines_a[: len(lines_a) // 2]
    doubled = [*lines_b, lines_b[0]]
    return [
        (key_a, a),
        (key_a.replace(".log.gz", "-resent.log.gz"), a),
        (key_b, gzip.compress(b"\n".join([header, *doubled]) + b"\n")),
        (key_b.replace(".log.gz", "-overlap.log.gz"), gzip.compress(b"\n".join([header, *half]))),
    ]


@pytest.mark.parametrize("careful", [False, True], ids=["byte kernel", "robust parser"])
def test_a_record_delivered_twice_counts_once_on_either_path(
    small_account: Path, careful: bool
) -> None:
    objects = flow_objects(small_account, 2)
    landed = overlapping(objects)
    if careful:  # a line no parser accepts sends the whole hour to the robust parser
        landed.append(("bad.log", gzip.decompress(objects[0][1]).split(b"\n", 1)[0] + b"\nx y\n"))
    shapes = shapes_of_objects(partial(list, landed))
    assert shapes.careful is careful
    lines_a, lines_b = (record_lines(d) for _, d in objects)
    assert shapes.records == len(lines_a) + len(lines_b)
    assert shapes.duplicates == len(lines_a) + 1 + len(lines_a) // 2
    assert shapes.quarantine.height == int(careful)
    assert shapes.records + shapes.duplicates + shapes.quarantine.height == shapes.input_records
    assert_frame_equal(facts_of_shapes(shapes.shapes), facts_of_records(objects))


def test_region_and_account_come_from_the_key_when_the_format_has_none(
    small_account: Path,
) -> None:
    key, data = flow_objects(small_account, 1)[0]
    lines = gzip.decompress(data).split(b"\n")
    fields = lines[0].split()
    keep = [i for i, f in enumerate(fields) if f not in (b"account-id", b"region")]
    text = b"\n".join(b" ".join(line.split()[i] for i in keep) for line in lines if line) + b"\n"
    shapes = shapes_of_objects(lambda: [(key, text)]).shapes
    account, region = key.split("/")[1], key.split("/")[3]
    assert shapes["account_id"].unique().to_list() == [account]
    assert shapes["region"].unique().to_list() == [region]


def test_a_range_processed_in_one_pass_drops_duplicates_inside_each_partition_only() -> None:
    """Issue 17: processed_* take a range at once; a record twice in one hour counts once, the
    same record in two hours (two deliveries) stays in each, as when each hour ran alone."""
    from egress_platform.etl.processed import processed_records
    from egress_platform.lake_layout import PARTITION

    trail = pl.DataFrame(
        {
            PARTITION: ["h1", "h1", "h2", "h2"],
            "event_id": ["e1", "e1", "e1", "e2"],
            "source_file": ["a", "b", "c", "c"],
            "line_no": [1, 1, 1, 2],
        }
    )
    got = processed_records(trail.lazy(), "cloudtrail", within=(PARTITION,)).collect()
    assert_frame_equal(got, trail[[0, 2, 3]])
    access = trail.drop("event_id").with_columns(pl.lit("GET").alias("operation"))
    got = processed_records(access.lazy(), "s3_access", within=(PARTITION,)).collect()
    assert_frame_equal(got, access[[0, 2]])
