"""Price egress facts with the price book: what each hourly aggregate should cost.

Which bytes are billed depends on the destination class: internet and inter-region egress bill
the bytes sent; inter-AZ and peering bill $0.01/GB on each side, so each ENI's view (sent and
received) carries its own side, and both sides when the peer ENI's flow log is absent
(``bills_peer_side``); an ``unknown`` destination is priced as its ``assumed_class``; a NAT gateway bills every byte it processes, both ways. Internet
egress from EC2 and S3 shares one set of tiers per account and calendar month; CloudFront has its
own rate. The month-to-date volume before the first hour priced comes from ``prior_internet_gb``.
``marginal_usd`` is what the same bytes cost past the free tier: the detector judges that, since
the month's first free gigabytes make an ordinary hour look like $0 (a week later, the same
traffic looks like a rise).
"""

from __future__ import annotations

import polars as pl

from egress_platform.network.facts import FACTS_SCHEMA
from egress_platform.pricing.price_book import CURRENT, GB, REGION_CODES, PriceBook

PRICED_SCHEMA: dict[str, pl.DataType] = {
    **FACTS_SCHEMA,
    "transfer_class": pl.String(),
    "usage_type": pl.String(),
    "billable_bytes": pl.Int64(),
    "estimated_usd": pl.Float64(),
    "marginal_usd": pl.Float64(),
    "price_book_version": pl.String(),
}
TIERED = "internet_tiered"


def price_facts(
    facts: pl.DataFrame,
    book: PriceBook = CURRENT,
    prior_internet_gb: dict[tuple[str, str], float] | None = None,
) -> pl.DataFrame:
    """Add billable bytes, the CUR usage type they land on, and the estimated USD."""
    if facts.height == 0:
        extra = {c: t for c, t in facts.schema.items() if c not in PRICED_SCHEMA}
        return pl.DataFrame(schema={**PRICED_SCHEMA, **extra})
    col = pl.col
    sides = pl.when(col("bills_peer_side").fill_null(False)).then(2).otherwise(1)
    both_ways = (col("bytes_out") + col("bytes_in")) * sides
    cls = priced_class()
    is_cloudfront = col("product_code") == "AmazonCloudFront"
    interface_endpoint = (cls == "vpc_endpoint") & col("dest_az").is_not_null()
    billable = (
        pl.when(cls.is_in(["internet", "inter_region", "transit_gateway"]))
        .then(col("bytes_out"))
        .when(cls.is_in(["inter_az", "peering", "nat_gateway"]) | interface_endpoint)
        .then(both_ways)
        .otherwise(0)
    )
    transfer_class = (
        pl.when(cls == "peering")
        .then(pl.lit("inter_az"))
        .when(cls.is_in(["internet", "inter_region", "inter_az", "nat_gateway", "transit_gateway"]))
        .then(cls)
        .when(interface_endpoint)
        .then(pl.lit("vpc_endpoint"))
        .otherwise(None)
    )
    price_key = (
        pl.when(is_cloudfront & (cls == "internet"))
        .then(pl.lit("cloudfront_us"))
        .when(cls == "internet")
        .then(pl.lit(TIERED))
        .when(transfer_class == "vpc_endpoint")
        .then(pl.lit("vpc_endpoint_interface"))
        .otherwise(transfer_class)
    )
    keyed = facts.with_columns(
        billable.cast(pl.Int64).alias("billable_bytes"),
        transfer_class.alias("transfer_class"),
        price_key.alias("_price_key"),
        usage_type_expr().alias("usage_type"),
    )
    flat_rates = _flat_rates(keyed, book)
    flat = (
        keyed.join(flat_rates, on=["_price_key", "region"], how="left")
        .with_columns(
            (col("billable_bytes") / GB * col("_rate").fill_null(0.0)).alias("estimated_usd")
        )
        .with_columns(col("estimated_usd").alias("marginal_usd"))
    )
    tiered = _apply_internet_tiers(flat, book, prior_internet_gb or {})
    extras = [c for c in facts.columns if c not in PRICED_SCHEMA]  # e.g. a partition key
    return tiered.with_columns(pl.lit(book.version).alias("price_book_version")).select(
        *[pl.col(c).cast(t) for c, t in PRICED_SCHEMA.items()], *extras
    )


def _flat_rates(keyed: pl.DataFrame, book: PriceBook) -> pl.DataFrame:
    pairs = keyed.select("_price_key", "region").unique().drop_nulls("_price_key")
    rates = [0.0 if key == TIERED else book.rate(key, region) for key, region in pairs.iter_rows()]
    return pairs.with_columns(pl.Series("_rate", rates, dtype=pl.Float64))


def _apply_internet_tiers(
    frame: pl.DataFrame, book: PriceBook, prior: dict[tuple[str, str], float]
) -> pl.DataFrame:
    """Price tiered rows hour by hour on the account's month-to-date volume, pro rata within an hour."""
    tiered = frame.filter(pl.col("_price_key") == TIERED)
    if tiered.height == 0:
        return frame
    hourly = (
        tiered.group_by("account_id", "hour")
        .agg((pl.col("billable_bytes").sum() / GB).alias("_gb"))
        .with_columns(pl.col("hour").dt.strftime("%Y-%m").alias("_month"))
        .sort("account_id", "hour")
    )
    prior_frame = pl.DataFrame(
        [(a, m, gb) for (a, m), gb in prior.items()],
        schema={"account_id": pl.String, "_month": pl.String, "_prior": pl.Float64},
        orient="row",
    )
    hourly = (
        hourly.join(prior_frame, on=["account_id", "_month"], how="left")
        .with_columns(
            (
                pl.col("_prior").fill_null(0.0)
                + pl.col("_gb").cum_sum().over("account_id", "_month")
            ).alias("_end")
        )
        .with_columns((pl.col("_end") - pl.col("_gb")).alias("_start"))
        .with_columns(
            (
                book.cumulative_internet_cost(pl.col("_end"))
                - book.cumulative_internet_cost(pl.col("_start"))
            ).alias("_hour_usd"),
            (
                book.cumulative_internet_cost(pl.col("_end"), marginal=True)
                - book.cumulative_internet_cost(pl.col("_start"), marginal=True)
            ).alias("_hour_marginal_usd"),
        )
        .select("account_id", "hour", "_gb", "_hour_usd", "_hour_marginal_usd")
    )
    share = (pl.col("billable_bytes") / GB) / pl.col("_gb")
    tiered_row = pl.col("_price_key") == TIERED
    return frame.join(hourly, on=["account_id", "hour"], how="left").with_columns(
        *[
            pl.when(tiered_row)
            .then(pl.when(pl.col("_gb") > 0).then(share * pl.col(hourly_usd)).otherwise(0.0))
            .otherwise(pl.col(column))
            .alias(column)
            for column, hourly_usd in (
                ("estimated_usd", "_hour_usd"),
                ("marginal_usd", "_hour_marginal_usd"),
            )
        ]
    )


def internet_gb_by_month(priced: pl.DataFrame) -> dict[tuple[str, str], float]:
    """Month-to-date tiered internet GB per (account, YYYY-MM): the state the next hours build on."""
    rows = (
        priced.filter(
            (pl.col("dest_class") == "internet") & (pl.col("product_code") != "AmazonCloudFront")
        )
        .group_by("account_id", pl.col("hour").dt.strftime("%Y-%m").alias("month"))
        .agg((pl.col("billable_bytes").sum() / GB).alias("gb"))
    )
    return {(a, m): float(gb) for a, m, gb in rows.iter_rows()}


def priced_class() -> pl.Expr:
    """The class a row is priced as: its own, or for an ``unknown`` one the class assumed."""
    return pl.coalesce(pl.col("assumed_class"), pl.col("dest_class"))


def usage_type_expr() -> pl.Expr:
    """The CUR usage type a priced row lands on (region prefix as AWS writes it)."""
    col, lit = pl.col, pl.lit
    code = col("region").replace_strict(REGION_CODES, default=None)
    prefix = pl.when(col("region") == "us-east-1").then(lit("")).otherwise(code + "-")
    dest_code = col("dest_region").replace_strict(REGION_CODES, default=lit("UNKNOWN"))
    cls = priced_class()
    return (
        pl.when((col("product_code") == "AmazonCloudFront") & (cls == "internet"))
        .then(lit("US-DataTransfer-Out-Bytes"))  # edge geography not mapped yet: US rates
        .when(cls == "internet")
        .then(prefix + lit("DataTransfer-Out-Bytes"))
        .when(cls.is_in(["inter_az", "peering"]))
        .then(prefix + lit("DataTransfer-Regional-Bytes"))
        .when(cls == "inter_region")
        .then(code + lit("-") + dest_code + lit("-AWS-Out-Bytes"))
        .when(cls == "nat_gateway")
        .then(prefix + lit("NatGateway-Bytes"))
        .when(cls == "transit_gateway")
        .then(prefix + lit("TransitGateway-Bytes"))
        .when((cls == "vpc_endpoint") & col("dest_az").is_not_null())
        .then(prefix + lit("VpcEndpoint-Bytes"))
        .otherwise(None)
    )
