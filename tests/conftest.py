"""Shared fixtures: the public samples (skipped when absent) and small simulated accounts."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(
            f"public samples not found at {SAMPLES} (they live in ../shared/samples beside the repo)"
        )
    return SAMPLES


@pytest.fixture(scope="session")
def small_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days in AWS's landing layout (deterministic, seed 11)."""
    from egress_platform.simulate import simulate

    out = tmp_path_factory.mktemp("landing")
    simulate(out, date(2026, 11, 1), 2, seed=11)
    return out
