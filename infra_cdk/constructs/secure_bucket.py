"""A bucket the way every lake bucket must be: encrypted (KMS unless AWS forbids it), no public
access, TLS only, versioned, logged, aged out."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


class SecureBucket(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey | None,
        access_logs: s3.IBucket | None,
        log_prefix: str,
        expire_after_days: int | None = None,
        infrequent_after_days: int | None = 30,
        object_ownership: s3.ObjectOwnership | None = None,
    ) -> None:
        """``key=None`` encrypts with S3-managed keys, for the log targets AWS services can only
        deliver to that way (S3 server access logs)."""
        super().__init__(scope, construct_id)
        rules = []
        if infrequent_after_days:
            rules.append(
                s3.LifecycleRule(
                    id="tiering",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=Duration.days(infrequent_after_days),
                        )
                    ],
                )
            )
        if expire_after_days:
            rules.append(s3.LifecycleRule(id="expire", expiration=Duration.days(expire_after_days)))
        rules.append(
            s3.LifecycleRule(
                id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
            )
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            object_ownership=object_ownership,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=log_prefix if access_logs else None,
            lifecycle_rules=rules,
            removal_policy=RemovalPolicy.RETAIN,
        )
