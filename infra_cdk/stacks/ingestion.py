"""What delivers the seven sources into the raw bucket, in AWS's own key layouts.

VPC flow logs (the product's recommended custom format, hourly objects, plain text with a
header), a multi-region CloudTrail trail, the Config recorder and delivery channel, and the
hourly CUR. Their service principals may write only their own prefixes of the raw bucket, for
this account only; the KMS key lets them encrypt. S3 server access logs and CloudFront standard
logs target the source-log bucket. VPCs come from the ``vpc_ids`` context.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_config as config
from aws_cdk import aws_cur as cur
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from egress_platform.sources.landing import LAYOUTS
from egress_platform.sources.vpc_flow import RECOMMENDED_FORMAT
from infra_cdk.constructs.access import grant_key, grant_prefix
from infra_cdk.constructs.nag import acknowledge

FLOW_LOG_FORMAT = " ".join("${" + field + "}" for field in RECOMMENDED_FORMAT)
CUR_PREFIX = "cur"
CUR_REPORT = "egress-cur"
FIREHOSE_PREFIX = "firehose/"
S3_ACCESS_PREFIX = LAYOUTS["s3_access"].prefix
CLOUDFRONT_PREFIX = LAYOUTS["cloudfront"].prefix

FIREHOSE_STREAM = "egress-raw"


class IngestionStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw: s3.IBucket,
        raw_name: str,
        source_logs: s3.IBucket,
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
            (
                "config.amazonaws.com",
                f"arn:{self.partition}:s3:::{raw_name}/AWSLogs/{account}/Config/*",
            ),
            (
                "billingreports.amazonaws.com",
                f"arn:{self.partition}:s3:::{raw_name}/{CUR_PREFIX}/*",
            ),
        ):
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
        self.delivery_stream = self._firehose(raw_name, key)
        self._access_log_targets(source_logs)

    def _access_log_targets(self, source_logs: s3.IBucket) -> None:
        """S3 server access logs and CloudFront standard logs go to the source-log bucket: S3's
        logging service may write only ``s3-access-logs/``, for this account; CloudFront writes
        ``cloudfront-logs/`` through the ACL it grants its log-delivery account when logging is
        turned on (the bucket keeps ACLs enabled for that)."""
        source_logs.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                resources=[source_logs.arn_for_objects(f"{S3_ACCESS_PREFIX}*")],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        CfnOutput(
            self,
            "S3AccessLogTarget",
            value=f"s3://{source_logs.bucket_name}/{S3_ACCESS_PREFIX}<bucket>/",
            description="TargetBucket/TargetPrefix for each monitored bucket's server access "
            "logging (put-bucket-logging)",
        )
        CfnOutput(
            self,
            "CloudFrontLogTarget",
            value=f"{source_logs.bucket_name}.s3.amazonaws.com, prefix {CLOUDFRONT_PREFIX}",
            description="Standard logging bucket and prefix for each monitored distribution",
        )

    def _firehose(self, raw_name: str, key: kms.IKey) -> firehose.CfnDeliveryStream:
        """Records pushed by other producers (e.g. log subscriptions), partitioned by source and hour."""
        role = iam.Role(
            self, "FirehoseRole", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com")
        )
        grant_prefix(
            role,
            raw_name,
            FIREHOSE_PREFIX,
            write=True,
            why="Firehose writes its partitioned objects and error output there.",
        )
        grant_key(role, key)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                ],
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        log_group = logs.LogGroup(
            self, "FirehoseLogs", retention=logs.RetentionDays.ONE_MONTH, encryption_key=key
        )
        log_stream = log_group.add_stream("S3Delivery")
        log_group.grant_write(role)
        stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_name=FIREHOSE_STREAM,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="CUSTOMER_MANAGED_CMK", key_arn=key.key_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=f"arn:{self.partition}:s3:::{raw_name}",
                role_arn=role.role_arn,
                prefix=FIREHOSE_PREFIX
                + "source=!{partitionKeyFromQuery:source}/!{timestamp:yyyy/MM/dd/HH}/",
                error_output_prefix=FIREHOSE_PREFIX
                + "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=300, size_in_m_bs=64
                ),
                compression_format="GZIP",
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="MetadataExtraction",
                            parameters=[
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name="MetadataExtractionQuery",
                                    parameter_value="{source: .source}",
                                ),
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name="JsonParsingEngine", parameter_value="JQ-1.6"
                                ),
                            ],
                        )
                    ],
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        stream.node.add_dependency(role)
        return stream
