"""Turn the landed objects of one partition into one batch of records plus quarantine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from egress_platform.sources import SourceSpec
from egress_platform.sources.common import (
    ParseResult,
    SourceError,
    empty_quarantine,
    quarantine_rows,
)


@dataclass
class IngestBatch:
    """One raw partition: what was read, what parsed and what was quarantined (and why)."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    files: int = 0
    bytes_read: int = 0
    input_records: int = 0
    variants: Counter[str] = field(default_factory=Counter)
    # The landed objects this partition came from (key, bytes): its lineage to the landing zone.
    objects: list[tuple[str, int]] = field(default_factory=list)
    # Flow logs keep per-hour sums of record shapes, not records: how many records they hold,
    # how many were dropped as delivered twice, and each object's CRC-32 for the manifest.
    summed_records: int | None = None
    duplicates: int = 0
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def record_count(self) -> int:
        return self.records.height if self.summed_records is None else self.summed_records

    @property
    def balanced(self) -> bool:
        counted = self.record_count + self.duplicates + self.quarantine.height
        return counted == self.input_records


PARSER_FAILURES = (
    RecursionError,
    MemoryError,
    ValueError,
    ArithmeticError,
    LookupError,
    TypeError,
    pl.exceptions.PolarsError,
)


def ingest_objects(spec: SourceSpec, objects: Iterable[tuple[str, bytes]]) -> IngestBatch:
    """Parse every object; a whole object that cannot be read is quarantined, never skipped."""
    if spec.parse_many is not None:
        listed = list(objects)
        return _batch_of(spec, listed, parse_each(spec, listed))
    batch = _empty_batch(spec)
    parts: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    for key, data in objects:  # one object at a time: CUR files can be hundreds of MB
        _count(batch, key, data, parts, parse_one(spec, key, data))
    return _finish(batch, parts)


def ingest_partitions(
    spec: SourceSpec, objects: dict[str, list[tuple[str, bytes]]]
) -> dict[str, IngestBatch]:
    """Each partition's batch, from one parse of all their objects where the source parses
    several objects at once (an hour of access logs is a few kilobytes: a pass per object cost
    more than its records); the same batches as ``ingest_objects`` on each partition."""
    listed = [(part, obj) for part, objs in objects.items() for obj in objs]
    results = parse_each(spec, [obj for _, obj in listed])
    grouped: dict[str, tuple[list[tuple[str, bytes]], list[ParseResult]]] = {
        p: ([], []) for p in objects
    }
    for (part, obj), result in zip(listed, results, strict=True):
        grouped[part][0].append(obj)
        grouped[part][1].append(result)
    return {p: _batch_of(spec, objs, found) for p, (objs, found) in grouped.items()}


def parse_each(spec: SourceSpec, objects: list[tuple[str, bytes]]) -> list[ParseResult]:
    """Every object's parse: in one pass where the source can, else (or when one object spoils
    the shared pass) object by object, so the poison object alone is quarantined."""
    keys = [k for k, _ in objects]
    if spec.parse_many is not None and len(objects) > 1 and len(set(keys)) == len(keys):
        try:
            return spec.parse_many(objects)
        except (SourceError, *PARSER_FAILURES):
            pass  # each object on its own says which one it is
    return [parse_one(spec, key, data) for key, data in objects]


def parse_one(spec: SourceSpec, key: str, data: bytes) -> ParseResult:
    try:
        return spec.parse(data, key)
    except SourceError as exc:
        return _unreadable(spec, key, data, str(exc))
    except PARSER_FAILURES as exc:
        # One poison object (nested 10,000 deep, a 5,000-digit number, a header naming a
        # field twice) is quarantined whole with the reason; it never stops the others.
        reason = f"{spec.name} parser failed on this object: {type(exc).__name__}: {exc}"
        return _unreadable(spec, key, data, reason[:500])


def _empty_batch(spec: SourceSpec) -> IngestBatch:
    return IngestBatch(pl.DataFrame(schema=spec.schema), empty_quarantine())


def _count(
    batch: IngestBatch,
    key: str,
    data: bytes,
    parts: list[tuple[pl.DataFrame, pl.DataFrame]],
    result: ParseResult,
) -> None:
    batch.files += 1
    batch.bytes_read += len(data)
    batch.objects.append((key, len(data)))
    batch.input_records += result.input_records
    batch.variants[result.variant] += 1
    parts.append((result.records, result.quarantine))


def _finish(batch: IngestBatch, parts: list[tuple[pl.DataFrame, pl.DataFrame]]) -> IngestBatch:
    if parts:
        batch.records = pl.concat([r for r, _ in parts], how="vertical")
    batch.quarantine = pl.concat([empty_quarantine(), *(q for _, q in parts)], how="vertical")
    return batch


def _batch_of(
    spec: SourceSpec, objects: list[tuple[str, bytes]], results: list[ParseResult]
) -> IngestBatch:
    batch = _empty_batch(spec)
    parts: list[tuple[pl.DataFrame, pl.DataFrame]] = []
    for (key, data), result in zip(objects, results, strict=True):
        _count(batch, key, data, parts, result)
    return _finish(batch, parts)


def _unreadable(spec: SourceSpec, key: str, data: bytes, reason: str) -> ParseResult:
    original = data[:65536].decode("utf-8", "backslashreplace")
    return ParseResult(
        pl.DataFrame(schema=spec.schema),
        quarantine_rows(key, [(1, reason, original)]),
        "unreadable object",
        1,
    )


def cur_rows_for_day(batch: IngestBatch, day: datetime, period_start: datetime) -> IngestBatch:
    """Keep one day's line items of a monthly CUR batch; unreadable rows go to the period's first day."""
    next_day = day + timedelta(days=1)
    in_day = batch.records.filter(
        (pl.col("usage_start") >= day.astimezone(UTC))
        & (pl.col("usage_start") < next_day.astimezone(UTC))
    )
    first_day = day == period_start
    bad = batch.quarantine if first_day else empty_quarantine()
    # The monthly files are counted once, on the billing period's first day.
    return IngestBatch(
        in_day,
        bad,
        files=batch.files if first_day else 0,
        bytes_read=batch.bytes_read if first_day else 0,
        input_records=in_day.height + bad.height,
        variants=batch.variants,
        objects=batch.objects,  # every day's items come from the month's files
    )


def merge_batches(spec: SourceSpec, batches: list[IngestBatch]) -> IngestBatch:
    """One partition's batch from several (a day covered by more than one CUR report)."""
    if not batches:
        return IngestBatch(pl.DataFrame(schema=spec.schema), empty_quarantine())
    if len(batches) == 1:
        return batches[0]
    variants: Counter[str] = Counter()
    for b in batches:
        variants.update(b.variants)
    return IngestBatch(
        pl.concat([b.records for b in batches], how="diagonal_relaxed"),
        pl.concat([b.quarantine for b in batches], how="diagonal_relaxed"),
        files=sum(b.files for b in batches),
        bytes_read=sum(b.bytes_read for b in batches),
        input_records=sum(b.input_records for b in batches),
        variants=variants,
        objects=[o for b in batches for o in b.objects],
    )
