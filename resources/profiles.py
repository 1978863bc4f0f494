"""The resource dictionaries of the two profiles: same keys, different implementations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from egress_platform.settings import Settings, get_settings, reload_settings
from resources.detection import DetectionPolicy
from resources.etl import GlueEtl, PolarsEtl
from resources.lake import LocalLakeIOManager, LocalLandingZone, S3LakeIOManager, S3LandingZone
from resources.ml import (
    DEFAULT_IMAGE,
    LocalScorer,
    LocalTrainer,
    SageMakerScorer,
    SageMakerTrainer,
)
from resources.network import AwsIpRanges, ip_ranges_for
from resources.respond import (
    AwsExecutor,
    BedrockLlm,
    LocalExecutor,
    LocalNotifier,
    LocalWorkflow,
    SnsNotifier,
    StepFunctionsWorkflow,
    TemplateLlm,
    notifier_path,
)
from resources.sql import AthenaSql, DuckDbSql

PROFILES = ("local", "aws")


def lake_dir() -> Path:
    return get_settings().lake_root()


def detection_for(s: Settings) -> DetectionPolicy:
    return DetectionPolicy(
        min_extra_usd=s.min_extra_usd_per_hour,
        min_extra_share_of_account=s.min_extra_share_of_account,
        planned_change_tag=s.planned_change_tag,
        change_windows=s.change_windows,
    )


def resources_for(profile: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    s = settings or reload_settings()  # once per definitions load: the environment as it is now
    profile = profile or s.profile
    if profile == "local":
        root = s.lake_root()
        landing = s.landing_root()
        return {
            "landing": LocalLandingZone(root=str(landing)),
            "lake": LocalLakeIOManager(root=str(root)),
            "etl": PolarsEtl(),
            "sql": DuckDbSql(lake_root=str(root)),
            "trainer": LocalTrainer(),
            "scorer": LocalScorer(),
            "aws_ip_ranges": ip_ranges_for(s.ip_ranges, landing),
            "detection": detection_for(s),
            "llm": TemplateLlm(),
            "executor": LocalExecutor(),
            "notifier": LocalNotifier(path=s.alerts_file or notifier_path(str(root))),
            "workflow": LocalWorkflow(),
        }
    if profile == "aws":
        region = s.region
        if not s.raw_bucket:
            raise ValueError("EGRESS_PROFILE=aws needs EGRESS_RAW_BUCKET (the landing bucket name)")
        lake_bucket = s.lake_bucket or s.raw_bucket
        return {
            "landing": S3LandingZone(
                bucket=s.raw_bucket, prefix=s.landing_prefix, access_log_bucket=s.access_log_bucket
            ),
            "lake": S3LakeIOManager(
                bucket=lake_bucket,
                prefix=s.lake_prefix,
                glue_database=s.glue_database,
                region_name=region,
                quarantine_bucket=s.quarantine_bucket,
            ),
            "etl": GlueEtl(job_name=s.glue_flows_job, region_name=region),
            "aws_ip_ranges": AwsIpRanges(source=s.ip_ranges),
            "detection": detection_for(s),
            "trainer": SageMakerTrainer(
                role_arn=s.sagemaker_role_arn,
                bucket=lake_bucket,
                image_uri=s.sagemaker_image or DEFAULT_IMAGE,
                region_name=region,
            ),
            "scorer": SageMakerScorer(endpoint_name=s.sagemaker_endpoint, region_name=region),
            "sql": AthenaSql(
                database=s.glue_database,
                workgroup=s.athena_workgroup,
                output_location=s.athena_output,
                region_name=region,
            ),
            "llm": BedrockLlm(model_id=s.bedrock_model_id, region_name=region),
            "executor": AwsExecutor(region_name=region),
            "notifier": SnsNotifier(topic_arn=s.alert_topic_arn, region_name=region),
            "workflow": StepFunctionsWorkflow(
                state_machine_arn=s.state_machine_arn, region_name=region
            ),
        }
    raise ValueError(f"unknown EGRESS_PROFILE {profile!r}; use one of {PROFILES}")
