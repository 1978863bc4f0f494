"""What the SageMaker training job and endpoint need: an execution role scoped to the lake, and
(with ``notebook_subnet_id`` and ``notebook_security_group_id`` in the context) a notebook
instance for exploring the lake; and
(with the context ``sagemaker_endpoint=true``) the serverless endpoint the detector's scorer
calls, serving the model at ``s3://<lake>/sagemaker/endpoint/model.tar.gz`` with
``egress_platform/detect/sagemaker_job/inference.py``. It is off by default because SageMaker
starts the endpoint's container at deploy time and fails without that artifact: deploy once,
let the daily layer train, copy the newest ``sagemaker/output/.../model.tar.gz`` there, then
``cdk deploy -c sagemaker_endpoint=true``."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra_cdk.constructs.access import grant_key, grant_logs, grant_prefix
from infra_cdk.constructs.nag import acknowledge_findings

MODEL_PREFIX = "sagemaker"
ENDPOINT_NAME = "egress-detector"  # EGRESS_SAGEMAKER_ENDPOINT's default
ENDPOINT_ARTIFACT = f"{MODEL_PREFIX}/endpoint/model.tar.gz"
SERVING_IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


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

        if str(self.node.try_get_context("sagemaker_endpoint") or "").lower() == "true":
            self._endpoint(lake_bucket, key)
        subnet = self.node.try_get_context("notebook_subnet_id")
        group = self.node.try_get_context("notebook_security_group_id")
        if subnet and group:
            self._notebook(lake_bucket, key, str(subnet), str(group))

    def _notebook(self, lake_bucket: str, key: kms.IKey, subnet: str, group: str) -> None:
        """A SageMaker notebook instance to explore the lake (read-only), inside the VPC the
        context names, KMS-encrypted, with no direct internet access and no root access."""
        role = iam.Role(
            self,
            "NotebookRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Egress exploration notebook: reads the lake, nothing else",
        )
        grant_prefix(role, lake_bucket, "lake/", write=False, why="exploring the lake's tables.")
        grant_key(role, key)
        grant_logs(role, "/aws/sagemaker/NotebookInstances")
        sagemaker.CfnNotebookInstance(
            self,
            "Notebook",
            notebook_instance_name="egress-explore",
            instance_type="ml.t3.medium",
            role_arn=role.role_arn,
            kms_key_id=key.key_id,
            subnet_id=subnet,
            security_group_ids=[group],
            direct_internet_access="Disabled",
            root_access="Disabled",
            volume_size_in_gb=20,
        )

    def _endpoint(self, lake_bucket: str, key: kms.IKey) -> None:
        model = sagemaker.CfnModel(
            self,
            "DetectorModel",
            execution_role_arn=self.execution_role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=SERVING_IMAGE.format(region=self.region),
                model_data_url=f"s3://{lake_bucket}/{ENDPOINT_ARTIFACT}",
                environment={"SAGEMAKER_PROGRAM": "inference.py"},
            ),
        )
        config = sagemaker.CfnEndpointConfig(
            self,
            "DetectorEndpointConfig",
            kms_key_id=key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    model_name=model.attr_model_name,
                    variant_name="main",
                    serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        max_concurrency=2, memory_size_in_mb=2048
                    ),
                )
            ],
        )
        sagemaker.CfnEndpoint(
            self,
            "DetectorEndpoint",
            endpoint_name=ENDPOINT_NAME,
            endpoint_config_name=config.attr_endpoint_config_name,
        )
