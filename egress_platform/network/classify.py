"""Destination classification of VPC flow records, aggregated per hour, ENI and counterparty.

The flow transform (the Glue job's logic; ``egress_platform/glue/flows_job.py`` is its PySpark
twin and a parity test holds them to the same output):

1. keep data records (``ACCEPT``, ``OK``, bytes present) and drop exact duplicates;
2. derive the direction (``flow-direction``, else which side is the ENI's own address) and the
   counterparty (``pkt-dstaddr``/``pkt-srcaddr`` first: they show the real peer behind a NAT);
3. aggregate per hour, ENI, direction, counterparty and traffic path: bytes, packets, flows;
4. resolve each distinct counterparty once (VPC/AZ, private route, AWS region/service);
5. classify every aggregate with the rules in :func:`classification_columns`; a response
   (ingress) follows the traffic path its request (egress) took in the same hour.
"""

from __future__ import annotations

import polars as pl

from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from egress_platform.sources.vpc_flow import COLUMNS as FIELD_TYPES

RECORD_KEY = [
    "account_id",
    "interface_id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "flow_direction",
    "pkt_srcaddr",
    "pkt_dstaddr",
    "traffic_path",
]
FACT_KEY = [
    "hour",
    "account_id",
    "region",
    "interface_id",
    "subnet_id",
    "az_id",
    "instance_id",
    "direction",
    "counterparty",
    "traffic_path",
    "aws_service_hint",
]
FACT_SCHEMA: dict[str, pl.DataType] = {
    "hour": pl.Datetime("us", "UTC"),
    "account_id": pl.String(),
    "region": pl.String(),
    "interface_id": pl.String(),
    "subnet_id": pl.String(),
    "az_id": pl.String(),
    "instance_id": pl.String(),
    "direction": pl.String(),
    "counterparty": pl.String(),
    "traffic_path": pl.Int16(),
    "aws_service_hint": pl.String(),
    "bytes": pl.Int64(),
    "packets": pl.Int64(),
    "flows": pl.UInt32(),
}
CLASSIFIED_SCHEMA: dict[str, pl.DataType] = {
    **FACT_SCHEMA,
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "dest_class": pl.String(),
    "assumed_class": pl.String(),  # what an ``unknown`` destination is priced as
    "dest_region": pl.String(),
    "dest_az": pl.String(),
    "dest_service": pl.String(),
    "dest_prefix": pl.String(),
    "via_nat_gateway_id": pl.String(),
}


UNKNOWN = "unknown"
# An unknown destination is never free: it is priced as its most likely class. In-VPC traffic
# whose AZ Config does not give (either side) crosses an AZ more often than not once a VPC
# spans two or more; a private address outside every VPC and known route is most often an
# on-premises or other network behind a transit gateway or Direct Connect (about $0.02/GB out).
ASSUMED_FOR_UNKNOWN = {"vpc": "inter_az", "private": "transit_gateway"}


STAGE_KEY = [
    "account_id", "region", "interface_id", "subnet_id", "az_id", "instance_id", "action",
    "log_status", "flow_direction", "srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr",
    "traffic_path", "pkt_src_aws_service", "pkt_dst_aws_service",
]  # fmt: skip
HOUR_EPOCH = "_hour_epoch"


LINEAGE_COLUMNS = ("source_file", "line_no")  # which object and line: no part of a record


def unique_records(
    raw: pl.LazyFrame, keep: tuple[str, ...] = (), dedup: bool = True
) -> pl.LazyFrame:
    """The columns the facts need, each record once: a record whose every field (lineage
    aside) equals another's is the same record delivered again. The byte kernel applies the
    same rule by hashing every field (``flow_kernel``); ``dedup=False`` is for callers that
    already applied it."""
    present = raw.collect_schema().names()
    if dedup:
        raw = raw.unique(subset=[c for c in present if c not in LINEAGE_COLUMNS])
    return raw.select([c for c in dict.fromkeys([*RECORD_KEY, *STAGE_KEY, *keep]) if c in present])


def accepted_with_bytes() -> pl.Expr:
    return (
        (pl.col("log_status").fill_null("OK") == "OK")
        & (pl.col("action").fill_null("ACCEPT") == "ACCEPT")
        & pl.col("bytes").is_not_null()
        & pl.col("interface_id").is_not_null()
    )


def partial_facts(
    raw: pl.LazyFrame, keep: tuple[str, ...] = (), dedup: bool = True
) -> pl.LazyFrame:
    """Stage 1, streaming over raw records: sums per hour and distinct record shape.

    Only cheap work happens per record (no regex, no datetimes); the records' action, status and
    addresses stay in the key so they can be checked and interpreted on the far smaller result.
    """
    records = unique_records(raw, keep, dedup)
    present = records.collect_schema().names()
    missing = [pl.lit(None, dtype=FIELD_TYPES[c]).alias(c) for c in STAGE_KEY if c not in present]
    # Every record lands in some group (NODATA ones too, with 0 bytes) so counts stay whole.
    return (
        records.with_columns(*missing, (pl.col("start") - pl.col("start") % 3600).alias(HOUR_EPOCH))
        .group_by([HOUR_EPOCH, *STAGE_KEY, *keep])
        .agg(
            pl.col("bytes").sum().cast(pl.Int64),
            pl.col("packets").sum().cast(pl.Int64),
            pl.len().cast(pl.UInt32).alias("flows"),
        )
    )


def finish_facts(
    partial: pl.LazyFrame, region: str | None = None, keep: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Stage 2: orient each record shape (direction, counterparty) and aggregate per hour."""
    src = pl.coalesce("pkt_srcaddr", "srcaddr")
    dst = pl.coalesce("pkt_dstaddr", "dstaddr")
    direction = (
        pl.when(pl.col("flow_direction").is_not_null())
        .then(pl.col("flow_direction"))
        .when(_is_private(pl.col("srcaddr")) & ~_is_private(pl.col("dstaddr")))
        .then(pl.lit("egress"))
        .when(~_is_private(pl.col("srcaddr")) & _is_private(pl.col("dstaddr")))
        .then(pl.lit("ingress"))
        .otherwise(pl.lit("egress"))
    )
    return (
        partial.filter(accepted_with_bytes())
        .with_columns(direction.alias("direction"))
        .with_columns(
            pl.from_epoch(pl.col(HOUR_EPOCH), time_unit="s")
            .dt.cast_time_unit("us")
            .dt.replace_time_zone("UTC")
            .alias("hour"),
            pl.when(pl.col("direction") == "egress").then(dst).otherwise(src).alias("counterparty"),
            pl.when(pl.col("direction") == "egress")
            .then(pl.col("pkt_dst_aws_service"))
            .otherwise(pl.col("pkt_src_aws_service"))
            .alias("aws_service_hint"),
            pl.col("region").fill_null(pl.lit(region, dtype=pl.String)),
        )
        .group_by([*FACT_KEY, *keep])
        .agg(
            pl.col("bytes").sum().cast(pl.Int64),
            pl.col("packets").sum().cast(pl.Int64),
            pl.col("flows").sum().cast(pl.UInt32),
        )
        .select(*[pl.col(c).cast(t) for c, t in FACT_SCHEMA.items()], *keep)
    )


def flow_facts(
    raw: pl.LazyFrame, region: str | None = None, keep: tuple[str, ...] = (), dedup: bool = True
) -> pl.LazyFrame:
    """Steps 1-3: hourly aggregates per ENI, direction and counterparty (and ``keep`` columns)."""
    return finish_facts(partial_facts(raw, keep, dedup), region, keep)


def _is_private(address: pl.Expr) -> pl.Expr:
    """RFC 1918, CGNAT and IPv6 ULA/link-local: enough to orient v2 records with no direction."""
    return address.str.contains(
        r"^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|f[cd]|fe80)"
    )


def classify(
    facts: pl.DataFrame,
    network: NetworkMetadata,
    ip_ranges: IpRanges | None,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Steps 4-5: attach the owning entity and the destination class to every aggregate."""
    addresses = network.resolve_addresses(
        facts.get_column("counterparty").drop_nulls().unique().sort().to_list(), ip_ranges
    )
    joined = (
        facts.with_columns(answering_path(keep).alias("_path"))
        .join(network.eni_frame(), on="interface_id", how="left")
        .join(addresses, on="counterparty", how="left")
    )
    return joined.with_columns(**classification_columns()).select(*CLASSIFIED_SCHEMA, *keep)


def answering_path(keep: tuple[str, ...] = ()) -> pl.Expr:
    """AWS logs ``traffic-path`` on egress only; a response takes its request's path."""
    egress_path = pl.when(pl.col("direction") == "egress").then(pl.col("traffic_path"))
    return pl.coalesce(
        pl.col("traffic_path"),
        egress_path.max().over("hour", "interface_id", "counterparty", *keep),
    )


def classification_columns() -> dict[str, pl.Expr]:
    """The rules, as expressions over facts joined with the ENI table and resolved addresses."""
    col, lit = pl.col, pl.lit
    own_region = col("region")
    own_az = pl.coalesce(col("eni_az_id"), col("az_id"))
    service = pl.coalesce(col("aws_service"), col("aws_service_hint"))
    is_nat_eni = col("entity_type") == "nat_gateway"
    path = col("_path")
    via_nat = ~is_nat_eni & (
        (path == 1) | (path.is_null() & (col("default_route") == "nat_gateway"))
    )
    gateway_endpoint = (path == 7) | (
        path.is_null()
        & col("gateway_endpoint").fill_null(False)
        & service.is_in(["S3", "DYNAMODB"])
        & (col("aws_region") == own_region)
    )
    dest_class = (
        pl.when(col("scope") == "vpc")
        .then(
            pl.when(col("cp_is_endpoint").fill_null(False))
            .then(lit("vpc_endpoint"))
            .when(col("cp_az_id").is_null() | own_az.is_null())
            .then(lit(UNKNOWN))
            .when(col("cp_az_id") == own_az)
            .then(lit("intra_az"))
            .otherwise(lit("inter_az"))
        )
        .when(col("scope") == "private")
        .then(
            pl.when((path == 3) | (col("private_route") == "transit_gateway"))
            .then(lit("transit_gateway"))
            .when(path.is_in([4, 5]) | (col("private_route") == "peering"))
            .then(lit("peering"))
            .when(col("private_route") == "link_local")
            .then(lit("intra_az"))
            .otherwise(lit(UNKNOWN))
        )
        .when(via_nat)
        .then(lit("nat_gateway"))
        .when(gateway_endpoint)
        .then(lit("vpc_endpoint"))
        .when(service.is_in(["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"]))
        .then(lit("cloudfront"))
        .when(col("aws_region") == own_region)
        .then(lit("aws_service_same_region"))
        .when(col("aws_region").is_not_null() & (col("aws_region") != "GLOBAL"))
        .then(lit("inter_region"))
        .otherwise(lit("internet"))
    )
    assumed_class = pl.when(dest_class == UNKNOWN).then(
        pl.when(col("scope") == "vpc")
        .then(lit(ASSUMED_FOR_UNKNOWN["vpc"]))
        .otherwise(lit(ASSUMED_FOR_UNKNOWN["private"]))
    )
    return {
        "entity_type": col("entity_type").fill_null(lit("eni")),
        "entity_id": pl.coalesce(col("entity_id"), col("interface_id")),
        "dest_class": dest_class,
        "assumed_class": assumed_class,
        "dest_region": pl.when(col("scope").is_in(["vpc", "private"]))
        .then(own_region)
        .otherwise(col("aws_region")),
        "dest_az": col("cp_az_id"),
        "dest_service": service,
        "dest_prefix": pl.when(col("scope") == "public")
        .then(col("public_prefix"))
        .otherwise(col("counterparty")),
        "via_nat_gateway_id": pl.when(via_nat & col("scope").is_in(["public"]))
        .then(col("via_nat_gateway_id"))
        .otherwise(None),
    }
