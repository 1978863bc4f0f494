"""SageMaker training entry point: features Parquet in the ``train`` channel -> model.json.

Runs in the training container (``SM_CHANNEL_TRAIN``, ``SM_MODEL_DIR``, ``SM_HPS`` are set by
SageMaker) and, in tests, as a plain subprocess with the same variables.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import polars as pl

from egress_platform.detect.model import ROUNDS, train


def main() -> None:
    channel = Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    hyperparameters = json.loads(os.environ.get("SM_HPS", "{}"))
    rounds = int(hyperparameters.get("rounds", ROUNDS))
    files = sorted(channel.rglob("*.parquet"))
    if not files:
        raise SystemExit(f"no Parquet features in {channel}")
    features = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
    model = train(features, rounds=rounds)
    model.metadata["trained_by"] = "sagemaker"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(model.to_json())
    print(
        f"trained on {model.metadata['rows']} rows, {rounds} rounds -> {model_dir / 'model.json'}"
    )


if __name__ == "__main__":
    main()
