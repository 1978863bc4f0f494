"""`egress run --landing s3://...` end to end in the aws profile against a moto server.

What moto does not run is given a runtime, as in the per-layer tests: the Glue job script runs
on local Spark when moto accepts a StartJobRun, a training job runs the staged entry script, and
the endpoint answers with the newest trained model (the inference handler SageMaker would serve).
Everything else is the real code path: S3 landing and lake, PipesGlueClient, the Glue catalog,
Athena named queries, Step Functions executions, SNS to SQS.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from datetime import date
from typing import Any

import boto3
import polars as pl
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from egress_platform.app.run import run_landing
from egress_platform.detect.model import EgressModel
from egress_platform.glue import flows_job
from egress_platform.simulate import simulate
from tests.aws.test_glue_layer_on_aws import JOB, LocalGlueRuntime
from tests.aws.test_sagemaker_on_aws import LocalTrainingRuntime

pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(shutil.which("java") is None, reason="the Glue job runs on local Spark"),
]
LANDING, LAKE = "acme-egress-landing", "acme-egress-lake"
MACHINE = "egress-response"


class LocalEndpoint:
    """Answers InvokeEndpoint with the newest model a training job wrote."""

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        s3 = boto3.client("s3")
        found = s3.list_objects_v2(Bucket=LAKE, Prefix="sagemaker/output/")["Contents"]
        newest = max(
            (o for o in found if o["Key"].endswith("model.tar.gz")), key=lambda o: o["LastModified"]
        )
        archive = s3.get_object(Bucket=LAKE, Key=newest["Key"])["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile("model.json")
            assert member is not None
            model = EgressModel.from_json(member.read().decode())
        doc = json.loads(params["body"])
        rows = pl.DataFrame(doc["rows"], schema=doc["columns"], orient="row")
        body = json.dumps(model.predict(rows).to_dict(as_series=False)).encode()
        http = AWSResponse("https://runtime.sagemaker", 200, {}, None)
        return http, {
            "Body": StreamingBody(io.BytesIO(body), len(body)),
            "ContentType": "application/json",
        }


@pytest.fixture(scope="module")
def run_on_aws(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("run-on-aws")
    landing = work / "landing"
    simulate(landing, date(2026, 11, 1), 4, seed=7)
    s3 = boto3.client("s3")
    for bucket in (LANDING, LAKE):
        s3.create_bucket(Bucket=bucket)
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        s3.upload_file(str(path), LANDING, f"acme/{path.relative_to(landing).as_posix()}")
    s3.upload_file(flows_job.__file__, LAKE, "glue/flows_job.py")
    boto3.client("glue").create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/egress-glue",
        GlueVersion="5.0",
        Command={
            "Name": "glueetl",
            "ScriptLocation": f"s3://{LAKE}/glue/flows_job.py",
            "PythonVersion": "3",
        },
    )
    boto3.client("athena").create_work_group(Name="egress", Configuration={})
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=MACHINE,
        roleArn="arn:aws:iam::123456789012:role/egress-sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )["stateMachineArn"]
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="egress-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    patch = pytest.MonkeyPatch()
    for key, value in {
        "EGRESS_IP_RANGES": str(landing / "ip-ranges.json"),
        "EGRESS_ATHENA_OUTPUT": f"s3://{LAKE}/athena-results/",
        "EGRESS_SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/egress-sagemaker",
        "EGRESS_STATE_MACHINE_ARN": machine,
        "EGRESS_ALERT_TOPIC_ARN": topic,
    }.items():
        patch.setenv(key, value)
    glue = LocalGlueRuntime(work / "glue")
    (work / "glue").mkdir()
    training = LocalTrainingRuntime(work / "sagemaker")
    boto3.setup_default_session()
    events = boto3._get_default_session().events
    hooks = [
        ("provide-client-params.glue.StartJobRun", glue),
        ("provide-client-params.sagemaker.CreateTrainingJob", training),
        ("before-call.sagemaker-runtime.InvokeEndpoint", LocalEndpoint()),
    ]
    for name, hook in hooks:
        events.register(name, hook)
    said: list[str] = []
    home = work / "dagster"
    try:
        first = run_landing(f"s3://{LANDING}/acme/", None, said.append, dagster_home=home)
        again = run_landing(f"s3://{LANDING}/acme/", None, said.append, dagster_home=home)
    finally:
        for name, hook in hooks:
            events.unregister(name, hook)
        patch.undo()
    return {
        "first": first,
        "again": again,
        "glue": glue,
        "training": training,
        "machine": machine,
        "queue": queue,
        "said": said,
    }


def keys(prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=LAKE, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_every_layer_lands_in_s3_and_the_glue_job_ran_through_pipes(
    run_on_aws: dict[str, Any],
) -> None:
    assert run_on_aws["first"].ran and not run_on_aws["again"].ran
    for zone, asset in [
        ("raw", "raw_vpc_flow_logs"),
        ("processed", "processed_vpc_flow_logs"),
        ("curated", "egress_flows_hourly"),
        ("curated", "egress_anomalies"),
    ]:
        assert len(keys(f"lake/{zone}/{asset}/")) >= 24, asset
    runs = run_on_aws["glue"].runs
    assert runs and all("--dagster-pipes-context" in r for r in runs)
    assert boto3.client("glue").get_job_runs(JobName=JOB)["JobRuns"]
    parts = boto3.client("glue").get_partitions(
        DatabaseName="egress_lake", TableName="processed_vpc_flow_logs"
    )["Partitions"]
    assert len(parts) == 4 * 24
    assert run_on_aws["training"].jobs and keys("sagemaker/output/")
    ids = boto3.client("athena").list_named_queries(WorkGroup="egress")["NamedQueryIds"]
    assert len(ids) == 4


def test_one_step_functions_execution_per_anomaly_named_by_its_id(
    run_on_aws: dict[str, Any],
) -> None:
    anomalies = run_on_aws["first"].summary["anomalies"]
    assert anomalies
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=run_on_aws["machine"]
    )["executions"]
    assert sorted(e["name"] for e in executions) == sorted(a["anomaly_id"] for a in anomalies)


def test_alerts_are_read_back_from_sqs(run_on_aws: dict[str, Any]) -> None:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(
        QueueUrl=run_on_aws["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    opened = {json.loads(json.loads(m["Body"])["Message"]).get("anomaly_id") for m in got}
    assert opened & {a["anomaly_id"] for a in run_on_aws["first"].summary["anomalies"]}


def test_the_summary_is_in_the_lake(run_on_aws: dict[str, Any]) -> None:
    body = boto3.client("s3").get_object(Bucket=LAKE, Key="lake/reports/summary.json")["Body"]
    summary = json.loads(body.read())
    assert summary["anomalies"] == run_on_aws["first"].summary["anomalies"]
    assert summary["reconciliation"]["within_tolerance"]
