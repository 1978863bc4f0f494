"""Cost and Usage Report line items in every delivered flavour, mapped to one canonical schema.

Flavours: CUR 1.0 CSV (``lineItem/UsageType`` slash headers), Athena/Parquet snake_case
(``line_item_usage_type``, columns drift month to month), the Hive text export delimited by Ctrl-A,
CUR 2.0 (snake_case, ``product`` as a map) and FOCUS 1.0 (``BilledCost``, literal ``NULL``).
A line item whose usage start or cost cannot be read is quarantined.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from egress_platform.sources.common import (
    PARQUET_MAGIC,
    ParseResult,
    SourceError,
    decompress,
    empty_quarantine,
    lines_to_quarantine,
    quarantine_rows,
    read_parquet_bytes,
    split_lines,
)

SOURCE = "cur"

SCHEMA: dict[str, pl.DataType] = {
    "line_item_id": pl.String(),
    "provider": pl.String(),
    "payer_account_id": pl.String(),
    "usage_account_id": pl.String(),
    "line_item_type": pl.String(),
    "usage_start": pl.Datetime("us", "UTC"),
    "usage_end": pl.Datetime("us", "UTC"),
    "product_code": pl.String(),
    "usage_type": pl.String(),
    "operation": pl.String(),
    "availability_zone": pl.String(),
    "resource_id": pl.String(),
    "usage_amount": pl.Float64(),
    "pricing_unit": pl.String(),
    "currency": pl.String(),
    "unblended_rate": pl.Float64(),
    "unblended_cost": pl.Float64(),
    "description": pl.String(),
    "region": pl.String(),
    "from_location": pl.String(),
    "to_location": pl.String(),
    "transfer_type": pl.String(),
    "product_family": pl.String(),
    "invoice_id": pl.String(),
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}

# canonical column -> candidate source columns (after header normalisation), first present wins.
ATHENA_COLUMNS: dict[str, tuple[str, ...]] = {
    "line_item_id": ("identity_line_item_id",),
    "payer_account_id": ("bill_payer_account_id",),
    "usage_account_id": ("line_item_usage_account_id",),
    "line_item_type": ("line_item_line_item_type",),
    "usage_start": ("line_item_usage_start_date",),
    "usage_end": ("line_item_usage_end_date",),
    "product_code": ("line_item_product_code",),
    "usage_type": ("line_item_usage_type",),
    "operation": ("line_item_operation",),
    "availability_zone": ("line_item_availability_zone",),
    "resource_id": ("line_item_resource_id",),
    "usage_amount": ("line_item_usage_amount",),
    "pricing_unit": ("pricing_unit",),
    "currency": ("line_item_currency_code",),
    "unblended_rate": ("line_item_unblended_rate",),
    "unblended_cost": ("line_item_unblended_cost",),
    "description": ("line_item_line_item_description",),
    "region": ("product_region", "product_region_code"),
    "from_location": ("product_from_location",),
    "to_location": ("product_to_location",),
    "transfer_type": ("product_transfer_type",),
    "product_family": ("product_product_family",),
    "invoice_id": ("bill_invoice_id",),
}
FOCUS_COLUMNS: dict[str, tuple[str, ...]] = {
    "line_item_id": ("Id",),
    "provider": ("ProviderName",),
    "payer_account_id": ("BillingAccountId",),
    "usage_account_id": ("SubAccountId",),
    "line_item_type": ("ChargeCategory",),
    "usage_start": ("ChargePeriodStart",),
    "usage_end": ("ChargePeriodEnd",),
    "product_code": ("ServiceName",),
    "usage_type": ("x_UsageType",),
    "operation": ("x_Operation",),
    "availability_zone": ("AvailabilityZone",),
    "resource_id": ("ResourceId",),
    "usage_amount": ("ConsumedQuantity",),
    "pricing_unit": ("PricingUnit",),
    "currency": ("BillingCurrency",),
    "unblended_rate": ("ContractedUnitPrice", "ListUnitPrice"),
    "unblended_cost": ("BilledCost",),
    "description": ("ChargeDescription",),
    "region": ("RegionId",),
    "product_family": ("ServiceCategory",),
}
_NULL_TOKENS = ["", "NULL", "null"]
_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
)


def normalise_header(name: str) -> str:
    """``lineItem/UsageType`` -> ``line_item_usage_type``; Athena names pass through unchanged."""
    parts = name.split("/")
    snake = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", p) for p in parts]
    return re.sub(r"[^0-9a-z]+", "_", "_".join(snake).lower()).strip("_")


def _distinct_names(columns: list[str]) -> dict[str, str]:
    """Normalised names, each once: tag keys are case-sensitive (``resourceTags/user:Owner`` and
    ``resourceTags/user:owner`` may both be columns), so a name that comes again gets a suffix,
    and a header with no letters or digits is named by its position."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for position, column in enumerate(columns, 1):
        name = normalise_header(column) or f"column_{position}"
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names[column] = name
    return names


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    decoded = decompress(data)
    raw = decoded.data
    if decoded.truncated_reason:
        raise SourceError(f"{source_file}: {decoded.truncated_reason}; re-download the report file")
    if raw.lstrip().startswith(b"{"):
        return _parse_manifest(raw, source_file)
    rows = CsvRows(pl.DataFrame(), ",", None, empty_quarantine())
    if raw.startswith(PARQUET_MAGIC):
        frame = read_parquet_bytes(raw)
        flavour = "CUR 2.0 Parquet" if "product" in frame.columns else "CUR Athena/Parquet"
    else:
        rows = _read_csv_rows(raw, source_file)
        frame = rows.frame
        flavour = "CUR text export (Ctrl-A delimited)" if rows.separator == "\x01" else "CSV"
    if "BilledCost" in frame.columns:
        flavour = "FOCUS 1.0" if flavour == "CSV" else f"FOCUS 1.0 ({flavour})"
        mapping = FOCUS_COLUMNS
    else:
        if flavour == "CSV":
            flavour = (
                "CUR 1.0 CSV (slash headers)"
                if any("/" in c for c in frame.columns)
                else "CUR CSV (Athena snake_case headers)"
            )
        frame = frame.rename(_distinct_names(frame.columns))
        mapping = ATHENA_COLUMNS
    return _to_canonical(frame, mapping, source_file, flavour, decoded.label, rows)


@dataclass
class CsvRows:
    """The well-formed rows of a CUR CSV, the line each came from, and the lines that were not."""

    frame: pl.DataFrame
    separator: str
    lines: pl.DataFrame | None  # (line_no, text) per row of ``frame``; None for Parquet
    quarantine: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def _read_csv_rows(raw: bytes, source_file: str) -> CsvRows:
    """Row-level reading: a line that is not UTF-8, or holds more fields than the header names,
    is quarantined with its original text; every other row is read. A row with fewer fields
    has its last values empty (exporters leave trailing empty fields out), and is counted."""
    lines, quarantine = split_lines(raw, source_file)
    if lines.height == 0:
        raise SourceError(f"{source_file}: an empty CUR file (no header line); re-download it")
    lines = _join_quoted_newlines(lines)
    header = lines.row(0)[1]
    separator = "\x01" if "\x01" in header else ","
    unquoted = pl.col("text").str.replace_all(r'"([^"]|"")*"', "")
    counted = lines.with_columns(
        (unquoted.str.count_matches(separator, literal=True) + 1).alias("fields")
    )
    expected = int(counted.row(0, named=True)["fields"])
    body = counted.slice(1)
    ragged = body.filter(pl.col("fields") > expected)
    if ragged.height:
        reason = pl.format(
            "expected {} fields as the header names, found {}: a ragged row (an unquoted "
            "separator or two lines run together); re-export the report or fix the row",
            pl.lit(expected),
            pl.col("fields"),
        )
        quarantine = pl.concat([quarantine, lines_to_quarantine(ragged, source_file, reason)])
    good = body.filter(pl.col("fields") <= expected)
    short = good.filter(pl.col("fields") < expected).height
    good = good.select("line_no", "text")
    text = "\n".join([header, *good.get_column("text").to_list()])
    try:
        frame = pl.read_csv(
            io.BytesIO(text.encode()), separator=separator, infer_schema=False, quote_char='"'
        )
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"{source_file}: not a readable CUR CSV ({exc})") from exc
    if frame.height != good.height:
        raise SourceError(
            f"{source_file}: {frame.height} CSV rows from {good.height} lines; "
            "the quoting is broken, re-export the report"
        )
    notes = [f"{short} rows with fewer fields than the header: their last values are empty"]
    return CsvRows(frame, separator, good, quarantine, notes if short else [])


def _join_quoted_newlines(lines: pl.DataFrame) -> pl.DataFrame:
    """A quoted field may hold a newline: such a line continues on the next (rare: slow path)."""
    odd = lines.get_column("text").str.count_matches('"', literal=True) % 2 == 1
    if not odd.any():
        return lines
    numbers: list[int] = []
    texts: list[str] = []
    open_quote = False
    for line_no, text in lines.iter_rows():
        if open_quote:
            texts[-1] += "\n" + text
        else:
            numbers.append(line_no)
            texts.append(text)
        if text.count('"') % 2 == 1:
            open_quote = not open_quote
    return pl.DataFrame(
        {"line_no": pl.Series(numbers, dtype=pl.Int64), "text": pl.Series(texts, dtype=pl.String)}
    )


def _to_canonical(
    frame: pl.DataFrame,
    mapping: dict[str, tuple[str, ...]],
    source_file: str,
    flavour: str,
    label: str,
    rows: CsvRows,
) -> ParseResult:
    line_no = (
        pl.lit(rows.lines.get_column("line_no"))
        if rows.lines is not None
        else pl.int_range(1, frame.height + 1, dtype=pl.Int64)
    )
    exprs: list[pl.Expr] = [line_no.alias("line_no")]
    missing: list[str] = []
    for canonical, candidates in mapping.items():
        present = next((c for c in candidates if c in frame.columns), None)
        dtype = SCHEMA[canonical]
        if present is None:
            missing.append(canonical)
            exprs.append(pl.lit(None, dtype=dtype).alias(canonical))
            continue
        exprs.append(_typed(pl.col(present), frame.schema[present], dtype).alias(canonical))
        if dtype != pl.String():
            exprs.append(pl.col(present).cast(pl.String).alias(f"_raw_{canonical}"))
    if "provider" not in mapping:
        exprs.append(pl.lit("AWS").alias("provider"))
    typed = frame.select(exprs)
    failures: list[pl.Expr] = []
    for canonical in ("usage_start", "unblended_cost", "usage_amount", "usage_end"):
        raw_col = f"_raw_{canonical}"
        if raw_col not in typed.columns:
            continue
        raw_present = pl.col(raw_col).is_not_null() & ~pl.col(raw_col).is_in(_NULL_TOKENS)
        failures.append(
            pl.when(raw_present & pl.col(canonical).is_null()).then(pl.lit(f"invalid {canonical}"))
        )
    if "unblended_cost" in missing:
        raise SourceError(
            f"{source_file}: no cost column ({', '.join(mapping['unblended_cost'])}): not a CUR "
            "line-item file, or its columns were renamed; deliver the report as AWS writes it"
        )
    if "usage_start" in missing:
        failures.append(pl.lit("no usage start column"))
    failures.extend(_out_of_range())
    reason = pl.coalesce(failures) if failures else pl.lit(None, dtype=pl.String)
    typed = typed.with_columns(reason.alias("_reason"))
    bad = typed.filter(pl.col("_reason").is_not_null())
    if rows.lines is not None:  # the original line, as delivered
        quarantine = lines_to_quarantine(
            bad.select("line_no", "_reason").join(rows.lines, on="line_no", how="left"),
            source_file,
            pl.col("_reason"),
        )
    elif bad.height:  # Parquet has no text: the row, as JSON
        quarantine = quarantine_rows(
            source_file,
            [
                (row["line_no"], row["_reason"], json.dumps(row, default=str))
                for row in bad.drop([c for c in bad.columns if c.startswith("_raw_")]).iter_rows(
                    named=True
                )
            ],
        )
    else:
        quarantine = empty_quarantine()
    quarantine = pl.concat([rows.quarantine, quarantine]).sort("line_no")
    records = typed.filter(pl.col("_reason").is_null()).with_columns(
        pl.lit(source_file).alias("source_file")
    )
    records = records.select(
        [
            pl.col(c).cast(dt) if c in records.columns else pl.lit(None, dtype=dt).alias(c)
            for c, dt in SCHEMA.items()
        ]
    )
    result = ParseResult(
        records,
        quarantine,
        f"{label}{flavour}, {frame.width} columns",
        frame.height + rows.quarantine.height,
        [f"columns absent in this file: {', '.join(missing)}"] * bool(missing) + rows.notes,
    )
    result.check_accounting()
    return result


# Usage dates AWS can bill: from 2006 (the first services) to 2100; an end not before its start.
_EARLIEST = datetime(2006, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _out_of_range() -> list[pl.Expr]:
    start, end = pl.col("usage_start"), pl.col("usage_end")
    return [
        pl.when(start.is_not_null() & ((start < _EARLIEST) | (start >= _LATEST))).then(
            pl.lit("invalid usage_start (before 2006 or after 2099)")
        ),
        pl.when(end.is_not_null() & start.is_not_null() & (end < start)).then(
            pl.lit("invalid usage_end (before usage_start)")
        ),
        pl.when(pl.col("unblended_cost").is_infinite() | pl.col("unblended_cost").is_nan()).then(
            pl.lit("invalid unblended_cost (not a finite number)")
        ),
        pl.when(pl.col("usage_amount").is_infinite() | pl.col("usage_amount").is_nan()).then(
            pl.lit("invalid usage_amount (not a finite number)")
        ),
    ]


def _typed(expr: pl.Expr, source_dtype: pl.DataType, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        if isinstance(source_dtype, pl.Datetime):
            return (
                expr.dt.replace_time_zone("UTC")
                if source_dtype.time_zone is None
                else expr.dt.convert_time_zone("UTC")
            ).dt.cast_time_unit("us")
        text = expr.cast(pl.String).str.strip_chars()
        return pl.coalesce(
            [
                text.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")
                if "%z" not in fmt
                else text.str.to_datetime(fmt, strict=False, time_unit="us").dt.convert_time_zone(
                    "UTC"
                )
                for fmt in _DATETIME_FORMATS
            ]
        )
    if dtype == pl.Float64():
        if source_dtype.is_numeric():
            return expr.cast(pl.Float64)
        text = expr.cast(pl.String).str.strip_chars()
        return (
            pl.when(text.is_in(_NULL_TOKENS))
            .then(None)
            .otherwise(text)
            .cast(pl.Float64, strict=False)
        )
    text = expr.cast(pl.String)
    return pl.when(text.is_in(_NULL_TOKENS)).then(None).otherwise(text)


def _parse_manifest(raw: bytes, source_file: str) -> ParseResult:
    """A report manifest names the current assembly's files; it holds no line items."""
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ParseResult(
            pl.DataFrame(schema=SCHEMA),
            quarantine_rows(
                source_file, [(1, f"invalid JSON: {exc}", raw.decode("utf-8", "replace"))]
            ),
            "invalid JSON",
            1,
        )
    if not isinstance(manifest, dict) or "reportKeys" not in manifest:
        return ParseResult(
            pl.DataFrame(schema=SCHEMA),
            quarantine_rows(source_file, [(1, "JSON that is not a CUR manifest", raw.decode())]),
            "unknown JSON",
            1,
        )
    return ParseResult(
        pl.DataFrame(schema=SCHEMA),
        empty_quarantine(),
        f"CUR manifest (assembly {manifest.get('assemblyId')}, {len(manifest['reportKeys'])} report files): skipped",
        0,
    )
