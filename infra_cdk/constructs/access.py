"""Least-privilege grants written out action by action (no ``*`` actions), with their nag evidence."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

from infra_cdk.constructs.nag import acknowledge_findings, rendered

READ = ["s3:GetObject"]
WRITE = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]


def bucket_arn(stack: Stack, bucket_name: str) -> str:
    return f"arn:{stack.partition}:s3:::{bucket_name}"


def grant_prefix(role: iam.Role, bucket_name: str, prefix: str, *, write: bool, why: str) -> None:
    """Objects under ``prefix`` (read, or read/write) and listing that prefix only."""
    stack = Stack.of(role)
    objects = f"{bucket_arn(stack, bucket_name)}/{prefix}*"
    role.add_to_policy(iam.PolicyStatement(actions=WRITE if write else READ, resources=[objects]))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket", "s3:GetBucketLocation"],
            resources=[bucket_arn(stack, bucket_name)],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
        )
    )
    acknowledge_findings(
        role.node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5",
        f"Object keys under s3://{bucket_name}/{prefix}: {why}",
        [f"Resource::{rendered(stack, objects)}"],
    )


def grant_key(role: iam.Role, key: kms.IKey) -> None:
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
        )
    )


def grant_logs(role: iam.Role, group_prefix: str) -> None:
    stack = Stack.of(role)
    groups = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{group_prefix}*"
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[groups],
        )
    )
    acknowledge_findings(
        role.node.find_child("DefaultPolicy"),
        "AwsSolutions-IAM5",
        f"The service names its own log groups under {group_prefix} per job run.",
        [f"Resource::{rendered(stack, groups)}"],
    )
