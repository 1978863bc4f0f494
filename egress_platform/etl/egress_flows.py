"""``egress_flows_hourly``: flows, S3 and CloudFront egress facts, priced, in one table."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from egress_platform.network.facts import (
    FACTS_SCHEMA,
    cloudfront_egress_facts,
    flow_egress_facts,
    s3_egress_facts,
)
from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from egress_platform.pricing.estimate import price_facts
from egress_platform.pricing.price_book import CURRENT, GB, PriceBook


@dataclass(frozen=True)
class EgressInputs:
    classified_flows: pl.DataFrame
    s3_records: pl.DataFrame
    cloudfront_records: pl.DataFrame
    network: NetworkMetadata
    ip_ranges: IpRanges | None
    account_id: str


def egress_facts(inputs: EgressInputs) -> pl.DataFrame:
    """Flow, S3 and CloudFront egress facts in one frame (not yet priced)."""
    return pl.concat(
        [
            flow_egress_facts(inputs.classified_flows),
            s3_egress_facts(
                inputs.s3_records,
                inputs.account_id,
                inputs.network.region,
                inputs.network,
                inputs.ip_ranges,
            ),
            cloudfront_egress_facts(inputs.cloudfront_records, inputs.account_id),
        ],
        how="vertical",
    ).select(list(FACTS_SCHEMA))


def build_egress_flows(
    inputs: EgressInputs,
    book: PriceBook = CURRENT,
    prior_internet_gb: dict[tuple[str, str], float] | None = None,
) -> pl.DataFrame:
    return sort_flows(price_facts(egress_facts(inputs), book, prior_internet_gb))


def sort_flows(priced: pl.DataFrame) -> pl.DataFrame:
    return priced.sort(
        "hour", "account_id", "source_type", "source_id", "dest_class", "dest_prefix",
        nulls_last=True,
    )  # fmt: skip


def account_of(network_items: pl.DataFrame, flows: pl.DataFrame) -> str:
    """The account the data belongs to: Config's account id, else the flow logs'."""
    for frame in (network_items, flows):
        if "account_id" in frame.columns and frame.height:
            found = frame.get_column("account_id").drop_nulls().mode().to_list()
            if found:
                return str(sorted(found)[0])
    return "unknown"


def usd_by_class(priced: pl.DataFrame) -> dict[str, float]:
    rows = priced.group_by("dest_class").agg(pl.col("estimated_usd").sum()).sort("dest_class")
    return {c: round(float(v), 2) for c, v in rows.iter_rows()}


def top_talkers(priced: pl.DataFrame, n: int = 10) -> list[dict[str, object]]:
    rows = (
        priced.group_by("source_type", "source_id", "dest_class")
        .agg(
            pl.col("estimated_usd").sum().alias("usd"),
            (pl.col("bytes_out").sum() / GB).alias("gb_out"),
        )
        .sort("usd", "gb_out", descending=True)
        .head(n)
    )
    return [
        {
            "source": f"{t}:{s}",
            "dest_class": c,
            "usd": round(float(u), 2),
            "gb_out": round(float(g), 1),
        }
        for t, s, c, u, g in rows.iter_rows()
    ]
