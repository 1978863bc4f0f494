"""What delivers the seven sources into the raw bucket, in AWS's own key layouts.

VPC flow logs (the product's recommended custom format, hourly objects, plain text with a
header), a multi-region CloudTrail trail, the Config recorder and delivery channel, and the
hourly CUR. Their service principals may write only their own prefixes of the raw bucket, for
this account only; the KMS key lets them encrypt. VPCs come from the ``vpc_ids`` context.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_config as config
from aws_cdk import aws_cur as cur
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from egress_platform.sources.vpc_flow import RECOMMENDED_FORMAT
from infra_cdk.constructs.nag import acknowledge

FLOW_LOG_FORMAT = " ".join("${" + field + "}" for field in RECOMMENDED_FORMAT)
CUR_PREFIX = "cur"
CUR_REPORT = "egress-cur"


class IngestionStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw: s3.IBucket,
        raw_name: str,
        key: kms.IKey,
        vpc_ids: list[str],
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        account = self.account
        logs_prefix = f"arn:{self.partition}:s3:::{raw_name}/AWSLogs/{account}/*"
        same_account = {"StringEquals": {"aws:SourceAccount": account}}
        for service, objects in (
            ("delivery.logs.amazonaws.com", logs_prefix),
            ("cloudtrail.amazonaws.com", logs_prefix),
            ("config.amazonaws.com", f"arn:{self.partition}:s3:::{raw_name}/AWSLogs/{account}/Config/*"),
            ("billingreports.amazonaws.com", f"arn:{self.partition}:s3:::{raw_name}/{CUR_PREFIX}/*"),
        ):  # fmt: skip
            principal = iam.ServicePrincipal(service)
            raw.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:ListBucket"],
                    principals=[principal],
                    resources=[f"arn:{self.partition}:s3:::{raw_name}"],
                    conditions=same_account,
                )
            )
            raw.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    principals=[principal],
                    resources=[objects],
                    conditions=same_account,
                )
            )
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    principals=[principal],
                    resources=["*"],  # in a key policy, "*" means this key
                    conditions=same_account,
                )
            )
        for i, vpc_id in enumerate(vpc_ids):
            ec2.CfnFlowLog(
                self,
                f"FlowLog{i}",
                resource_id=vpc_id,
                resource_type="VPC",
                traffic_type="ALL",
                log_destination_type="s3",
                log_destination=f"arn:{self.partition}:s3:::{raw_name}",
                log_format=FLOW_LOG_FORMAT,
                max_aggregation_interval=60,
                destination_options={
                    "FileFormat": "plain-text",
                    "HiveCompatiblePartitions": False,
                    "PerHourPartition": True,
                },
            )
        cloudtrail.CfnTrail(
            self,
            "Trail",
            trail_name="egress-management-events",
            is_logging=True,
            s3_bucket_name=raw_name,
            kms_key_id=key.key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
        )
        config_role = iam.Role(
            self,
            "ConfigRole",
            assumed_by=iam.ServicePrincipal("config.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWS_ConfigRole")
            ],
        )
        acknowledge(
            config_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWS_ConfigRole]",
            "AWS_ConfigRole is the policy AWS maintains for the recorder to describe every resource type.",
        )
        recorder = config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=config_role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=True, include_global_resource_types=False
            ),
        )
        channel = config.CfnDeliveryChannel(
            self,
            "DeliveryChannel",
            s3_bucket_name=raw_name,
            s3_kms_key_arn=key.key_arn,
            config_snapshot_delivery_properties=config.CfnDeliveryChannel.ConfigSnapshotDeliveryPropertiesProperty(
                delivery_frequency="TwentyFour_Hours"
            ),
        )
        channel.node.add_dependency(recorder)
        cur.CfnReportDefinition(
            self,
            "Cur",
            report_name=CUR_REPORT,
            time_unit="HOURLY",
            format="textORcsv",
            compression="GZIP",
            additional_schema_elements=["RESOURCES"],
            s3_bucket=raw_name,
            s3_prefix=CUR_PREFIX,
            s3_region=self.region,
            refresh_closed_reports=True,
            report_versioning="OVERWRITE_REPORT",
        )
