"""Processed tables: typed, deduplicated records per source, and classified flow facts.

A record delivered twice (a re-sent object, an overlapping export) must count once, so every
processed table drops exact duplicates; the lineage columns (which file, which line) do not make
a record different. Flow logs are also classified and aggregated per hour (see
``egress_platform.network.classify``), which is what the PySpark Glue job does on AWS.
"""

from __future__ import annotations

import polars as pl

from egress_platform.network.classify import (
    LINEAGE_COLUMNS,
    classify,
    finish_facts,
    partial_facts,
)
from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from egress_platform.pricing.reconcile import transfer_class_of

# Natural keys where the source has one; the rest deduplicate on every non-lineage column.
NATURAL_KEYS: dict[str, list[str]] = {
    "cloudtrail": ["event_id"],
    "cloudfront": ["x_edge_request_id"],
}


def deduplicate(records: pl.LazyFrame, source: str, within: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Each record once (inside each group of the ``within`` columns, e.g. the partition): by
    natural key where there is one, else by all its values."""
    columns = records.collect_schema().names()
    natural = NATURAL_KEYS.get(source)
    key = [*within, *natural] if natural else [c for c in columns if c not in LINEAGE_COLUMNS]
    return records.unique(subset=key, keep="first", maintain_order=True)


def processed_records(
    records: pl.LazyFrame, source: str, within: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """The processed table of a non-flow source (records counted once inside each ``within``
    group: a range of partitions is processed in one pass, each partition on its own)."""
    unique = deduplicate(records, source, within)
    if source == "cur":
        return unique.with_columns(
            transfer_class_of(pl.col("product_code"), pl.col("usage_type")).alias("transfer_class")
        )
    return unique


def classified_shapes(
    shapes: pl.LazyFrame,
    network: NetworkMetadata,
    ip_ranges: IpRanges | None,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Per-hour shape sums (``raw_vpc_flow_logs``' partitions) -> classified hourly flow facts
    (the Glue job's output)."""
    facts = finish_facts(shapes, network.region, keep).collect()
    return classify(facts, network, ip_ranges, keep).sort(
        *keep,
        "hour",
        "interface_id",
        "direction",
        "counterparty",
        "traffic_path",
        nulls_last=True,
    )


def classified_flows(
    raw: pl.LazyFrame,
    network: NetworkMetadata,
    ip_ranges: IpRanges | None,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Flow records -> classified hourly flow facts: each record once, summed per shape, then
    the same steps as the raw zone's shape sums take."""
    return classified_shapes(partial_facts(raw, keep), network, ip_ranges, keep)
