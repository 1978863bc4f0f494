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

DEST_CLASSES = (
    "internet",
    "inter_region",
    "inter_az",
    "intra_az",
    "nat_gateway",
    "vpc_endpoint",
    "transit_gateway",
    "peering",
    "cloudfront",
    "aws_service_same_region",
)
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
    "dest_region": pl.String(),
    "dest_az": pl.String(),
    "dest_service": pl.String(),
    "dest_prefix": pl.String(),
    "via_nat_gateway_id": pl.String(),
}


def data_records(raw: pl.LazyFrame, keep: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Accepted records that carry bytes, each exactly once (re-delivered files add nothing)."""
    present = raw.collect_schema().names()
    return (
        raw.filter(
            (pl.col("log_status").fill_null("OK") == "OK")
            & (pl.col("action").fill_null("ACCEPT") == "ACCEPT")
            & pl.col("bytes").is_not_null()
            & pl.col("interface_id").is_not_null()
        )
        .select([c for c in [*RECORD_KEY, "region", "subnet_id", "az_id", "instance_id",
                             "pkt_src_aws_service", "pkt_dst_aws_service", *keep] if c in present])
        .unique(subset=[c for c in [*RECORD_KEY, *keep] if c in present])
    )  # fmt: skip


def flow_facts(
    raw: pl.LazyFrame, region: str | None = None, keep: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Steps 1-3: hourly aggregates per ENI, direction and counterparty (and ``keep`` columns)."""
    records = data_records(raw, keep)
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
        records.with_columns(direction.alias("direction"))
        .with_columns(
            pl.from_epoch(pl.col("start") - pl.col("start") % 3600, time_unit="s")
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
            pl.len().cast(pl.UInt32).alias("flows"),
        )
        .select(*[pl.col(c).cast(t) for c, t in FACT_SCHEMA.items()], *keep)
    )


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
            .when(col("cp_az_id").is_null() | own_az.is_null() | (col("cp_az_id") == own_az))
            .then(lit("intra_az"))
            .otherwise(lit("inter_az"))
        )
        .when(col("scope") == "private")
        .then(
            pl.when((path == 3) | (col("private_route") == "transit_gateway"))
            .then(lit("transit_gateway"))
            .when(path.is_in([4, 5]) | (col("private_route") == "peering"))
            .then(lit("peering"))
            .otherwise(lit("intra_az"))
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
    return {
        "entity_type": col("entity_type").fill_null(lit("eni")),
        "entity_id": pl.coalesce(col("entity_id"), col("interface_id")),
        "dest_class": dest_class,
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
