"""What has landed: every source's objects grouped into the partitions their keys name.

`egress run` and the landing sensor work from this: partitions come from the data (the hours and
days that have objects), and a partition is new or changed when the digest of its objects (key and
size) differs from the one recorded after the last successful run. CUR files cover a billing
month, so every day of the period that the landing zone's data spans gets the manifest's digest:
a new delivery of the month's report changes all of them, as AWS restates the month.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from egress_platform.sources import SOURCES
from egress_platform.sources.common import QUARANTINE_SCHEMA
from egress_platform.sources.landing import (
    FIREHOSE_PREFIX,
    LAYOUTS,
    partition_key,
    read_cur_manifest,
    source_prefixes,
)

Listing = list[tuple[str, int]]
HOUR_KEY = "%Y-%m-%d-%H:00"


@dataclass
class Landed:
    """The landed objects of each source, by partition key; objects no layout recognises."""

    objects: dict[str, dict[str, Listing]] = field(default_factory=dict)
    unmatched: Listing = field(default_factory=list)

    def digests(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for source, parts in self.objects.items():
            out[source] = {p: listing_digest(objs) for p, objs in sorted(parts.items())}
        return out

    def days(self) -> list[date]:
        keys = {p[:10] for parts in self.objects.values() for p in parts}
        return sorted(datetime.strptime(k, "%Y-%m-%d").date() for k in keys)

    def hours(self, source: str) -> list[str]:
        return sorted(self.objects.get(source, {}))

    def keys(self, source: str) -> set[str]:
        return {k for objs in self.objects.get(source, {}).values() for k, _ in objs}

    @property
    def object_count(self) -> int:
        return sum(len(self.keys(s)) for s in self.objects)


def listing_digest(objects: Iterable[tuple[str, int]]) -> str:
    digest = hashlib.sha256()
    for key, size in sorted(objects):
        digest.update(f"{key}\0{size}\n".encode())
    return digest.hexdigest()[:16]


def layout_prefixes() -> list[str]:
    return sorted({layout.prefix for layout in LAYOUTS.values()} | {FIREHOSE_PREFIX})


def discover(
    listing: Listing,
    read: Callable[[str], bytes],
    since: date | None = None,
    until: date | None = None,
) -> Landed:
    """Group a landing-zone listing by source and partition, within ``since``..``until``."""
    landed = Landed(objects={name: defaultdict(list) for name in SOURCES})
    matched: set[str] = set()
    for name, spec in SOURCES.items():
        if name == "cur":
            continue
        prefixes = tuple(source_prefixes(name))
        for key, size in listing:
            if not key.startswith(prefixes):
                continue
            part = partition_key(name, key, spec.partitioning)
            if part is None:
                continue
            matched.add(key)
            if _within(part, since, until):
                landed.objects[name][part].append((key, size))
    span = landed.days()
    manifests = [(k, s) for k, s in listing if partition_key("cur", k, "daily")]
    sizes = dict(listing)
    for key, size in manifests:
        matched.add(key)
        manifest = read_cur_manifest(key, read(key))
        report = [(key, size)] + [(k, sizes[k]) for k in manifest.report_keys if k in sizes]
        matched.update(k for k, _ in report)
        first = manifest.period_start.date()
        last = manifest.period_end.date() - timedelta(days=1)
        if span:  # the billing period, clipped to the days the other sources cover
            first, last = max(first, span[0]), min(last, span[-1])
        day = first
        while day <= last:
            if _within(str(day), since, until):
                landed.objects["cur"][str(day)].extend(report)
            day += timedelta(days=1)
    landed.objects = {n: dict(parts) for n, parts in landed.objects.items()}
    prefixes = tuple(layout_prefixes())
    landed.unmatched = [(k, s) for k, s in listing if k.startswith(prefixes) and k not in matched]
    return landed


def unmatched_quarantine(landed: Landed) -> pl.DataFrame:
    """The landed objects no source can read, as quarantine rows: each stays in the landing
    zone, and the reason says why it was left and what to do."""
    prefixes = layout_prefixes()
    rows = []
    for key, size in landed.unmatched:
        prefix = next((p for p in prefixes if key.startswith(p)), "")
        rows.append(
            {
                "source_file": key,
                "line_no": None,
                "reason": (
                    f"the key matches none of AWS's delivery layouts under {prefix} ({size:,} "
                    "bytes, not ingested; the object is left in the landing zone): deliver it "
                    "under the layout its service writes, or move it out of the log prefixes"
                ),
                "raw": None,
            }
        )
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def _within(part: str, since: date | None, until: date | None) -> bool:
    day = part[:10]
    return (since is None or day >= str(since)) and (until is None or day <= str(until))


def changed(
    current: dict[str, dict[str, str]], recorded: dict[str, dict[str, str]]
) -> dict[str, list[str]]:
    """Per source, the partitions whose objects are new or differ from the recorded digests."""
    return {
        source: sorted(p for p, d in parts.items() if recorded.get(source, {}).get(p) != d)
        for source, parts in current.items()
    }


def hour_start(part: str) -> datetime:
    """The first hour a partition key covers (an hourly key, or a day's midnight)."""
    fmt = HOUR_KEY if len(part) > 10 else "%Y-%m-%d"
    return datetime.strptime(part, fmt).replace(tzinfo=UTC)
