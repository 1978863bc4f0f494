"""The resource dictionaries of the two profiles: same keys, different implementations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resources.etl import GlueEtl, PolarsEtl
from resources.lake import LocalLakeIOManager, LocalLandingZone, S3LakeIOManager, S3LandingZone
from resources.ml import (
    DEFAULT_IMAGE,
    LocalScorer,
    LocalTrainer,
    SageMakerScorer,
    SageMakerTrainer,
)
from resources.network import ip_ranges_from_env
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
    return Path(os.environ.get("EGRESS_LAKE_DIR", "lake")).resolve()


def resources_for(profile: str | None = None) -> dict[str, Any]:
    profile = profile or os.environ.get("EGRESS_PROFILE", "local")
    if profile == "local":
        root = lake_dir()
        return {
            "landing": LocalLandingZone(root=str(root / "landing")),
            "lake": LocalLakeIOManager(root=str(root)),
            "etl": PolarsEtl(),
            "sql": DuckDbSql(lake_root=str(root)),
            "trainer": LocalTrainer(),
            "scorer": LocalScorer(),
            "aws_ip_ranges": ip_ranges_from_env(),
            "llm": TemplateLlm(),
            "executor": LocalExecutor(),
            "notifier": LocalNotifier(path=notifier_path(str(root))),
            "workflow": LocalWorkflow(),
        }
    if profile == "aws":
        region = os.environ.get("AWS_REGION", "us-east-1")
        bucket = os.environ.get("EGRESS_RAW_BUCKET")
        lake_bucket = os.environ.get("EGRESS_LAKE_BUCKET", bucket or "")
        if not bucket:
            raise ValueError("EGRESS_PROFILE=aws needs EGRESS_RAW_BUCKET (the landing bucket name)")
        return {
            "landing": S3LandingZone(
                bucket=bucket,
                prefix=os.environ.get("EGRESS_LANDING_PREFIX", ""),
                access_log_bucket=os.environ.get("EGRESS_ACCESS_LOG_BUCKET", ""),
            ),
            "lake": S3LakeIOManager(
                bucket=lake_bucket,
                prefix=os.environ.get("EGRESS_LAKE_PREFIX", "lake"),
                glue_database=os.environ.get("EGRESS_GLUE_DATABASE", "egress_lake"),
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
                quarantine_bucket=os.environ.get("EGRESS_QUARANTINE_BUCKET", ""),
            ),
            "etl": GlueEtl(
                job_name=os.environ.get("EGRESS_GLUE_FLOWS_JOB", "egress-processed-vpc-flows"),
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
            ),
            "aws_ip_ranges": ip_ranges_from_env(),
            "trainer": SageMakerTrainer(
                role_arn=os.environ.get("EGRESS_SAGEMAKER_ROLE_ARN", ""),
                bucket=lake_bucket,
                image_uri=os.environ.get("EGRESS_SAGEMAKER_IMAGE", DEFAULT_IMAGE),
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
            ),
            "scorer": SageMakerScorer(
                endpoint_name=os.environ.get("EGRESS_SAGEMAKER_ENDPOINT", "egress-detector"),
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
            ),
            "sql": AthenaSql(
                database=os.environ.get("EGRESS_GLUE_DATABASE", "egress_lake"),
                workgroup=os.environ.get("EGRESS_ATHENA_WORKGROUP", "egress"),
                output_location=os.environ.get("EGRESS_ATHENA_OUTPUT", ""),
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
            ),
            "llm": BedrockLlm(
                model_id=os.environ.get(
                    "EGRESS_BEDROCK_MODEL_ID", "anthropic.claude-3-5-haiku-20241022-v1:0"
                ),
                region_name=region,
            ),
            "executor": AwsExecutor(region_name=region),
            "notifier": SnsNotifier(
                topic_arn=os.environ.get("EGRESS_ALERT_TOPIC_ARN", ""), region_name=region
            ),
            "workflow": StepFunctionsWorkflow(
                state_machine_arn=os.environ.get("EGRESS_STATE_MACHINE_ARN", ""), region_name=region
            ),
        }
    raise ValueError(f"unknown EGRESS_PROFILE {profile!r}; use one of {PROFILES}")
