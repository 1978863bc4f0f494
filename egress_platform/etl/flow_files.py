"""A delivery hour's flow-log objects to per-hour sums of distinct record shapes, in one pass.

This is what ``raw_vpc_flow_logs`` runs on each partition (and so what ``make bench`` times):
the byte kernel (``flow_kernel``) reads every record once, drops a record delivered twice (every
field equal: a re-sent object, two overlapping objects, the same record in two objects of the
hour) and sums the rest per hour and shape (``partial_facts``' output, typed as it types it).
The records themselves are never materialized, which is what makes the path fast; lineage keeps
the objects read (key, size, CRC-32), the quarantine and the counts.

When any object of the hour is not clean text the kernel is sure of (a corrupt line, a damaged
gzip stream, Parquet, a byte-order mark, an unknown field), the whole hour is read by the robust
parser (``vpc_flow.parse_bytes``): its quarantine rules apply, the same duplicate rule drops
records whose every field equals one already kept, and the same sums come out. Either way
``records + duplicates + quarantined = input records``.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

import polars as pl

from egress_platform.etl import flow_kernel
from egress_platform.network.classify import (
    HOUR_EPOCH,
    LINEAGE_COLUMNS,
    STAGE_KEY,
    partial_facts,
)
from egress_platform.sources import SOURCES, vpc_flow
from egress_platform.sources.common import (
    GZIP_MAGIC,
    PARQUET_MAGIC,
    UTF8_BOM,
    empty_quarantine,
)
from egress_platform.sources.ingest import IngestBatch, ingest_objects

SHAPES_SCHEMA: dict[str, pl.DataType] = {
    HOUR_EPOCH: pl.Int64(),
    **{k: vpc_flow.COLUMNS[k] for k in STAGE_KEY},
    "bytes": pl.Int64(),
    "packets": pl.Int64(),
    "flows": pl.UInt32(),
}


@dataclass
class FlowShapes:
    """One delivery hour of flow logs: shape sums, quarantine, and what was counted."""

    shapes: pl.DataFrame  # SHAPES_SCHEMA
    quarantine: pl.DataFrame
    records: int  # distinct records summed into the shapes
    duplicates: int  # records dropped because every field equals one already counted
    input_records: int
    variants: Counter[str]
    careful: bool  # whether the robust parser read the hour


def inflate(data: bytes) -> bytes | None:
    """A gzip object's text, member after member, in whole-object zlib calls (about twice as
    fast as ``gzip.decompress``); None for anything but clean members (the robust parser then
    says what is wrong with it)."""
    texts = []
    rest = data
    while rest:
        member = zlib.decompressobj(31)
        try:
            texts.append(member.decompress(rest))
        except zlib.error:
            return None
        rest = member.unused_data
        if not member.eof or (rest and rest[:2] != GZIP_MAGIC):
            return None
    return texts[0] if len(texts) == 1 else b"".join(texts)


def checksum(data: bytes) -> str:
    """The CRC-32 of an object as landed (what the manifest records beside key and size)."""
    return f"{zlib.crc32(data):08x}"


Landed = Callable[[], Iterable[tuple[str, bytes]]]  # the hour's objects (key, bytes as landed)


def shapes_of_objects(landed: Landed, log_format: Sequence[str] | None = None) -> FlowShapes:
    """Shape sums of one delivery hour's objects. ``landed`` is called once, or twice when the
    robust parser has to read the hour again; the objects stream through one at a time."""
    fast = _kernel_shapes(landed(), log_format)
    return fast if fast is not None else _careful_shapes(landed(), log_format)


def _kernel_shapes(
    objects: Iterable[tuple[str, bytes]], log_format: Sequence[str] | None
) -> FlowShapes | None:
    # Objects that share a layout and an origin (account and region in the key) go through
    # one table, so a record repeated across them counts once.
    summers: dict[tuple[tuple[str, ...], int, str | None, str | None], flow_kernel.ShapeSummer]
    summers = {}
    variants: Counter[str] = Counter()
    for key, data in objects:
        compressed = data[:2] == GZIP_MAGIC
        text = inflate(data) if compressed else data
        if text is None or text[:4] == PARQUET_MAGIC or text[:3] == UTF8_BOM:
            return None
        if not text.strip():
            variants[("gzip, " if compressed else "") + "empty object"] += 1
            continue
        layout = vpc_flow.text_layout(text[:4096], log_format)
        if layout is None or len(set(layout[0])) != len(layout[0]):
            return None
        fields, skip = layout
        group = (tuple(fields), skip, *vpc_flow.key_origin(key))
        if group not in summers:
            summers[group] = flow_kernel.ShapeSummer(fields, skip, STAGE_KEY, HOUR_EPOCH)
        if not summers[group].add(text):
            return None
        variants[("gzip, " if compressed else "") + vpc_flow.layout_variant(fields, skip)] += 1
    frames = [pl.DataFrame(schema=SHAPES_SCHEMA)]
    for (names, _, account, region), summer in summers.items():
        try:
            frame = summer.frame()
        except (pl.exceptions.PolarsError, ValueError):
            return None
        # The kernel keeps only the stage key: the robust parser's checks apply to what it kept.
        if not vpc_flow.all_valid(frame, list(names)):
            return None
        frames.append(
            frame.with_columns(
                pl.col("account_id").fill_null(pl.lit(account, dtype=pl.String)),
                pl.col("region").fill_null(pl.lit(region, dtype=pl.String)),
            ).select([pl.col(c).cast(t) for c, t in SHAPES_SCHEMA.items()])
        )
    records = sum(s.records for s in summers.values())
    duplicates = sum(s.duplicates for s in summers.values())
    return FlowShapes(
        pl.concat(frames, how="vertical"),
        empty_quarantine(),
        records,
        duplicates,
        records + duplicates,
        variants,
        careful=False,
    )


def _careful_shapes(
    objects: Iterable[tuple[str, bytes]], log_format: Sequence[str] | None
) -> FlowShapes:
    spec = SOURCES["vpc_flow"]
    if log_format is not None:
        spec = replace(spec, parse=partial(vpc_flow.parse_bytes, log_format=log_format))
    batch = ingest_objects(spec, objects)
    unique = distinct_records(batch.records)
    shapes = partial_facts(unique.lazy(), dedup=False).collect()
    return FlowShapes(
        shapes.select([pl.col(c).cast(t) for c, t in SHAPES_SCHEMA.items()]),
        batch.quarantine,
        unique.height,
        batch.records.height - unique.height,
        batch.input_records,
        batch.variants,
        careful=True,
    )


def distinct_records(records: pl.DataFrame) -> pl.DataFrame:
    """Each record once: every field equal (which file and line it came from aside) is the
    same record delivered again. The kernel applies the same rule by hashing every field."""
    subset = [c for c in records.columns if c not in LINEAGE_COLUMNS]
    return records.unique(subset=subset, keep="first", maintain_order=True)


def ingest_flow_shapes(landed: Landed) -> IngestBatch:
    """A delivery hour of flow logs in one pass: per-hour sums of record shapes (what the
    processed layer classifies), the quarantine, and the objects with their CRC-32."""
    objects: list[tuple[str, int]] = []
    checksums: dict[str, str] = {}

    def noted() -> Iterator[tuple[str, bytes]]:
        for key, data in landed():
            if key not in checksums:
                objects.append((key, len(data)))
                checksums[key] = checksum(data)
            yield key, data

    shapes = shapes_of_objects(noted)
    return IngestBatch(
        shapes.shapes,
        shapes.quarantine,
        files=len(objects),
        bytes_read=sum(size for _, size in objects),
        input_records=shapes.input_records,
        variants=shapes.variants,
        objects=objects,
        summed_records=shapes.records,
        duplicates=shapes.duplicates,
        checksums=checksums,
    )
