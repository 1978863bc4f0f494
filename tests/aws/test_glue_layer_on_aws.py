"""The Glue layer in the aws profile against a moto server.

moto runs Glue's control plane (jobs, runs, catalog) but not the job itself, so the test gives it
a runtime: when ``StartJobRun`` is called, the repository's job script runs on local Spark over
the run's S3 inputs (downloaded from moto) and its output is uploaded where the job was told to
write. Everything else is the real code path: ``PipesGlueClient``, S3 lake, catalog, Athena.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
import requests
from dagster import AssetKey, DagsterInstance, materialize

from egress_platform.app.definitions import ALL_ASSETS
from egress_platform.glue import flows_job
from egress_platform.sql import VIEW_NAMES
from resources.profiles import resources_for
from resources.sql import AthenaSql
from tests.conftest import samples_dir

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(shutil.which("java") is None, reason="the Glue job runs on local Spark"),
]
LAKE = "acme-egress-lake"
JOB = "egress-processed-vpc-flows"
HOUR = ("2026-11-01-02:00", "2026-11-01-03:00")
DAY = ("2026-11-01", "2026-11-01")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class LocalGlueRuntime:
    """Runs the job script when moto accepts a StartJobRun (moto only records the run)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs: list[dict[str, str]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        from pyspark.sql import SparkSession

        args = params["Arguments"]
        self.runs.append(args)
        s3 = boto3.client("s3")

        def fetch(uris: str, kind: str) -> list[str]:
            local = []
            for i, uri in enumerate(u for u in uris.split(",") if u):
                bucket, key = _split(uri)
                # The lake's partition folder comes along: the job reads the key from it.
                target = (
                    self.workdir / f"{kind}-{len(self.runs)}-{i}" / "/".join(key.split("/")[-2:])
                )
                target.parent.mkdir(parents=True)
                s3.download_file(bucket, key, str(target))
                local.append(str(target))
            return local

        out = self.workdir / f"out-{len(self.runs)}"
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
        flows_job.run(
            spark,
            fetch(args["--raw_paths"], "raw"),
            args["--partitions"].split(","),
            fetch(args["--config_paths"], "config"),
            args["--ip_ranges"],
            str(out),
        )
        bucket, prefix = _split(args["--output_path"])
        for part in sorted(out.glob("*.parquet")):
            s3.upload_file(str(part), bucket, f"{prefix}/{part.name}")


@pytest.fixture(scope="module")
def aws_lake(
    moto_endpoint: str, small_account: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    patch = pytest.MonkeyPatch()
    patch.setenv("EGRESS_IP_RANGES", str(samples_dir() / "network" / "ip-ranges.json"))
    patch.setenv("EGRESS_ATHENA_OUTPUT", f"s3://{LAKE}/athena-results/")
    s3 = boto3.client("s3")
    for bucket in ("acme-egress-landing", LAKE):
        s3.create_bucket(Bucket=bucket)
    for path in small_account.rglob("*"):
        if path.is_file():
            s3.upload_file(
                str(path), "acme-egress-landing", path.relative_to(small_account).as_posix()
            )
    script = Path(flows_job.__file__)
    s3.upload_file(str(script), LAKE, "glue/flows_job.py")
    glue = boto3.client("glue")
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/egress-glue",
        Command={
            "Name": "glueetl",
            "ScriptLocation": f"s3://{LAKE}/glue/flows_job.py",
            "PythonVersion": "3",
        },
        GlueVersion="4.0",
    )
    runtime = LocalGlueRuntime(tmp_path_factory.mktemp("glue-runtime"))
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("provide-client-params.glue.StartJobRun", runtime)  # type: ignore[union-attr]
    resources = resources_for("aws")
    for name, window in [
        ("raw_vpc_flow_logs", HOUR),
        ("raw_config_items", DAY),
        ("processed_config_items", DAY),
        ("processed_vpc_flow_logs", HOUR),
    ]:
        result = materialize(
            ALL_ASSETS,
            selection=[AssetKey(name)],
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": window[0],
                "dagster/asset_partition_range_end": window[1],
            },
        )
        assert result.success
    yield runtime, resources
    boto3.DEFAULT_SESSION.events.unregister("provide-client-params.glue.StartJobRun", runtime)  # type: ignore[union-attr]
    patch.undo()


def test_flow_classification_runs_as_the_glue_job_through_pipes(aws_lake: Any) -> None:
    runtime, _ = aws_lake
    assert len(runtime.runs) == 1
    args = runtime.runs[0]
    assert args["--partitions"] == "2026-11-01-02:00,2026-11-01-03:00"
    assert args["--raw_paths"].startswith(
        f"s3://{LAKE}/lake/raw/raw_vpc_flow_logs/partition=2026-11-01-0200/"
    )
    assert "--dagster-pipes-context" in args  # launched through PipesGlueClient
    runs = boto3.client("glue").get_job_runs(JobName=JOB)["JobRuns"]
    assert len(runs) == 1
    s3 = boto3.client("s3")
    body = s3.get_object(
        Bucket=LAKE,
        Key="lake/processed/processed_vpc_flow_logs/partition=2026-11-01-0200/part-00000.parquet",
    )["Body"].read()
    facts = pl.read_parquet(io.BytesIO(body))
    assert facts.height > 50
    assert {"internet", "inter_az", "vpc_endpoint"} <= set(facts["dest_class"])


def test_lake_tables_are_registered_in_the_glue_catalog(aws_lake: Any) -> None:
    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName="egress_lake", Name="processed_vpc_flow_logs")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns["hour"] == "timestamp" and columns["bytes"] == "bigint"
    assert (
        table["StorageDescriptor"]["Location"]
        == f"s3://{LAKE}/lake/processed/processed_vpc_flow_logs/"
    )
    partitions = glue.get_partitions(
        DatabaseName="egress_lake", TableName="processed_vpc_flow_logs"
    )
    assert sorted(p["Values"][0] for p in partitions["Partitions"]) == [
        "2026-11-01-0200",
        "2026-11-01-0300",
    ]
    raw = glue.get_partitions(DatabaseName="egress_lake", TableName="raw_vpc_flow_logs")[
        "Partitions"
    ]
    assert len(raw) == 2


def test_views_are_athena_named_queries_and_results_come_back(
    aws_lake: Any, moto_endpoint: str
) -> None:
    _, resources = aws_lake
    sql: AthenaSql = resources["sql"]
    athena = boto3.client("athena")
    athena.create_work_group(Name=sql.workgroup, Configuration={})
    assert sql.create_views() == list(VIEW_NAMES)
    assert sql.create_views() == list(VIEW_NAMES)  # idempotent: no duplicate named queries
    ids = athena.list_named_queries(WorkGroup=sql.workgroup)["NamedQueryIds"]
    names = sorted(athena.get_named_query(NamedQueryId=i)["NamedQuery"]["Name"] for i in ids)
    assert names == sorted(VIEW_NAMES)
    canned: dict[str, Any] = {
        "account_id": "123456789012",
        "region": "us-east-1",
        "results": [
            {
                "rows": [
                    {"Data": [{"VarCharValue": "source_id"}, {"VarCharValue": "estimated_usd"}]},
                    {"Data": [{"VarCharValue": "eni-1"}, {"VarCharValue": "12.5"}]},
                ],
                "column_info": [],
            }
        ],
    }
    requests.post(f"{moto_endpoint}/moto-api/static/athena/query-results", json=canned, timeout=10)
    frame = sql.view("top_talkers")
    assert frame.rows() == [("eni-1", "12.5")]
    assert json.dumps(frame.columns) == '["source_id", "estimated_usd"]'
