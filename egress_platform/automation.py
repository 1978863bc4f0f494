"""Jobs, schedules and sensors."""

from __future__ import annotations

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job

from assets.partitions import DAILY, HOURLY

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
glue_hourly_job = define_asset_job(
    "glue_layer_hourly",
    selection=AssetSelection.assets(
        "processed_vpc_flow_logs",
        "processed_s3_access_logs",
        "processed_cloudfront_logs",
        "processed_cloudtrail",
        "egress_flows_hourly",
    ),
    partitions_def=HOURLY,
    description="Classify flows, process the hourly sources and price egress for the hour.",
)
glue_daily_job = define_asset_job(
    "glue_layer_daily",
    selection=AssetSelection.assets(
        "processed_cur", "processed_config_items", "processed_cost_explorer", "cost_reconciliation"
    ),
    partitions_def=DAILY,
    description="Process the daily sources and reconcile the day's estimate with the CUR.",
)
detect_hourly_job = define_asset_job(
    "detect_hourly",
    selection=AssetSelection.assets("egress_features", "egress_anomalies"),
    partitions_def=HOURLY,
    description="Features for the hour, then judge it with the day's model.",
)
retrain_daily_job = define_asset_job(
    "retrain_daily",
    selection=AssetSelection.assets("egress_model"),
    partitions_def=DAILY,
    description="Retrain the detector on the trailing 14 days.",
)
JOBS = [
    raw_hourly_job,
    raw_daily_job,
    glue_hourly_job,
    glue_daily_job,
    detect_hourly_job,
    retrain_daily_job,
]
# Each hourly run starts a few minutes after the hour closes, once its logs have landed.
SCHEDULES = [
    build_schedule_from_partitioned_job(detect_hourly_job, minute_of_hour=15),
    build_schedule_from_partitioned_job(retrain_daily_job, hour_of_day=0, minute_of_hour=30),
]

respond_job = define_asset_job(
    "respond_to_anomaly",
    selection=AssetSelection.assets(
        "rca_reports", "remediation_actions", "remediation_audit_log", "egress_alerts"
    ),
    partitions_def=HOURLY,
    description="Root cause, planned (or approved) remediation and alerts for an hour's anomalies.",
)
JOBS.append(respond_job)
