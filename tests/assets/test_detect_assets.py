"""Detection through real Dagster: features, the daily model with its backtest, hourly anomalies."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.detect import BACKTEST_CHECK, EVENTS_CHECK
from egress_platform.app.definitions import ALL_ASSETS
from egress_platform.simulate import simulate
from tests.assets.test_egress_assets import meta, resources
from tests.conftest import samples_dir

DAYS = 6


def run(lake: Path, name: str, first: str, last: str) -> Any:
    result = materialize(
        ALL_ASSETS,
        selection=[AssetKey(name)],
        resources=resources(lake, str(samples_dir() / "network" / "ip-ranges.json")),
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success
    return result


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    lake = tmp_path_factory.mktemp("detect-lake")
    simulate(lake / "landing", date(2026, 11, 1), DAYS, seed=21)
    hours = ("2026-11-01-00:00", "2026-11-06-23:00")
    days = ("2026-11-01", "2026-11-06")
    for name, window in [
        ("raw_vpc_flow_logs", hours),
        ("raw_s3_access_logs", hours),
        ("raw_cloudfront_logs", hours),
        ("raw_config_items", days),
        ("processed_config_items", days),
        ("processed_s3_access_logs", hours),
        ("processed_cloudfront_logs", hours),
        ("processed_vpc_flow_logs", hours),
        ("egress_flows_hourly", hours),
        ("egress_features", hours),
    ]:
        run(lake, name, *window)
    results = {
        "model": run(lake, "egress_model", "2026-11-04", "2026-11-06"),
        "anomalies": run(lake, "egress_anomalies", "2026-11-04-00:00", "2026-11-06-23:00"),
    }
    return lake, results


def test_model_is_trained_daily_and_backtested(detected: tuple[Path, dict[str, Any]]) -> None:
    lake, results = detected
    figures = meta(results["model"], "egress_model")
    assert figures["days"] == 3
    # Each day's model carries its own version, training rows and backtest.
    by_day = {
        str(e.partition): {k: getattr(v, "value", v) for k, v in e.metadata.items()}
        for e in results["model"].asset_materializations_for_node("egress_model")
    }
    assert set(by_day) == {"2026-11-04", "2026-11-05", "2026-11-06"}
    for day, figures in by_day.items():
        assert figures["version"] == f"egress-model-{day}" and figures["training_rows"] > 0
        assert 0 <= figures["backtest"]["share_above_upper"] <= 1
    checks = {c.check_name: c for c in results["model"].get_asset_check_evaluations()}
    assert checks[BACKTEST_CHECK].passed
    stored = pl.read_parquet(
        lake / "curated" / "egress_model" / "partition=2026-11-05" / "*.parquet"
    )
    assert stored["version"].to_list() == ["egress-model-2026-11-05"]


def test_anomalies_are_events_with_stable_ids(detected: tuple[Path, dict[str, Any]]) -> None:
    lake, results = detected
    events = results["anomalies"].asset_materializations_for_node("egress_anomalies")
    assert len(events) == 72  # one per hour, each with that hour's own figures
    checks = {c.check_name: c for c in results["anomalies"].get_asset_check_evaluations()}
    assert checks[EVENTS_CHECK].passed
    assert checks[EVENTS_CHECK].metadata["duplicate_open_events"].value == 0
    files = sorted((lake / "curated" / "egress_anomalies").glob("partition=*/*.parquet"))
    rows = pl.concat([pl.read_parquet(f) for f in files])
    by_hour = {str(e.partition): e.metadata for e in events}
    for f in files:
        hour = pl.read_parquet(f)
        key = f.parent.name.removeprefix("partition=")
        key = f"{key[:13]}:{key[13:]}"
        assert by_hour[key]["anomalies"].value == hour.filter(~pl.col("suppressed")).height
    if rows.height:
        per_event = rows.group_by("anomaly_id").agg(pl.col("onset_hour").n_unique())
        assert (
            per_event["onset_hour"].max() == 1
        )  # an event keeps its onset (and id) while it lasts
        assert set(rows["type"]) <= {"spike", "new_destination", "level_shift", "ramp"}
    before = {f.name: pl.read_parquet(f) for f in files}
    run(lake, "egress_anomalies", "2026-11-04-00:00", "2026-11-06-23:00")
    after = {f.name: pl.read_parquet(f) for f in files}
    assert all(before[k].equals(after[k]) for k in before)  # re-run: same rows, same ids
    # The planned migration (tagged egress:planned-change) is suppressed, not reported.
    planned = rows.filter(pl.col("suppressed")) if rows.height else rows
    assert all("planned-change" in (r or "") for r in planned["suppressed_reason"].to_list())


def test_missing_model_says_what_to_do(
    detected: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    lake, _ = detected
    shutil.copytree(lake, tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy" / "curated" / "egress_model")
    with pytest.raises(Exception, match="materialize egress_model"):
        materialize(
            ALL_ASSETS,
            selection=[AssetKey("egress_anomalies")],
            resources=resources(tmp_path / "copy", ""),
            instance=DagsterInstance.ephemeral(),
            tags={"dagster/partition": "2026-11-05-03:00"},
        )
