"""Detection and response on AWS: the hourly detector, the response state machine, its Lambdas.

- Detector: a Lambda (a container image: it runs Dagster and LightGBM) judging the hour that
  just closed, invoked by an EventBridge Scheduler schedule every hour (retries, then a
  dead-letter queue).
- Response: the Step Functions state machine from ``state_machine.asl.json`` (the same file
  the tests execute), with the RCA Lambda (Bedrock invoke limited to the configured model), the
  remediation Lambda (exactly the permissions the remediation catalog declares) and the notify
  Lambda (publish to the KMS-encrypted alert topic).
- Alarms on Lambda errors, failed executions and the dead-letter queue, routed to that topic.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from egress_platform.remediate.catalog import executable_permissions
from infra_cdk.constructs.access import grant_key, grant_prefix
from infra_cdk.constructs.nag import acknowledge, acknowledge_findings, rendered
from infra_cdk.constructs.platform_function import PlatformFunction
from infra_cdk.constructs.response_workflow import ASL_PATH
from infra_cdk.stacks.catalog_etl import CATALOG_ACTIONS, DATABASE, FLOWS_JOB
from infra_cdk.stacks.ml import ENDPOINT_NAME

DETECTOR_DOCKERFILE = "infra_cdk/constructs/detector/Dockerfile"

# Each layer of the asset graph on AWS (infra_cdk/constructs/detector/handler.py's LAYERS): the
# schedule that runs it, when, and why then.
LAYER_SCHEDULES = {
    "ingest": (
        "IngestHourly",
        "egress-ingest-hourly",
        "cron(5 * * * ? *)",
        "Raw, processed (the Glue flows job) and priced layers for the closed hour",
    ),
    "detect": (
        "Hourly",
        "egress-detector-hourly",
        "cron(15 * * * ? *)",
        "Judge each closed hour, a quarter past, once its logs have landed; start responses",
    ),
    "daily": (
        "Daily",
        "egress-daily",
        "cron(45 0 * * ? *)",
        "Daily sources and reconciliation for yesterday, today's model, views and dashboard",
    ),
}

DEFAULT_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
STATE_MACHINE = "egress-response"
# Actions AWS authorizes only on "*" (no resource-level permissions), each used by a step.
UNSCOPED = {"ec2:DescribeSecurityGroups"}


class ResponseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake_bucket: str,
        raw_bucket: str,
        athena_bucket: str,
        key: kms.IKey,
        alerts: sns.ITopic,
        sagemaker_role: iam.IRole,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        model_id = self.node.try_get_context("bedrock_model_id") or DEFAULT_MODEL
        layer = self.node.try_get_context("lambda_layer_arn")
        mode = self.node.try_get_context("remediation_mode") or "dry-run"
        # The platform's own settings (egress_platform/settings.py), as every other entry point.
        lake_env = {
            "EGRESS_PROFILE": "aws",
            "EGRESS_LAKE_BUCKET": lake_bucket,
            "EGRESS_LAKE_PREFIX": "lake",
            "EGRESS_RAW_BUCKET": raw_bucket,
        }

        def function(
            cid: str, name: str, handler: str, description: str, environment: dict[str, str]
        ) -> PlatformFunction:
            return PlatformFunction(
                self,
                cid,
                name=name,
                handler=handler,
                description=description,
                key=key,
                alerts=alerts,
                environment={**lake_env, **environment},
                layer_arn=layer,
            )

        prefix = "infra_cdk/constructs/response_workflow/handlers"
        rca = function(
            "Rca",
            "egress-rca",
            f"{prefix}.rca_handler",
            "Gathers evidence and writes the root-cause report (Bedrock narrative)",
            {"EGRESS_BEDROCK_MODEL_ID": model_id},
        )
        grant_prefix(
            rca.role,
            lake_bucket,
            "lake/processed/",
            write=False,
            why="evidence: Config items, CloudTrail and CUR tables",
        )
        grant_prefix(
            rca.role,
            lake_bucket,
            "lake/curated/",
            write=False,
            why="evidence: the priced hourly flows",
        )
        model_arn = f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{model_id}"
        rca.role.add_to_policy(
            iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[model_arn])
        )

        remediation = function(
            "Remediation",
            "egress-remediation",
            f"{prefix}.remediation_handler",
            "Plans, gates and applies the catalog's remediation actions",
            {"EGRESS_REMEDIATION_MODE": mode, "EGRESS_AUTO_MAX_RISK": "low"},
        )
        grant_prefix(
            remediation.role,
            lake_bucket,
            "lake/remediation/",
            write=True,
            why="the audit log and approvals, one object per entry",
        )
        self.remediation_role = remediation.role
        self._grant_catalog(remediation.role)

        notify = function(
            "Notify",
            "egress-notify",
            f"{prefix}.notify_handler",
            "Sends the anomaly's alerts and approval requests to SNS",
            {"EGRESS_ALERT_TOPIC_ARN": alerts.topic_arn},
        )
        grant_prefix(
            notify.role,
            lake_bucket,
            "lake/alerts/",
            write=True,
            why="the alert outbox and the sent ledger, one object per message",
        )
        grant_prefix(
            notify.role,
            lake_bucket,
            "lake/remediation/approval_tokens/",
            write=True,
            why="task tokens of executions waiting for `egress approve`",
        )
        notify.role.add_to_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[alerts.topic_arn])
        )

        sm_logs = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=f"/aws/vendedlogs/states/{STATE_MACHINE}",
            retention=logs.RetentionDays.ONE_MONTH,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=STATE_MACHINE,
            definition_body=sfn.DefinitionBody.from_string(ASL_PATH.read_text()),
            definition_substitutions={
                "RcaFunctionArn": rca.function.function_arn,
                "RemediationFunctionArn": remediation.function.function_arn,
                "NotifyFunctionArn": notify.function.function_arn,
            },
            logs=sfn.LogOptions(destination=sm_logs, level=sfn.LogLevel.ALL),
            tracing_enabled=True,
            timeout=Duration.days(8),
        )
        for fn in (rca, remediation, notify):
            fn.function.grant_invoke(self.state_machine)
        acknowledge_findings(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "Step Functions invokes the function's versions (ARN:*) as well as the function.",
            [
                f"Resource::<{self.get_logical_id(fn.function.node.default_child)}.Arn>:*"  # type: ignore[arg-type]
                for fn in (rca, remediation, notify)
            ],
        )
        acknowledge_findings(
            self.state_machine.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "Log delivery and X-Ray APIs have no resource-level permissions.",
            ["Resource::*"],
        )
        failed = cw.Alarm(
            self,
            "ExecutionsFailed",
            alarm_name="egress-response-failed",
            alarm_description="A response execution failed (its failure branch already alerted)",
            metric=self.state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        failed.add_alarm_action(cw_actions.SnsAction(alerts))

        detector = PlatformFunction(
            self,
            "Detector",
            name="egress-detector",
            handler="infra_cdk/constructs/detector/handler.handler",
            description="Runs one layer of the asset graph for the closed hour or day "
            "(ingest, detect, daily), as its schedule says",
            key=key,
            alerts=alerts,
            layer_arn=None,
            timeout_minutes=15,
            memory_mb=3008,
            dockerfile=DETECTOR_DOCKERFILE,
            environment={
                **lake_env,
                "DAGSTER_HOME": "/tmp/dagster",
                "EGRESS_STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "EGRESS_ALERT_TOPIC_ARN": alerts.topic_arn,
                "EGRESS_GLUE_FLOWS_JOB": FLOWS_JOB,
                "EGRESS_ATHENA_OUTPUT": f"s3://{athena_bucket}/results/",
                "EGRESS_SAGEMAKER_ROLE_ARN": sagemaker_role.role_arn,
                "EGRESS_SAGEMAKER_ENDPOINT": ENDPOINT_NAME,
            },
        )
        # It starts one response execution per new anomaly itself (named by the anomaly id).
        self.state_machine.grant_start_execution(detector.role)
        grant_prefix(
            detector.role,
            lake_bucket,
            "",
            write=True,
            why="every layer reads and writes the lake (lake/), the training job's input "
            "and output (sagemaker/)",
        )
        grant_prefix(
            detector.role,
            raw_bucket,
            "",
            write=False,
            why="the ingest and daily layers read what AWS delivered to the landing bucket",
        )
        grant_prefix(
            detector.role,
            athena_bucket,
            "results/",
            write=True,
            why="the SQL views' Athena query results",
        )
        self._grant_pipeline(detector.role, sagemaker_role)
        self._schedule(detector, key, alerts)

    def _grant_catalog(self, role: iam.Role) -> None:
        """Exactly the remediation catalog's declared permissions, nothing else."""
        s3 = sorted(p for p in executable_permissions() if p.startswith("s3:"))
        ec2 = sorted(
            p for p in executable_permissions() if p.startswith("ec2:") and p not in UNSCOPED
        )
        buckets = f"arn:{self.partition}:s3:::*"
        groups = f"arn:{self.partition}:ec2:{self.region}:{self.account}:security-group/*"
        statements = (
            ("RemediationCatalogS3", s3, buckets),
            ("RemediationCatalogEc2", ec2, groups),
            # ec2:DescribeSecurityGroups cannot be scoped to a resource: AWS requires "*".
            ("RemediationCatalogUnscoped", sorted(UNSCOPED), "*"),
        )
        for sid, actions, resource in statements:
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=[resource]))
        acknowledge_findings(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "Remediation acts on whichever bucket or security group an anomaly names; protected "
            "resources are refused by the catalog (egress:protected=true), and "
            "DescribeSecurityGroups has no resource-level permissions.",
            [
                f"Resource::{rendered(self, buckets)}",
                f"Resource::{rendered(self, groups)}",
                "Resource::*",
            ],
        )

    def _grant_pipeline(self, role: iam.Role, sagemaker_role: iam.IRole) -> None:
        """What the layers call besides the lake: the Glue job, Athena, the Glue catalog,
        SageMaker training and the endpoint, and passing the training role to SageMaker."""
        glue_job = f"arn:{self.partition}:glue:{self.region}:{self.account}:job/{FLOWS_JOB}"
        catalog = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        sagemaker = f"arn:{self.partition}:sagemaker:{self.region}:{self.account}"
        statements = (
            ("GlueFlowsJob", ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"], [glue_job]),
            (
                "GlueCatalog",
                CATALOG_ACTIONS,
                [
                    f"{catalog}:catalog",
                    f"{catalog}:database/{DATABASE}",
                    f"{catalog}:table/{DATABASE}/*",
                ],
            ),
            (
                "AthenaWorkgroup",
                [
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                ],
                [f"arn:{self.partition}:athena:{self.region}:{self.account}:workgroup/egress"],
            ),
            (
                "SageMakerTraining",
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                [f"{sagemaker}:training-job/egress-model*"],
            ),
            (
                "SageMakerEndpoint",
                ["sagemaker:InvokeEndpoint"],
                [f"{sagemaker}:endpoint/{ENDPOINT_NAME}"],
            ),
            ("PassTrainingRole", ["iam:PassRole"], [sagemaker_role.role_arn]),
        )
        for sid, actions, resources in statements:
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        acknowledge_findings(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "The lake's tables and the training jobs are named per run (egress-model-<day>-*, one "
            "table per asset); the buckets are the platform's own.",
            [
                f"Resource::{rendered(self, f'{catalog}:table/{DATABASE}/*')}",
                f"Resource::{rendered(self, f'{sagemaker}:training-job/egress-model*')}",
            ],
        )

    def _schedule(self, detector: PlatformFunction, key: kms.IKey, alerts: sns.ITopic) -> None:
        dead_letters = sqs.Queue(
            self,
            "DetectorDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            dead_letters, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue."
        )
        role = iam.Role(
            self, "SchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com")
        )
        detector.function.grant_invoke(role)
        role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dead_letters.queue_arn])
        )
        grant_key(role, key)
        acknowledge_findings(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "The scheduler invokes the detector's versions (ARN:*) as well as the function.",
            [f"Resource::<{self.get_logical_id(detector.function.node.default_child)}.Arn>:*"],  # type: ignore[arg-type]
        )
        for layer, (construct_id, name, cron, description) in LAYER_SCHEDULES.items():
            scheduler.CfnSchedule(
                self,
                construct_id,
                name=name,
                description=description,
                schedule_expression=cron,
                schedule_expression_timezone="UTC",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=detector.function.function_arn,
                    role_arn=role.role_arn,
                    input=json.dumps({"layer": layer, "time": "<aws.scheduler.scheduled-time>"}),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=2, maximum_event_age_in_seconds=3600
                    ),
                    dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                        arn=dead_letters.queue_arn
                    ),
                ),
            )
        depth = cw.Alarm(
            self,
            "DetectorDeadLetterDepth",
            alarm_name="egress-detector-dlq-depth",
            alarm_description="Hourly detector invocations gave up and sit in the DLQ",
            metric=dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        depth.add_alarm_action(cw_actions.SnsAction(alerts))
