"""Egress facts: one shape for what flows, S3 access logs and CloudFront logs say left an entity.

Each row is an hour, an owning entity (ENI, NAT gateway, endpoint, bucket, distribution) and a
classified destination, with the bytes sent (out) and received (in). Pricing and the
``egress_flows_hourly`` asset work on this shape only, whatever the source.
"""

from __future__ import annotations

import ipaddress

import polars as pl

from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata

FACTS_SCHEMA: dict[str, pl.DataType] = {
    "hour": pl.Datetime("us", "UTC"),
    "account_id": pl.String(),
    "region": pl.String(),
    "product_code": pl.String(),
    "source_type": pl.String(),
    "source_id": pl.String(),
    "instance_id": pl.String(),
    "dest_class": pl.String(),
    "assumed_class": pl.String(),  # the class an ``unknown`` destination is priced as
    "dest_region": pl.String(),
    "dest_az": pl.String(),
    "dest_service": pl.String(),
    "dest_prefix": pl.String(),
    "via_nat_gateway_id": pl.String(),
    # Inter-AZ traffic to an ENI whose flow log is absent: its side is billed here too.
    "bills_peer_side": pl.Boolean(),
    "bytes_out": pl.Int64(),
    "bytes_in": pl.Int64(),
    "packets": pl.Int64(),
    "flows": pl.Int64(),
}
FACT_DIMENSIONS = [
    c for c in FACTS_SCHEMA if c not in ("bytes_out", "bytes_in", "packets", "flows")
]
REPLICATION_ROLES_SCHEMA = {"bucket": pl.String(), "role_key": pl.String()}


def role_key(arn: pl.Expr) -> pl.Expr:
    """``account:role-name`` of an IAM role ARN (with any path) or of a session of the role
    (``sts::…:assumed-role/name/session``, which is how S3 logs a role's requests)."""
    account = arn.str.extract(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):", 1)
    name = pl.coalesce(
        arn.str.extract(r":assumed-role/([^/]+)/", 1),
        arn.str.extract(r":role/(?:[^/]*/)*([^/]+)$", 1),
    )
    return pl.concat_str([account, pl.lit(":"), name])


def flow_egress_facts(
    classified: pl.DataFrame, network: NetworkMetadata | None = None, keep: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Classified flow aggregates, with the two directions side by side (``keep``: columns
    that set groups apart, such as the partition of a range taken in one pass)."""
    out = pl.col("direction") == "egress"
    if "assumed_class" not in classified.columns:  # classified before unknowns were priced
        classified = classified.with_columns(pl.lit(None, dtype=pl.String).alias("assumed_class"))
    return (
        classified.with_columns(
            peer_side_unlogged(classified, network, keep).alias("bills_peer_side"),
            pl.lit("AmazonEC2").alias("product_code"),
            pl.col("entity_type").alias("source_type"),
            pl.col("entity_id").alias("source_id"),
            pl.when(out).then(pl.col("bytes")).otherwise(0).alias("bytes_out"),
            pl.when(out).then(0).otherwise(pl.col("bytes")).alias("bytes_in"),
            pl.col("flows").cast(pl.Int64),
        )
        .group_by(*keep, *FACT_DIMENSIONS)
        .agg(pl.col("bytes_out", "bytes_in", "packets", "flows").sum())
        .select(*keep, *[pl.col(c).cast(t) for c, t in FACTS_SCHEMA.items()])
    )


def peer_side_unlogged(
    classified: pl.DataFrame, network: NetworkMetadata | None, keep: tuple[str, ...] = ()
) -> pl.Expr:
    """Whether a row of inter-AZ traffic is the only record of it on the bill's two sides.

    AWS bills inter-AZ transfer on each side ($0.01/GB out of one AZ, $0.01/GB into the other).
    When both ENIs' flow logs are delivered each carries its own side; when the peer's is absent
    (flow logs enabled on some subnets or ENIs only) the row seen must carry both. The peer is
    the ENI Config says holds the address; it is absent from the hour when it logged nothing.
    An address no ENI item names could be any ENI Config did not record: its side is taken as
    absent only when every ENI that logged in the hour is one Config knows (so none is it).
    """
    crosses = (pl.col("dest_class") == "inter_az") | (pl.col("assumed_class") == "inter_az")
    if network is None or classified.height == 0:
        return crosses & pl.lit(False)
    holders = network.address_holders()
    logged = classified.select(*keep, "hour", "interface_id").unique()
    known = set(network.enis)
    group = [*(pl.col(c).cast(pl.String) for c in keep), pl.col("hour").cast(pl.String)]

    def key(*parts: pl.Expr) -> pl.Expr:  # the hour (in its group), and what is in it
        return pl.concat_str([*group, *parts], separator="|")

    hours_with_strangers = (
        logged.filter(~pl.col("interface_id").is_in(list(known))).select(key()).to_series()
    )
    peer = pl.col("counterparty").replace_strict(holders, default=None, return_dtype=pl.String)
    logged_keys = logged.select(key(pl.col("interface_id"))).to_series()
    peer_logged = key(peer).is_in(logged_keys.implode())
    return crosses & (
        pl.when(peer.is_not_null())
        .then(~peer_logged)
        .otherwise(~key().is_in(hours_with_strangers.unique().implode()))
    )


def s3_egress_facts(
    records: pl.DataFrame,
    account_id: str | pl.Expr,
    region: str | None,
    network: NetworkMetadata,
    ip_ranges: IpRanges | None,
    replication_roles: pl.DataFrame | None = None,
    keep: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Bytes a bucket served, by who fetched them: internet, other regions, replication, in-VPC.

    A request is replication when its requester is a session of the role the bucket's
    replication configuration names (``replication_roles``, from Config): S3 authenticates the
    requester, whereas the user agent is whatever the caller sent."""
    served = records.filter(pl.col("bytes_sent").fill_null(0) > 0)
    if served.height == 0:
        return _no_facts(records, keep)
    addresses = network.resolve_addresses(
        served.get_column("remote_ip").drop_nulls().unique().sort().to_list(), ip_ranges
    ).rename({"counterparty": "remote_ip"})
    roles = (
        pl.DataFrame(schema=REPLICATION_ROLES_SCHEMA)
        if replication_roles is None
        else replication_roles.select(list(REPLICATION_ROLES_SCHEMA)).unique()
    ).with_columns(pl.lit(True).alias("_replication"))
    served = served.with_columns(role_key(pl.col("requester")).alias("role_key")).join(
        roles, on=["bucket", "role_key"], how="left"
    )
    replication = pl.col("_replication").fill_null(False)
    own = pl.lit(region, dtype=pl.String)
    dest_class = (
        pl.when(replication)
        .then(pl.lit("inter_region"))
        .when(pl.col("scope").is_in(["vpc", "private"]))
        .then(pl.lit("aws_service_same_region"))
        .when(pl.col("aws_service").is_in(["CLOUDFRONT", "CLOUDFRONT_ORIGIN_FACING"]))
        .then(pl.lit("cloudfront"))
        .when(pl.col("aws_region") == own)
        .then(pl.lit("aws_service_same_region"))
        .when(pl.col("aws_region").is_not_null() & (pl.col("aws_region") != "GLOBAL"))
        .then(pl.lit("inter_region"))
        .otherwise(pl.lit("internet"))
    )
    return (
        served.join(addresses, on="remote_ip", how="left")
        .with_columns(
            pl.col("time").dt.truncate("1h").alias("hour"),
            _account(account_id).alias("account_id"),
            own.alias("region"),
            pl.lit("AmazonS3").alias("product_code"),
            pl.lit("bucket").alias("source_type"),
            pl.col("bucket").alias("source_id"),
            pl.lit(None, dtype=pl.String).alias("instance_id"),
            dest_class.alias("dest_class"),
            pl.lit(None, dtype=pl.String).alias("assumed_class"),
            pl.when(replication).then(None).otherwise(pl.col("aws_region")).alias("dest_region"),
            pl.lit(None, dtype=pl.String).alias("dest_az"),
            pl.when(replication)
            .then(pl.lit("S3_REPLICATION"))
            .otherwise(pl.col("aws_service"))
            .alias("dest_service"),
            pl.col("public_prefix").fill_null(pl.col("remote_ip")).alias("dest_prefix"),
            pl.lit(None, dtype=pl.String).alias("via_nat_gateway_id"),
            pl.lit(False).alias("bills_peer_side"),
            pl.col("bytes_sent").cast(pl.Int64).alias("bytes_out"),
            pl.lit(0, dtype=pl.Int64).alias("bytes_in"),
            pl.lit(0, dtype=pl.Int64).alias("packets"),
            pl.lit(1, dtype=pl.Int64).alias("flows"),
        )
        .group_by(*keep, *FACT_DIMENSIONS)
        .agg(pl.col("bytes_out", "bytes_in", "packets", "flows").sum())
        .select(*keep, *[pl.col(c).cast(t) for c, t in FACTS_SCHEMA.items()])
    )


def cloudfront_egress_facts(
    records: pl.DataFrame, account_id: str | pl.Expr, keep: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Bytes a distribution served to viewers (the distribution id is in the log file name)."""
    if records.height == 0:
        return _no_facts(records, keep)
    distribution = pl.col("source_file").str.extract(
        r"(?:^|/)(E[A-Z0-9]+)\.\d{4}-\d{2}-\d{2}-\d{2}\."
    )
    prefixes = {
        ip: _client_prefix(ip) for ip in records.get_column("c_ip").drop_nulls().unique().to_list()
    }
    return (
        records.with_columns(
            pl.col("timestamp").dt.truncate("1h").alias("hour"),
            _account(account_id).alias("account_id"),
            pl.lit("GLOBAL").alias("region"),
            pl.lit("AmazonCloudFront").alias("product_code"),
            pl.lit("distribution").alias("source_type"),
            pl.coalesce(distribution, pl.col("x_host_header")).alias("source_id"),
            pl.lit(None, dtype=pl.String).alias("instance_id"),
            pl.lit("internet").alias("dest_class"),
            pl.lit(None, dtype=pl.String).alias("assumed_class"),
            pl.col("x_edge_location").str.slice(0, 3).alias("dest_region"),
            pl.lit(None, dtype=pl.String).alias("dest_az"),
            pl.lit(None, dtype=pl.String).alias("dest_service"),
            pl.col("c_ip").replace_strict(prefixes, default=None).alias("dest_prefix"),
            pl.lit(None, dtype=pl.String).alias("via_nat_gateway_id"),
            pl.lit(False).alias("bills_peer_side"),
            pl.col("sc_bytes").fill_null(0).cast(pl.Int64).alias("bytes_out"),
            pl.col("cs_bytes").fill_null(0).cast(pl.Int64).alias("bytes_in"),
            pl.lit(0, dtype=pl.Int64).alias("packets"),
            pl.lit(1, dtype=pl.Int64).alias("flows"),
        )
        .group_by(*keep, *FACT_DIMENSIONS)
        .agg(pl.col("bytes_out", "bytes_in", "packets", "flows").sum())
        .select(*keep, *[pl.col(c).cast(t) for c, t in FACTS_SCHEMA.items()])
    )


def _account(account_id: str | pl.Expr) -> pl.Expr:
    """The account as a column: one for every row, or an expression (each partition's own)."""
    return account_id if isinstance(account_id, pl.Expr) else pl.lit(account_id)


def _no_facts(records: pl.DataFrame, keep: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame(schema={**{c: records.schema[c] for c in keep}, **FACTS_SCHEMA})


def _client_prefix(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    width = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{width}", strict=False))
