"""Glue catalog, the raw-zone crawler, the flow-classification Glue job, and Athena.

The Glue job's script is ``egress_platform/glue/flows_job.py`` itself, and the package it imports
ships as ``--extra-py-files`` (a zip of ``egress_platform``), so the job runs the same code as the
local profile. The Athena named queries are the repository's ``.sql`` views.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from egress_platform.sql import VIEW_NAMES, view_sql
from infra_cdk.constructs.access import grant_key, grant_logs, grant_prefix
from infra_cdk.constructs.nag import acknowledge_findings, rendered

REPO = Path(__file__).resolve().parents[2]
DATABASE = "egress_lake"
FLOWS_JOB = "egress-processed-vpc-flows"
# What registering the lake's tables and partitions in the Glue catalog takes.
CATALOG_ACTIONS = [
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartitions",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:BatchCreatePartition",
]


class CatalogEtlStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw_bucket: str,
        lake_bucket: str,
        athena_bucket: str,
        key: kms.IKey,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=DATABASE, description="Egress lake: raw, processed and curated tables"
            ),
        )
        script = assets.Asset(
            self, "FlowsJobScript", path=str(REPO / "egress_platform/glue/flows_job.py")
        )
        package = assets.Asset(self, "EgressPlatform", path=str(REPO / "egress_platform"))
        self.job_role = iam.Role(
            self,
            "GlueJobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Egress Glue job and crawler: read the lake zones, write processed output",
        )
        grant_prefix(
            self.job_role,
            lake_bucket,
            "lake/",
            write=True,
            why="the job reads raw partitions and writes processed output.",
        )
        grant_prefix(
            self.job_role,
            raw_bucket,
            "",
            write=False,
            why="the crawler and job read what AWS delivered, in AWS's own key layouts.",
        )
        grant_key(self.job_role, key)
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{self.partition}:s3:::{a.s3_bucket_name}/{a.s3_object_key}"
                    for a in (script, package)
                ],
            )
        )
        tables = f"arn:{self.partition}:glue:{self.region}:{self.account}:table/{DATABASE}/*"
        self.job_role.add_to_policy(
            iam.PolicyStatement(
                actions=CATALOG_ACTIONS,
                resources=[
                    f"arn:{self.partition}:glue:{self.region}:{self.account}:catalog",
                    f"arn:{self.partition}:glue:{self.region}:{self.account}:database/{DATABASE}",
                    tables,
                ],
            )
        )
        acknowledge_findings(
            self.job_role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5",
            f"Tables of the {DATABASE} database only: the job registers one table per asset.",
            [f"Resource::{rendered(self, tables)}"],
        )
        grant_logs(self.job_role, "/aws-glue/")
        security = glue.CfnSecurityConfiguration(
            self,
            "GlueSecurity",
            name="egress-glue",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )
        self.flows_job = glue.CfnJob(
            self,
            "FlowsJob",
            name=FLOWS_JOB,
            role=self.job_role.role_arn,
            glue_version="5.0",  # Python 3.11, which the package (polars 2) needs
            worker_type="G.1X",
            number_of_workers=2,
            timeout=60,
            security_configuration=security.name,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            default_arguments={
                "--extra-py-files": package.s3_object_url,
                "--additional-python-modules": "polars>=1.30,dagster-pipes",
                "--enable-continuous-cloudwatch-log": "true",
                "--job-language": "python",
            },
        )
        crawler = glue.CfnCrawler(
            self,
            "RawCrawler",
            name="egress-raw-zone",
            role=self.job_role.role_arn,
            database_name=DATABASE,
            crawler_security_configuration=security.name,
            targets=glue.CfnCrawler.TargetsProperty(
                s3_targets=[glue.CfnCrawler.S3TargetProperty(path=f"s3://{lake_bucket}/lake/raw/")]
            ),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="UPDATE_IN_DATABASE", delete_behavior="LOG"
            ),
            # Hourly, after the ingest layer (:05) wrote the hour's raw partitions.
            schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression="cron(20 * * * ? *)"),
        )
        crawler.node.add_dependency(database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name="egress",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{athena_bucket}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        for name in VIEW_NAMES:
            query = athena.CfnNamedQuery(
                self,
                f"View{name.title().replace('_', '')}",
                name=name,
                database=DATABASE,
                query_string=view_sql(name),
                work_group=self.workgroup.name,
                description=f"egress view {name} (egress_platform/sql/{name}.sql)",
            )
            query.node.add_dependency(self.workgroup)
