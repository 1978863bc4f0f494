"""Stored answers: the demo account's (10 days, seed 7) priced flows, anomalies and one root
cause, compared frame for frame, dtypes included, with what the pipeline produces now.

`make golden` rewrites them (EGRESS_GOLDEN_UPDATE=1) when a change is meant to move a figure;
the diff of tests/golden/ then shows what moved, in review.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.rca.report import REPORT_SCHEMA
from resources.lake import LocalLakeIOManager

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("EGRESS_GOLDEN_UPDATE") == "1"
FLOW_KEY = ["hour", "account_id", "source_type", "source_id", "dest_class", "dest_region",
            "dest_az", "dest_service", "dest_prefix", "transfer_class", "usage_type"]  # fmt: skip


@pytest.fixture(scope="module")
def lake(demo_lake: tuple[Path, str, dict[str, Any]]) -> LocalLakeIOManager:
    return LocalLakeIOManager(root=str(demo_lake[0]))


def _anomalies(lake: LocalLakeIOManager) -> pl.DataFrame:
    rows = lake.read_all("egress_anomalies")
    return rows.sort(["anomaly_id", "last_hour"])


def _compare(name: str, got: pl.DataFrame) -> None:
    path = GOLDEN / f"{name}.parquet"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        got.write_parquet(path, statistics=False)
    assert path.exists(), f"no stored answer {path}: run `make golden`"
    assert_frame_equal(got, pl.read_parquet(path), check_dtypes=True)


def test_priced_flows_of_the_first_incident_day_match_the_stored_answer(
    lake: LocalLakeIOManager,
) -> None:
    onset = _anomalies(lake)["onset_hour"].min()
    assert isinstance(onset, datetime)
    day = [f"{onset:%Y-%m-%d}-{h:02d}:00" for h in range(24)]
    flows = lake.read_frame("egress_flows_hourly", day).sort(FLOW_KEY, nulls_last=True)
    assert flows.height > 500
    _compare("egress_flows_hourly", flows)


def test_anomalies_match_the_stored_answer(lake: LocalLakeIOManager) -> None:
    _compare("egress_anomalies", _anomalies(lake))


def test_root_cause_of_the_first_anomaly_matches_the_stored_answer(
    lake: LocalLakeIOManager,
) -> None:
    reports = lake.read_all("rca_reports").sort("onset_hour", "anomaly_id")
    got = reports.head(1)
    path = GOLDEN / "rca_report.json"
    if UPDATE:
        row = {
            k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in got.row(0, named=True).items()
        }
        path.write_text(json.dumps(row, indent=2, sort_keys=True) + "\n")
    assert path.exists(), f"no stored answer {path}: run `make golden`"
    stored = json.loads(path.read_text())
    onset = stored.pop("onset_hour")
    expected = pl.DataFrame([stored]).with_columns(
        pl.lit(onset).str.to_datetime(time_zone="UTC").alias("onset_hour")
    )
    expected = expected.select(
        [pl.col(c).cast(t) for c, t in REPORT_SCHEMA.items()]
    )  # the schema the product declares, not the result's
    assert_frame_equal(got, expected, check_dtypes=True)
