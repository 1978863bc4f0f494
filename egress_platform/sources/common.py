"""What every source parser shares: byte decoding, the quarantine contract and the parse result.

Every parser turns the bytes of one delivered object into typed records plus a quarantine frame, and
accounts for every input record: ``len(records) + len(quarantine) == input_records``. Nothing is
dropped silently; a line we cannot read goes to quarantine with the reason and its original text.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from dataclasses import dataclass, field

import polars as pl

MAX_LINE_BYTES = 256 * 1024
"""Longer lines are quarantined: no AWS log writes records this long, so it is corruption."""

QUARANTINE_RAW_LIMIT = 64 * 1024
"""How much of a bad record's original text is kept in quarantine."""

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "line_no": pl.Int64(),
    "reason": pl.String(),
    "raw": pl.String(),
}

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


class SourceError(Exception):
    """A whole input cannot be used (wrong source, unreadable file); the message says what to do."""


@dataclass
class ParseResult:
    """Records, quarantine and what was recognised about one input object."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    variant: str
    input_records: int
    notes: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return self.quarantine.height

    def check_accounting(self) -> None:
        """Fail loudly if a parser lost or invented records."""
        if self.records.height + self.quarantine.height != self.input_records:
            raise AssertionError(
                f"parser accounting broken: {self.records.height} records + "
                f"{self.quarantine.height} quarantined != {self.input_records} input"
            )


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def lines_to_quarantine(
    lines: pl.DataFrame, source_file: str | pl.Expr, reason: pl.Expr | str
) -> pl.DataFrame:
    """Quarantine rows for text lines (``line_no``, ``text``) with a reason per line (the
    object's key, or an expression for lines of several objects)."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    source = pl.lit(source_file) if isinstance(source_file, str) else source_file
    return lines.select(
        source.cast(pl.String).alias("source_file"),
        pl.col("line_no"),
        reason_expr.cast(pl.String).alias("reason"),
        pl.col("text").alias("raw"),
    )


def quarantine_rows(source_file: str, rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    """Build a quarantine frame from ``(line_no, reason, raw)`` tuples."""
    if not rows:
        return empty_quarantine()
    return pl.DataFrame(
        {
            "source_file": [source_file] * len(rows),
            "line_no": [r[0] for r in rows],
            "reason": [r[1] for r in rows],
            "raw": [r[2][:QUARANTINE_RAW_LIMIT] for r in rows],
        },
        schema=QUARANTINE_SCHEMA,
    )


@dataclass
class DecodedBytes:
    """Decompressed content plus what went wrong on the way (a cut gzip stream, for example)."""

    data: bytes
    compression: str
    truncated_reason: str | None = None
    # Bytes after the end of a complete gzip stream: not part of the delivery, so not records;
    # said in the parse variant so that someone can look.
    trailing_bytes: int = 0

    @property
    def label(self) -> str:
        """``gzip, `` (with a word on trailing bytes) or nothing: the variant's prefix."""
        if self.compression != "gzip":
            return ""
        if self.trailing_bytes:
            return f"gzip ({self.trailing_bytes} bytes after the gzip stream ignored), "
        return "gzip, "


UTF8_BOM = b"\xef\xbb\xbf"


def decompress(data: bytes) -> DecodedBytes:
    """Undo gzip (detected by magic, not by file name); keep what a cut stream still yields.

    A UTF-8 byte-order mark is dropped (editors and some exporters write one; it is no part of
    any record), and bytes after a complete gzip stream leave the stream complete.
    """
    if not data.startswith(GZIP_MAGIC):
        return DecodedBytes(_without_bom(data), "none")
    try:
        return DecodedBytes(_without_bom(gzip.decompress(data)), "gzip")
    except (EOFError, OSError, zlib.error) as exc:
        # Recover every complete byte before the damage; the caller quarantines the cut tail.
        out = bytearray()
        decoder = zlib.decompressobj(wbits=31)
        with contextlib.suppress(zlib.error):
            out += decoder.decompress(data)
        content = _without_bom(bytes(out))
        if decoder.eof:
            return DecodedBytes(content, "gzip", trailing_bytes=len(decoder.unused_data))
        return DecodedBytes(content, "gzip", f"damaged gzip stream ({exc.__class__.__name__})")


def _without_bom(data: bytes) -> bytes:
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


def split_lines(
    data: bytes, source_file: str, truncated_reason: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split text bytes into ``(line_no, text)`` rows and quarantine unreadable lines.

    Blank lines are not records and are skipped. Lines that are not UTF-8, hold NUL bytes or are
    absurdly long are quarantined. If the stream was cut, the last (partial) line is quarantined.
    """
    try:
        text = data.decode("utf-8")
        lines = pl.Series("text", text.split("\n"), dtype=pl.String)
        frame = pl.DataFrame(
            {"line_no": pl.int_range(1, lines.len() + 1, eager=True), "text": lines}
        )
        bad: list[tuple[int, str, str]] = []
    except UnicodeDecodeError:
        frame, bad = _split_lines_slow(data)
    frame = frame.with_columns(pl.col("text").str.strip_chars_end("\r"))
    if truncated_reason is not None and frame.height:
        last = frame.row(frame.height - 1)
        if last[1] != "":
            bad.append((last[0], f"{truncated_reason}: partial last line", last[1]))
        frame = frame.head(frame.height - 1)
    too_long = frame.filter(
        (pl.col("text").str.len_bytes() > MAX_LINE_BYTES)
        | pl.col("text").str.contains("\x00", literal=True)
    )
    for line_no, text in too_long.iter_rows():
        reason = (
            f"line too long ({len(text.encode())} bytes)"
            if len(text.encode()) > MAX_LINE_BYTES
            else "binary content (NUL byte)"
        )
        bad.append((line_no, reason, text))
    if too_long.height:
        frame = frame.join(too_long.select("line_no"), on="line_no", how="anti")
    frame = frame.filter(pl.col("text").str.strip_chars() != "")
    return frame, quarantine_rows(source_file, sorted(bad))


def _split_lines_slow(data: bytes) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    good_no: list[int] = []
    good_text: list[str] = []
    bad: list[tuple[int, str, str]] = []
    for i, raw in enumerate(data.split(b"\n"), start=1):
        try:
            good_text.append(raw.decode("utf-8"))
            good_no.append(i)
        except UnicodeDecodeError:
            bad.append((i, "not valid UTF-8", raw.decode("utf-8", errors="backslashreplace")))
    frame = pl.DataFrame(
        {
            "line_no": pl.Series(good_no, dtype=pl.Int64),
            "text": pl.Series(good_text, dtype=pl.String),
        }
    )
    return frame, bad


def first_invalid_reason(checks: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """An expression giving the first failing check's message per row, or null when all pass.

    ``checks`` pairs a field name with a boolean expression that is true where the value is bad.
    """
    if not checks:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(
        [pl.when(bad).then(pl.lit(f"invalid {name}")).otherwise(None) for name, bad in checks]
    )


def cast_checked(
    col: str, dtype: pl.DataType, null_tokens: tuple[str, ...] = ("-",)
) -> tuple[pl.Expr, pl.Expr]:
    """Cast a text column; return (typed expr, expr true where a non-null token failed to cast)."""
    text = pl.col(col)
    is_null_token = text.is_null() | text.is_in(list(null_tokens))
    typed = pl.when(is_null_token).then(None).otherwise(text).cast(dtype, strict=False)
    return typed.alias(col), (~is_null_token & typed.is_null())


def read_parquet_bytes(data: bytes) -> pl.DataFrame:
    import io

    return pl.read_parquet(io.BytesIO(data))
