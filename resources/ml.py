"""``trainer`` and ``scorer``: where the detector's model is trained and served.

Local: LightGBM in-process. AWS: a SageMaker training job through the v3 SDK's ``ModelTrainer``
(training script and requirements from ``egress_platform/detect/sagemaker_job``), and a
SageMaker endpoint through ``sagemaker-runtime``. The artifact is the same ``model.json``.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl
from dagster import ConfigurableResource

from egress_platform.detect.features import FEATURES
from egress_platform.detect.model import ROUNDS, EgressModel, train

SCORING_COLUMNS = [*FEATURES, "entity_type", "dest_class"]
DEFAULT_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


class Trainer(ConfigurableResource):
    def train(self, features: pl.DataFrame, label: str) -> EgressModel:
        raise NotImplementedError


class Scorer(ConfigurableResource):
    def predict(self, model: EgressModel, features: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError


class LocalTrainer(Trainer):
    rounds: int = ROUNDS

    def train(self, features: pl.DataFrame, label: str) -> EgressModel:
        return train(features, rounds=self.rounds)


class LocalScorer(Scorer):
    def predict(self, model: EgressModel, features: pl.DataFrame) -> pl.DataFrame:
        return model.predict(features)


class SageMakerTrainer(Trainer):
    """A SageMaker training job per model; its ``model.tar.gz`` holds the same model.json."""

    role_arn: str
    bucket: str
    prefix: str = "sagemaker"
    image_uri: str = DEFAULT_IMAGE
    instance_type: str = "ml.m5.large"
    region_name: str = "us-east-1"
    rounds: int = ROUNDS

    def train(self, features: pl.DataFrame, label: str) -> EgressModel:
        import boto3
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.train import ModelTrainer
        from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode

        from egress_platform.detect.sagemaker_job import ENTRY_SCRIPT, stage_source

        boto_session = boto3._get_default_session()  # shares credentials, endpoint and hooks
        s3 = boto_session.client("s3", region_name=self.region_name)
        run = f"{label}-{uuid.uuid4().hex[:8]}"
        buffer = io.BytesIO()
        features.write_parquet(buffer)
        input_key = f"{self.prefix}/input/{run}/features.parquet"
        s3.put_object(Bucket=self.bucket, Key=input_key, Body=buffer.getvalue())
        output_path = f"s3://{self.bucket}/{self.prefix}/output"
        with tempfile.TemporaryDirectory() as tmp:
            trainer = ModelTrainer(
                sagemaker_session=Session(boto_session=boto_session, default_bucket=self.bucket),
                role=self.role_arn,
                training_image=self.image_uri,
                source_code=SourceCode(
                    source_dir=str(stage_source(Path(tmp) / "source")),
                    entry_script=ENTRY_SCRIPT,
                    requirements="requirements.txt",
                ),
                compute=Compute(instance_type=self.instance_type, instance_count=1),
                hyperparameters={"rounds": self.rounds},
                output_data_config=OutputDataConfig(s3_output_path=output_path),
                base_job_name="egress-model",
            )
            trainer.train(
                input_data_config=[
                    InputData(
                        channel_name="train",
                        data_source=f"s3://{self.bucket}/{self.prefix}/input/{run}/",
                    )
                ],
                wait=True,
                logs=False,
            )
        job = trainer._latest_training_job
        artifact = job.model_artifacts.s3_model_artifacts
        return self._load(s3, artifact)

    @staticmethod
    def _load(s3: Any, uri: str) -> EgressModel:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise RuntimeError(
                f"the training job finished without {uri}; check its CloudWatch logs "
                "(/aws/sagemaker/TrainingJobs)"
            ) from exc
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            member = archive.extractfile("model.json")
            if member is None:
                raise RuntimeError(f"{uri} holds no model.json")
            return EgressModel.from_json(member.read().decode())


class SageMakerScorer(Scorer):
    """The model behind a SageMaker endpoint (serving ``sagemaker_job/inference.py``)."""

    endpoint_name: str
    region_name: str = "us-east-1"

    def predict(self, model: EgressModel, features: pl.DataFrame) -> pl.DataFrame:
        import boto3

        runtime = boto3._get_default_session().client(
            "sagemaker-runtime", region_name=self.region_name
        )
        rows = features.select(SCORING_COLUMNS)
        body = json.dumps({"columns": rows.columns, "rows": rows.rows()})
        response = runtime.invoke_endpoint(
            EndpointName=self.endpoint_name,
            ContentType="application/json",
            Accept="application/json",
            Body=body,
        )
        answer = json.loads(response["Body"].read())
        frame = pl.DataFrame(answer)
        if frame.columns != ["expected_usd", "upper_usd"] or frame.height != features.height:
            raise RuntimeError(
                f"endpoint {self.endpoint_name} answered {frame.columns} x {frame.height}; "
                "expected expected_usd and upper_usd for each row"
            )
        return frame.cast(pl.Float64)
