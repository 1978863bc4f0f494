"""The lake's buckets: raw (landing), lake (processed and curated zones), quarantine and Athena
results under one KMS key; the source-log target for S3 and CloudFront access logs (SSE-S3, as
those services require); and the access-log bucket they all log to."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra_cdk.constructs.nag import acknowledge
from infra_cdk.constructs.secure_bucket import SecureBucket


class DataLakeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.key = kms.Key(
            self,
            "LakeKey",
            alias="alias/egress-lake",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
            description="Encrypts the egress lake, its query results and the alert topic",
        )
        # S3 server access logs cannot be delivered to a KMS (SSE-KMS) bucket: SSE-S3 here.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log target; logging it to itself would loop.",
        )
        # Names are fixed (per account and region) so other stacks' policies can name them exactly.
        self.raw_name = f"egress-raw-{self.account}-{self.region}"
        self.lake_name = f"egress-lake-{self.account}-{self.region}"
        self.athena_name = f"egress-athena-{self.account}-{self.region}"
        self.quarantine_name = f"egress-quarantine-{self.account}-{self.region}"
        self.source_logs_name = f"egress-source-logs-{self.account}-{self.region}"
        self.raw = SecureBucket(
            self,
            "Raw",
            bucket_name=self.raw_name,
            key=self.key,
            access_logs=self.access_logs,
            log_prefix="raw/",
        ).bucket
        self.lake = SecureBucket(
            self,
            "Lake",
            bucket_name=self.lake_name,
            key=self.key,
            access_logs=self.access_logs,
            log_prefix="lake/",
        ).bucket
        self.athena_results = SecureBucket(
            self,
            "AthenaResults",
            bucket_name=self.athena_name,
            key=self.key,
            access_logs=self.access_logs,
            log_prefix="athena/",
            expire_after_days=30,
            infrequent_after_days=None,
        ).bucket
        self.quarantine = SecureBucket(
            self,
            "Quarantine",
            bucket_name=self.quarantine_name,
            key=self.key,
            access_logs=self.access_logs,
            log_prefix="quarantine/",
            expire_after_days=400,
        ).bucket
        # S3 server access logs can only be delivered to an SSE-S3 bucket, and CloudFront's
        # standard logs are written with ACLs: so these two sources land here, not in the raw
        # bucket, under the same prefixes the landing zone reads (s3-access-logs/, cloudfront-logs/).
        self.source_logs = SecureBucket(
            self,
            "SourceLogs",
            bucket_name=self.source_logs_name,
            key=None,
            access_logs=self.access_logs,
            log_prefix="source-logs/",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        ).bucket
