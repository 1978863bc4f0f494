"""Reconcile flow-estimated transfer cost with the bill (CUR), per day, account and class.

CUR usage types name the transfer (``USW2-DataTransfer-Out-Bytes``, ``USE1-USW2-AWS-Out-Bytes``,
``NatGateway-Bytes``...); :func:`transfer_class_of` maps them to the classes the estimate uses,
whatever the region prefix or the service (EC2, S3, RDS, EBS...). The report says, per day and
account, how many of the bill's data-transfer dollars the flows explain.
"""

from __future__ import annotations

from typing import Any

import polars as pl

RECONCILIATION_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "account_id": pl.String(),
    "product_code": pl.String(),
    "transfer_class": pl.String(),
    "usage_types": pl.String(),
    "cur_usd": pl.Float64(),
    "cur_gb": pl.Float64(),
    "estimated_usd": pl.Float64(),
    "estimated_gb": pl.Float64(),
    "assumed_usd": pl.Float64(),  # part of estimated_usd priced on an assumed class (unknowns)
    "explained_share": pl.Float64(),
}
_KEY = ["day", "account_id", "product_code", "transfer_class"]


def transfer_class_of(product_code: pl.Expr, usage_type: pl.Expr) -> pl.Expr:
    """The transfer class a CUR usage type bills, or null for lines that are not data transfer."""
    ut = usage_type.fill_null("")
    return (
        pl.when(ut.str.contains(r"-AWS-Out-Bytes$"))
        .then(pl.lit("inter_region"))
        .when(ut.str.contains(r"-AWS-In-Bytes$"))
        .then(pl.lit("inter_region_in"))
        .when(ut.str.contains(r"(^|-)CloudFront-(Out|In)-Bytes$"))
        .then(pl.lit("cloudfront"))
        .when(ut.str.contains(r"(^|-)DataTransfer-Out-Bytes$"))
        .then(pl.lit("internet"))
        .when(ut.str.contains(r"(^|-)DataTransfer-In-Bytes$"))
        .then(pl.lit("inbound"))
        .when(ut.str.contains(r"(^|-)DataTransfer-Regional-Bytes$"))
        .then(pl.lit("inter_az"))
        .when(ut.str.contains(r"(^|-)NatGateway-Bytes$"))
        .then(pl.lit("nat_gateway"))
        .when(ut.str.contains(r"(^|-)TransitGateway-Bytes$"))
        .then(pl.lit("transit_gateway"))
        .when(ut.str.contains(r"(^|-)VpcEndpoint-Bytes$"))
        .then(pl.lit("vpc_endpoint"))
        .otherwise(None)
    )


def cur_transfer_lines(cur: pl.DataFrame) -> pl.DataFrame:
    """The bill's data-transfer lines with their class (usage and discounts, not tax/credits)."""
    return (
        cur.filter(pl.col("line_item_type").fill_null("Usage").is_in(["Usage", "DiscountedUsage"]))
        .with_columns(
            transfer_class_of(pl.col("product_code"), pl.col("usage_type")).alias("transfer_class"),
            pl.col("usage_start").dt.date().alias("day"),
            pl.coalesce("usage_account_id", "payer_account_id").alias("account_id"),
        )
        .filter(pl.col("transfer_class").is_not_null())
    )


def reconcile(cur: pl.DataFrame, priced: pl.DataFrame) -> pl.DataFrame:
    """Per day, account, product and class: bill vs estimate and the share explained."""
    bill = (
        cur_transfer_lines(cur)
        .group_by(_KEY)
        .agg(
            pl.col("unblended_cost").sum().alias("cur_usd"),
            pl.col("usage_amount").sum().alias("cur_gb"),
            pl.col("usage_type").unique().sort().str.join(",").alias("_cur_usage"),
        )
    )
    estimate = (
        priced.filter(pl.col("transfer_class").is_not_null())
        .with_columns(pl.col("hour").dt.date().alias("day"))
        .group_by(_KEY)
        .agg(
            pl.col("estimated_usd").sum(),
            (pl.col("billable_bytes").sum() / 1024**3).alias("estimated_gb"),
            pl.col("estimated_usd")
            .filter(pl.col("dest_class") == "unknown")
            .sum()
            .alias("assumed_usd"),
            pl.col("usage_type").drop_nulls().unique().sort().str.join(",").alias("_est_usage"),
        )
    )
    joined = bill.join(estimate, on=_KEY, how="full", coalesce=True)
    return (
        joined.with_columns(
            pl.col("cur_usd", "cur_gb", "estimated_usd", "estimated_gb", "assumed_usd").fill_null(
                0.0
            ),
            pl.coalesce("_cur_usage", "_est_usage").alias("usage_types"),
        )
        .with_columns(
            pl.when(pl.col("cur_usd") > 0)
            .then(pl.col("estimated_usd") / pl.col("cur_usd"))
            .otherwise(None)
            .alias("explained_share")
        )
        .select([pl.col(c).cast(t) for c, t in RECONCILIATION_SCHEMA.items()])
        .sort(_KEY)
    )


def explained_share(report: pl.DataFrame, by: list[str] | None = None) -> pl.DataFrame:
    """Estimated / billed transfer dollars, overall or per ``by`` columns (e.g. day, account)."""
    keys = by or []
    grouped = report.group_by(keys) if keys else report.group_by(pl.lit(1).alias("_all"))
    result = grouped.agg(pl.col("cur_usd").sum(), pl.col("estimated_usd").sum()).with_columns(
        pl.when(pl.col("cur_usd") > 0)
        .then(pl.col("estimated_usd") / pl.col("cur_usd"))
        .otherwise(None)
        .alias("explained_share")
    )
    return result.drop("_all") if not keys else result.sort(keys)


RECONCILIATION_TOLERANCE = 0.03


def by_usage_type(report: pl.DataFrame) -> list[dict[str, Any]]:
    """Per class and usage type: the bill, what flows explain from known destinations, what is
    priced on an assumption (``unknown`` destinations) and what nothing explains (or overshoots)."""
    if report.height == 0:
        return []
    usage = pl.col("usage_types").fill_null("")
    rows = (
        report.group_by("transfer_class", usage.alias("usage_types"))
        .agg(pl.col("cur_usd", "estimated_usd", "assumed_usd").sum())
        .with_columns(
            (pl.col("estimated_usd") - pl.col("assumed_usd")).alias("explained_usd"),
            (pl.col("cur_usd") - pl.col("estimated_usd")).alias("unexplained_usd"),
        )
        .sort(["cur_usd", "transfer_class", "usage_types"], descending=[True, False, False])
    )
    return [
        {
            "transfer_class": r["transfer_class"],
            "usage_types": r["usage_types"],
            "cur_usd": round(r["cur_usd"], 2),
            "explained_usd": round(r["explained_usd"], 2),
            "assumed_usd": round(r["assumed_usd"], 2),
            "unexplained_usd": round(r["unexplained_usd"], 2),
        }
        for r in rows.iter_rows(named=True)
    ]


def reconciliation_summary(
    report: pl.DataFrame, tolerance: float = RECONCILIATION_TOLERANCE
) -> dict[str, Any]:
    """Bill vs estimate over the whole report, and per account whether it is within tolerance."""
    per_account = explained_share(report, ["account_id"])
    shares = {a: s for a, _, _, s in per_account.iter_rows()}
    outside = {a: s for a, s in shares.items() if s is None or abs(s - 1) > tolerance}
    overall = explained_share(report)
    total = overall["explained_share"][0] if overall.height else None
    return {
        "cur_transfer_usd": round(float(report["cur_usd"].sum()), 2),
        "estimated_usd": round(float(report["estimated_usd"].sum()), 2),
        "assumed_usd": round(float(report["assumed_usd"].sum()), 2),
        "explained_share": round(total, 4) if total else 0.0,
        "explained_share_by_account": {
            a: round(s, 4) if s is not None else None for a, s in shares.items()
        },
        "within_tolerance": bool(shares) and not outside,
        "tolerance": tolerance,
        "by_usage_type": by_usage_type(report),
    }
