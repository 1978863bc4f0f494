"""Jobs, schedules and sensors."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from assets.raw import DAILY, HOURLY

raw_hourly_job = define_asset_job(
    "raw_hourly_ingest",
    selection=AssetSelection.groups("raw")
    - AssetSelection.assets("raw_cur", "raw_config_items", "raw_cost_explorer"),
    partitions_def=HOURLY,
    description="Parse the hourly-delivered sources (flow logs, S3/CloudFront access logs, CloudTrail).",
)
raw_daily_job = define_asset_job(
    "raw_daily_ingest",
    selection=AssetSelection.assets("raw_cur", "raw_config_items", "raw_cost_explorer"),
    partitions_def=DAILY,
    description="Parse the daily sources (CUR, Config, Cost Explorer).",
)
JOBS = [raw_hourly_job, raw_daily_job]
