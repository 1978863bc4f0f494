"""SageMaker endpoint handler: JSON feature rows in, expected and upper USD out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import polars as pl

from egress_platform.detect.model import EgressModel


def model_fn(model_dir: str) -> EgressModel:
    return EgressModel.from_json((Path(model_dir) / "model.json").read_text())


def input_fn(body: str | bytes, content_type: str = "application/json") -> pl.DataFrame:
    if content_type != "application/json":
        raise ValueError(f"unsupported content type {content_type}; send application/json")
    doc = json.loads(body)
    return pl.DataFrame(doc["rows"], schema=doc["columns"], orient="row")


def predict_fn(features: pl.DataFrame, model: EgressModel) -> dict[str, Any]:
    return model.predict(features).to_dict(as_series=False)


def output_fn(prediction: dict[str, Any], accept: str = "application/json") -> str:
    return json.dumps(prediction)
