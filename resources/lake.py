"""Dagster resources for the landing zone and the lake, one class per profile, same keys.

``landing`` reads what AWS delivered; ``lake`` is the IO manager that writes each partition of an
asset as Parquet into its zone (``raw_*`` -> raw, with bad records in quarantine; ``processed_*``
-> processed; everything downstream -> curated), replacing the partition atomically so a re-run
gives the same result and never duplicates.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import polars as pl
from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext

from egress_platform.lake_layout import (
    MANIFEST_ZONE,
    PART_FILE,
    QUARANTINE_ZONE,
    STAGING_ZONE,
    UNPARTITIONED,
    partition_of_path,
    partition_path,
    zone_of,
)
from egress_platform.progress import report_progress
from egress_platform.sources.discover import layout_prefixes
from egress_platform.sources.ingest import IngestBatch
from egress_platform.store import Store
from resources.storage import LocalStore, S3Store

IO_THREADS = 8  # requests to the store in flight at once
# S3 server access logs cannot go to an SSE-KMS bucket and CloudFront's standard logs need ACLs,
# so on AWS these two sources land in their own log-target bucket (same key layouts).
ACCESS_LOG_PREFIXES = ("s3-access-logs/", "cloudfront-logs/")


class LandingZone(ConfigurableResource):
    """Where the sources' objects land, in AWS's own key layouts."""

    def store(self) -> Store:
        raise NotImplementedError

    def store_for(self, key: str) -> Store:
        """The store holding ``key`` (or the keys under a prefix)."""
        return self.store()

    def list_objects(self, prefix: str) -> list[tuple[str, int]]:
        return self.store_for(prefix).list(prefix)

    def read_many(self, keys: list[str]) -> Iterator[tuple[str, bytes]]:
        for key in keys:
            yield key, self.store_for(key).read(key)

    def list_landed(self) -> list[tuple[str, int]]:
        """(key, size) of every object under the prefixes AWS's layouts write to."""
        listing: set[tuple[str, int]] = set()
        for prefix in layout_prefixes():
            listing.update(self.list_objects(prefix))
        return sorted(listing)


class LocalLandingZone(LandingZone):
    root: str

    def store(self) -> Store:
        return LocalStore(Path(self.root))


class S3LandingZone(LandingZone):
    """The raw bucket; with ``access_log_bucket`` set, S3 and CloudFront access logs come from it."""

    bucket: str
    prefix: str = ""
    access_log_bucket: str = ""

    def store(self) -> Store:
        return S3Store(self.bucket, self.prefix)

    def store_for(self, key: str) -> Store:
        if self.access_log_bucket and key.startswith(ACCESS_LOG_PREFIXES):
            return S3Store(self.access_log_bucket)
        return self.store()


def to_parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


FEW_KEYS = 8  # up to this many partitions are checked one by one rather than listed


class LakeIOManager(ConfigurableIOManager):
    """Partitioned Parquet in zones; written whole per partition, read back as one LazyFrame."""

    def store(self) -> Store:
        raise NotImplementedError

    def quarantine_store(self) -> Store:
        """Where quarantined records go: the lake itself unless a quarantine bucket is set."""
        return self.store()

    def handle_output(
        self,
        context: OutputContext,
        obj: dict[str, IngestBatch] | IngestBatch | dict[str, pl.DataFrame] | pl.DataFrame,
    ) -> None:
        asset = context.asset_key.path[-1]
        zone = zone_of(asset)
        parts: dict[str, IngestBatch | pl.DataFrame] = {}
        if isinstance(obj, dict):
            parts.update(obj)
        else:
            key = context.asset_partition_key if context.has_asset_partitions else UNPARTITIONED
            parts[key] = obj
        store = self.store()
        quarantine = self.quarantine_store()
        files: list[tuple[Store, str, bytes]] = []
        for done, (partition, part) in enumerate(parts.items(), start=1):
            if len(parts) > 1:
                report_progress(context.log.info, done, len(parts), "partitions written")
            if isinstance(part, IngestBatch):
                manifest = [
                    {"key": k, "bytes": n}
                    | ({"crc32": part.checksums[k]} if k in part.checksums else {})
                    for k, n in part.objects
                ]
                files += [
                    (store, partition_path(zone, asset, partition), to_parquet(part.records)),
                    (
                        quarantine,
                        partition_path(QUARANTINE_ZONE, asset, partition),
                        to_parquet(part.quarantine),
                    ),
                    (
                        store,
                        partition_path(MANIFEST_ZONE, asset, partition, "landing.json"),
                        json.dumps({"objects": manifest}, indent=1).encode(),
                    ),
                ]
            else:
                files.append((store, partition_path(zone, asset, partition), to_parquet(part)))
        staging = f"{STAGING_ZONE}/{context.run_id}/"
        staged: list[tuple[Store, str]] = []

        def stage(file: tuple[Store, str, bytes]) -> None:
            where, key, data = file
            where.write(staging + key, data)
            staged.append((where, key))

        # Object stores answer each request in tens of milliseconds: an hourly backfill writes
        # three files per partition, so requests go out a few at a time, not one by one.
        with ThreadPoolExecutor(IO_THREADS) as pool:
            writes = [pool.submit(stage, file) for file in files]
            wait(writes)
            failed = next((w.exception() for w in writes if w.exception()), None)
            if failed is not None:  # a failed write: what was staged goes, nothing is visible
                for where, key in staged:
                    where.delete(staging + key)
                raise failed
            # Every file of the output is written before any is visible: a run killed while
            # writing leaves only its staging folder (removed by the next `egress run`).
            list(pool.map(lambda done: done[0].move(staging + done[1], done[1]), staged))

    def load_input(self, context: InputContext) -> pl.LazyFrame:
        asset = context.asset_key.path[-1]
        keys = context.asset_partition_keys if context.has_asset_partitions else [UNPARTITIONED]
        return self.read_partitions(asset, list(keys))

    def read_partitions(
        self, asset: str, keys: list[str], missing_ok: bool = False
    ) -> pl.LazyFrame:
        """Partitions of ``asset`` as one LazyFrame (``missing_ok`` skips unmaterialized ones)."""
        if missing_ok:
            keys = self.present(asset, keys)
        try:
            frames = list(self._read_files(asset, keys).values())
        except FileNotFoundError:
            self.require(asset, keys)
            raise
        return pl.concat(frames, how="vertical_relaxed").lazy() if frames else pl.LazyFrame()

    def _read_files(self, asset: str, keys: list[str]) -> dict[str, pl.DataFrame]:
        store = self.store()

        def read(key: str) -> pl.DataFrame:
            return pl.read_parquet(
                io.BytesIO(store.read(partition_path(zone_of(asset), asset, key)))
            )

        with ThreadPoolExecutor(IO_THREADS) as pool:
            return dict(zip(keys, pool.map(read, keys), strict=True))

    def read_each(
        self, asset: str, keys: list[str], schema: dict[str, pl.DataType]
    ) -> dict[str, pl.DataFrame]:
        """Each of ``keys`` as its own frame, read at once (a partition never materialized is
        an empty frame with ``schema``): for an asset that takes a range in one pass and must
        keep each partition apart."""
        found = self._read_files(asset, self.present(asset, keys))
        return {k: found[k] if k in found else pl.DataFrame(schema=schema) for k in keys}

    def read_frame(
        self, asset: str, keys: list[str], schema: dict[str, pl.DataType] | None = None
    ) -> pl.DataFrame:
        """The materialized partitions among ``keys`` as one frame (empty with ``schema`` if none)."""
        lazy = self.read_partitions(asset, keys, missing_ok=True)
        return lazy.collect() if lazy.collect_schema() else pl.DataFrame(schema=schema or {})

    def require(self, asset: str, keys: list[str]) -> None:
        """Fail, naming them, when partitions this asset reads were never materialized: a
        missing input is an error, never an empty frame priced at $0."""
        have = set(self.partitions(asset))
        missing = [k for k in keys if k not in have]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise MissingPartition(
                f"{asset} has no materialized partition {missing[0]}{more}: materialize "
                f"{asset} for those partitions first (or run `egress run`)"
            )

    def days_through(self, asset: str, last_day: str) -> list[str]:
        """The daily partitions of ``asset`` written so far, up to ``last_day``: Config items
        describe the state each resource was last seen in, which may be days before."""
        return [d for d in self.partitions(asset) if d <= last_day]

    def present(self, asset: str, keys: list[str]) -> list[str]:
        """The materialized partitions among ``keys``: a few are looked up one by one, a window
        by one listing (an hourly asset of a month holds 700 partitions: listing all of them
        to read one hour cost 40 ms a call)."""
        if len(keys) > FEW_KEYS:
            have = set(self.partitions(asset))
            return [k for k in keys if k in have]
        store = self.store()
        return [k for k in keys if store.exists(partition_path(zone_of(asset), asset, k))]

    def partitions(self, asset: str) -> list[str]:
        """The partition keys of ``asset`` written to the lake, in order."""
        found = self.store().list(f"{zone_of(asset)}/{asset}/")
        return sorted(partition_of_path(key) for key, _ in found if key.endswith(PART_FILE))

    def read_all(self, asset: str, schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
        """Every written partition of ``asset`` as one frame."""
        return self.read_frame(asset, self.partitions(asset), schema)

    def landing_objects(self, asset: str, partition: str) -> list[dict[str, object]]:
        """The landed objects a raw partition was parsed from, as recorded when it was written."""
        path = partition_path(MANIFEST_ZONE, asset, partition, "landing.json")
        store = self.store()
        if not store.exists(path):
            return []
        objects: list[dict[str, object]] = json.loads(store.read(path))["objects"]
        return objects

    def read_partition(self, zone: str, asset: str, partition: str) -> pl.DataFrame:
        store = self.quarantine_store() if zone == QUARANTINE_ZONE else self.store()
        return pl.read_parquet(io.BytesIO(store.read(partition_path(zone, asset, partition))))


class MissingPartition(LookupError):
    """An upstream partition an asset needs was never written to the lake."""


class LocalLakeIOManager(LakeIOManager):
    root: str

    def store(self) -> Store:
        return LocalStore(Path(self.root))


class S3LakeIOManager(LakeIOManager):
    """The lake in S3; with ``glue_database`` set, each written table is in the Glue catalog."""

    bucket: str
    prefix: str = "lake"
    glue_database: str = ""
    region_name: str = "us-east-1"
    quarantine_bucket: str = ""

    def store(self) -> Store:
        return S3Store(self.bucket, self.prefix)

    def quarantine_store(self) -> Store:
        return S3Store(self.quarantine_bucket) if self.quarantine_bucket else self.store()

    def handle_output(
        self,
        context: OutputContext,
        obj: dict[str, IngestBatch] | IngestBatch | dict[str, pl.DataFrame] | pl.DataFrame,
    ) -> None:
        super().handle_output(context, obj)
        if not self.glue_database:
            return
        import boto3

        from resources.catalog import GlueCatalog

        asset = context.asset_key.path[-1]
        parts = obj if isinstance(obj, dict) else {"": obj}
        first = next(iter(parts.values()), None)
        if first is None:
            return
        frame = first.records if isinstance(first, IngestBatch) else first
        keys = (
            list(parts)
            if isinstance(obj, dict)
            else [context.asset_partition_key if context.has_asset_partitions else UNPARTITIONED]
        )
        store = self.store()
        location = store.uri(f"{zone_of(asset)}/{asset}/")
        catalog = GlueCatalog(
            self.glue_database, boto3.client("glue", region_name=self.region_name)
        )
        catalog.register(asset, location, frame.schema, [k.replace(":", "") for k in keys])
