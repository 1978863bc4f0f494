"""A Lambda function running the repository's own code, with its role, log group and alarm.

The code asset is the repository (the ``egress_platform`` package, ``resources/storage.py`` and
the handler beside its construct); third-party packages (polars, jsonschema, boto3) come from the
layer named by the ``lambda_layer_arn`` context, which ``make lambda-layer`` builds. A function
given a Dockerfile (the detector, which needs Dagster and LightGBM) is a container image built
from the repository instead. Each function gets its own role with only the statements its stack
adds, a KMS-encrypted log group with retention, and an errors alarm on the alert topic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra_cdk.constructs.access import grant_key, grant_logs
from infra_cdk.constructs.nag import acknowledge_findings

REPO = Path(__file__).resolve().parents[2]
CODE_EXCLUDES = ["*", "!egress_platform/**", "!resources/__init__.py", "!resources/storage.py",
                 "!infra_cdk/__init__.py", "!infra_cdk/constructs/__init__.py",
                 "!infra_cdk/constructs/response_workflow/**", "!infra_cdk/constructs/detector/**",
                 "**/__pycache__/**"]  # fmt: skip
RUNTIME = lambda_.Runtime.PYTHON_3_14
# What an image build needs from the repository (the Dockerfile copies these).
IMAGE_EXCLUDES = ["*", "!pyproject.toml", "!uv.lock", "!egress_platform/**", "!assets/**",
                  "!resources/**", "!infra_cdk/__init__.py", "!infra_cdk/constructs/__init__.py",
                  "!infra_cdk/constructs/detector/**", "**/__pycache__/**"]  # fmt: skip


class PlatformFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: str,
        description: str,
        key: kms.IKey,
        alerts: sns.ITopic,
        environment: dict[str, str],
        layer_arn: str | None,
        timeout_minutes: int = 5,
        memory_mb: int = 1024,
        dockerfile: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{name}: only what its steps call",
        )
        grant_logs(self.role, f"/aws/lambda/{name}")
        grant_key(self.role, key)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        common: dict[str, Any] = dict(
            function_name=name,
            description=description,
            role=self.role,
            timeout=Duration.minutes(timeout_minutes),
            memory_size=memory_mb,
            environment=environment,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        self.function: lambda_.Function
        if dockerfile:
            self.function = lambda_.DockerImageFunction(
                self,
                "Function",
                **common,
                code=lambda_.DockerImageCode.from_image_asset(
                    str(REPO),
                    file=dockerfile,
                    exclude=IMAGE_EXCLUDES,
                    cmd=[handler.replace("/", ".").removesuffix(".py")],
                ),
            )
        else:
            layers = (
                [lambda_.LayerVersion.from_layer_version_arn(self, "Dependencies", layer_arn)]
                if layer_arn
                else []
            )
            self.function = lambda_.Function(
                self,
                "Function",
                **common,
                runtime=RUNTIME,
                handler=handler,
                code=lambda_.Code.from_asset(str(REPO), exclude=CODE_EXCLUDES),
                layers=layers,
            )
        acknowledge_findings(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
            ["Resource::*"],
        )
        self.errors = cw.Alarm(
            self,
            "Errors",
            alarm_name=f"{name}-errors",
            alarm_description=f"{name} raised errors in the last 5 minutes",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.errors.add_alarm_action(cw_actions.SnsAction(alerts))
