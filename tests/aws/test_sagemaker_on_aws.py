"""egress_model's SageMaker path against a moto server: training job and endpoint.

moto records training jobs but runs nothing, so the test gives the job a runtime: when
``CreateTrainingJob`` is called, the staged entry script runs as a subprocess with SageMaker's
environment (channel dir, model dir, hyperparameters) and its model.tar.gz is uploaded where the
job was told to write. The endpoint's answer is configured through moto's API.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import polars as pl
import pytest
import requests

from egress_platform.detect.features import build_features, series_frame
from egress_platform.detect.sagemaker_job import stage_source
from resources.ml import SCORING_COLUMNS, SageMakerScorer, SageMakerTrainer
from tests.unit.test_detect import diurnal, flows_for

pytestmark = pytest.mark.aws
BUCKET = "acme-egress-lake"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


class LocalTrainingRuntime:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.jobs: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.jobs.append(params)
        s3 = boto3.client("s3")
        job = self.workdir / params["TrainingJobName"]
        channel, model_dir = job / "train", job / "model"
        channel.mkdir(parents=True)
        uri = params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
            s3.download_file(bucket, obj["Key"], str(channel / Path(obj["Key"]).name))
        source = stage_source(job / "code")
        env = {
            **os.environ,
            "SM_CHANNEL_TRAIN": str(channel),
            "SM_MODEL_DIR": str(model_dir),
            "SM_HPS": json.dumps(params["HyperParameters"]),
        }
        subprocess.run([sys.executable, str(source / "train.py")], env=env, check=True, cwd=source)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            tar.add(model_dir / "model.json", arcname="model.json")
        out = params["OutputDataConfig"]["S3OutputPath"].removeprefix("s3://")
        bucket, _, prefix = out.partition("/")
        key = f"{prefix}/{params['TrainingJobName']}/output/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())


@pytest.fixture(scope="module")
def runtime(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    hook = LocalTrainingRuntime(tmp_path_factory.mktemp("sagemaker"))
    boto3.setup_default_session()
    session = boto3._get_default_session()
    session.events.register("provide-client-params.sagemaker.CreateTrainingJob", hook)
    yield hook
    session.events.unregister("provide-client-params.sagemaker.CreateTrainingJob", hook)


def features() -> pl.DataFrame:
    hours = 24 * 4
    flows = flows_for(
        {
            ("eni-web", "internet"): diurnal(3.0, hours, 1),
            ("eni-app", "internet"): diurnal(1.0, hours, 2),
        },
        hours,
    )
    return build_features(series_frame(flows))


def test_training_job_is_created_and_its_model_used(runtime: LocalTrainingRuntime) -> None:
    trainer = SageMakerTrainer(
        role_arn="arn:aws:iam::123456789012:role/egress-sagemaker",
        bucket=BUCKET,
        image_uri=IMAGE,
        rounds=50,
    )
    model = trainer.train(features(), "egress-2026-11-05")
    assert model.metadata["trained_by"] == "sagemaker" and model.metadata["rounds"] == 50
    job = runtime.jobs[0]
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["HyperParameters"]["rounds"] == "50"
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/sagemaker/output"
    channel = job["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        f"s3://{BUCKET}/sagemaker/input/egress-2026-11-05-"
    )
    described = boto3.client("sagemaker").describe_training_job(
        TrainingJobName=job["TrainingJobName"]
    )
    assert described["TrainingJobStatus"] == "Completed"
    predicted = model.predict(features().tail(5))
    assert predicted.columns == ["expected_usd", "upper_usd"]


def test_endpoint_answer_is_used(runtime: LocalTrainingRuntime, moto_endpoint: str) -> None:
    rows = features().tail(3)
    answer = {"expected_usd": [0.1, 0.2, 0.3], "upper_usd": [0.2, 0.4, 0.6]}
    requests.post(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": "123456789012",
            "region": "us-east-1",
            "results": [{"Body": json.dumps(answer), "ContentType": "application/json"}],
        },
        timeout=10,
    )
    scorer = SageMakerScorer(endpoint_name="egress-detector")
    frame = scorer.predict(None, rows)  # type: ignore[arg-type]
    assert frame.to_dict(as_series=False) == answer


def test_inference_handler_serves_the_same_model(tmp_path: Path) -> None:
    from egress_platform.detect.model import train
    from egress_platform.detect.sagemaker_job import inference

    model = train(features(), rounds=30)
    (tmp_path / "model.json").write_text(model.to_json())
    rows = features().tail(4).select(SCORING_COLUMNS)
    body = json.dumps({"columns": rows.columns, "rows": rows.rows()})
    served = inference.predict_fn(inference.input_fn(body), inference.model_fn(str(tmp_path)))
    assert np.allclose(served["expected_usd"], model.predict(rows)["expected_usd"].to_list())
    assert json.loads(inference.output_fn(served)) == served
