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


# Every partition a test lake can hold (the test landings start as early as 2025-12-30); set
# before the assets load, as `egress run` sets it from the data.
os.environ.setdefault("EGRESS_PARTITIONS_START", "2025-12-01")


@pytest.fixture(scope="session")
def pipeline_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(landing, lake): four simulated days (seed 5) run through `egress run`, the one pipeline."""
    from egress_platform.run import run_landing
    from egress_platform.simulate import simulate

    root = tmp_path_factory.mktemp("pipeline")
    landing, lake = root / "landing", root / "lake"
    simulate(landing, date(2026, 11, 1), 4, seed=5)
    run_landing(str(landing), str(lake), lambda _: None, dagster_home=lake / ".dagster")
    return landing, lake
