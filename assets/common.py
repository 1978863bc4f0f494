"""What every lake-backed asset shares: partitioned Parquet through the ``lake`` IO manager."""

import hashlib
import inspect
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    FreshnessPolicy,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

OWNERS = ["team:egress-platform"]
# An hour's logs land within about 15 minutes of its end and one run takes it to the alert:
# warn when the last materialization is two hours old, fail at three.
HOURLY_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=3), warn_window=timedelta(hours=2)
)


PROJECT_PACKAGES = ("egress_platform", "assets", "resources")


@cache
def _project_imports(module_name: str, packages: tuple[str, ...]) -> frozenset[str]:
    """The project modules a module uses: those of the functions, classes, modules and objects
    its namespace holds (what its imports bound)."""
    found = set()
    for value in list(vars(sys.modules[module_name]).values()):
        module = _module_of(value)
        if module is not None and module.__name__.split(".")[0] in packages:
            found.add(module.__name__)
    found.discard(module_name)
    return frozenset(found)


@cache
def _module_digest(module_name: str) -> bytes:
    """A module's source (and the SQL files beside it, which it may read), hashed once."""
    digest = hashlib.sha256(module_name.encode())
    path = getattr(sys.modules[module_name], "__file__", None)
    if path:
        digest.update(Path(path).read_bytes())
        for sql in sorted(Path(path).parent.glob("*.sql")):
            digest.update(sql.read_bytes())
    return digest.digest()


def _module_of(value: Any) -> ModuleType | None:
    if isinstance(value, ModuleType):
        return value
    return inspect.getmodule(value) or inspect.getmodule(type(value))


def code_version_of(fn: Callable[..., Any], packages: tuple[str, ...] = PROJECT_PACKAGES) -> str:
    """A digest of the code an asset runs: its own function, the functions and classes of its
    module that it uses (recursively), and every project module it uses from elsewhere with
    the project modules those import. An edit to one asset, or to a module only other assets
    use, leaves this asset's version alone; each materialization records it (the lineage
    audit prints it)."""
    home = sys.modules[fn.__module__]
    sources: dict[str, str] = {}
    modules: set[str] = set()
    todo: list[Any] = [fn]
    while todo:
        item = todo.pop()
        name = f"{getattr(item, '__module__', '')}.{getattr(item, '__qualname__', '')}"
        if name in sources:
            continue
        sources[name] = inspect.getsource(item)
        if inspect.isclass(item):  # its methods, each for what it uses
            todo.extend(v for v in vars(item).values() if inspect.isfunction(v))
            continue
        used = inspect.getclosurevars(item)
        for value in [*used.globals.values(), *used.nonlocals.values()]:
            module = _module_of(value)
            if module is None or module.__name__.split(".")[0] not in packages:
                continue
            if module is home and (inspect.isfunction(value) or inspect.isclass(value)):
                todo.append(value)
            elif module is not home:
                modules.add(module.__name__)
    closure: set[str] = set()
    while modules:
        module_name = modules.pop()
        if module_name not in closure:
            closure.add(module_name)
            modules |= _project_imports(module_name, packages) - closure
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(sources[name].encode())
    for module_name in sorted(closure):
        digest.update(_module_digest(module_name))
    return digest.hexdigest()[:12]


def asset_from_code(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """``@asset`` with the ``code_version`` of the code the decorated function runs."""

    def decorate(fn: Callable[..., Any]) -> AssetsDefinition:
        return asset(code_version=code_version_of(fn), **kwargs)(fn)

    return decorate


CONFIG_ITEMS = "processed_config_items"


def _not_blocked(may_be_missing: tuple[str, ...]) -> AutomationCondition:
    missing = AutomationCondition.any_deps_missing()
    if may_be_missing:
        missing = missing.ignore(AssetSelection.assets(*may_be_missing))
    return (
        ~missing & ~AutomationCondition.any_deps_in_progress() & ~AutomationCondition.in_progress()
    )


def after_upstream(*may_be_missing: str) -> AutomationCondition:
    """An hour's (or day's) partition runs once what it reads was updated, or will be in the same
    tick, and none of it is missing or in progress: one landed hour becomes one run from the
    processed layer to the alert. Any hour, not only the latest, so late and out-of-order
    deliveries count. ``may_be_missing``: inputs read as of their latest state (Config items of
    a day that has not landed yet), which must not hold the partition back."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled() & _not_blocked(may_be_missing)
    ).with_label("after_upstream")


def after_upstream_done(*may_be_missing: str) -> AutomationCondition:
    """Like :func:`after_upstream` but only once the inputs were really written: for a partition
    that cannot share the upstream run (a day over hourly inputs, an unpartitioned report)."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (updated.since_last_handled() & _not_blocked(may_be_missing)).with_label(
        "after_upstream_done"
    )


def after_any_update() -> AutomationCondition:
    """An unpartitioned report over the whole lake: refresh when anything under it was written."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (
        updated.since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after_any_update")


def when_first_needed() -> AutomationCondition:
    """A day's model: trained once, when the day's first features were written (retrain_daily and
    `egress run` retrain it when its history changes)."""
    updated = AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
    return (
        AutomationCondition.missing()
        & updated.since_last_handled()
        & ~AutomationCondition.in_progress()
    ).with_label("when_first_needed")


def lake_asset(
    group: str,
    partitions: PartitionsDefinition,
    kinds: set[str],
    automation: AutomationCondition | None = None,
) -> dict[str, Any]:
    """``@asset`` arguments for a partitioned lake asset; a backfill runs as one run. Raw assets
    have no condition: the landing sensor requests them when objects land."""
    return {
        "automation_condition": automation,
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "io_manager_key": "lake",
        "group_name": group,
        "owners": OWNERS,
        "kinds": kinds,
    }


def each_partition(
    context: AssetExecutionContext, figures: Mapping[str, Mapping[str, Any]], totals: str = ""
) -> None:
    """Each partition's materialization carries its own figures (a backfill of 504 hours in one
    run must not show the run's totals on every hour as if they were its own); the run's
    totals, if any, go to the run's log."""
    for key, metadata in figures.items():
        context.add_asset_metadata(dict(metadata), partition_key=key)
    if totals:
        context.log.info(f"run totals: {totals}")


def check_result(name: str, problems: Mapping[str, Mapping[str, int]]) -> AssetCheckResult:
    """A check over a run's partitions: passed when no partition has any problem; the metadata
    gives each problem's count and the partitions that have one (the first 20)."""
    totals: dict[str, int] = {}
    for found in problems.values():
        for problem, count in found.items():
            totals[problem] = totals.get(problem, 0) + count
    failing = [k for k, found in problems.items() if any(found.values())]
    return AssetCheckResult(
        check_name=name,
        passed=not failing,
        metadata={
            **totals,
            "partitions_checked": len(problems),
            "failing_partitions": MetadataValue.json(failing[:20]),
        },
    )
