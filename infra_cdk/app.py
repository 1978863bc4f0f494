"""The CDK app: ``make synth`` (``python -m infra_cdk.app``) writes cdk.out/ for the stacks below.

Account and region come from the environment (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION) or the
``account`` / ``region`` context; nothing is hard-coded.
"""

from __future__ import annotations

import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra_cdk.stacks.catalog_etl import CatalogEtlStack
from infra_cdk.stacks.data_lake import DataLakeStack
from infra_cdk.stacks.ingestion import IngestionStack
from infra_cdk.stacks.ml import MlStack
from infra_cdk.stacks.observability import ObservabilityStack
from infra_cdk.stacks.response import ResponseStack


def build_app(outdir: str | None = None, context: dict[str, object] | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir, context=context) if outdir else cdk.App(context=context)
    env = cdk.Environment(
        account=app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=app.node.try_get_context("region")
        or os.environ.get("CDK_DEFAULT_REGION", "us-east-1"),
    )
    lake = DataLakeStack(app, "EgressDataLake", env=env)
    CatalogEtlStack(
        app,
        "EgressCatalogEtl",
        raw_bucket=lake.raw_name,
        lake_bucket=lake.lake_name,
        athena_bucket=lake.athena_name,
        key=lake.key,
        env=env,
    )
    vpc_ids = app.node.try_get_context("vpc_ids") or []
    IngestionStack(
        app,
        "EgressIngestion",
        raw=lake.raw,
        raw_name=lake.raw_name,
        source_logs=lake.source_logs,
        key=lake.key,
        vpc_ids=list(vpc_ids),
        env=env,
    )
    ml = MlStack(app, "EgressMl", lake_bucket=lake.lake_name, key=lake.key, env=env)
    observability = ObservabilityStack(app, "EgressObservability", key=lake.key, env=env)
    ResponseStack(
        app,
        "EgressResponse",
        lake_bucket=lake.lake_name,
        raw_bucket=lake.raw_name,
        athena_bucket=lake.athena_name,
        key=lake.key,
        alerts=observability.alerts,
        sagemaker_role=ml.execution_role,
        env=env,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def synth_outdir(environ: dict[str, str]) -> str:
    """Where the templates go: the folder the cdk CLI names (``cdk synth -o DIR`` sets
    CDK_OUTDIR), else cdk.out/ in the repository (``make synth``)."""
    return environ.get("CDK_OUTDIR") or str(Path(__file__).resolve().parents[1] / "cdk.out")


if __name__ == "__main__":
    build_app(synth_outdir(dict(os.environ))).synth()
