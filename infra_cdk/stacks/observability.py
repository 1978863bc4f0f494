"""Alerts and visibility: the KMS-encrypted alert topic, failure rules routed to it, a dashboard.

Glue job runs and SageMaker training jobs that fail (or time out) raise an EventBridge event;
rules route them to the alert topic, with a dead-letter queue for deliveries that fail. The
dashboard shows the flow job's run time and Athena's scanned bytes.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra_cdk.constructs.nag import acknowledge
from infra_cdk.stacks.catalog_etl import FLOWS_JOB
from infra_cdk.stacks.ingestion import FIREHOSE_STREAM


class ObservabilityStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.alerts = sns.Topic(
            self,
            "Alerts",
            topic_name="egress-alerts",
            master_key=key,
            enforce_ssl=True,
            display_name="Egress Cost Optimizer alerts",
        )
        key.grant_encrypt_decrypt(iam.ServicePrincipal("events.amazonaws.com"))
        dead_letters = sqs.Queue(
            self,
            "AlertDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            dead_letters, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue."
        )
        target = targets.SnsTopic(self.alerts, dead_letter_queue=dead_letters, retry_attempts=4)
        events.Rule(
            self,
            "GlueJobFailed",
            description="The flow-classification Glue job failed or timed out",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [FLOWS_JOB], "state": ["FAILED", "TIMEOUT", "ERROR"]},
            ),
            targets=[target],
        )
        events.Rule(
            self,
            "TrainingJobFailed",
            description="An egress-model SageMaker training job failed",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Training Job State Change"],
                detail={
                    "TrainingJobStatus": ["Failed"],
                    "TrainingJobName": [{"prefix": "egress-model"}],
                },
            ),
            targets=[target],
        )
        self._alarm(
            "FirehoseDeliveryFailing",
            "Firehose egress-raw is not delivering to the raw bucket",
            cw.Metric(
                namespace="AWS/Firehose",
                metric_name="DeliveryToS3.Success",
                dimensions_map={"DeliveryStreamName": FIREHOSE_STREAM},
                statistic="Average",
                period=Duration.minutes(15),
            ),
            threshold=1,
            below=True,
        )
        self._alarm(
            "AlertDeadLetterDepth",
            "Alert deliveries from EventBridge rules gave up and sit in the dead-letter queue",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
        )
        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name="egress-cost-optimizer")
        dashboard.add_widgets(
            cw.TextWidget(
                markdown="# Egress Cost Optimizer\nGlue layer and query health.", width=24, height=2
            ),
            cw.GraphWidget(
                title="Flow job run time (ms)",
                left=[
                    cw.Metric(
                        namespace="Glue",
                        metric_name="glue.driver.aggregate.elapsedTime",
                        dimensions_map={"JobName": FLOWS_JOB, "JobRunId": "ALL", "Type": "count"},
                        statistic="Maximum",
                        period=Duration.hours(1),
                    )
                ],
            ),
            cw.GraphWidget(
                title="Athena bytes scanned (egress workgroup)",
                left=[
                    cw.Metric(
                        namespace="AWS/Athena",
                        metric_name="ProcessedBytes",
                        dimensions_map={"WorkGroup": "egress"},
                        statistic="Sum",
                        period=Duration.hours(1),
                    )
                ],
            ),
        )

    def _alarm(
        self, cid: str, why: str, metric: cw.IMetric, *, threshold: float, below: bool = False
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            cid,
            alarm_description=why,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # A stream with no records reports no data: only a measured failure alarms.
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alerts))
        return alarm
