"""``egress run``: the asset graph over whatever has landed, for what is new since the last run.

Discovers every source's objects in the landing zone (AWS's native layouts), records the first
landed day as the partitions' start, works out per asset the partitions that new or changed
objects affect (from the changed raw partitions of the sources upstream of it in the asset graph,
up to the last landed hour) and materializes them layer by layer through the Dagster instance,
so lineage, `make dev` and `egress audit-lineage` see every run. The landing index is recorded
only after every step succeeded: a failed run is redone whole by the next one. A run with nothing
new does no work and writes nothing. The demo and `egress evaluate` are this command over a
simulated landing zone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from egress_platform.app.errors import StepFailed, UnusableInput
from egress_platform.lake_layout import (
    HOUR_FORMAT,
    QUARANTINE_ZONE,
    UNPARTITIONED,
    hour_keys,
    partition_path,
)
from egress_platform.settings import Settings, reload_settings
from egress_platform.sources import SOURCES
from egress_platform.sources.discover import (
    Landed,
    changed,
    discover,
    hour_start,
    unmatched_quarantine,
)

Say = Callable[[str], None]
WARMUP_DAYS = 3  # detection judges hours from the fourth landed day on (the model needs history)
# Landed flow-log bytes (gzip, or plain text at an eighth: what it would take gzipped) one
# materialization takes at most. The flow layers hold a range's shape sums in memory; when they
# held its records, 4 days of a 2,000-ENI account (13.8M records, 105 MB landed) in one range
# were killed at 23.5 GB RSS on a 24 GB machine. 256 MB is about 30M records; each step costs
# about a second per asset in Dagster's bookkeeping (make bench: 20M plain records in 6 steps
# took 25.5 s in the flow layers, 20M gzip in 2 steps 17.5 s).
STEP_FLOW_BYTES = 256 * 2**20
PLAIN_TEXT_PER_GZIP_BYTE = 8
SUMMARY_KEY = "reports/summary.json"
UNMATCHED_OBJECTS = "unmatched_objects"  # quarantine table of landed objects no source reads
GROUP_ORDER = ("raw", "processed", "egress", "detect", "respond", "report")
LAYER_TITLES = {
    "raw": "ingesting every source into the raw zone",
    "processed": "the Glue layer: processed tables, flows classified by destination",
    "egress": "pricing egress per hour and reconciling it with the CUR",
    "detect": "detection: features, a model retrained each day, hourly anomalies",
    "respond": "respond: root cause per anomaly, remediation plans, audit log, alerts",
    "report": "report: SQL views and the dashboard",
}


@dataclass
class Step:
    asset: str
    group: str
    first: str = ""
    last: str = ""
    partitioned: bool = True

    def partition_count(self) -> int:
        """How many partitions the step's range holds (hourly or daily keys)."""
        if not self.partitioned or not self.first:
            return 0
        if len(self.first) > len("YYYY-MM-DD"):
            first = datetime.strptime(self.first, HOUR_FORMAT)
            return int((datetime.strptime(self.last, HOUR_FORMAT) - first) / timedelta(hours=1)) + 1
        first_day = datetime.strptime(self.first, "%Y-%m-%d")
        return (datetime.strptime(self.last, "%Y-%m-%d") - first_day).days + 1

    def label(self) -> str:
        if not self.partitioned:
            return self.asset
        span = self.first if self.first == self.last else f"{self.first} .. {self.last}"
        return f"{self.asset}: {span}"


@dataclass
class RunOutcome:
    ran: bool
    summary: dict[str, Any]
    summary_uri: str = ""
    checks_ok: bool = True
    steps: list[dict[str, Any]] = field(default_factory=list)


def configure(landing: str, lake: str | None, base: Settings | None = None) -> Settings:
    """The settings pointed at this landing zone and lake (a folder or ``s3://bucket/prefix``);
    the environment is left as it is."""
    base = base or reload_settings()
    over: dict[str, Any] = {}
    if landing.startswith("s3://"):
        bucket, _, prefix = landing[5:].partition("/")
        over |= {"profile": "aws", "raw_bucket": bucket}
        over["landing_prefix"] = prefix.rstrip("/") + "/" if prefix else ""
    else:
        path = Path(landing).expanduser().resolve()
        if not path.is_dir():
            raise UnusableInput(
                f"landing zone {landing} is not a folder; pass --landing DIR|s3://…"
            )
        over["landing_dir"] = path
    if lake:
        if lake.startswith("s3://"):
            bucket, _, prefix = lake[5:].partition("/")
            over |= {"lake_bucket": bucket, "lake_prefix": prefix.strip("/") or "lake"}
        else:
            over["lake_dir"] = Path(lake).expanduser().resolve()
    return base.model_copy(update=over)


def dagster_instance(settings: Settings, home: Path | None = None) -> Any:
    """The persistent instance (``DAGSTER_HOME``, default ``<lake>/.dagster``) `make dev` shows."""
    from dagster import DagsterInstance

    from egress_platform.app.event_log import ensure_instance_settings

    home = home or Path(os.environ.get("DAGSTER_HOME") or settings.lake_root() / ".dagster")
    try:
        ensure_instance_settings(home)
    except OSError as exc:
        raise UnusableInput(f"cannot write the Dagster instance at {home}: {exc.strerror}") from exc
    return DagsterInstance.from_config(str(home))


def quiet_dagster() -> None:
    """Dagster's beta/preview warnings say nothing to a user of the command line."""
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    warnings.filterwarnings("ignore", message=r".*[Ss]upersession.*")


def one_planned_event_per_range() -> None:
    """A range runs as one run: record one "planned" event for it per asset, not one per
    partition (Dagster's switch for single-run backfills). Each event is its own sqlite
    transaction; per partition and asset this halves the bookkeeping that costs more than the
    work on small partitions. What it gives up: a failed run does not mark its partitions
    failed in Dagit (they stay missing), and `egress run` says which step failed and redoes it
    on the next run. Only this process: `dagster dev`'s automation keeps per-partition events.
    """
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")


def run_landing(
    landing_uri: str,
    lake_uri: str | None,
    say: Say,
    since: date | None = None,
    until: date | None = None,
    dagster_home: Path | None = None,
) -> RunOutcome:
    """Process what is new in the landing zone; return the summary (also written to the lake)."""
    from resources.lake import to_parquet
    from resources.profiles import resources_for
    from resources.run_state import (
        LANDING_INDEX_KEY,
        PARTITIONS_KEY,
        LakeBusy,
        lake_lock,
        read_state,
        write_state,
    )

    quiet_dagster()
    one_planned_event_per_range()
    began = time.monotonic()
    settings = configure(landing_uri, lake_uri)
    resources = resources_for(settings=settings)
    landing = resources["landing"]
    try:
        listing = landing.list_landed()
    except Exception as exc:  # a missing folder or bucket, no credentials, access denied
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise UnusableInput(f"cannot list the landing zone {landing_uri}: {reason}") from exc
    landed = discover(listing, lambda key: landing.store_for(key).read(key), since, until)
    if landed.object_count == 0:
        raise UnusableInput(
            f"no AWS log objects found under {landing_uri} (expected AWSLogs/<account>/..., cur/, "
            "s3-access-logs/, cloudfront-logs/ or cost-explorer/ in AWS's own key layouts)"
        )
    store = resources["lake"].store()
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(lake_lock(store))
        except LakeBusy as exc:
            raise UnusableInput(str(exc)) from None
        recorded = read_state(store, LANDING_INDEX_KEY)
        current = landed.digests()
        todo = changed(current, recorded.get("partitions", {}))
        say(_landed_line(landed, todo))
        quarantine = resources["lake"].quarantine_store()
        unmatched_key = partition_path(QUARANTINE_ZONE, UNMATCHED_OBJECTS, UNPARTITIONED)
        if landed.unmatched:
            quarantine.write(unmatched_key, to_parquet(unmatched_quarantine(landed)))
            say(
                f"      {len(landed.unmatched)} objects under the log prefixes match no AWS layout, "
                f"e.g. {landed.unmatched[0][0]}: not ingested, listed with the reason in "
                f"{quarantine.uri(unmatched_key)}"
            )
        else:
            quarantine.delete(unmatched_key)
        if not any(todo.values()):
            say("nothing new since the last run: no work done")
            previous = read_state(store, SUMMARY_KEY)
            return RunOutcome(ran=False, summary=previous, summary_uri=store.uri(SUMMARY_KEY))

        first_day = landed.days()[0]
        start = read_state(store, PARTITIONS_KEY).get("start")
        if not start or str(first_day) < start:
            write_state(store, PARTITIONS_KEY, {"start": str(first_day)})
            start = str(first_day)
        if not settings.partitions_start and "assets.partitions" not in sys.modules:
            os.environ["EGRESS_PARTITIONS_START"] = start  # read once, when the assets load below
            reload_settings()

        from egress_platform.app.definitions import ALL_ASSETS, defs

        loaded_start = _loaded_start()
        if loaded_start > start:
            raise UnusableInput(
                f"this process loaded partitions starting {loaded_start}, but data starts {start}; "
                "run the command again in a new process"
            )
        instance = dagster_instance(settings, dagster_home)
        lake_tag = store.uri("")
        for note in clear_interrupted(
            instance, lake_tag, [store, resources["lake"].quarantine_store()]
        ):
            say(note)
        steps = plan_steps(defs.resolve_asset_graph(), landed, todo, instance, start)
        blocking = {c.name for a in ALL_ASSETS for c in a.check_specs if c.blocking}
        outcome = RunOutcome(ran=True, summary={})
        results: dict[str, dict[str, Any]] = {}
        group = ""
        layers = [g for g in GROUP_ORDER if any(s.group == g for s in steps)]
        for step in steps:
            if step.group != group:
                group = step.group
                say(f"[{layers.index(group) + 1}/{len(layers)}] {LAYER_TITLES[group]}")
            t = time.monotonic()
            say(f"      {step.label()} ...")
            with StepProgress(say, partitions=step.partition_count()) as shown:
                meta = materialize_step(ALL_ASSETS, resources, instance, step, lake_tag, shown)
            seconds = round(time.monotonic() - t, 1)
            outcome.checks_ok &= bool(meta.get("check_passed", True))
            stopped = [n for n, ok in meta.get("checks", {}).items() if not ok and n in blocking]
            if stopped:  # what comes after would be built on data the check refused
                raise StepFailed(
                    f"{step.label()}: the blocking check {', '.join(stopped)} failed, so the "
                    "layers after it were not run; its metadata in `make dev` names the "
                    "partitions and problems"
                )
            if step.asset in results:  # a range taken in several steps: its counts add up
                total = round(seconds + results[step.asset]["seconds"], 1)
                results[step.asset] = add_counts(results[step.asset], meta) | {"seconds": total}
            else:
                results[step.asset] = meta | {"seconds": seconds}
            outcome.steps.append(
                {"asset": step.asset, "first": step.first, "last": step.last, "seconds": seconds}
            )
            say(f"            {_step_line(step.asset, meta)} in {seconds:.1f}s")
        _start_responses(resources, [s for s in steps if s.asset == "egress_anomalies"], say)
        merged = recorded.get("partitions", {})
        for source, parts in current.items():
            merged.setdefault(source, {}).update(parts)
        write_state(store, LANDING_INDEX_KEY, {"partitions": merged})
        summary = build_summary(resources["lake"], landed, results, outcome.steps)
        summary["seconds"] = round(time.monotonic() - began, 1)
        outcome.summary = summary
        outcome.summary_uri = write_summary(resources["lake"], summary)
        return outcome


def _start_responses(resources: dict[str, Any], judged: list[Step], say: Say) -> None:
    """One response workflow per anomaly first reported in the judged hours (a Step Functions
    execution named after the anomaly on AWS: a repeat run starts nothing twice)."""
    from assets.respond import start_responses

    started = []
    for step in judged:
        keys = hour_keys(hour_start(step.first), hour_start(step.last))
        started += start_responses(resources["lake"], resources["workflow"], keys)
    remote = [arn for _, arn in started if arn != "in-process"]
    if remote:
        say(f"      {len(remote)} response workflows started (one per anomaly)")


def _loaded_start() -> str:
    from assets.partitions import PARTITIONS_START

    return PARTITIONS_START


def _landed_line(landed: Landed, todo: dict[str, list[str]]) -> str:
    parts = [f"{s} {len(landed.objects.get(s, {}))}" for s in SOURCES if landed.objects.get(s)]
    new = sum(len(v) for v in todo.values())
    return (
        f"landed: {landed.object_count:,} objects in partitions by source ({', '.join(parts)}); "
        f"{new} partitions new or changed since the last run"
    )


def _step_line(asset: str, meta: dict[str, Any]) -> str:
    if isinstance(meta.get("anomaly_list"), list):  # each hour lists the events open in it
        events = {a["anomaly_id"] for a in meta["anomaly_list"]}
        return f"{asset}: {len(events):,} anomalies"
    for key, label in (
        ("records", "records"),
        ("facts", "rows"),
        ("rows", "rows"),
        ("days", "days"),
        ("anomalies", "anomalies"),
        ("reports", "reports"),
        ("actions", "actions"),
        ("sent", "alerts sent"),
        ("views", "views"),
    ):
        if key in meta:
            value = meta[key]
            count = len(value) if isinstance(value, list | dict) else value
            extra = f", {meta['quarantined']:,} quarantined" if "quarantined" in meta else ""
            return f"{asset}: {count:,} {label}{extra}"
    if "bytes" in meta:
        return f"{asset}: {meta['bytes'] / 1e3:,.0f} kB"
    return f"{asset}: done"


def plan_steps(
    graph: Any, landed: Landed, todo: dict[str, list[str]], instance: Any, start: str
) -> list[Step]:
    """Each asset with the partitions that the changed raw partitions upstream of it affect.

    An hour is a partition where any hourly source delivered objects: all hourly raw assets
    cover the changed hours (a source with nothing that hour gets an empty partition, as it
    delivered nothing), and downstream hours run from the earliest change to the last landed
    hour. Hours with no objects at all are gaps: no partition, split ranges around them.
    """
    from dagster import AssetKey

    raw_source = {spec.asset_name: name for name, spec in SOURCES.items()}
    hourly = [n for n, spec in SOURCES.items() if spec.partitioning == "hourly"]
    data_hours = sorted({h for s in hourly for h in landed.hours(s)})
    changed_hours = sorted({h for s in hourly for h in todo.get(s, [])})
    data_days = sorted({h[:10] for h in data_hours} | {str(d) for d in landed.days()})
    changed_start = {n: min(hour_start(p) for p in parts) for n, parts in todo.items() if parts}
    floor = hour_start(start)
    judged_from = hour_start(str(landed.days()[0])) + timedelta(days=WARMUP_DAYS)
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    position = {k: i for i, k in enumerate(graph.toposorted_asset_keys)}
    flow_bytes = {
        part: sum(
            size if key.endswith(".gz") else size // PLAIN_TEXT_PER_GZIP_BYTE for key, size in objs
        )
        for part, objs in landed.objects.get("vpc_flow", {}).items()
    }
    steps: list[Step] = []
    for key in sorted(
        position, key=lambda k: (order.get(graph.get(k).group_name, 99), position[k])
    ):
        node = graph.get(key)
        name, group = key.to_user_string(), node.group_name
        own = raw_source.get(name.replace("processed_", "raw_", 1))
        if own is not None:  # a raw asset, or the processed asset of one source
            parts = changed_hours if own in hourly else todo.get(own, [])
            steps += [Step(name, group, a, b) for a, b in segments(parts, flow_bytes)]
            continue
        upstream = {
            raw_source[a.to_user_string()]
            for a in graph.get_ancestor_asset_keys(key)
            if a.to_user_string() in raw_source
        }
        starts = [changed_start[s] for s in upstream if s in changed_start]
        if not starts:
            continue
        lo = max(min(starts), floor)
        if node.partitions_def is None:
            steps.append(Step(name, group, partitioned=False))
            continue
        if group == "respond" or name == "egress_anomalies":
            lo = max(lo, judged_from)
        if name == "egress_model":
            done = instance.get_materialized_partitions(AssetKey(name))
            days = [
                d
                for d in data_days
                if hour_start(d) >= judged_from and (lo < hour_start(d) or d not in done)
            ]
        elif name == "cost_reconciliation":  # days the bill covers
            days = [
                d
                for d in sorted(landed.objects.get("cur", {}))
                if hour_start(d) >= lo.replace(hour=0)
            ]
        elif _is_daily(node.partitions_def):
            days = [d for d in data_days if hour_start(d) >= lo.replace(hour=0)]
        else:
            hours = [h for h in data_hours if hour_start(h) >= lo]
            steps += [Step(name, group, a, b) for a, b in segments(hours, flow_bytes)]
            continue
        steps += [Step(name, group, a, b) for a, b in segments(days)]
    return steps


def segments(
    keys: list[str], weight: dict[str, int] | None = None, most: int = STEP_FLOW_BYTES
) -> list[tuple[str, str]]:
    """Contiguous runs of sorted hourly (or daily) partition keys, as (first, last); a run is
    also cut before a key that would take its ``weight`` (landed flow-log bytes) past ``most``."""
    runs: list[tuple[str, str]] = []
    step = None
    held = 0
    for key in sorted(keys):
        step = step or (timedelta(hours=1) if len(key) > 10 else timedelta(days=1))
        size = (weight or {}).get(key, 0)
        if runs and hour_start(runs[-1][1]) + step == hour_start(key) and held + size <= most:
            runs[-1] = (runs[-1][0], key)
            held += size
        else:
            runs.append((key, key))
            held = size
    return [(_dagster_key(a), _dagster_key(b)) for a, b in runs]


def _dagster_key(key: str) -> str:
    return key if len(key) == 10 else hour_start(key).strftime(HOUR_FORMAT)


def _is_daily(partitions: Any) -> bool:
    from assets.partitions import DAILY

    return bool(
        partitions.get_serializable_unique_identifier()
        == DAILY.get_serializable_unique_identifier()
    )


def run_tags(lake: str) -> dict[str, str]:
    """Who runs a step, so a run left STARTED by a killed process can be told from a live one."""
    return {
        "egress/command": "run",
        "egress/lake": lake,
        "egress/host": socket.gethostname(),
        "egress/pid": str(os.getpid()),
    }


def clear_interrupted(instance: Any, lake: str, stores: list[Any]) -> list[str]:
    """Mark failed the runs of this lake that a killed `egress run` left STARTED, and remove
    the staged files of every run that is not in progress; one line per thing cleared.

    Called under the lake lock, so no other `egress run` of this lake is alive: its runs still
    STARTED were interrupted. Staged files of a run `dagster dev` is executing are kept.
    """
    from dagster import DagsterRunStatus, RunsFilter

    from egress_platform.lake_layout import STAGING_ZONE

    notes = []
    live = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]
    stale = instance.get_runs(
        RunsFilter(statuses=live, tags={"egress/command": "run", "egress/lake": lake})
    )
    mine = run_tags(lake)
    for run in stale:
        if all(run.tags.get(k) == mine[k] for k in ("egress/host", "egress/pid")):
            continue  # this process's own run (a caller in the same process): not interrupted
        instance.report_run_failed(run, "interrupted: the `egress run` that started it ended")
        notes.append(f"      run {run.run_id} was interrupted (its process ended): marked failed")
    staged = [(store, key) for store in stores for key, _ in store.list(STAGING_ZONE + "/")]
    for run_id in sorted({key.split("/")[1] for _, key in staged}):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        for store, key in staged:
            if key.split("/")[1] == run_id:
                store.delete(key)
        notes.append(f"      removed the unfinished output of run {run_id}")
    return notes


def step_job_name(step: Step) -> str:
    """The job a step's run is recorded under, so Dagit's Runs page says what ran (it said
    ``__ephemeral_asset_job__`` for every run): the layer, e.g. ``egress_run_processed``."""
    return f"egress_run_{step.group}"


PROGRESS_EVERY_SECONDS = 15.0  # without a terminal: a line at most this often


class StepProgress:
    """A step's progress, from the ``progress done/total what`` lines its assets log: a bar
    on a terminal (rich), otherwise a line every 15 s, so a long step is never silent and a
    short one adds nothing to a log."""

    def __init__(self, say: Say, terminal: bool | None = None, partitions: int = 0) -> None:
        self.say = say
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.started = self.last = time.monotonic()
        self.bar: Any = None
        self.task: Any = None
        self.partitions = partitions
        self.recorded_count = 0

    def recorded(self) -> None:
        """One partition's materialization recorded in the instance (Dagster's own per-partition
        bookkeeping, the last part of a long step)."""
        self.recorded_count += 1
        if self.partitions > 1:
            self.update(self.recorded_count, self.partitions, "partitions recorded")

    def __enter__(self) -> StepProgress:
        return self

    def update(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if self.terminal:
            if self.bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self.bar = Progress(
                    TextColumn("            "),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.description}"),
                    transient=True,
                )
                self.bar.start()
                self.task = self.bar.add_task(what, total=total)
            self.bar.update(self.task, completed=done, total=total, description=what)
        elif now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            self.say(f"            {done:,}/{total:,} {what} ({now - self.started:.0f}s)")

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _progress_logger(shown: StepProgress | None) -> Any:
    """A Dagster logger that turns the step's progress lines into ``shown`` (and drops the
    rest: the run's full log is in the instance, for `make dev`)."""
    import logging

    from dagster import logger

    from egress_platform.progress import parse_progress

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if shown is None:
                return
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            if getattr(event, "event_type_value", "") == "ASSET_MATERIALIZATION":
                shown.recorded()
                return
            found = parse_progress(str(meta.get("orig_message") or ""))
            if found is not None:
                shown.update(*found)

    def progress(_init_context: Any) -> logging.Logger:
        log = logging.getLogger(f"egress.progress.{id(shown)}")
        log.setLevel(logging.DEBUG)  # Dagster's events arrive at DEBUG
        log.handlers = [Forward()]
        log.propagate = False
        return log

    return logger(None, description="`egress run`'s progress bars")(progress)


def materialize_step(
    assets: list[Any],
    resources: dict[str, Any],
    instance: Any,
    step: Step,
    lake: str = "",
    shown: StepProgress | None = None,
) -> dict[str, Any]:
    from dagster import AssetSelection, Definitions, define_asset_job

    tags = (
        {
            "dagster/asset_partition_range_start": step.first,
            "dagster/asset_partition_range_end": step.last,
        }
        if step.partitioned
        else {}
    )
    name = step_job_name(step)
    job = define_asset_job(
        name,
        selection=AssetSelection.assets(step.asset),
        description=f"`egress run`'s {step.group} layer: {step.label()}",
    )
    loggers = {"progress": _progress_logger(shown)}
    result = (
        Definitions(assets=assets, jobs=[job], resources=resources, loggers=loggers)
        .resolve_job_def(name)
        .execute_in_process(
            instance=instance,
            tags=tags | run_tags(lake),
            run_config={"loggers": {"progress": {}}},
            raise_on_error=False,
        )
    )
    if not result.success:
        failures = result.get_step_failure_events()
        error = failures[0].step_failure_data.error if failures else None
        cause = error.cause if error is not None and error.cause is not None else error
        reason = cause.message.strip().splitlines()[-1] if cause is not None else "failed"
        raise StepFailed(
            f"materializing {step.label()} failed: {reason} (run {result.run_id}; `make dev`)"
        )
    events = result.asset_materializations_for_node(step.asset)
    meta = run_metadata(
        [{k: getattr(v, "value", v) for k, v in e.metadata.items()} for e in events]
    )
    meta["partitions"] = len(events)
    checks = result.get_asset_check_evaluations()
    meta["check_passed"] = all(c.passed for c in checks)
    meta["checks"] = {c.check_name: c.passed for c in checks}
    return meta


def run_metadata(partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures from its partitions' materializations, each of which carries its own
    (rows, records, anomalies opened in the hour): the counts add up."""
    return add_counts(*partitions) if partitions else {}


def add_counts(*metadata: dict[str, Any]) -> dict[str, Any]:
    """Figures of several materializations as one: counts add up (also inside a mapping of
    counts, such as records by status), lists join, a check passes when it passed in each,
    anything else is the last."""
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(k for m in metadata for k in m):
        values = [m[key] for m in metadata if key in m]
        if all(isinstance(v, bool) for v in values):
            merged[key] = all(values)
        elif all(isinstance(v, list) for v in values):
            merged[key] = [item for v in values for item in v]
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            merged[key] = sum(values)
        elif all(isinstance(v, dict) for v in values) and all(
            isinstance(x, int) and not isinstance(x, bool) for v in values for x in v.values()
        ):
            merged[key] = add_counts(*values)
        else:
            merged[key] = values[-1]
    return merged


def build_summary(
    lake: Any, landed: Landed, results: dict[str, dict[str, Any]], steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the lake holds now (all runs), plus what this run read per source."""
    import polars as pl

    from egress_platform.detect.anomalies import ANOMALY_SCHEMA, anomaly_brief, latest_rows
    from egress_platform.etl.egress_flows import top_talkers, usd_by_class
    from egress_platform.pricing.estimate import PRICED_SCHEMA
    from egress_platform.pricing.reconcile import RECONCILIATION_SCHEMA, reconciliation_summary
    from egress_platform.rca.report import REPORT_SCHEMA
    from egress_platform.remediate.run import ACTION_SCHEMA
    from resources.profiles import detection_for

    priced = lake.read_all("egress_flows_hourly", PRICED_SCHEMA)
    events = latest_rows(lake.read_all("egress_anomalies", ANOMALY_SCHEMA))
    shown = events.filter(~pl.col("suppressed")) if events.height else events
    reports = {
        r["anomaly_id"]: r
        for r in lake.read_all("rca_reports", REPORT_SCHEMA).iter_rows(named=True)
    }
    actions: dict[str, list[dict[str, Any]]] = {}
    for a in lake.read_all("remediation_actions", ACTION_SCHEMA).iter_rows(named=True):
        actions.setdefault(a["anomaly_id"], []).append(a)
    listed = []
    for a in shown.sort("onset_hour").iter_rows(named=True) if shown.height else []:
        report = reports.get(a["anomaly_id"], {})
        listed.append(
            {
                **anomaly_brief(a),
                "top_cause": report.get("top_cause"),
                "confidence": report.get("top_confidence"),
                "cause_event": report.get("top_event_name"),
                "cause_event_id": report.get("top_event_id"),
                "cause_resource": report.get("top_resource"),
                "remediation": [
                    {"action_id": x["action_id"], "action": x["action"], "status": x["status"]}
                    for x in actions.get(a["anomaly_id"], [])
                ],
            }
        )
    by_class = usd_by_class(priced) if priced.height else {}
    sources = {}
    for name, spec in SOURCES.items():
        meta = results.get(spec.asset_name)
        row: dict[str, Any] = {
            "landed_partitions": len(landed.objects.get(name, {})),
            "landed_objects": len(landed.keys(name)),
        }
        if meta:
            row |= {
                k: meta[k]
                for k in (
                    "partitions",
                    "files",
                    "records",
                    "quarantined",
                    "input_records",
                    "bytes_read",
                )
            }
            row["duplicates_dropped"] = meta.get("duplicates_dropped", 0)
            row |= {"seconds": meta["seconds"], "check_passed": meta["check_passed"]}
        sources[name] = row
    recon = reconciliation_summary(lake.read_all("cost_reconciliation", RECONCILIATION_SCHEMA))
    accounts = (
        sorted({str(a) for a in priced["account_id"].unique().to_list()}) if priced.height else []
    )
    return {
        "accounts": accounts,
        "hours": priced["hour"].n_unique() if priced.height else 0,
        "first_hour": str(priced["hour"].min()) if priced.height else None,
        "last_hour": str(priced["hour"].max()) if priced.height else None,
        "sources": sources,
        "unmatched_objects": len(landed.unmatched),
        "usd_by_destination_class": dict(sorted(by_class.items(), key=lambda kv: -kv[1])),
        "estimated_usd": round(sum(by_class.values()), 2),
        "top_talkers": top_talkers(priced)[:5] if priced.height else [],
        "reconciliation": recon,
        "detector_thresholds": detection_for(reload_settings()).detector_config().thresholds(),
        "anomalies": listed,
        "suppressed": events.height - shown.height,
        "steps": steps,
    }


def say_summary(summary: dict[str, Any], say: Say) -> None:
    say("")
    say(
        f"{'source':<14}{'landed':>8}{'partitions':>11}{'files':>8}{'records':>12}{'quarantined':>13}"
        f"{'MB read':>10}{'seconds':>9}  check"
    )
    for name, row in summary["sources"].items():
        if "records" not in row:
            say(f"{name:<14}{row['landed_objects']:>8,}{'(nothing new)':>24}")
            continue
        say(
            f"{name:<14}{row['landed_objects']:>8,}{row['partitions']:>11,}{row['files']:>8,}{row['records']:>12,}"
            f"{row['quarantined']:>13,}{row['bytes_read'] / 1e6:>10.1f}{row['seconds']:>9.1f}  "
            f"{'ok' if row['check_passed'] else 'FAILED'}"
        )
    say("")
    say(
        f"estimated egress $ by destination class ({', '.join(summary['accounts']) or 'no account'})"
    )
    for cls, usd in summary["usd_by_destination_class"].items():
        say(f"  {cls:<26}{usd:>12,.2f}")
    say(f"  {'total':<26}{summary['estimated_usd']:>12,.2f}")
    say("top talkers")
    for talker in summary["top_talkers"]:
        say(
            f"  {talker['source']:<48}{talker['dest_class']:<16}{talker['gb_out']:>10,.1f} GB"
            f"{talker['usd']:>10,.2f} $"
        )
    recon = summary["reconciliation"]
    if recon["cur_transfer_usd"]:
        say(
            f"bill reconciliation: CUR data transfer ${recon['cur_transfer_usd']:,.2f}, flows explain "
            f"${recon['estimated_usd']:,.2f} = {recon['explained_share']:.1%} "
            f"({'within' if recon['within_tolerance'] else 'OUTSIDE'} the 3% tolerance)"
        )
        if recon.get("assumed_usd"):
            say(
                f"  of which ${recon['assumed_usd']:,.2f} is traffic to destinations the logs and "
                "Config cannot place (class unknown), priced at its most likely rate"
            )
        for line in recon.get("by_usage_type", []):
            if abs(line["unexplained_usd"]) >= 0.01 or line["assumed_usd"] >= 0.01:
                say(
                    f"  {line['usage_types'] or line['transfer_class']:<34}bill {line['cur_usd']:>10,.2f}"
                    f"  explained {line['explained_usd']:>10,.2f}  assumed {line['assumed_usd']:>8,.2f}"
                    f"  unexplained {line['unexplained_usd']:>9,.2f}"
                )
    else:
        say("bill reconciliation: no CUR data-transfer lines landed")
    limits = summary.get("detector_thresholds") or {}
    if limits:
        say(
            f"an anomaly costs over {limits['margin_over_upper_bound']}x the model's upper bound "
            f"and at least ${limits['min_extra_usd_per_hour']:.2f}/h and "
            f"{limits['min_extra_share_of_account']:.1%} of the account's expected $/h more "
            "than expected (EGRESS_MIN_EXTRA_USD_PER_HOUR, EGRESS_MIN_EXTRA_SHARE_OF_ACCOUNT)"
        )
    if not summary["anomalies"]:
        say("no anomalies found")
        return
    say("anomalies found (onset, entity, class, type, extra $/h, projected $/month, severity)")
    for a in summary["anomalies"]:
        say(
            f"  {a['onset'][:16]}  {a['entity']:<28}{a['dest_class']:<14}{a['type']:<17}"
            f"{a['extra_usd_per_hour']:>8.3f}{a['projected_extra_usd_per_month']:>10,.0f}  {a['severity']}"
        )
    planned = [
        x["action_id"]
        for a in summary["anomalies"]
        for x in a["remediation"]
        if x["status"] == "planned"
    ]
    hint = (
        f"`egress approve {planned[0]}` applies that planned action"
        if planned
        else ("no planned action to approve: recommendations are made by hand")
    )
    say(f"root causes and remediation (dry run; {hint})")
    for a in summary["anomalies"]:
        event = f"{a['cause_event']} on " if a["cause_event"] else ""
        confidence = f" ({a['confidence']:.0%})" if a["confidence"] is not None else ""
        say(f"  {a['entity']:<28} {a['top_cause']}{confidence}: {event}{a['cause_resource']}")
        for action in a["remediation"]:
            say(f"      {action['status']:<18}{action['action']:<36}{action['action_id']}")


def write_summary(lake: Any, summary: dict[str, Any]) -> str:
    store = lake.store()
    store.write(
        "reports/summary.json", (json.dumps(summary, indent=2, default=str) + "\n").encode()
    )
    return str(store.uri("reports/summary.json"))


def utc_now() -> datetime:
    return datetime.now(UTC)
