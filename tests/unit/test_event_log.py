"""The Dagster home `egress` writes, and its event log with connections held open."""

from pathlib import Path

from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    HourlyPartitionsDefinition,
    asset,
    materialize,
)

from egress_platform.app.event_log import (
    EARLIER_SETTINGS,
    INSTANCE_MARK,
    OPEN_RUN_SHARDS,
    HeldSqliteEventLogStorage,
    ensure_instance_settings,
    instance_settings,
)

HOURS = HourlyPartitionsDefinition(start_date="2026-11-01-00:00", end_date="2026-11-02-00:00")


@asset(partitions_def=HOURS)
def hourly_rows(context: AssetExecutionContext) -> None:
    for key in context.partition_keys:
        context.add_asset_metadata({"hour": int(key[-5:-3])}, partition_key=key)


def test_a_new_or_earlier_home_gets_this_event_log_and_a_users_own_file_is_kept(
    tmp_path: Path,
) -> None:
    new, earlier, users = tmp_path / "new", tmp_path / "earlier", tmp_path / "users"
    ensure_instance_settings(new)
    assert (new / "dagster.yaml").read_text() == instance_settings(str(new))
    assert f"base_dir: {new}/history/runs/" in (new / "dagster.yaml").read_text()

    earlier.mkdir()
    (earlier / "dagster.yaml").write_text(EARLIER_SETTINGS)
    ensure_instance_settings(earlier)
    assert (earlier / "dagster.yaml").read_text().startswith(INSTANCE_MARK)

    users.mkdir()
    (users / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    ensure_instance_settings(users)
    assert (users / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"

    moved = tmp_path / "moved"
    new.rename(moved)
    ensure_instance_settings(moved)  # the lake moved: its event log follows it
    assert f"base_dir: {moved}/history/runs/" in (moved / "dagster.yaml").read_text()


def test_partitions_recorded_through_held_connections_are_seen_by_another_instance(
    tmp_path: Path,
) -> None:
    ensure_instance_settings(tmp_path)
    instance = DagsterInstance.from_config(str(tmp_path))
    storage = instance.event_log_storage
    assert isinstance(storage, HeldSqliteEventLogStorage)
    keys = HOURS.get_partition_keys()
    for _ in range(OPEN_RUN_SHARDS + 2):  # more runs than run databases kept open
        result = materialize(
            [hourly_rows],
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            },
        )
        assert result.success
    runs = [s for s in storage._engines if s != "index"]
    assert len(runs) == OPEN_RUN_SHARDS

    other = DagsterInstance.from_config(str(tmp_path))  # as `make dev` opens it
    assert other.get_materialized_partitions(hourly_rows.key) == set(keys)
    latest = other.get_latest_materialization_event(hourly_rows.key)
    assert latest is not None and latest.asset_materialization is not None
    assert latest.asset_materialization.partition == keys[-1]
    assert latest.asset_materialization.metadata["hour"].value == 23
    assert len(other.get_runs()) == OPEN_RUN_SHARDS + 2
    instance.wipe()  # closes the run databases before Dagster deletes their files
    assert not list((tmp_path / "history" / "runs").glob("[0-9a-f]*-*.db"))
