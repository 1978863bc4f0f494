"""One parser per AWS source, each turning delivered bytes into typed records plus quarantine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import polars as pl

from egress_platform.sources import (
    cloudfront,
    cloudtrail,
    config,
    cost_explorer,
    cur,
    s3_access,
    vpc_flow,
)
from egress_platform.sources.common import ParseResult, SourceError


@dataclass(frozen=True)
class SourceSpec:
    name: str
    asset_name: str
    partitioning: str  # "hourly" or "daily"
    schema: dict[str, pl.DataType]
    parse: Callable[[bytes, str], ParseResult]
    description: str
    # Several objects in one pass (same results as parse on each), where the source has it.
    parse_many: Callable[[list[tuple[str, bytes]]], list[ParseResult]] | None = None


def _spec(module: ModuleType, asset: str, partitioning: str, description: str) -> SourceSpec:
    return SourceSpec(
        module.SOURCE,
        asset,
        partitioning,
        module.SCHEMA,
        module.parse_bytes,
        description,
        getattr(module, "parse_many", None),
    )


SOURCES: dict[str, SourceSpec] = {
    s.name: s
    for s in (
        _spec(vpc_flow, "raw_vpc_flow_logs", "hourly", "VPC Flow Logs records, any version/format"),
        _spec(cur, "raw_cur", "daily", "Cost and Usage Report line items (CUR 1.0/2.0, FOCUS)"),
        _spec(s3_access, "raw_s3_access_logs", "hourly", "S3 server access log records"),
        _spec(
            cloudfront, "raw_cloudfront_logs", "hourly", "CloudFront standard access log records"
        ),
        _spec(config, "raw_config_items", "daily", "AWS Config configuration items"),
        _spec(cloudtrail, "raw_cloudtrail", "hourly", "CloudTrail management events"),
        _spec(cost_explorer, "raw_cost_explorer", "daily", "Cost Explorer GetCostAndUsage results"),
    )
}


def get_source(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}") from None


__all__ = ["SOURCES", "ParseResult", "SourceError", "SourceSpec", "get_source"]
