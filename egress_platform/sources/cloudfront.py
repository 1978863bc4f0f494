"""CloudFront standard (legacy) access logs: W3C, tab separated, ``#Fields`` header, gzip.

CloudFront grew the record from 24 to 26 to 33 fields; files without a ``#Fields`` line use the
standard order. Any other field count (after dropping trailing empty fields) means a cut or
damaged record and goes to quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from egress_platform.lake_layout import split_on
from egress_platform.sources.common import (
    ParseResult,
    cast_checked,
    decompress,
    first_invalid_reason,
    lines_to_quarantine,
    split_lines,
)

SOURCE = "cloudfront"

W3C_FIELDS = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
]
HISTORIC_WIDTHS = (24, 26, 33)


def column_name(w3c: str) -> str:
    """``cs(User-Agent)`` -> ``cs_user_agent``."""
    return w3c.replace("(", "_").replace(")", "").replace("-", "_").lower()


COLUMNS = [column_name(f) for f in W3C_FIELDS]
_NUMERIC: dict[str, pl.DataType] = {
    "sc_bytes": pl.Int64(),
    "sc_status": pl.Int32(),
    "cs_bytes": pl.Int64(),
    "time_taken": pl.Float64(),
    "c_port": pl.Int32(),
    "time_to_first_byte": pl.Float64(),
    "sc_content_len": pl.Int64(),
    "sc_range_start": pl.Int64(),
    "sc_range_end": pl.Int64(),
}
SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    **{c: _NUMERIC.get(c, pl.String()) for c in COLUMNS if c not in ("date", "time")},
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    return parse_many([(source_file, data)])[0]


@dataclass
class _Object:
    """One object read as far as its header: its body lines and what the header declares."""

    label: str
    body: pl.DataFrame
    quarantine: pl.DataFrame
    fields: tuple[str, ...]
    declared: bool


def _read_header(data: bytes, source_file: str) -> _Object:
    decoded = decompress(data)
    lines, quarantine = split_lines(decoded.data, source_file, decoded.truncated_reason)
    directives = lines.filter(pl.col("text").str.starts_with("#"))
    declared = [
        text.split(":", 1)[1].split()
        for text in directives.get_column("text").to_list()
        if text.startswith("#Fields:")
    ]
    body = lines.filter(~pl.col("text").str.starts_with("#")).with_columns(
        pl.lit(source_file, dtype=pl.String).alias("source_file")
    )
    fields = tuple(declared[-1] if declared else W3C_FIELDS)
    return _Object(decoded.label, body, quarantine, fields, bool(declared))


def parse_many(objects: list[tuple[str, bytes]]) -> list[ParseResult]:
    """Each object's records and quarantine, in one polars pass per field layout over the lines
    of every object that declares it (an hour's log is a few kilobytes: a pass per object cost
    more than its parse)."""
    read = [_read_header(data, key) for key, data in objects]
    by_layout: dict[tuple[str, ...], list[int]] = {}
    for i, obj in enumerate(read):
        by_layout.setdefault(obj.fields, []).append(i)
    parsed: dict[int, tuple[pl.DataFrame, pl.DataFrame, str]] = {}
    for fields, members in by_layout.items():
        body = pl.concat([read[i].body for i in members])
        records, bad, widths_of = _parse_layout(body, fields)
        keys = [objects[i][0] for i in members]
        records_of = split_on(records, "source_file", keys, keep_column=True)
        bad_of = split_on(bad, "source_file", keys, keep_column=True)
        for i, key in zip(members, keys, strict=True):
            parsed[i] = (records_of[key], bad_of[key], widths_of.get(key, "no"))
    results = []
    for i, obj in enumerate(read):
        records, bad, widths = parsed[i]
        unknown = [f for f in obj.fields if f not in W3C_FIELDS]
        header = "#Fields header" if obj.declared else "no header (standard field order)"
        result = ParseResult(
            records,
            pl.concat([obj.quarantine, bad]).sort("line_no"),
            obj.label + f"CloudFront W3C log, {header}, {widths} fields per record",
            obj.body.height + obj.quarantine.height,
            [f"unknown fields in #Fields: {unknown}"] if unknown else [],
        )
        result.check_accounting()
        results.append(result)
    return results


def _parse_layout(
    body: pl.DataFrame, fields: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    """Records, quarantined lines and the widths seen per object, for lines of one layout."""
    names = [column_name(f) for f in fields]
    tokens = body.with_columns(
        pl.col("text").str.strip_chars_end("\t").str.split("\t").alias("tokens")
    ).with_columns(pl.col("tokens").list.len().alias("n"))
    allowed = sorted({w for w in HISTORIC_WIDTHS if w <= len(fields)} | {len(fields)})
    wrong = tokens.filter(~pl.col("n").is_in(allowed))
    good = tokens.filter(pl.col("n").is_in(allowed)).select(
        "source_file",
        "line_no",
        "text",
        *[pl.col("tokens").list.get(i, null_on_oob=True).alias(n) for i, n in enumerate(names)],
    )
    typed_exprs: list[pl.Expr] = []
    checks: list[tuple[str, pl.Expr]] = []
    timestamp = pl.concat_str([pl.col("date"), pl.col("time")], separator=" ").str.to_datetime(
        "%Y-%m-%d %H:%M:%S", strict=False, time_unit="us", time_zone="UTC"
    )
    checks.append(("date/time", timestamp.is_null()))
    for name in names:
        if name in ("date", "time"):
            continue
        if name in _NUMERIC:
            typed, failed = cast_checked(name, _NUMERIC[name])
            typed_exprs.append(typed)
            checks.append((name, failed))
        else:
            typed_exprs.append(
                pl.when(pl.col(name) == "-").then(None).otherwise(pl.col(name)).alias(name)
            )
    checked = good.with_columns(first_invalid_reason(checks).alias("_reason"))
    from_file = pl.col("source_file")
    bad = pl.concat(
        [
            lines_to_quarantine(
                wrong,
                from_file,
                pl.format(
                    "truncated or damaged record: {} fields, expected one of {}",
                    "n",
                    pl.lit(", ".join(map(str, allowed))),
                ),
            ),
            lines_to_quarantine(
                checked.filter(pl.col("_reason").is_not_null()), from_file, pl.col("_reason")
            ),
        ]
    )
    records = checked.filter(pl.col("_reason").is_null()).select(
        "source_file", "line_no", timestamp.alias("timestamp"), *typed_exprs
    )
    records = records.select(
        [
            pl.col(c).cast(dt) if c in records.columns else pl.lit(None, dtype=dt).alias(c)
            for c, dt in SCHEMA.items()
        ]
    )
    widths = {
        key: ", ".join(map(str, seen)) or "no"
        for key, seen in tokens.group_by("source_file").agg(pl.col("n").unique().sort()).iter_rows()
    }
    return records, bad, widths
