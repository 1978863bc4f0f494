"""``make demo``: simulate an account, then ingest every source through Dagster and summarise."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from egress_platform.sources import SOURCES

Say = Callable[[str], None]


def dagster_instance(lake: Path) -> Any:
    """The persistent instance under the lake, so `make dev` shows the demo's runs and lineage."""
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(lake / ".dagster")))
    home.mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


def materialize_source(asset_name: str, first: str, last: str, instance: Any) -> dict[str, Any]:
    """Materialize one raw asset over a partition range in a single run; return its metadata."""
    from dagster import materialize

    from assets.raw import RAW_ASSETS
    from egress_platform.definitions import defs

    assets = [a for a in RAW_ASSETS if a.key.path[-1] == asset_name]
    result = materialize(
        assets,
        resources=defs.resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if not result.success:
        raise RuntimeError(f"materializing {asset_name} failed; see the run in `make dev`")
    event = result.asset_materializations_for_node(asset_name)[0]
    meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    checks = result.get_asset_check_evaluations()
    meta["check_passed"] = all(c.passed for c in checks)
    return meta


def run_demo(start: date, days: int, seed: int, say: Say) -> int:
    from egress_platform.simulate import simulate
    from resources.profiles import lake_dir

    lake = lake_dir()
    landing = lake / "landing"
    say(f"[1/2] simulating {days} days of account activity into {landing} (seed {seed})")
    t0 = time.monotonic()
    sim = simulate(landing, start, days, seed, progress=lambda m: say(f"      {m}"))
    say(
        f"      account {sim.account_id}, {sim.incidents} incidents injected, {time.monotonic() - t0:.1f}s"
    )

    instance = dagster_instance(lake)
    say(
        f"[2/2] ingesting every source into the raw zone through Dagster (instance {instance.root_directory})"
    )
    end = start + timedelta(days=days - 1)
    rows = []
    for i, spec in enumerate(SOURCES.values(), start=1):
        first, last = (
            (f"{start}-00:00", f"{end}-23:00")
            if spec.partitioning == "hourly"
            else (str(start), str(end))
        )
        t = time.monotonic()
        say(f"      ({i}/{len(SOURCES)}) {spec.asset_name}: partitions {first} .. {last} ...")
        meta = materialize_source(spec.asset_name, first, last, instance)
        elapsed = time.monotonic() - t
        rows.append((spec.name, meta, elapsed))
        say(
            f"            {meta['records']:,} records, {meta['quarantined']:,} quarantined in {elapsed:.1f}s"
        )

    say("")
    say(
        f"{'source':<14}{'partitions':>11}{'files':>8}{'records':>12}{'quarantined':>13}{'MB read':>10}{'seconds':>9}  check"
    )
    for name, meta, elapsed in rows:
        say(
            f"{name:<14}{meta['partitions']:>11,}{meta['files']:>8,}{meta['records']:>12,}{meta['quarantined']:>13,}"
            f"{meta['bytes_read'] / 1e6:>10.1f}{elapsed:>9.1f}  {'ok' if meta['check_passed'] else 'FAILED'}"
        )
    say(
        f"\nraw zone: {lake / 'raw'}   quarantine: {lake / 'quarantine'}   ground truth: {landing / 'ground_truth.json'}"
    )
    say("browse the assets, partitions and checks with `make dev`")
    return 0 if all(meta["check_passed"] for _, meta, _ in rows) else 1
