"""Amazon S3 server access logs: space-separated, quoted and bracketed fields, growing over time.

The oldest layout ends at the user agent/host id; AWS appended fields over the years (signature
version ... ``aclRequired``) and says more may follow, so missing trailing fields are null and
unknown extra ones are ignored. A record is quarantined if its time, status or sizes cannot be read.
"""

from __future__ import annotations

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

SOURCE = "s3_access"

FIELDS = [
    "bucket_owner", "bucket", "time", "remote_ip", "requester", "request_id", "operation", "key",
    "request_uri", "http_status", "error_code", "bytes_sent", "object_size", "total_time_ms",
    "turn_around_time_ms", "referer", "user_agent", "version_id", "host_id", "signature_version",
    "cipher_suite", "authentication_type", "host_header", "tls_version", "access_point_arn",
    "acl_required",
]  # fmt: skip
MIN_FIELDS = 18  # through version id: the oldest documented layout
_NUMERIC: dict[str, pl.DataType] = {
    "http_status": pl.Int32(),
    "bytes_sent": pl.Int64(),
    "object_size": pl.Int64(),
    "total_time_ms": pl.Int64(),
    "turn_around_time_ms": pl.Int64(),
}
SCHEMA: dict[str, pl.DataType] = {
    **{f: _NUMERIC.get(f, pl.String()) for f in FIELDS},
    "time": pl.Datetime("us", "UTC"),
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}
_TOKEN = r'"[^"]*"|\[[^\]]*\]|\S+'


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    return parse_many([(source_file, data)])[0]


def parse_many(objects: list[tuple[str, bytes]]) -> list[ParseResult]:
    """Each object's records and quarantine, parsed in one polars pass over all their lines (an
    hourly partition holds a few kilobytes: a pass per object cost more than its parse)."""
    texts = []
    for source_file, data in objects:
        decoded = decompress(data)
        lines, quarantine = split_lines(decoded.data, source_file, decoded.truncated_reason)
        texts.append((decoded.label, lines, quarantine))
    lines = pl.concat(
        [
            t[1].with_columns(pl.lit(key, dtype=pl.String).alias("source_file"))
            for (key, _), t in zip(objects, texts, strict=True)
        ]
    )
    tokens = lines.with_columns(
        pl.col("text").str.extract_all(_TOKEN).alias("tokens")
    ).with_columns(pl.col("tokens").list.len().alias("n"))
    too_short = tokens.filter(pl.col("n") < MIN_FIELDS)
    fields = tokens.filter(pl.col("n") >= MIN_FIELDS).select(
        "source_file",
        "line_no",
        "text",
        *[
            pl.col("tokens").list.get(i, null_on_oob=True).str.strip_chars('"').alias(name)
            for i, name in enumerate(FIELDS)
        ],
    )
    stamp = pl.col("time").str.strip_chars("[]")
    time = stamp.str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False).dt.convert_time_zone("UTC")
    typed_exprs = [time.dt.cast_time_unit("us").alias("time")]
    checks: list[tuple[str, pl.Expr]] = [("time", time.is_null())]
    for name, dtype in _NUMERIC.items():
        typed, failed = cast_checked(name, dtype)
        typed_exprs.append(typed)
        checks.append((name, failed))
    others = [
        pl.when(pl.col(f) == "-").then(None).otherwise(pl.col(f)).alias(f)
        for f in FIELDS
        if f not in _NUMERIC and f != "time"
    ]
    checked = fields.with_columns(first_invalid_reason(checks).alias("_reason"))
    from_file = pl.col("source_file")
    bad = pl.concat(
        [
            lines_to_quarantine(
                too_short,
                from_file,
                pl.format("expected at least {} fields, found {}", pl.lit(MIN_FIELDS), "n"),
            ),
            lines_to_quarantine(
                checked.filter(pl.col("_reason").is_not_null()), from_file, pl.col("_reason")
            ),
        ]
    )
    records = (
        checked.filter(pl.col("_reason").is_null())
        .select("source_file", "line_no", *typed_exprs, *others)
        .select([pl.col(c).cast(dt) for c, dt in SCHEMA.items()])
    )
    keys = [key for key, _ in objects]
    records_of = split_on(records, "source_file", keys, keep_column=True)
    bad_of = split_on(bad, "source_file", keys, keep_column=True)
    widths_of = dict(
        tokens.group_by("source_file")
        .agg(pl.col("n").unique().sort())
        .select("source_file", "n")
        .iter_rows()
    )
    results = []
    for (key, _), (label, lines_of_file, quarantine) in zip(objects, texts, strict=True):
        widths = widths_of.get(key, [])
        result = ParseResult(
            records_of[key],
            pl.concat([quarantine, bad_of[key]]).sort("line_no"),
            label
            + f"S3 server access log, {', '.join(map(str, widths)) or 'no'} fields per record",
            lines_of_file.height + quarantine.height,
        )
        result.check_accounting()
        results.append(result)
    return results
