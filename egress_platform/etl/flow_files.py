"""Flow-log objects straight to hourly facts, streaming, for volume (the benchmarked path).

Raw Parquet is convenient for lineage but at tens of millions of records per hour the fastest
honest route is: drop re-delivered objects by fingerprint, sum each batch's records per hour and
distinct shape in one pass over the bytes (``flow_kernel``, two batches at a time, plain objects
mapped rather than copied), check every shape as the robust parser would, and fold batches
together so memory stays flat however large the input. A batch that fails any check is re-read
object by object with the robust parser (``vpc_flow.parse_bytes``), whose quarantine rules then
apply, so nothing is lost or invented.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from egress_platform.etl import flow_kernel
from egress_platform.network.classify import (
    FACT_SCHEMA,
    HOUR_EPOCH,
    STAGE_KEY,
    finish_facts,
    partial_facts,
)
from egress_platform.sources import vpc_flow
from egress_platform.sources.common import GZIP_MAGIC


@dataclass
class FileFactsStats:
    files: int = 0
    duplicate_files: int = 0
    records: int = 0
    quarantined: int = 0
    robust_files: int = 0
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)


def fingerprint(path: Path) -> tuple[int, int, int]:
    """Size and CRC-32 of the first and last 64 KiB: re-delivered copies of an object share it.

    Distinct flow-log objects differ in their first records (interfaces, timestamps), so the
    ends are enough and the middle of a multi-GB object need not be read.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
        handle.seek(max(0, size - (1 << 16)))
        tail = handle.read(1 << 16)
    return size, zlib.crc32(head), zlib.crc32(tail)


def _text(path: Path) -> flow_kernel.Text:
    """An object's text: mapped as it is, or decompressed."""
    data = flow_kernel.mapped(path)
    return inflate(data) if data[:2] == GZIP_MAGIC else data


def inflate(data: flow_kernel.Text) -> bytes:
    """A gzip object's text, member after member, in whole-object zlib calls (about twice as
    fast as ``gzip.decompress``); anything but clean members is left to ``gzip.decompress``,
    so its errors are the ones raised."""
    texts = []
    rest: bytes | flow_kernel.Text = data
    while rest:
        member = zlib.decompressobj(31)
        texts.append(member.decompress(rest))
        rest = member.unused_data
        if not member.eof or (rest and rest[:2] != GZIP_MAGIC):
            return gzip.decompress(data)
    return texts[0] if len(texts) == 1 else b"".join(texts)


def facts_from_files(
    paths: list[Path],
    region: str | None = None,
    log_format: list[str] | None = None,
    batch_bytes: int = 128 << 20,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.DataFrame, FileFactsStats]:
    """Hourly flow facts (``FACT_SCHEMA``) of every record in ``paths``."""
    stats = FileFactsStats()
    seen: set[tuple[int, int, int]] = set()
    unique: list[Path] = []
    for path in paths:
        key = fingerprint(path)
        stats.files += 1
        if key in seen:
            stats.duplicate_files += 1
            continue
        seen.add(key)
        unique.append(path)
    sums = flow_kernel.ShapeSums(HOUR_EPOCH, STAGE_KEY)
    careful: list[pl.DataFrame] = []  # batches the robust parser read
    batches = _batches(unique, batch_bytes)
    for n, (partial, batch_stats) in enumerate(_partials(batches, log_format), start=1):
        stats.records += batch_stats.records
        stats.quarantined += batch_stats.quarantined
        stats.robust_files += batch_stats.robust_files
        stats.bytes_read += batch_stats.bytes_read
        if flow_kernel.SHAPE[0] in partial.columns:
            sums.add(partial)
        else:
            careful.append(partial)
            # Fold careful batches once they add up: memory follows the shapes, not the input.
            if sum(p.height for p in careful[1:]) > max(MERGE_ROWS, careful[0].height):
                careful = [_merge(careful)]
        if progress is not None and (n % 25 == 0 or n == len(batches)):
            progress(f"{n}/{len(batches)} batches, {stats.records:,} records")
    keys = [HOUR_EPOCH, *STAGE_KEY]
    parts = [
        p.select(*keys, "bytes", "packets", "flows") for p in [sums.frame(), *careful] if p.height
    ]
    if not parts:
        return pl.DataFrame(schema=FACT_SCHEMA), stats
    # Finishing aggregates by the coarser fact key anyway (sums of sums).
    return finish_facts(pl.concat(parts, how="vertical_relaxed").lazy(), region).collect(), stats


MERGE_ROWS = 250_000


def _merge(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Partial sums of several batches as one (same shapes add up)."""
    keys = [HOUR_EPOCH, *STAGE_KEY]
    return (
        pl.concat(
            [p.select(*keys, "bytes", "packets", "flows") for p in parts], how="vertical_relaxed"
        )
        .group_by(keys)
        .agg(pl.col("bytes", "packets", "flows").sum())
    )


def _text_size(path: Path) -> int:
    """Bytes of text an object holds: gzip records it (mod 2^32) in its last four bytes."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC or size < 18:
            return size
        handle.seek(size - 4)
        return int.from_bytes(handle.read(4), "little") or size * 8


def _batches(paths: list[Path], batch_bytes: int) -> list[list[Path]]:
    """Group objects into batches of about ``batch_bytes`` of text."""
    batches: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in paths:
        weight = _text_size(path)
        if current and size + weight > batch_bytes:
            batches.append(current)
            current, size = [], 0
        current.append(path)
        size += weight
    if current:
        batches.append(current)
    return batches


def _partials(
    batches: list[list[Path]], log_format: list[str] | None
) -> Iterator[tuple[pl.DataFrame, FileFactsStats]]:
    """Each batch's partial sums, in order: two batches run at a time (the kernel, zlib and
    polars all release the GIL) and one more waits its turn, so memory holds about three."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = [pool.submit(_partial_of_batch, b, log_format) for b in batches[:3]]
        for i in range(len(batches)):
            done = running.pop(0)
            if i + 3 < len(batches):
                running.append(pool.submit(_partial_of_batch, batches[i + 3], log_format))
            yield done.result()


def _partial_of_batch(
    batch: list[Path], log_format: list[str] | None
) -> tuple[pl.DataFrame, FileFactsStats]:
    stats = FileFactsStats()
    texts = [_text(p) for p in batch]
    stats.bytes_read = sum(len(t) for t in texts)
    layouts = [vpc_flow.text_layout(bytes(t[:4096]), log_format) for t in texts]
    layout = layouts[0]
    if layout is not None and all(other == layout for other in layouts):
        fields, skip = layout
        try:
            summed = flow_kernel.shape_sums(texts, fields, skip, STAGE_KEY, HOUR_EPOCH)
            if summed is not None:
                partial, records = summed
                # The kernel keeps only the stage key: the checks apply to what it kept.
                if vpc_flow.all_valid(partial, fields):
                    stats.records = records
                    return partial, stats
        except (pl.exceptions.PolarsError, ValueError):
            pass
    return _robust_batch(batch, texts, log_format, stats), stats


def _robust_batch(
    batch: list[Path],
    texts: list[flow_kernel.Text],
    log_format: list[str] | None,
    stats: FileFactsStats,
) -> pl.DataFrame:
    frames = []
    for path, text in zip(batch, texts, strict=True):
        parsed = vpc_flow.parse_bytes(bytes(text), str(path), log_format)
        stats.records += parsed.records.height
        stats.quarantined += parsed.quarantined
        stats.robust_files += 1
        frames.append(parsed.records)
    return partial_facts(pl.concat(frames).lazy(), dedup=False).collect()
