"""``egress_flows_hourly``: flows, S3 and CloudFront egress facts, priced, in one table."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from egress_platform.lake_layout import PARTITION, split_on
from egress_platform.network.facts import (
    FACTS_SCHEMA,
    REPLICATION_ROLES_SCHEMA,
    cloudfront_egress_facts,
    flow_egress_facts,
    role_key,
    s3_egress_facts,
)
from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from egress_platform.pricing.estimate import PRICED_SCHEMA, price_facts
from egress_platform.pricing.price_book import CURRENT, DEST_CLASSES, GB, PriceBook
from egress_platform.sources.config import stored_supplementary


@dataclass(frozen=True)
class EgressInputs:
    classified_flows: pl.DataFrame
    s3_records: pl.DataFrame
    cloudfront_records: pl.DataFrame
    network: NetworkMetadata
    ip_ranges: IpRanges | None
    account_id: str | pl.Expr  # an expression when a range's partitions each have their own
    owners: pl.DataFrame | None = None  # resource_owners(): a bucket's or distribution's account
    replication_roles: pl.DataFrame | None = None  # replication_roles(): who replicates a bucket


OWNERS_SCHEMA = {
    "source_id": pl.String(),
    "owner_account": pl.String(),
    "owner_region": pl.String(),
}


def resource_owners(config_items: pl.DataFrame) -> pl.DataFrame:
    """Each resource Config recorded, with the account and region it belongs to: S3 and
    CloudFront logs do not name the account, and one landing zone may hold several."""
    if config_items.height == 0 or "resource_id" not in config_items.columns:
        return pl.DataFrame(schema=OWNERS_SCHEMA)
    return (
        config_items.sort("capture_time", nulls_last=False)
        .group_by("resource_id", maintain_order=True)
        .last()
        .select(
            pl.col("resource_id").alias("source_id"),
            pl.col("account_id").alias("owner_account"),
            pl.col("aws_region").alias("owner_region"),
        )
        .filter(pl.col("source_id").is_not_null())
        .sort("source_id")
    )


def replication_roles(config_items: pl.DataFrame) -> pl.DataFrame:
    """Each bucket with every role its replication configuration named in the Config history
    read (``roleARN`` as Config records it, ``Role`` as the S3 API says; either may arrive as
    JSON text), so that replication is told by who asked, not by what the request says."""
    if config_items.height == 0 or "supplementary_configuration" not in config_items.columns:
        return pl.DataFrame(schema=REPLICATION_ROLES_SCHEMA)
    rows: list[tuple[str, str]] = []
    buckets = config_items.filter(pl.col("resource_type") == "AWS::S3::Bucket")
    for bucket, text in buckets.select("resource_id", "supplementary_configuration").iter_rows():
        supplementary = stored_supplementary(text)
        replication = supplementary.get("BucketReplicationConfiguration")
        if isinstance(replication, dict):
            role = replication.get("roleARN") or replication.get("Role")
            if isinstance(role, str) and bucket:
                rows.append((bucket, role))
    return (
        pl.DataFrame(rows, schema=["bucket", "role_arn"], orient="row")
        .select("bucket", role_key(pl.col("role_arn")).alias("role_key"))
        .drop_nulls()
        .unique()
        .sort("bucket", "role_key")
    )


def egress_facts(inputs: EgressInputs, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """Flow, S3 and CloudFront egress facts in one frame (not yet priced), kept apart by the
    ``keep`` columns every input carries (the partition, when a range is taken at once)."""
    served = pl.concat(
        [
            s3_egress_facts(
                inputs.s3_records,
                inputs.account_id,
                inputs.network.region,
                inputs.network,
                inputs.ip_ranges,
                inputs.replication_roles,
                keep,
            ),
            cloudfront_egress_facts(inputs.cloudfront_records, inputs.account_id, keep),
        ],
        how="vertical_relaxed",
    )
    if inputs.owners is not None and inputs.owners.height and served.height:
        served = (
            served.join(inputs.owners, on="source_id", how="left")
            .with_columns(
                pl.coalesce("owner_account", "account_id").alias("account_id"),
                pl.when(pl.col("product_code") == "AmazonS3")
                .then(pl.coalesce("owner_region", "region"))
                .otherwise(pl.col("region"))
                .alias("region"),
            )
            .drop("owner_account", "owner_region")
        )
    columns = [*keep, *FACTS_SCHEMA]
    return pl.concat(
        [
            flow_egress_facts(inputs.classified_flows, inputs.network, keep).select(columns),
            served.select(columns),
        ],
        how="vertical_relaxed",
    )


def build_egress_flows(
    inputs: EgressInputs,
    book: PriceBook = CURRENT,
    prior_internet_gb: dict[tuple[str, str], float] | None = None,
) -> pl.DataFrame:
    return sort_flows(price_facts(egress_facts(inputs), book, prior_internet_gb))


def price_hours(
    inputs: EgressInputs,
    keys: list[str],
    prior_internet_gb: dict[tuple[str, str], float],
    book: PriceBook = CURRENT,
) -> dict[str, pl.DataFrame]:
    """The priced flows of each hour (partition ``keys``), from inputs whose frames carry the
    PARTITION column, in one pass (a polars plan per hour cost more than its rows) and priced
    together: internet tiers accumulate over the month, so an hour's price depends on the GB of
    the hours before it in the same run."""
    facts = egress_facts(inputs, keep=(PARTITION,))
    priced = sort_flows(price_facts(facts, book, prior_internet_gb))
    return split_on(priced, PARTITION, keys, empty=pl.DataFrame(schema=PRICED_SCHEMA))


def sort_flows(priced: pl.DataFrame) -> pl.DataFrame:
    return priced.sort(
        "hour",
        "account_id",
        "source_type",
        "source_id",
        "dest_class",
        "dest_prefix",
        nulls_last=True,
    )


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


def fact_problems(priced: pl.DataFrame, book: PriceBook = CURRENT) -> dict[str, int]:
    """Facts that would mislead everything downstream: negative bytes, a destination class the
    product does not know (or none), dollars outside what the price book allows for the bytes."""
    if priced.height == 0:
        return {"negative_bytes": 0, "unclassified": 0, "outside_price_book": 0}
    col = pl.col
    most = col("billable_bytes").cast(pl.Float64) / GB * book.highest_rate() + 1e-9
    outside = pl.any_horizontal(
        (col(c) < -1e-9) | (col(c) > most) | col(c).is_null() | col(c).is_nan()
        for c in ("estimated_usd", "marginal_usd")
    )
    counts = priced.select(
        (pl.any_horizontal(col(c) < 0 for c in ("bytes_out", "bytes_in", "billable_bytes")))
        .sum()
        .alias("negative_bytes"),
        (~col("dest_class").is_in(list(DEST_CLASSES)) | col("dest_class").is_null())
        .sum()
        .alias("unclassified"),
        outside.sum().alias("outside_price_book"),
    )
    return {k: int(v or 0) for k, v in counts.row(0, named=True).items()}
