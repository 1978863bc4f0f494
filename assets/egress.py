"""``egress_flows_hourly`` and ``cost_reconciliation``: priced egress and how much of the bill it explains."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    MetadataValue,
    Output,
    ResourceParam,
)

from assets.common import (
    CONFIG_ITEMS,
    HOURLY_FRESHNESS,
    OWNERS,
    after_any_update,
    after_upstream,
    after_upstream_done,
    asset_from_code,
    check_result,
    lake_asset,
)
from assets.partitions import DAILY, HOURLY
from egress_platform.etl.egress_flows import (
    EgressInputs,
    account_of,
    fact_problems,
    price_hours,
    replication_roles,
    resource_owners,
    top_talkers,
    usd_by_class,
)
from egress_platform.lake_layout import PARTITION, hour_keys, hour_of, tag_partitions
from egress_platform.network.topology import NetworkMetadata
from egress_platform.pricing.estimate import PRICED_SCHEMA, internet_gb_by_month
from egress_platform.pricing.reconcile import (
    RECONCILIATION_SCHEMA,
    RECONCILIATION_TOLERANCE,
    reconcile,
    reconciliation_summary,
)
from egress_platform.progress import report_progress
from egress_platform.sources import SOURCES
from resources.lake import LakeIOManager
from resources.network import AwsIpRanges
from resources.sql import LakeSql

FACTS_CHECK = "facts_are_classified_and_priced_within_the_book"
RECONCILED_CHECK = "flows_explain_the_bill_within_3pct"


def earlier_hours_of_month(first_key: str) -> list[str]:
    first = hour_of(first_key)
    return hour_keys(first.replace(day=1, hour=0), first - timedelta(hours=1))


@asset_from_code(
    description=(
        "Per hour, account, region, source entity (ENI, NAT gateway, bucket, distribution) and "
        "classified destination: bytes, packets, flows and the estimated USD from the price book "
        "(internet tiers accumulate over the calendar month)."
    ),
    **lake_asset("egress", HOURLY, {"parquet", "polars"}, after_upstream(CONFIG_ITEMS)),
    deps=[
        "processed_vpc_flow_logs",
        "processed_s3_access_logs",
        "processed_cloudfront_logs",
        "processed_config_items",
    ],
    freshness_policy=HOURLY_FRESHNESS,
    check_specs=[
        AssetCheckSpec(
            FACTS_CHECK,
            asset="egress_flows_hourly",
            blocking=True,
            description="no negative bytes, every fact classified, $ within the price book "
            "(blocking: features, anomalies and the bill's reconciliation would mislead)",
        )
    ],
)
def egress_flows_hourly(
    context: AssetExecutionContext,
    lake: ResourceParam[LakeIOManager],
    aws_ip_ranges: AwsIpRanges,
) -> Iterator[Output[dict[str, pl.DataFrame]] | AssetCheckResult]:
    keys = list(context.partition_keys)
    for upstream in (
        "processed_vpc_flow_logs",
        "processed_s3_access_logs",
        "processed_cloudfront_logs",
    ):
        lake.require(upstream, keys)
    config_days = lake.days_through("processed_config_items", keys[-1][:10])
    config_items = lake.read_frame("processed_config_items", config_days)
    network = NetworkMetadata.from_config_items(config_items)
    owners = resource_owners(config_items)
    replicators = replication_roles(config_items)
    ip_ranges = aws_ip_ranges.load(context.log)
    flows = lake.read_each("processed_vpc_flow_logs", keys, {})
    report_progress(context.log.info, len(keys), len(keys), "partitions read")
    accounts = {k: account_of(config_items, f) for k, f in flows.items()}
    inputs = EgressInputs(
        tag_partitions(flows),
        tag_partitions(
            lake.read_each("processed_s3_access_logs", keys, SOURCES["s3_access"].schema)
        ),
        tag_partitions(
            lake.read_each("processed_cloudfront_logs", keys, SOURCES["cloudfront"].schema)
        ),
        network,
        ip_ranges,
        pl.col(PARTITION).replace_strict(accounts, return_dtype=pl.String),
        owners,
        replicators,
    )
    before = lake.read_frame("egress_flows_hourly", earlier_hours_of_month(keys[0]), PRICED_SCHEMA)
    prior = internet_gb_by_month(before)
    out = price_hours(inputs, keys, prior)
    # Each partition's materialization carries its own hour's figures; the run's totals go to
    # the run's log, so no hour shows the whole run's rows and dollars as if they were its own.
    for key, hour in out.items():
        context.add_asset_metadata(
            {
                "rows": hour.height,
                "estimated_usd": MetadataValue.float(round(float(hour["estimated_usd"].sum()), 4)),
                "usd_by_destination_class": MetadataValue.json(usd_by_class(hour)),
                "top_talkers": MetadataValue.json(top_talkers(hour)[:5]),
                "network_metadata": "from Config" if not network.empty else "missing",
            },
            partition_key=key,
        )
    priced = pl.concat(list(out.values()))
    context.log.info(
        f"run totals: {len(out)} partitions, {priced.height} rows, "
        f"${float(priced['estimated_usd'].sum()):,.2f} estimated; month-to-date internet GB "
        f"before the first hour: { {f'{a} {m}': round(v, 1) for (a, m), v in prior.items()} }"
    )
    yield Output(out)
    problems = {k: fact_problems(hour) for k, hour in out.items()}
    yield check_result(FACTS_CHECK, problems)


def hours_of_day(day: str) -> list[str]:
    """The day's 24 hourly keys and the next day's first (late deliveries land there)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return hour_keys(start, start + timedelta(hours=24))


@asset_from_code(
    description=(
        "Per day, account, product and transfer class: the CUR's data-transfer cost vs the "
        "flow-estimated cost, and the share of the bill's transfer dollars the flows explain."
    ),
    **lake_asset("egress", DAILY, {"parquet", "polars"}, after_upstream_done()),
    deps=["processed_cur", "egress_flows_hourly"],
    check_specs=[
        AssetCheckSpec(
            RECONCILED_CHECK,
            asset="cost_reconciliation",
            description="flow-estimated transfer cost within 3% of the CUR's, per account",
        )
    ],
)
def cost_reconciliation(
    context: AssetExecutionContext, lake: ResourceParam[LakeIOManager]
) -> Iterator[Output[dict[str, pl.DataFrame]] | AssetCheckResult]:
    out: dict[str, pl.DataFrame] = {}
    lake.require("processed_cur", list(context.partition_keys))
    for day in context.partition_keys:
        cur = lake.read_frame("processed_cur", [day], {**SOURCES["cur"].schema})
        priced = lake.read_frame("egress_flows_hourly", hours_of_day(day), PRICED_SCHEMA)
        priced = priced.filter(pl.col("hour").dt.strftime("%Y-%m-%d") == day)
        out[day] = (
            reconcile(cur, priced)
            if cur.height or priced.height
            else pl.DataFrame(schema=RECONCILIATION_SCHEMA)
        )
    report = pl.concat(list(out.values())) if out else pl.DataFrame(schema=RECONCILIATION_SCHEMA)
    summary = reconciliation_summary(report, RECONCILIATION_TOLERANCE)
    for day, frame in out.items():  # each day's partition: that day's bill and estimate
        of_day = reconciliation_summary(frame, RECONCILIATION_TOLERANCE)
        context.add_asset_metadata(
            {
                "cur_transfer_usd": of_day["cur_transfer_usd"],
                "estimated_usd": of_day["estimated_usd"],
                "assumed_usd": of_day["assumed_usd"],
                "explained_share": MetadataValue.float(of_day["explained_share"]),
                "by_usage_type": MetadataValue.json(of_day["by_usage_type"]),
            },
            partition_key=day,
        )
    context.log.info(
        f"run totals: {len(out)} days, CUR transfer ${summary['cur_transfer_usd']:,.2f}, "
        f"estimated ${summary['estimated_usd']:,.2f} ({summary['explained_share']:.1%})"
    )
    yield Output(out)
    yield AssetCheckResult(
        check_name=RECONCILED_CHECK,
        passed=summary["within_tolerance"],
        metadata={
            "explained_share_by_account": MetadataValue.json(summary["explained_share_by_account"]),
            "tolerance": RECONCILIATION_TOLERANCE,
        },
    )


@asset_from_code(
    description=(
        "The SQL views over the lake (egress by destination class, top talkers, NAT traffic to "
        "AWS services, cross-AZ pairs): DuckDB locally, Athena views + named queries on AWS."
    ),
    group_name="egress",
    owners=OWNERS,
    kinds={"sql", "duckdb", "athena"},
    automation_condition=after_any_update(),
    deps=["egress_flows_hourly", "cost_reconciliation"],
)
def egress_sql_views(sql: LakeSql) -> MaterializeResult:
    views = sql.create_views()
    metadata: dict[str, Any] = {"views": MetadataValue.json(views)}
    for name in views:
        preview = sql.view(name, limit=5)
        metadata[f"{name}_preview"] = MetadataValue.md(_markdown(preview))
    return MaterializeResult(metadata=metadata)


def _markdown(frame: pl.DataFrame) -> str:
    if frame.height == 0:
        return "(no rows)"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *rows])


EGRESS_ASSETS = [egress_flows_hourly, cost_reconciliation, egress_sql_views]
defs = Definitions(assets=EGRESS_ASSETS)
