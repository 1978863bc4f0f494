"""Shared fixtures: the public samples (skipped when absent) and small simulated accounts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Test lakes and Dagster instances in memory (tmpfs) where the machine has one.

    Dagster's sqlite event log commits, and so syncs to disk, once per event: two events per
    partition and asset, the larger part of a test pipeline's time on a disk. Runs before the
    temporary-directory plugin reads the option; an explicit --basetemp wins.
    """
    shm = Path("/dev/shm")
    if config.option.basetemp or not os.access(shm, os.W_OK):
        return
    if shutil.disk_usage(shm).free < 4 * 2**30:
        return
    base = tempfile.mkdtemp(prefix="egress-tests-", dir=shm)
    config.option.basetemp = base
    config.stash[_SHM_BASE] = base


def pytest_unconfigure(config: pytest.Config) -> None:
    base = config.stash.get(_SHM_BASE, None)
    if base:
        shutil.rmtree(base, ignore_errors=True)


_SHM_BASE = pytest.StashKey[str]()


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
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any]]:
    """(lake, stdout, summary) of `egress demo --days 10 --seed 7` run as a process, as a user
    runs it: the one pipeline over a simulated landing zone (in lake/landing), shared by the
    end-to-end tests and the tests that need a processed account."""
    lake = tmp_path_factory.mktemp("demo") / "lake"
    done = egress(["demo", "--days", "10", "--seed", "7"], lake)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((lake / "reports" / "summary.json").read_text())
    return lake, done.stdout, summary


EGRESS = [sys.executable, "-m", "egress_platform.app.cli"]


def egress_env(lake: Path) -> dict[str, str]:
    """The environment of an `egress` process on `lake`; nothing from outside the repository
    (the simulator's own ip-ranges.json classifies)."""
    env = {**os.environ, "EGRESS_LAKE_DIR": str(lake), "DAGSTER_HOME": str(lake / ".dagster")}
    for name in ("EGRESS_SCALE", "EGRESS_IP_RANGES", "EGRESS_PARTITIONS_START"):
        env.pop(name, None)
    return env


def egress(args: list[str], lake: Path) -> subprocess.CompletedProcess[str]:
    """The `egress` command as a process on `lake`, run to its end."""
    return subprocess.run(
        [*EGRESS, *args],
        cwd=ROOT,
        env=egress_env(lake),
        capture_output=True,
        text=True,
        timeout=900,
    )
