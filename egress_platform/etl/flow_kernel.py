"""Flow-log text straight to per-hour sums of distinct record shapes, in one pass over the bytes.

polars' CSV reader has to build every string column of every record before it can group them,
and at 250-byte v5 records that, not the arithmetic, is what bounds throughput. This kernel reads
each record once: it hashes the bytes of the key fields eight at a time (two independent 64-bit
hashes, so two different shapes would have to collide in 128 bits to be merged), parses the
three numbers the facts need, checks every integer field, and adds the record into a hash table
of (hour, shape). Only one representative line per shape is kept; the caller parses those with
polars and checks them as the robust parser would, so a batch the kernel accepts yields what the
polars path yields (a test holds them equal). Anything it is not sure of (a wrong field count, a
non-digit in an integer field, a CR or tab, a byte outside printable ASCII, an empty field, an
integer too large for its type, a missing start) makes it give the batch up, and the caller
reads that batch with the robust parser instead.

A record delivered twice counts once: besides the shape it hashes every field of the record
(text by its bytes, integers by value, which is what "every field equal" means to polars) into
a 64-bit record hash and keeps a set of them per table, so a re-sent object, two overlapping
objects, or a record in two objects of the same delivery hour adds nothing the second time.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import polars as pl

from egress_platform.sources import vpc_flow

SKIP_TEXT, KEY_TEXT, SKIP_INT, PACKETS, BYTES, START, KEY_INT = 0, 1, 2, 3, 4, 5, 6
DONE, GROW, INVALID, GROW_SEEN = 0, 1, 2, 3
_OFFSET_1 = np.uint64(0xCBF29CE484222325)
_PRIME_1 = np.uint64(0x100000001B3)
_OFFSET_2 = np.uint64(0x9E3779B97F4A7C15)
_PRIME_2 = np.uint64(0xFF51AFD7ED558CCD)
_MIX = np.uint64(0xC2B2AE3D27D4EB4F)
_OFFSET_R = np.uint64(0x84222325CBF29CE4)
_PRIME_R = np.uint64(0x9FB21C651E98DF25)
_FIELD_END = np.uint64(0x1F)
_NULL_INT = np.uint64(0xFFFFFFFFFFFFFFFF)
_PRINTABLE = 1
_CLASS = np.zeros(256, dtype=np.uint8)  # 1 for the bytes a field may hold: printable ASCII
_CLASS[33:127] = _PRINTABLE


# Columns of ShapeTable.rows: one 64-byte row per group, so a record touches one cache line.
HOUR, HASH_1, HASH_2, BYTES_SUM, PACKETS_SUM, FLOWS, LINE_START, LINE_END = range(8)


@dataclass
class ShapeTable:
    """Open-addressing table of (hour, shape) groups and where each shape was first seen."""

    slots: np.ndarray  # int64, group index + 1, 0 = empty; length a power of two
    rows: np.ndarray  # int64 (groups, 8), columns as above; hashes stored as their bits
    state: np.ndarray  # [groups, records, stop position, duplicates, records in seen]
    seen: np.ndarray  # uint64 record hashes (0 = empty), a power of two at most half full

    @classmethod
    def empty(cls, capacity: int = 1 << 16) -> ShapeTable:
        return cls(
            np.zeros(capacity, dtype=np.int64),
            np.zeros((capacity // 2, 8), dtype=np.int64),
            np.zeros(5, dtype=np.int64),
            np.zeros(capacity, dtype=np.uint64),
        )

    @property
    def duplicates(self) -> int:
        return int(self.state[3])

    @property
    def groups(self) -> int:
        return int(self.state[0])

    @property
    def records(self) -> int:
        return int(self.state[1])

    def column(self, index: int) -> np.ndarray:
        return self.rows[: self.groups, index]

    def grown(self) -> ShapeTable:
        """The same groups in a table twice the size."""
        bigger = ShapeTable.empty(len(self.slots) * 2)
        used = self.groups
        bigger.rows[:used] = self.rows[:used]
        bigger.state[:] = self.state
        bigger.seen = self.seen
        _reslot(bigger.slots, bigger.rows, used)
        return bigger

    def more_seen(self) -> None:
        """Twice the room for record hashes."""
        bigger = np.zeros(len(self.seen) * 2, dtype=np.uint64)
        _reseen(bigger, self.seen)
        self.seen = bigger


@numba.njit(nogil=True, cache=True)
def _slot_of(hour: np.int64, hash_1: np.uint64, mask: np.int64) -> np.int64:
    mixed = hash_1 ^ (np.uint64(hour) * _MIX)
    return np.int64(mixed >> np.uint64(17)) & mask


@numba.njit(nogil=True, cache=True)
def _reslot(slots: np.ndarray, rows: np.ndarray, used: int) -> None:
    mask = np.int64(len(slots) - 1)
    for g in range(used):
        s = _slot_of(rows[g, HOUR], np.uint64(rows[g, HASH_1]), mask)
        while slots[s] != 0:
            s = (s + 1) & mask
        slots[s] = g + 1


@numba.njit(nogil=True, cache=True)
def _reseen(bigger: np.ndarray, seen: np.ndarray) -> None:
    mask = np.int64(len(bigger) - 1)
    for value in seen:
        if value != 0:
            s = np.int64(value >> np.uint64(17)) & mask
            while bigger[s] != 0:
                s = (s + 1) & mask
            bigger[s] = value


@numba.njit(nogil=True, cache=True)
def _first_time(seen: np.ndarray, record: np.uint64) -> bool:
    """Add ``record`` (a non-zero hash) to the set; False when it was there already."""
    mask = np.int64(len(seen) - 1)
    s = np.int64(record >> np.uint64(17)) & mask
    while True:
        value = seen[s]
        if value == 0:
            seen[s] = record
            return True
        if value == record:
            return False
        s = (s + 1) & mask


@numba.njit(nogil=True, cache=True)
def _group_of(
    slots: np.ndarray,
    rows: np.ndarray,
    groups: np.int64,
    hour: np.int64,
    hash_1: np.int64,
    hash_2: np.int64,
) -> np.int64:
    """The group of (hour, shape): found, or added with zero sums at index ``groups`` (the
    caller counts it), or -1 when the table has no room for a new one."""
    mask = np.int64(len(slots) - 1)
    s = _slot_of(hour, np.uint64(hash_1), mask)
    while True:
        g = slots[s] - 1
        if g < 0:
            if groups >= len(rows):
                return np.int64(-1)
            slots[s] = groups + 1
            rows[groups, HOUR] = hour
            rows[groups, HASH_1] = hash_1
            rows[groups, HASH_2] = hash_2
            rows[groups, BYTES_SUM] = 0
            rows[groups, PACKETS_SUM] = 0
            rows[groups, FLOWS] = 0
            return groups
        if rows[g, HASH_1] == hash_1 and rows[g, HASH_2] == hash_2 and rows[g, HOUR] == hour:
            return g
        s = (s + 1) & mask


@numba.njit(nogil=True, cache=True)
def _aggregate(
    buf: np.ndarray,
    begin: int,
    kinds: np.ndarray,
    limits: np.ndarray,
    slots: np.ndarray,
    rows: np.ndarray,
    state: np.ndarray,
    seen: np.ndarray,
) -> int:
    """Records of ``buf[begin:]`` into the table; ``buf`` must end with a newline."""
    n = len(buf)
    fields = len(kinds)
    groups = state[0]
    records = state[1]
    duplicates = state[3]
    in_seen = state[4]
    room = len(seen) // 2
    status = DONE
    i = begin
    line = begin
    while i < n:
        line = i
        h1 = _OFFSET_1
        h2 = _OFFSET_2
        r = _OFFSET_R
        packets = np.int64(0)
        nbytes = np.int64(0)
        start = np.int64(-1)
        field = 0
        c = np.uint8(0)
        bad = False
        while True:
            kind = kinds[field]
            first = i
            if kind == KEY_TEXT:
                # Eight bytes to a word, one multiply per word: the bytes are printable (never
                # 0), so a word's value also tells how many bytes it holds.
                word = np.uint64(0)
                c = buf[i]
                while _CLASS[c] == _PRINTABLE:
                    word = (word << np.uint64(8)) | np.uint64(c)
                    i += 1
                    if (i - first) & 7 == 0:
                        h1 = (h1 ^ word) * _PRIME_1
                        h2 = (h2 ^ word) * _PRIME_2
                        r = (r ^ word) * _PRIME_R
                        word = np.uint64(0)
                    c = buf[i]
                h1 = (h1 ^ word ^ _FIELD_END) * _PRIME_1
                h2 = (h2 ^ word ^ _FIELD_END) * _PRIME_2
                r = (r ^ word ^ _FIELD_END) * _PRIME_R
            elif kind == SKIP_TEXT:
                word = np.uint64(0)
                c = buf[i]
                while _CLASS[c] == _PRINTABLE:
                    word = (word << np.uint64(8)) | np.uint64(c)
                    i += 1
                    if (i - first) & 7 == 0:
                        r = (r ^ word) * _PRIME_R
                        word = np.uint64(0)
                    c = buf[i]
                r = (r ^ word ^ _FIELD_END) * _PRIME_R
            else:
                number = np.int64(0)
                c = buf[i]
                null = c == 45
                if null:
                    i += 1
                    c = buf[i]
                digit = np.uint8(c - 48)
                while digit <= 9:
                    number = number * 10 + np.int64(digit)
                    i += 1
                    c = buf[i]
                    digit = np.uint8(c - 48)
                if (null and i - first > 1) or i - first > 18 or number > limits[field]:
                    bad = True
                r = (r ^ (np.uint64(number) if not null else _NULL_INT)) * _PRIME_R
                if kind == PACKETS:
                    packets = number
                elif kind == BYTES:
                    nbytes = number
                elif kind == START:
                    bad = bad or null
                    start = number
                elif kind == KEY_INT:  # by value, as polars groups it ("01" is 1)
                    value = np.uint64(number) if not null else _NULL_INT
                    h1 = ((h1 ^ value) * _PRIME_1 ^ _FIELD_END) * _PRIME_1
                    h2 = ((h2 ^ value) * _PRIME_2 ^ _FIELD_END) * _PRIME_2
            if c != 32 and c != 10:
                bad = True  # the field ended on a byte no field may hold
                break
            if i == first:
                bad = True  # an empty field: two spaces, or a blank line
            field += 1
            i += 1
            if c == 10 or field == fields:
                break
        if bad or c != 10 or field != fields:
            status = INVALID
            break
        if in_seen >= room:
            status = GROW_SEEN
            break
        if r == 0:
            r = np.uint64(1)
        hour = start - start % 3600
        g = _group_of(slots, rows, groups, hour, np.int64(h1), np.int64(h2))
        if g < 0:
            status = GROW
            break
        if not _first_time(seen, r):
            duplicates += 1
            continue
        in_seen += 1
        if g == groups:
            groups += 1
            rows[g, LINE_START] = line
            rows[g, LINE_END] = i
        rows[g, BYTES_SUM] += nbytes
        rows[g, PACKETS_SUM] += packets
        rows[g, FLOWS] += 1
        records += 1
    state[0] = groups
    state[1] = records
    state[2] = line if status != DONE else n
    state[3] = duplicates
    state[4] = in_seen
    return status


def add_text(
    table: ShapeTable,
    text: np.ndarray,
    begin: int,
    kinds: np.ndarray,
    limits: np.ndarray,
) -> tuple[ShapeTable, bool]:
    """Fold the records of ``text[begin:]`` (whole lines, ending in a newline) into ``table``.

    Returns the (possibly grown) table and whether every record was accepted; on False the
    table is partly updated and the caller must discard it.
    """
    position = begin
    while True:
        status = _aggregate(
            text,
            position,
            kinds,
            limits,
            table.slots,
            table.rows,
            table.state,
            table.seen,
        )
        if status == DONE:
            return table, True
        if status == INVALID:
            return table, False
        position = int(table.state[2])
        if status == GROW_SEEN:
            table.more_seen()
        else:
            table = table.grown()


Text = bytes | mmap.mmap


def mapped(path: Path) -> Text:
    """A file's bytes without copying them (the page cache is the buffer)."""
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


_LIMITS = {"Int16": 2**15 - 1, "Int32": 2**31 - 1, "Int64": 10**18}
_NUMBERS = {"packets": PACKETS, "bytes": BYTES, "start": START}


def field_kinds(fields: Sequence[str], keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """What the kernel does with each field of a layout, and the largest value of each integer."""
    kinds = np.zeros(len(fields), dtype=np.int64)
    limits = np.zeros(len(fields), dtype=np.int64)
    for i, name in enumerate(fields):
        dtype = str(vpc_flow.FIELDS[name][0])
        column = name.replace("-", "_")
        if dtype == "String":
            kinds[i] = KEY_TEXT if column in keys else SKIP_TEXT
            continue
        limits[i] = _LIMITS[dtype]
        kinds[i] = _NUMBERS.get(name, KEY_INT if column in keys else SKIP_INT)
    return kinds, limits


class ShapeSummer:
    """Texts of one layout folded into one table, one at a time: each text's new shapes keep
    their representative line as soon as it is read, so the caller can drop the text (memory
    follows the shapes and one object, not the hour's objects)."""

    def __init__(
        self,
        fields: list[str],
        skip: int,
        keys: Sequence[str],
        hour: str,
        capacity: int = 1 << 16,
    ) -> None:
        self.fields, self.skip, self.keys, self.hour = fields, skip, list(keys), hour
        self.kinds, self.limits = field_kinds(fields, keys)
        self.table = ShapeTable.empty(capacity)
        self.lines: list[bytes] = []

    def add(self, data: Text) -> bool:
        """Fold one text in; False when any record needs the careful parser (the sums are then
        partial and must be discarded)."""
        begin = 0
        for _ in range(self.skip):
            begin = data.find(b"\n", begin) + 1
            if begin == 0:
                begin = len(data)
                break
        if begin < len(data) and data[-1:] != b"\n":
            data = bytes(data) + b"\n"
        before = self.table.groups
        text = np.frombuffer(data, dtype=np.uint8)
        self.table, accepted = add_text(self.table, text, begin, self.kinds, self.limits)
        if not accepted:
            return False
        starts = self.table.rows[before : self.table.groups, LINE_START].tolist()
        ends = self.table.rows[before : self.table.groups, LINE_END].tolist()
        self.lines.append(b"".join(data[a:b] for a, b in zip(starts, ends, strict=True)))
        return True

    @property
    def records(self) -> int:
        return self.table.records

    @property
    def duplicates(self) -> int:
        return self.table.duplicates

    def frame(self) -> pl.DataFrame:
        """One row per hour and shape: the key columns, typed as the polars path types them
        (parsed from each shape's representative line), and the sums."""
        return _shape_frame(self.table, b"".join(self.lines), self.fields, self.keys, self.hour)


def shape_sums(
    texts: Sequence[Text],
    fields: list[str],
    skip: int,
    keys: Sequence[str],
    hour: str,
    capacity: int = 1 << 16,
) -> tuple[pl.DataFrame, int, int] | None:
    """(one row per hour and distinct ``keys`` with bytes, packets and flows summed, records
    counted, duplicate records dropped) of flow-log texts that share one layout, or None when
    any record needs the careful parser."""
    summer = ShapeSummer(fields, skip, keys, hour, capacity)
    for data in texts:
        if not summer.add(data):
            return None
    return summer.frame(), summer.records, summer.duplicates


def _shape_frame(
    table: ShapeTable, lines: bytes, fields: list[str], keys: Sequence[str], hour: str
) -> pl.DataFrame:
    schema = vpc_flow.text_schema(fields)
    shapes = pl.read_csv(
        lines,
        separator=" ",
        has_header=False,
        schema=schema,
        null_values=["-"],
        quote_char=None,
        raise_if_empty=False,
    )
    present = [k for k in keys if k in schema]
    frame = shapes.select(
        pl.Series(hour, table.column(HOUR)),
        *present,
        *[pl.lit(None, dtype=vpc_flow.COLUMNS[k]).alias(k) for k in keys if k not in schema],
        pl.Series("bytes", table.column(BYTES_SUM)),
        pl.Series("packets", table.column(PACKETS_SUM)),
        pl.Series("flows", table.column(FLOWS)).cast(pl.UInt32),
        pl.Series(SHAPE[0], table.column(HASH_1)),
        pl.Series(SHAPE[1], table.column(HASH_2)),
    ).select(hour, *keys, "bytes", "packets", "flows", *SHAPE)
    return frame


SHAPE = ("_shape_1", "_shape_2")  # the shape hash's two halves, in shape_sums' frames


class ShapeSums:
    """Batches' ``shape_sums`` folded together by (hour, shape hash), in numba: the key strings
    of each shape are kept once (from the batch that first had it), so memory follows the
    number of shapes, and no string is hashed again."""

    def __init__(self, hour: str, keys: Sequence[str]) -> None:
        self.hour = hour
        self.keys = list(keys)
        self.table = ShapeTable.empty()
        self.firsts: list[pl.DataFrame] = []

    def add(self, frame: pl.DataFrame) -> None:
        while self.table.groups + frame.height > len(self.table.rows):
            self.table = self.table.grown()
        new = np.zeros(frame.height, dtype=np.bool_)
        hour, hash_1, hash_2, nbytes, packets = (
            frame.get_column(c).to_numpy() for c in (self.hour, *SHAPE, "bytes", "packets")
        )
        flows = frame.get_column("flows").cast(pl.Int64).to_numpy()
        _absorb(
            self.table.slots,
            self.table.rows,
            self.table.state,
            hour,
            hash_1,
            hash_2,
            nbytes,
            packets,
            flows,
            new,
        )
        self.firsts.append(frame.filter(pl.Series(new)).select(self.hour, *self.keys))

    def frame(self) -> pl.DataFrame:
        """One row per hour and shape: the keys and their sums."""
        if not self.firsts:
            return pl.DataFrame()
        return pl.concat(self.firsts).with_columns(
            pl.Series("bytes", self.table.column(BYTES_SUM)),
            pl.Series("packets", self.table.column(PACKETS_SUM)),
            pl.Series("flows", self.table.column(FLOWS)).cast(pl.UInt32),
        )


@numba.njit(nogil=True, cache=True)
def _absorb(
    slots: np.ndarray,
    rows: np.ndarray,
    state: np.ndarray,
    hour: np.ndarray,
    hash_1: np.ndarray,
    hash_2: np.ndarray,
    nbytes: np.ndarray,
    packets: np.ndarray,
    flows: np.ndarray,
    new: np.ndarray,
) -> None:
    """Add one batch's groups; ``new[k]`` says group k was not in the table. Room is the
    caller's to make (``_group_of`` never returns -1 here)."""
    groups = state[0]
    for k in range(len(hour)):
        g = _group_of(slots, rows, groups, hour[k], hash_1[k], hash_2[k])
        if g == groups:
            groups += 1
            new[k] = True
        rows[g, BYTES_SUM] += nbytes[k]
        rows[g, PACKETS_SUM] += packets[k]
        rows[g, FLOWS] += flows[k]
    state[0] = groups
