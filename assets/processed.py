"""``processed_*`` assets: the Glue layer's outputs in the processed zone.

Every source gets a typed, deduplicated table per partition; flow logs are also classified and
aggregated per hour by the ``etl`` resource (polars locally, the PySpark Glue job on AWS).
"""

from collections.abc import Iterator
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    Definitions,
    MetadataValue,
    Output,
    ResourceParam,
    define_asset_job,
)

from assets.common import (
    CONFIG_ITEMS,
    after_upstream,
    asset_from_code,
    each_partition,
    lake_asset,
)
from assets.partitions import partitions_for
from egress_platform.etl.processed import processed_records
from egress_platform.lake_layout import PARTITION, split_on, tag_partitions
from egress_platform.network.classify import LINEAGE_COLUMNS
from egress_platform.pricing.price_book import GB
from egress_platform.progress import report_progress
from egress_platform.sources import SOURCES, SourceSpec
from resources.etl import FlowEtl
from resources.lake import LakeIOManager
from resources.network import NO_IP_RANGES_WARNING, AwsIpRanges

NO_DUPLICATES = "no_duplicate_records"


def day_keys(hour_keys: list[str]) -> list[str]:
    """The daily partitions (``YYYY-MM-DD``) that hold these hourly ones."""
    return sorted({k[:10] for k in hour_keys})


def build_processed_asset(spec: SourceSpec) -> AssetsDefinition:
    raw_name = spec.asset_name
    name = raw_name.replace("raw_", "processed_", 1)

    @asset_from_code(
        name=name,
        description=f"{spec.description}: typed and deduplicated (the Glue output).",
        **lake_asset("processed", partitions_for(spec), {"parquet", "polars"}, after_upstream()),
        deps=[raw_name],
        check_specs=[AssetCheckSpec(NO_DUPLICATES, asset=name)],
        tags={"source": spec.name},
    )
    def processed_asset(
        context: AssetExecutionContext, lake: ResourceParam[LakeIOManager]
    ) -> Iterator[Output[dict[str, pl.DataFrame]] | AssetCheckResult]:
        keys = list(context.partition_keys)
        raw = lake.read_each(raw_name, keys, spec.schema)
        report_progress(context.log.info, len(keys), len(keys), "partitions read")
        tagged = tag_partitions(raw).lazy()
        done = processed_records(tagged, spec.name, within=(PARTITION,)).collect()
        out = split_on(done, PARTITION, keys)
        figures = {
            k: {
                "records": out[k].height,
                "raw_records": raw[k].height,
                "duplicates_dropped": raw[k].height - out[k].height,
            }
            for k in keys
        }
        each_partition(context, figures, f"{len(out)} partitions, {done.height:,} records")
        yield Output(out)
        distinct = done.drop(list(LINEAGE_COLUMNS), strict=False).unique().height
        yield AssetCheckResult(
            check_name=NO_DUPLICATES,
            passed=distinct == done.height,
            metadata={"records": done.height},
        )

    return processed_asset


PROCESSED_SOURCES = [s for s in SOURCES.values() if s.name != "vpc_flow"]
PROCESSED_RECORD_ASSETS = [build_processed_asset(s) for s in PROCESSED_SOURCES]


@asset_from_code(
    description=(
        "VPC flow records deduplicated, classified by destination (internet, inter-region, "
        "inter-AZ, NAT gateway, endpoint, ...) and aggregated per hour, ENI and counterparty. "
        "Runs as the PySpark Glue job in the aws profile."
    ),
    **lake_asset(
        "processed",
        partitions_for(SOURCES["vpc_flow"]),
        {"parquet", "spark", "polars"},
        after_upstream(CONFIG_ITEMS),
    ),
    deps=["raw_vpc_flow_logs", "processed_config_items"],
    tags={"source": "vpc_flow"},
)
def processed_vpc_flow_logs(
    context: AssetExecutionContext,
    lake: ResourceParam[LakeIOManager],
    etl: FlowEtl,
    aws_ip_ranges: AwsIpRanges,
) -> Output[dict[str, pl.DataFrame]]:
    keys = list(context.partition_keys)
    ip_ranges = aws_ip_ranges.load(context.log)
    classified = etl.classify_flows(
        context,
        lake,
        keys,
        lake.days_through("processed_config_items", keys[-1][:10]),
        ip_ranges,
        aws_ip_ranges.source,
    )
    out = split_on(classified, PARTITION, keys)

    def figures(facts: pl.DataFrame) -> dict[str, Any]:
        by_class = (
            facts.group_by("dest_class")
            .agg((pl.col("bytes").sum() / GB).round(2).alias("gb"))
            .sort("gb", "dest_class", descending=[True, False])
        )
        metadata: dict[str, Any] = {
            "facts": facts.height,
            "flows": int(facts.get_column("flows").sum() or 0),
            "gb_by_class": MetadataValue.json(dict(by_class.iter_rows())),
            "ip_ranges": ip_ranges.sync_token if ip_ranges else "not configured",
        }
        if ip_ranges is None:
            metadata["warning"] = NO_IP_RANGES_WARNING
        return metadata

    each_partition(
        context,
        {k: figures(f) for k, f in out.items()},
        f"{len(out)} partitions, {classified.height:,} facts",
    )
    return Output(out)


PROCESSED_ASSETS = [*PROCESSED_RECORD_ASSETS, processed_vpc_flow_logs]

# The Glue layer's runs by cadence: each takes its sources' processing through to pricing.
glue_hourly_job = define_asset_job(
    "glue_layer_hourly",
    selection=AssetSelection.assets(
        "processed_vpc_flow_logs",
        "processed_s3_access_logs",
        "processed_cloudfront_logs",
        "processed_cloudtrail",
        "egress_flows_hourly",
    ),
    description="Classify flows, process the hourly sources and price egress for the hour.",
)
glue_daily_job = define_asset_job(
    "glue_layer_daily",
    selection=AssetSelection.assets(
        "processed_cur", "processed_config_items", "processed_cost_explorer", "cost_reconciliation"
    ),
    description="Process the daily sources and reconcile the day's estimate with the CUR.",
)
defs = Definitions(assets=PROCESSED_ASSETS, jobs=[glue_hourly_job, glue_daily_job])
