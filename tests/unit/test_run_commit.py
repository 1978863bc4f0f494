"""A run's output becomes visible only when it is complete (issue 16, item 10): a run killed
mid-write leaves no partition behind and is marked failed by the next `egress run`, a read of
a partition never written names it, and two runs of one lake cannot both write."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    DagsterRunStatus,
    HourlyPartitionsDefinition,
    asset,
    materialize,
)

from egress_platform.app.errors import UnusableInput
from egress_platform.app.run import clear_interrupted, run_landing
from egress_platform.lake_layout import STAGING_ZONE
from resources.lake import LocalLakeIOManager, MissingPartition
from resources.run_state import LOCK_KEY, LakeBusy, lake_lock
from resources.storage import LocalStore

REPO = Path(__file__).resolve().parents[2]
HOURS = ["2026-01-01-00:00", "2026-01-01-01:00", "2026-01-01-02:00"]

# Materializes three hourly partitions of a curated asset through the lake's IO manager, with
# the tags `egress run` puts on its runs; the third file's write never returns (the process is
# killed there), after the first two told the test they are on disk.
WRITER = textwrap.dedent(
    """
    import itertools, sys, time
    from pathlib import Path
    import polars as pl
    from dagster import (AssetExecutionContext, DagsterInstance, HourlyPartitionsDefinition,
                         asset, materialize)
    from egress_platform.app.run import run_tags
    from resources.lake import LocalLakeIOManager
    from resources.storage import LocalStore

    lake, home, ready = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    real_write, written, calls = LocalStore.write, [], itertools.count()

    def slow_write(self, key, data):  # the third write hangs once the other two are done
        if next(calls) == 2:
            while len(written) < 2:
                time.sleep(0.01)
            ready.write_text("2")
            time.sleep(600)
        real_write(self, key, data)
        written.append(key)

    LocalStore.write = slow_write

    @asset(partitions_def=HourlyPartitionsDefinition(start_date="2026-01-01-00:00"))
    def toy_hourly(context: AssetExecutionContext) -> dict:
        return {k: pl.DataFrame({"hour": [k]}) for k in context.partition_keys}

    materialize(
        [toy_hourly],
        resources={"io_manager": LocalLakeIOManager(root=lake)},
        instance=DagsterInstance.from_config(home),
        tags={
            "dagster/asset_partition_range_start": "2026-01-01-00:00",
            "dagster/asset_partition_range_end": "2026-01-01-02:00",
        }
        | run_tags(LocalStore(Path(lake)).uri("")),
    )
    """
)


@asset(partitions_def=HourlyPartitionsDefinition(start_date=HOURS[0]))
def toy_hourly(context: AssetExecutionContext) -> dict[str, pl.DataFrame]:
    return {k: pl.DataFrame({"hour": [k]}) for k in context.partition_keys}


def visible_parts(lake: Path) -> list[str]:
    return sorted(
        p.relative_to(lake).as_posix()
        for p in lake.rglob("*.parquet")
        if not p.relative_to(lake).as_posix().startswith(STAGING_ZONE)
    )


def test_a_run_killed_mid_write_shows_nothing_and_the_next_run_marks_it_failed(
    tmp_path: Path,
) -> None:
    lake, home, ready = tmp_path / "lake", tmp_path / "home", tmp_path / "ready"
    lake.mkdir()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(lake), str(home), str(ready)],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None, writer.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the writer never reached its third file"
            time.sleep(0.2)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()

    store = LocalStore(lake)
    staged = [k for k, _ in store.list(STAGING_ZONE + "/")]
    assert len(staged) == 2, staged  # two of three partitions were written, none is visible
    assert visible_parts(lake) == []
    instance = DagsterInstance.from_config(str(home))
    (run,) = instance.get_runs()
    assert run.status == DagsterRunStatus.STARTED  # what the killed process left

    notes = clear_interrupted(instance, store.uri(""), [store])

    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE  # type: ignore[union-attr]
    assert notes == [
        f"      run {run.run_id} was interrupted (its process ended): marked failed",
        f"      removed the unfinished output of run {run.run_id}",
    ]
    assert store.list(STAGING_ZONE + "/") == []
    assert clear_interrupted(instance, store.uri(""), [store]) == []  # nothing twice


def test_a_failed_write_removes_what_it_staged_and_a_good_one_moves_all_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = LocalStore.write
    calls: list[str] = []

    def failing_write(self: LocalStore, key: str, data: bytes) -> None:
        calls.append(key)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(self, key, data)

    io_manager = LocalLakeIOManager(root=str(tmp_path))
    tags = {
        "dagster/asset_partition_range_start": HOURS[0],
        "dagster/asset_partition_range_end": HOURS[-1],
    }
    with monkeypatch.context() as patch:
        patch.setattr(LocalStore, "write", failing_write)
        failed = materialize(
            [toy_hourly], resources={"io_manager": io_manager}, tags=tags, raise_on_error=False
        )
    assert not failed.success
    assert list(tmp_path.rglob("*.parquet")) == []  # neither visible nor left staged

    assert materialize([toy_hourly], resources={"io_manager": io_manager}, tags=tags).success
    assert visible_parts(tmp_path) == [
        f"curated/toy_hourly/partition={h.replace(':', '')}/part-00000.parquet" for h in HOURS
    ]
    assert not (tmp_path / STAGING_ZONE).exists()  # the staging folders went with their files


def test_reading_a_partition_never_written_says_which_and_what_to_do(tmp_path: Path) -> None:
    lake = LocalLakeIOManager(root=str(tmp_path))
    with pytest.raises(MissingPartition) as raised:
        lake.read_partitions("egress_flows_hourly", HOURS)
    assert str(raised.value) == (
        "egress_flows_hourly has no materialized partition 2026-01-01-00:00 and 2 more: "
        "materialize egress_flows_hourly for those partitions first (or run `egress run`)"
    )


def test_a_second_run_of_a_lake_is_refused_while_one_holds_it(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    flow_log = (
        landing
        / "AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/01/01"
        / "111122223333_vpcflowlogs_us-east-1_fl-0a1b2c3d_20260101T0005Z_hash.log.gz"
    )
    flow_log.parent.mkdir(parents=True)
    flow_log.write_bytes(b"")
    store = LocalStore(lake)
    with lake_lock(store):
        holder = store.read(LOCK_KEY).decode()
        assert f'"pid": {os.getpid()}' in holder
        with pytest.raises(LakeBusy), lake_lock(store):
            pass  # a second holder, even in the same process, is refused
        with pytest.raises(UnusableInput) as raised:
            run_landing(str(landing), str(lake), say=lambda line: None)
    assert str(raised.value).startswith(f"another `egress run` (pid {os.getpid()} on ")
    assert str(raised.value).endswith(
        f"is processing the lake {lake}; wait for it to finish "
        "(two runs of the same partitions would overwrite each other)"
    )
    with lake_lock(store):  # released when its holder ended
        pass


def test_a_runs_figures_add_up_what_each_partition_or_step_carries() -> None:
    from egress_platform.app.run import add_counts, run_metadata

    hours = [{"rows": 3, "estimated_usd": 1.5, "network_metadata": "from Config"}, {"rows": 4}]
    assert run_metadata(hours) == {
        "rows": 7,
        "estimated_usd": 1.5,
        "network_metadata": "from Config",
    }
    # Two hours that happen to hold the same figures are still two hours.
    hour = {"records": 272, "quarantined": 0, "by_status": {"planned": 1}}
    assert run_metadata([hour, dict(hour)]) == {
        "records": 544,
        "quarantined": 0,
        "by_status": {"planned": 2},
    }
    steps = add_counts(
        {"records": 10, "check_passed": True, "variants": {"a": 1}, "listed": ["x"]},
        {"records": 10, "check_passed": False, "variants": {"b": 2}, "listed": ["x", "y"]},
    )
    assert steps == {
        "records": 20,
        "check_passed": False,
        "variants": {"a": 1, "b": 2},
        "listed": ["x", "x", "y"],
    }
