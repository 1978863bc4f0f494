"""The Glue layer end to end over a landing folder, without Dagster (for evaluation runs)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from egress_platform.etl.egress_flows import EgressInputs, account_of, build_egress_flows
from egress_platform.etl.processed import classified_flows, processed_records
from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from egress_platform.sources import SOURCES
from egress_platform.sources.ingest import ingest_objects
from egress_platform.sources.landing import partition_key


def landed(root: Path, source: str) -> pl.DataFrame:
    """Every record of ``source`` under a landing folder (AWS key layouts), processed."""
    spec = SOURCES[source]
    keys = [
        p.relative_to(root).as_posix()
        for p in sorted(root.rglob("*"))
        if p.is_file() and partition_key(source, p.relative_to(root).as_posix(), spec.partitioning)
    ]
    batch = ingest_objects(spec, ((k, (root / k).read_bytes()) for k in keys))
    return processed_records(batch.records.lazy(), source).collect()


def egress_flows_from_landing(
    root: Path, ip_ranges: IpRanges | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(priced egress_flows_hourly rows, Config items) for everything under ``root``."""
    config = landed(root, "config")
    network = NetworkMetadata.from_config_items(config)
    flows = landed(root, "vpc_flow")
    classified = classified_flows(flows.lazy(), network, ip_ranges)
    inputs = EgressInputs(
        classified,
        landed(root, "s3_access"),
        landed(root, "cloudfront"),
        network,
        ip_ranges,
        account_of(config, flows),
    )
    return build_egress_flows(inputs), config
