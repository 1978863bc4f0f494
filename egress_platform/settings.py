"""Every setting of the platform in one object, read from the environment (prefix ``EGRESS_``).

One place to look up a name, its default and what it does; ``egress run --help`` and the README
list them from here. Read once per process through :func:`get_settings` (tests that change the
environment call :func:`reload_settings`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EGRESS_", extra="ignore")

    profile: Literal["local", "aws"] = Field(
        "local", description="`local` (Parquet, DuckDB, LightGBM in-process) or `aws`"
    )
    lake_dir: Path = Field(Path("lake"), description="local profile: the lake's folder")
    landing_dir: Path | None = Field(
        None, description="local profile: the landing zone (default <lake>/landing)"
    )
    ip_ranges: str = Field(
        "",
        description="AWS ip-ranges.json path or URL (default: the ip-ranges.json beside the "
        "landing zone, if any)",
    )
    partitions_start: str = Field(
        "",
        description="first day of the partitions, YYYY-MM-DD (default: the earliest landed day "
        "recorded by `egress run`)",
    )
    scale: Literal["default", "large"] = Field(
        "default", description="demo size: default (21 days, 10 ENIs) or large (28 days, 40 ENIs)"
    )
    demo_days: int | None = Field(None, ge=1, description="demo: days to simulate")
    remediation_mode: Literal["dry-run", "approve", "auto"] = Field(
        "dry-run", description="remediation policy: dry-run, approve or auto"
    )
    auto_max_risk: Literal["low", "medium", "high"] = Field(
        "low", description="auto mode applies actions up to this risk"
    )
    min_extra_usd_per_hour: float = Field(
        0.1, ge=0, description="an anomaly costs at least this much more than expected, per hour"
    )
    min_extra_share_of_account: float = Field(
        0.005,
        ge=0,
        description="and at least this share of the account's expected transfer $ that hour",
    )
    planned_change_tag: str = Field(
        "egress:planned-change",
        description="tag key that marks a resource's traffic change as planned (Config or "
        "CreateTags/PutBucketTagging in CloudTrail): its anomalies are suppressed",
    )
    change_windows: str = Field(
        "",
        description='JSON file of planned change windows: {"windows": [{"resource_id": '
        '"eni-... or *", "start": ISO time, "end": ISO time, "reason": "..."}]}',
    )
    alerts_file: str = Field(
        "", description="local profile: alert outbox file (default <lake>/reports/alerts.jsonl)"
    )
    region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("EGRESS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="aws profile: region (also AWS_REGION)",
    )
    raw_bucket: str = Field("", description="aws profile: the landing (raw) bucket")
    landing_prefix: str = Field("", description="aws profile: key prefix inside the raw bucket")
    lake_bucket: str = Field("", description="aws profile: the lake bucket (default raw bucket)")
    lake_prefix: str = Field("lake", description="aws profile: key prefix inside the lake bucket")
    quarantine_bucket: str = Field("", description="aws profile: quarantine bucket")
    access_log_bucket: str = Field(
        "", description="aws profile: bucket S3/CloudFront access logs are delivered to"
    )
    glue_database: str = Field("egress_lake", description="aws profile: Glue database")
    glue_flows_job: str = Field(
        "egress-processed-vpc-flows", description="aws profile: the flows Glue job"
    )
    athena_workgroup: str = Field("egress", description="aws profile: Athena workgroup")
    athena_output: str = Field("", description="aws profile: Athena results location s3://...")
    sagemaker_role_arn: str = Field("", description="aws profile: SageMaker training role")
    sagemaker_image: str = Field("", description="aws profile: training image (default: sklearn)")
    sagemaker_endpoint: str = Field("egress-detector", description="aws profile: scorer endpoint")
    bedrock_model_id: str = Field(
        "anthropic.claude-3-5-haiku-20241022-v1:0", description="aws profile: Bedrock model id"
    )
    alert_topic_arn: str = Field("", description="aws profile: SNS topic for alerts")
    state_machine_arn: str = Field("", description="aws profile: response state machine")

    def lake_root(self) -> Path:
        return self.lake_dir.resolve()

    def landing_root(self) -> Path:
        return (self.landing_dir or self.lake_dir / "landing").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    """Read the environment again (after a test or a command changed it)."""
    get_settings.cache_clear()
    return get_settings()


def settings_help() -> str:
    """Every setting as `EGRESS_NAME (default): what it does`, for --help and the README."""
    lines = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default in (None, "") else str(default)
        lines.append(f"  EGRESS_{name.upper():<22} {field.description} [{shown}]")
    return "\n".join(lines)
