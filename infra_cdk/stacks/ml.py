"""What the SageMaker training job and endpoint need: an execution role scoped to the lake."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra_cdk.constructs.access import grant_key, grant_logs, grant_prefix
from infra_cdk.constructs.nag import acknowledge_findings

MODEL_PREFIX = "sagemaker"


class MlStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake_bucket: str,
        key: kms.IKey,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.execution_role = iam.Role(
            self,
            "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Egress model training jobs and endpoint: features in, model artifacts out",
        )
        grant_prefix(
            self.execution_role,
            lake_bucket,
            f"{MODEL_PREFIX}/",
            write=True,
            why="training features in, model artifacts out.",
        )
        grant_key(self.execution_role, key)
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:GetAuthorizationToken"],
                resources=["*"],  # GetAuthorizationToken has no resource-level permissions
            )
        )
        self.execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                # The AWS-managed framework images live in AWS's own registry accounts.
                resources=[
                    f"arn:aws:ecr:{self.region}:683313688378:repository/sagemaker-scikit-learn"
                ],
            )
        )
        grant_logs(self.execution_role, "/aws/sagemaker/")
        acknowledge_findings(
            self.execution_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken supports no resource-level permissions (AWS requires '*').",
            ["Resource::*"],
        )
