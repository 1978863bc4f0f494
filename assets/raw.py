"""``raw_<source>`` assets: what AWS delivered, parsed into canonical Parquet plus quarantine.

One asset per source, hourly or daily partitioned by delivery time. A backfill runs as one run
over the whole range, reading the landing listing once.
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DataVersion,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    Output,
    ResourceParam,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    define_asset_job,
    sensor,
)

from assets.common import asset_from_code, each_partition, lake_asset
from assets.partitions import partitions_for
from egress_platform.etl.flow_files import ingest_flow_shapes
from egress_platform.progress import report_progress
from egress_platform.sources import SOURCES, SourceSpec
from egress_platform.sources.discover import changed, discover
from egress_platform.sources.ingest import (
    IngestBatch,
    cur_rows_for_day,
    ingest_objects,
    ingest_partitions,
    merge_batches,
)
from egress_platform.sources.landing import partition_key, read_cur_manifest, source_prefixes
from resources.lake import LakeIOManager, LandingZone
from resources.run_state import LANDING_INDEX_KEY, read_state

BALANCE_CHECK = "records_plus_quarantined_equal_input"
FLOW_WORKERS = 2
PASS_BYTES = 16 * 2**20  # landed bytes of the partitions one parse takes together


def read_partitions(
    spec: SourceSpec, landing: LandingZone, partition_keys: list[str], log: Any = None
) -> dict[str, IngestBatch]:
    """Parse the landed objects of every requested partition (empty partitions give empty batches)."""
    listing = [o for prefix in source_prefixes(spec.name) for o in landing.list_objects(prefix)]
    if spec.name == "cur":
        return _read_cur(spec, landing, listing, partition_keys)
    wanted = set(partition_keys)
    by_partition: dict[str, list[str]] = defaultdict(list)
    sizes: dict[str, int] = defaultdict(int)
    for key, size in listing:
        part = partition_key(spec.name, key, spec.partitioning)
        if part in wanted:
            by_partition[part].append(key)
            sizes[part] += size
    if spec.parse_many is not None:
        return _read_in_passes(spec, landing, partition_keys, by_partition, sizes, log)

    def ingest(part: str) -> IngestBatch:
        keys = sorted(by_partition.get(part, []))
        if spec.name == "vpc_flow":
            return ingest_flow_shapes(partial(landing.read_many, keys))
        return ingest_objects(spec, landing.read_many(keys))

    batches: dict[str, IngestBatch] = {}
    # Flow logs: two hours at a time (the kernel, zlib and polars release the GIL), one per core.
    with ThreadPoolExecutor(FLOW_WORKERS) as pool:
        for i, (part, batch) in enumerate(
            zip(partition_keys, pool.map(ingest, partition_keys), strict=True), start=1
        ):
            batches[part] = batch
            if log is not None:
                report_progress(log.info, i, len(partition_keys), "partitions parsed")
    return batches


def _read_in_passes(
    spec: SourceSpec,
    landing: LandingZone,
    partition_keys: list[str],
    by_partition: dict[str, list[str]],
    sizes: dict[str, int],
    log: Any,
) -> dict[str, IngestBatch]:
    """Partitions parsed together, up to PASS_BYTES landed at a time (one polars pass each)."""
    passes: list[list[str]] = [[]]
    held = 0
    for part in partition_keys:
        if passes[-1] and held + sizes.get(part, 0) > PASS_BYTES:
            passes.append([])
            held = 0
        passes[-1].append(part)
        held += sizes.get(part, 0)

    def ingest(parts: list[str]) -> dict[str, IngestBatch]:
        objects = {p: list(landing.read_many(sorted(by_partition.get(p, [])))) for p in parts}
        return ingest_partitions(spec, objects)

    batches: dict[str, IngestBatch] = {}
    with ThreadPoolExecutor(FLOW_WORKERS) as pool:
        for found in pool.map(ingest, passes):
            batches.update(found)
            if log is not None:
                report_progress(log.info, len(batches), len(partition_keys), "partitions parsed")
    return batches


def _read_cur(
    spec: SourceSpec,
    landing: LandingZone,
    listing: list[tuple[str, int]],
    partition_keys: list[str],
) -> dict[str, IngestBatch]:
    """CUR files cover a billing month; each daily partition keeps that day's line items."""
    manifests = [
        read_cur_manifest(key, data)
        for key, data in landing.read_many(
            [k for k, _ in listing if partition_key("cur", k, "daily")]
        )
    ]
    parsed: dict[str, IngestBatch] = {}
    batches: dict[str, IngestBatch] = {}
    for part in partition_keys:
        day = datetime.strptime(part, "%Y-%m-%d").replace(tzinfo=UTC)
        # Several reports may cover a day (one per linked account or per report definition).
        days = []
        for manifest in (m for m in manifests if m.covers(day)):
            if manifest.key not in parsed:
                parsed[manifest.key] = ingest_objects(spec, landing.read_many(manifest.report_keys))
            days.append(cur_rows_for_day(parsed[manifest.key], day, manifest.period_start))
        batches[part] = merge_batches(spec, days)
    return batches


def batch_metadata(batches: dict[str, IngestBatch]) -> dict[str, Any]:
    """The figures of these partitions' batches together (one partition's, or a run's)."""
    records = sum(b.record_count for b in batches.values())
    quarantined = sum(b.quarantine.height for b in batches.values())
    reasons: Counter[str] = Counter()
    variants: Counter[str] = Counter()
    for b in batches.values():
        variants.update(b.variants)
        if b.quarantine.height:
            reasons.update(dict(b.quarantine.group_by("reason").len().iter_rows()))
    return {
        "records": records,
        "quarantined": quarantined,
        "duplicates_dropped": sum(b.duplicates for b in batches.values()),
        "input_records": sum(b.input_records for b in batches.values()),
        "files": sum(b.files for b in batches.values()),
        "bytes_read": sum(b.bytes_read for b in batches.values()),
        "variants": MetadataValue.json(dict(variants.most_common(10))),
        "top_quarantine_reasons": MetadataValue.json(dict(reasons.most_common(5))),
    }


def landed_version(batches: dict[str, IngestBatch]) -> DataVersion:
    """What the run read, as a data version: the landed objects (key, size) of each partition."""
    digest = hashlib.sha256()
    for key in sorted(batches):
        digest.update(key.encode())
        for obj, size in batches[key].objects:
            digest.update(f"{obj}\0{size}\n".encode())
    return DataVersion(digest.hexdigest())


def build_raw_asset(spec: SourceSpec) -> AssetsDefinition:
    @asset_from_code(
        name=spec.asset_name,
        description=(
            f"{spec.description}, parsed from the landing zone; bad records quarantined."
            + (
                " Kept as per-hour sums of distinct record shapes (one pass over the objects, "
                "each record once); the manifest lists every object with its size and CRC-32."
                if spec.name == "vpc_flow"
                else ""
            )
        ),
        **lake_asset("raw", partitions_for(spec), {"parquet", "polars"}),
        check_specs=[
            AssetCheckSpec(
                BALANCE_CHECK,
                asset=spec.asset_name,
                description="records + duplicates dropped + quarantined = input records",
            )
        ],
        tags={"source": spec.name},
    )
    def raw_asset(
        context: AssetExecutionContext, landing: LandingZone
    ) -> Iterator[Output[dict[str, IngestBatch]] | AssetCheckResult]:
        keys = list(context.partition_keys)
        batches = read_partitions(spec, landing, keys, context.log)
        metadata = batch_metadata(batches)
        unbalanced = [k for k, b in batches.items() if not b.balanced]
        each_partition(
            context,
            {k: {**batch_metadata({k: b}), "balanced": b.balanced} for k, b in batches.items()},
            f"{len(batches)} partitions, {metadata['records']:,} records, "
            f"{metadata['quarantined']:,} quarantined, {metadata['files']:,} objects",
        )
        yield Output(batches, data_version=landed_version(batches))
        yield AssetCheckResult(
            check_name=BALANCE_CHECK,
            passed=not unbalanced,
            metadata={
                "records": metadata["records"],
                "quarantined": metadata["quarantined"],
                "input_records": metadata["input_records"],
                "unbalanced_partitions": MetadataValue.json(unbalanced[:20]),
            },
        )

    return raw_asset


RAW_ASSETS = [build_raw_asset(spec) for spec in SOURCES.values()]
DAILY_RAW = [s.asset_name for s in SOURCES.values() if s.partitioning == "daily"]

raw_hourly_job = define_asset_job(
    "raw_hourly_ingest",
    selection=AssetSelection.groups("raw") - AssetSelection.assets(*DAILY_RAW),
    description="Parse the hourly-delivered sources (flow logs, S3/CloudFront access logs, CloudTrail).",
)
raw_daily_job = define_asset_job(
    "raw_daily_ingest",
    selection=AssetSelection.assets(*DAILY_RAW),
    description="Parse the daily sources (CUR, Config, Cost Explorer).",
)


@sensor(
    asset_selection=AssetSelection.groups("raw"),
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Lists the landing zone, groups the objects by source and partition (AWS's key layouts) "
        "and requests the raw partitions whose objects are new or changed since the last "
        "`egress run` or tick; the automation conditions take it from there to the alerts."
    ),
)
def landing_sensor(
    context: SensorEvaluationContext,
    landing: ResourceParam[LandingZone],
    lake: ResourceParam[LakeIOManager],
) -> SensorResult:
    seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
    recorded = read_state(lake.store(), LANDING_INDEX_KEY).get("partitions", {})
    baseline = {s: {**recorded.get(s, {}), **seen.get(s, {})} for s in {*recorded, *seen}}
    landed = discover(landing.list_landed(), lambda key: landing.store_for(key).read(key))
    current = landed.digests()
    requests = []
    for source, parts in changed(current, baseline).items():
        spec = SOURCES[source]
        partitions = partitions_for(spec)
        for part in parts:
            if not partitions.has_partition_key(part):
                context.log.warning(f"{source} objects for {part} lie outside the partitions")
                continue
            requests.append(
                RunRequest(
                    run_key=f"{source}:{part}:{current[source][part]}",
                    asset_selection=[AssetKey(spec.asset_name)],
                    partition_key=part,
                )
            )
            seen.setdefault(source, {})[part] = current[source][part]
    return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


defs = Definitions(
    assets=RAW_ASSETS, jobs=[raw_hourly_job, raw_daily_job], sensors=[landing_sensor]
)
