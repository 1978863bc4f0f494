"""The PySpark Glue job and the polars transform give identical classified facts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.etl.flow_files import shapes_of_objects
from egress_platform.etl.processed import classified_shapes, processed_records
from egress_platform.glue import flows_job
from egress_platform.lake_layout import partition_path
from egress_platform.network.classify import CLASSIFIED_SCHEMA
from egress_platform.network.topology import NetworkMetadata
from egress_platform.sources import SOURCES
from egress_platform.sources.ingest import ingest_objects
from egress_platform.sources.landing import partition_key
from tests.conftest import samples_dir

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="local Spark needs Java")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("egress-glue-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    yield session
    session.stop()


def _objects(root: Path, source: str, partitioning: str) -> dict[str, list[tuple[str, bytes]]]:
    found: dict[str, list[tuple[str, bytes]]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        part = partition_key(source, key, partitioning)
        if part:
            found.setdefault(part, []).append((key, path.read_bytes()))
    return found


def test_spark_job_matches_polars(spark: Any, small_account: Path, tmp_path: Path) -> None:
    flows = _objects(small_account, "vpc_flow", "hourly")
    hours = sorted(flows)[20:30]  # ten delivery hours, including the nightly backup window
    raw_paths, partitions = [], []
    frames = []
    for hour in hours:
        # The raw zone's partition: the hour's shape sums, one object delivered twice.
        shapes = shapes_of_objects(partial(list, [*flows[hour], flows[hour][0]])).shapes
        path = tmp_path / partition_path("raw", "raw_vpc_flow_logs", hour)  # the lake's layout
        path.parent.mkdir(parents=True)
        shapes.write_parquet(path)
        raw_paths.append(str(path))
        partitions.append(hour)
        frames.append(shapes.with_columns(pl.lit(hour).alias(flows_job.PARTITION)))
    config = ingest_objects(
        SOURCES["config"],
        [o for objs in _objects(small_account, "config", "daily").values() for o in objs],
    ).records
    config_path = tmp_path / "config.parquet"
    processed_records(config.lazy(), "config").collect().write_parquet(config_path)
    ip_ranges_path = samples_dir() / "network" / "ip-ranges.json"

    out = tmp_path / "spark-out"
    count = flows_job.run(
        spark, raw_paths, partitions, [str(config_path)], str(ip_ranges_path), str(out)
    )

    from egress_platform.network.ip_ranges import load_ip_ranges

    network = NetworkMetadata.from_config_items(pl.read_parquet(config_path))
    expected = classified_shapes(
        pl.concat(frames).lazy(),
        network,
        load_ip_ranges(ip_ranges_path),
        keep=(flows_job.PARTITION,),
    )
    schema = {**CLASSIFIED_SCHEMA, flows_job.PARTITION: pl.String()}
    got = pl.read_parquet(out / "*.parquet").select([pl.col(c).cast(t) for c, t in schema.items()])
    order = [
        flows_job.PARTITION,
        "hour",
        "interface_id",
        "direction",
        "counterparty",
        "traffic_path",
        "aws_service_hint",
    ]
    assert count == expected.height > 500
    assert set(expected.get_column("dest_class")) >= {
        "internet",
        "inter_az",
        "intra_az",
        "vpc_endpoint",
        "cloudfront",
    }
    assert_frame_equal(
        got.sort(order, nulls_last=True), expected.select(list(schema)).sort(order, nulls_last=True)
    )
