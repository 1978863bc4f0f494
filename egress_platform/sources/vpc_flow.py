"""VPC Flow Logs: default v2 and any custom ``log-format`` (v3-v8 fields), text/gzip/Parquet.

The layout of a text record comes from, in order: the last header line seen in the file (S3
delivery writes one, and some pipelines repeat it), the configured ``log_format``, or a known
headerless layout recognised by its field count (v2 default, v5 "all fields", TGW default, v7/v8
ECS). Tokens are split on runs of whitespace, ``-`` is null, and a record whose values do not fit
their field types is quarantined with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import polars as pl

from egress_platform.sources.common import (
    PARQUET_MAGIC,
    ParseResult,
    cast_checked,
    decompress,
    empty_quarantine,
    first_invalid_reason,
    lines_to_quarantine,
    quarantine_rows,
    read_parquet_bytes,
    split_lines,
)

SOURCE = "vpc_flow"

_S = pl.String()
_I16 = pl.Int16()
_I32 = pl.Int32()
_I64 = pl.Int64()

# Every documented field, its type and the flow-log version that introduced it.
FIELDS: dict[str, tuple[pl.DataType, int]] = {
    "version": (_I16, 2), "account-id": (_S, 2), "interface-id": (_S, 2), "srcaddr": (_S, 2),
    "dstaddr": (_S, 2), "srcport": (_I32, 2), "dstport": (_I32, 2), "protocol": (_I16, 2),
    "packets": (_I64, 2), "bytes": (_I64, 2), "start": (_I64, 2), "end": (_I64, 2),
    "action": (_S, 2), "log-status": (_S, 2),
    "vpc-id": (_S, 3), "subnet-id": (_S, 3), "instance-id": (_S, 3), "tcp-flags": (_I32, 3),
    "type": (_S, 3), "pkt-srcaddr": (_S, 3), "pkt-dstaddr": (_S, 3),
    "region": (_S, 4), "az-id": (_S, 4), "sublocation-type": (_S, 4), "sublocation-id": (_S, 4),
    "pkt-src-aws-service": (_S, 5), "pkt-dst-aws-service": (_S, 5), "flow-direction": (_S, 5),
    "traffic-path": (_I16, 5),
    "resource-type": (_S, 6), "tgw-id": (_S, 6), "tgw-attachment-id": (_S, 6),
    "tgw-src-vpc-account-id": (_S, 6), "tgw-dst-vpc-account-id": (_S, 6),
    "tgw-src-vpc-id": (_S, 6), "tgw-dst-vpc-id": (_S, 6), "tgw-src-subnet-id": (_S, 6),
    "tgw-dst-subnet-id": (_S, 6), "tgw-src-eni": (_S, 6), "tgw-dst-eni": (_S, 6),
    "tgw-src-az-id": (_S, 6), "tgw-dst-az-id": (_S, 6), "tgw-pair-attachment-id": (_S, 6),
    "packets-lost-no-route": (_I64, 6), "packets-lost-blackhole": (_I64, 6),
    "packets-lost-mtu-exceeded": (_I64, 6), "packets-lost-ttl-expired": (_I64, 6),
    "ecs-cluster-arn": (_S, 7), "ecs-cluster-name": (_S, 7), "ecs-container-instance-arn": (_S, 7),
    "ecs-container-instance-id": (_S, 7), "ecs-container-id": (_S, 7),
    "ecs-second-container-id": (_S, 7), "ecs-service-name": (_S, 7),
    "ecs-task-definition-arn": (_S, 7), "ecs-task-arn": (_S, 7), "ecs-task-id": (_S, 7),
    "reject-reason": (_S, 8),
}  # fmt: skip

V2_DEFAULT = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
]
V5_ALL = [
    *V2_DEFAULT,
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
]
V7_ECS_ALL = [
    *V5_ALL,
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
]
V8_ALL = [*V7_ECS_ALL, "reject-reason"]
TGW_DEFAULT = [
    "version",
    "resource-type",
    "account-id",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "type",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
    "tcp-flags",
    "region",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
]

# The custom format the product asks for (the CDK flow logs use it, the simulator writes it):
# v5 fields for direction, path and the real peer behind a NAT, and the ENI's subnet and AZ.
RECOMMENDED_FORMAT = [
    *V2_DEFAULT,
    "vpc-id",
    "subnet-id",
    "instance-id",
    "az-id",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "region",
]

# Headerless layouts recognised by field count (AWS's documented defaults / "all fields" orders).
HEADERLESS_LAYOUTS: dict[int, tuple[str, list[str]]] = {
    len(V2_DEFAULT): ("v2 default", V2_DEFAULT),
    len(V5_ALL): ("v5 all fields", V5_ALL),
    len(TGW_DEFAULT): ("transit gateway default", TGW_DEFAULT),
    len(V7_ECS_ALL): ("v7 all fields (ECS)", V7_ECS_ALL),
    len(V8_ALL): ("v8 all fields", V8_ALL),
}

COLUMNS: dict[str, pl.DataType] = {name.replace("-", "_"): dt for name, (dt, _) in FIELDS.items()}
LINEAGE: dict[str, pl.DataType] = {"source_file": pl.String(), "line_no": pl.Int64()}
# Fields a header names that this parser does not know yet (AWS keeps adding them): kept per
# record as a JSON object of name -> text, so nothing delivered is dropped.
EXTRA: dict[str, pl.DataType] = {"extra_fields": pl.String()}
SCHEMA: dict[str, pl.DataType] = {**COLUMNS, **EXTRA, **LINEAGE}

_ADDRESS_FIELDS = {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"}
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# AWS's documented ranges: ports 0-65535, an IANA protocol number 0-255, counts never negative,
# and start/end in Unix seconds from 2010 (AWS's own examples are of 2014) to 2100, end not before start.
_COUNT_MAX = 2**62
_RANGES: dict[str, tuple[int, int]] = {
    "srcport": (0, 65535),
    "dstport": (0, 65535),
    "protocol": (0, 255),
    "packets": (0, _COUNT_MAX),
    "bytes": (0, _COUNT_MAX),
    "start": (1_262_304_000, 4_102_444_800),
    "end": (1_262_304_000, 4_102_444_800),
    "tcp-flags": (0, 255),
    "traffic-path": (1, 8),
}
_IPV4 = r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    [
        f"({_H}:){{7}}{_H}",
        f"({_H}:){{1,7}}:",
        f"({_H}:){{1,6}}:{_H}",
        f"({_H}:){{1,5}}(:{_H}){{1,2}}",
        f"({_H}:){{1,4}}(:{_H}){{1,3}}",
        f"({_H}:){{1,3}}(:{_H}){{1,4}}",
        f"({_H}:){{1,2}}(:{_H}){{1,5}}",
        f"{_H}:(:{_H}){{1,6}}",
        f":((:{_H}){{1,7}}|:)",
        f"({_H}:){{6}}{_IPV4}",
        f"({_H}:){{1,5}}:{_IPV4}",
        f"::({_H}:){{0,5}}{_IPV4}",
    ]
)
_ADDRESS = f"^({_IPV4}|{_IPV6})$"
_ENUMS = {
    "action": ["ACCEPT", "REJECT"],
    "log-status": ["OK", "NODATA", "SKIPDATA"],
    "flow-direction": ["ingress", "egress"],
}


def is_header(tokens: Sequence[str]) -> bool:
    """A header line names fields: every token is shaped like a field name and most are known
    (a field AWS added after this parser was written does not make the line a record)."""
    known = sum(t in FIELDS for t in tokens)
    return known >= 3 and known * 2 > len(tokens) and all(_FIELD_NAME.match(t) for t in tokens)


def invalid_address(column: pl.Expr) -> pl.Expr:
    """True where a non-null address is neither dotted IPv4 nor IPv6 (RFC 4291 text forms,
    compressed or not, with or without an IPv4 tail)."""
    return column.is_not_null() & ~column.str.contains(_ADDRESS)


def out_of_range(name: str, column: pl.Expr) -> pl.Expr | None:
    """True where a typed numeric field is outside its documented range."""
    bounds = _RANGES.get(name)
    if bounds is None:
        return None
    return column.is_not_null() & ((column < bounds[0]) | (column > bounds[1]))


def parse_log_format(text: str) -> list[str]:
    """Parse a ``log-format`` string (``${version} ${srcaddr}`` or plain field names)."""
    fields = [token.strip("${}") for token in text.split()]
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ValueError(f"unknown flow-log field(s) {unknown}; known fields: {sorted(FIELDS)}")
    return fields


def layout_version(fields: Sequence[str]) -> int:
    return max((FIELDS[f][1] for f in fields if f in FIELDS), default=2)


_KEY_ORIGIN = re.compile(
    r"AWSLogs/(?:[^/]+/)*?(?P<account>\d{12})/vpcflowlogs/(?P<region>[a-z0-9-]+)/"
)


def key_origin(key: str) -> tuple[str | None, str | None]:
    """(account, region) from AWS's key ``AWSLogs/<account>/vpcflowlogs/<region>/...``."""
    origin = _KEY_ORIGIN.search(key)
    return (origin["account"], origin["region"]) if origin else (None, None)


def layout_variant(fields: Sequence[str], skip: int) -> str:
    """How a clean text object's layout is named in the parse variants."""
    label = "header line" if skip else "configured log-format"
    return f"{label}: v{layout_version(fields)}, {len(fields)} fields ({' '.join(fields)})"


def parse_bytes(
    data: bytes, source_file: str, log_format: Sequence[str] | None = None
) -> ParseResult:
    """Parse one delivered flow-log object (plain, gzip or Parquet). A format without the
    ``region`` or ``account-id`` field gets them from the object's key (AWS writes
    ``AWSLogs/<account>/vpcflowlogs/<region>/...``): one landing zone may hold many of each."""
    result = _parse_object(data, source_file, log_format)
    account, region = key_origin(source_file)
    if account and result.records.height:
        result.records = result.records.with_columns(
            pl.col("region").fill_null(pl.lit(region, dtype=pl.String)),
            pl.col("account_id").fill_null(pl.lit(account, dtype=pl.String)),
        )
    return result


def _parse_object(
    data: bytes, source_file: str, log_format: Sequence[str] | None = None
) -> ParseResult:
    decoded = decompress(data)
    if decoded.data.startswith(PARQUET_MAGIC):
        return _parse_parquet(decoded.data, source_file)
    if decoded.truncated_reason is None:
        fast = _parse_fast(decoded.data, source_file, log_format)
        if fast is not None:
            fast.variant = decoded.label + fast.variant
            return fast
    lines, quarantine = split_lines(decoded.data, source_file, decoded.truncated_reason)
    lines = _unwrap_and_tokenize(lines)
    headers = _find_headers(lines)
    input_records = lines.height - len(headers) + quarantine.height
    layouts = _assign_layouts(lines, headers, log_format)

    parts: list[pl.DataFrame] = []
    bad_parts: list[pl.DataFrame] = [quarantine]
    variants: list[str] = []
    notes: list[str] = []
    for (label, fields), group in layouts:
        if fields is None:
            bad_parts.append(_to_quarantine(group, source_file, label))
            continue
        good, bad = _parse_group(group, fields, source_file)
        parts.append(good)
        bad_parts.append(bad)
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            notes.append(
                f"header names fields this parser does not know, kept in extra_fields: {unknown}"
            )
        variants.append(
            f"{label}: v{layout_version(fields)}, {len(fields)} fields ({' '.join(fields)})"
        )

    records = (
        pl.concat(parts, how="vertical").sort("line_no") if parts else pl.DataFrame(schema=SCHEMA)
    )
    quarantined = pl.concat(bad_parts, how="vertical").sort("line_no")
    compression = decoded.label
    variant = compression + ("; ".join(dict.fromkeys(variants)) or "no recognisable layout")
    result = ParseResult(records, quarantined, variant, input_records, list(dict.fromkeys(notes)))
    result.check_accounting()
    return result


def text_layout(head: bytes, log_format: Sequence[str] | None) -> tuple[list[str], int] | None:
    """The fields of a clean text file and how many header lines to skip, from its first line.

    Only a header line at the top (what S3 delivery writes) or a configured format qualify; the
    robust parser handles everything else.
    """
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").split()
    if first and is_header(first) and not all(t in FIELDS for t in first):
        return None  # a field this parser does not know: the robust path keeps it
    if first and all(t in FIELDS for t in first):
        return first, 1
    if log_format is not None:
        return list(log_format), 0
    return None


def text_schema(fields: Sequence[str]) -> dict[str, pl.DataType]:
    return {f.replace("-", "_"): FIELDS[f][0] for f in fields}


def value_checks(fields: Sequence[str], addresses: bool = True) -> list[tuple[str, pl.Expr]]:
    """(field, true where its typed value is invalid) for the known fields of a layout: the same
    rules on every path (fast, robust, Parquet). ``addresses=False`` leaves the address checks
    to the caller (``all_valid`` checks each distinct address once)."""
    checks: list[tuple[str, pl.Expr]] = []
    for name in fields:
        column = pl.col(name.replace("-", "_"))
        if name in _ADDRESS_FIELDS and addresses:
            checks.append((f"{name} (not an IPv4 or IPv6 address)", invalid_address(column)))
        if name in _ENUMS:
            allowed = "/".join(_ENUMS[name])
            checks.append(
                (f"{name} (not {allowed})", column.is_not_null() & ~column.is_in(_ENUMS[name]))
            )
        bad_range = out_of_range(name, column)
        if bad_range is not None:
            low, high = _RANGES[name]
            what = "negative" if high == _COUNT_MAX else f"outside the documented {low}..{high}"
            checks.append((f"{name} ({what})", bad_range))
    if "start" in fields and "end" in fields:
        checks.append(("end (before start)", pl.col("end") < pl.col("start")))
    return checks


def all_valid(frame: pl.DataFrame, fields: Sequence[str]) -> bool:
    """Whether every typed record of a clean file passes the robust parser's checks. The
    addresses are checked once per distinct value across their columns (one pattern match per
    address rather than per field and record: a file holds far fewer addresses than records)."""
    if frame.height == 0:
        return True
    present = [f for f in fields if f.replace("-", "_") in frame.columns]
    row_checks = [bad for _, bad in value_checks(present, addresses=False)]
    if row_checks and frame.select(pl.any_horizontal(row_checks).fill_null(False).any()).item():
        return False
    columns = [f.replace("-", "_") for f in present if f in _ADDRESS_FIELDS]
    if not columns:
        return True
    addresses = pl.concat([frame.get_column(c) for c in columns]).drop_nulls().unique()
    return bool(addresses.str.contains(_ADDRESS).all())


def _parse_fast(
    data: bytes, source_file: str, log_format: Sequence[str] | None
) -> ParseResult | None:
    """Clean single-layout text straight through polars' CSV reader; None means 'use the robust path'.

    Anything unusual (blank or CR lines, JSON-wrapped records, comments, repeated headers, a
    wrong field count, a value that does not fit its type, an invalid address or enum) makes the
    fast path step aside, so quarantine behaviour is exactly the robust parser's.
    """
    layout = text_layout(data[:4096], log_format)
    if layout is None or any(m in data for m in (b"\n\n", b"\r", b"{", b"#", b"\t", b"  ")):
        return None
    fields, skip = layout
    if len(set(fields)) != len(fields):
        return None
    try:
        frame = pl.read_csv(
            data,
            separator=" ",
            has_header=False,
            skip_rows=skip,
            schema=text_schema(fields),
            null_values=["-"],
            quote_char=None,
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None
    if not all_valid(frame, fields):
        return None
    missing = [
        pl.lit(None, dtype=dt).alias(c)
        for c, dt in {**COLUMNS, **EXTRA}.items()
        if c not in frame.columns
    ]
    records = frame.with_columns(
        *missing,
        pl.lit(source_file).alias("source_file"),
        pl.int_range(1 + skip, frame.height + 1 + skip, dtype=pl.Int64).alias("line_no"),
    ).select([pl.col(c).cast(dt) for c, dt in SCHEMA.items()])
    result = ParseResult(records, empty_quarantine(), layout_variant(fields, skip), frame.height)
    result.check_accounting()
    return result


def _unwrap_and_tokenize(lines: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("text")
    # Records that arrive through CloudWatch Logs / Firehose are wrapped as {"message": "..."}.
    unwrapped = (
        pl.when(text.str.starts_with("{"))
        .then(text.str.json_path_match("$.message").fill_null(text))
        .otherwise(text)
    )
    # A " #..." tail is a comment (AWS's documentation examples carry them); no field holds '#'.
    cleaned = unwrapped.str.replace(r"\s+#.*$", "").str.strip_chars()
    return lines.with_columns(
        cleaned.str.replace_all(r"\s+", " ").str.split(" ").alias("tokens")
    ).with_columns(pl.col("tokens").list.len().alias("n_tokens"))


def _find_headers(lines: pl.DataFrame) -> dict[int, list[str]]:
    candidates = lines.filter(pl.col("tokens").list.first().str.contains(_FIELD_NAME.pattern))
    headers: dict[int, list[str]] = {}
    for line_no, tokens in candidates.select("line_no", "tokens").iter_rows():
        if is_header(tokens):
            headers[line_no] = tokens
    return headers


def _assign_layouts(
    lines: pl.DataFrame, headers: dict[int, list[str]], log_format: Sequence[str] | None
) -> list[tuple[tuple[str, list[str] | None], pl.DataFrame]]:
    """Group record lines by the layout that applies to them."""
    header_nos = sorted(headers)
    header_frame = pl.DataFrame({"header_line": pl.Series(header_nos, dtype=pl.Int64)})
    records = lines.filter(~pl.col("line_no").is_in(header_nos))
    if header_nos:
        records = records.sort("line_no").join_asof(
            header_frame.sort("header_line"), left_on="line_no", right_on="header_line"
        )
    else:
        records = records.with_columns(pl.lit(None, dtype=pl.Int64).alias("header_line"))

    groups: list[tuple[tuple[str, list[str] | None], pl.DataFrame]] = []
    with_header = records.filter(pl.col("header_line").is_not_null())
    for (header_line,), group in with_header.group_by("header_line", maintain_order=True):
        fields = headers[int(header_line)]
        groups.append((("header line", fields), group))
    headerless = records.filter(pl.col("header_line").is_null())
    if headerless.height == 0:
        return groups
    if log_format is not None:
        groups.append((("configured log-format", list(log_format)), headerless))
        return groups
    for (n_tokens,), group in headerless.group_by("n_tokens", maintain_order=True):
        known = HEADERLESS_LAYOUTS.get(int(n_tokens))
        if known is None:
            reason = (
                f"{n_tokens} fields with no header line and no configured log-format; "
                "pass the flow log's log-format (egress parse --log-format)"
            )
            groups.append(((reason, None), group))
        else:
            groups.append(((f"headerless {known[0]}", known[1]), group))
    return groups


def _parse_group(
    group: pl.DataFrame, fields: list[str], source_file: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(fields)
    wrong_count = group.filter(pl.col("n_tokens") != n)
    bad = [
        _to_quarantine(
            wrong_count.filter(pl.col("n_tokens") == k),
            source_file,
            f"expected {n} fields, found {k}",
        )
        for (k,) in wrong_count.select("n_tokens").unique(maintain_order=True).iter_rows()
    ]
    good = group.filter(pl.col("n_tokens") == n)
    known = [f for f in fields if f in FIELDS]
    unknown = [f for f in fields if f not in FIELDS]
    text_cols = good.select(
        "line_no",
        "text",
        *[pl.col("tokens").list.get(i).alias(name) for i, name in enumerate(fields)],
    )
    typed_exprs: list[pl.Expr] = []
    cast_failures: list[tuple[str, pl.Expr]] = []
    for name in known:
        dtype = FIELDS[name][0]
        if dtype == pl.String():
            value = pl.when(pl.col(name) == "-").then(None).otherwise(pl.col(name))
            typed_exprs.append(value.alias(name.replace("-", "_")))
        else:
            typed, failed = cast_checked(name, dtype)
            typed_exprs.append(typed.alias(name.replace("-", "_")))
            cast_failures.append((name, failed))
    extra = extra_fields(unknown, null_tokens=("-",))
    typed_frame = text_cols.with_columns(first_invalid_reason(cast_failures).alias("_cast")).select(
        "line_no", "text", "_cast", *typed_exprs, extra.alias("extra_fields")
    )
    checked = typed_frame.with_columns(
        pl.coalesce(pl.col("_cast"), first_invalid_reason(value_checks(known))).alias("_reason")
    )
    invalid = checked.filter(pl.col("_reason").is_not_null())
    bad.append(lines_to_quarantine(invalid, source_file, pl.col("_reason")))
    valid = checked.filter(pl.col("_reason").is_null())
    missing = [
        pl.lit(None, dtype=dt).alias(c)
        for c, dt in {**COLUMNS, **EXTRA}.items()
        if c not in valid.columns
    ]
    records = valid.with_columns(*missing, pl.lit(source_file).alias("source_file"))
    return records.select([pl.col(c).cast(dt) for c, dt in SCHEMA.items()]), pl.concat(bad)


def extra_fields(names: Sequence[str], null_tokens: tuple[str, ...]) -> pl.Expr:
    """The values of fields this parser does not know, as one JSON object per record."""
    if not names:
        return pl.lit(None, dtype=pl.String)

    def as_json(values: dict[str, object]) -> str:
        return json.dumps(
            {k: None if v is None or v in null_tokens else str(v) for k, v in values.items()}
        )

    return pl.struct([pl.col(n).cast(pl.String) for n in names]).map_elements(
        as_json, return_dtype=pl.String
    )


def _to_quarantine(group: pl.DataFrame, source_file: str, reason: str) -> pl.DataFrame:
    return lines_to_quarantine(group, source_file, reason) if group.height else empty_quarantine()


def _parse_parquet(data: bytes, source_file: str) -> ParseResult:
    """Parquet flow logs: AWS's native delivery (typed) or third-party exports (all strings)."""
    frame = read_parquet_bytes(data)
    renamed = frame.rename({c: c.replace("-", "_") for c in frame.columns})
    unknown = [c for c in renamed.columns if c not in COLUMNS]
    text = renamed.select(
        pl.int_range(1, renamed.height + 1, dtype=pl.Int64).alias("line_no"),
        *[pl.col(c).cast(pl.String).alias(c) for c in renamed.columns if c in COLUMNS],
    )
    present = [c for c in text.columns if c in COLUMNS]
    typed_exprs: list[pl.Expr] = []
    checks: list[tuple[str, pl.Expr]] = []
    for name in present:
        typed, failed = cast_checked(name, COLUMNS[name], null_tokens=("-", "None", ""))
        typed_exprs.append(typed)
        checks.append((name, failed))
    fields = [c.replace("_", "-") for c in present]
    checked = (
        text.with_columns(first_invalid_reason(checks).alias("_cast"), *typed_exprs)
        .with_columns(
            pl.coalesce(pl.col("_cast"), first_invalid_reason(value_checks(fields))).alias(
                "_reason"
            )
        )
        .with_columns(
            *[pl.col(c).cast(pl.String) for c in present],
            renamed.select(
                extra_fields(unknown, ("-", "None", "")).alias("extra_fields")
            ).to_series()
            if unknown
            else pl.lit(None, dtype=pl.String).alias("extra_fields"),
        )
    )
    bad_rows = checked.filter(pl.col("_reason").is_not_null())
    quarantine = (
        quarantine_rows(
            source_file,
            [
                (
                    row["line_no"],
                    row["_reason"],
                    str({k: v for k, v in row.items() if k not in ("_reason", "_cast")}),
                )
                for row in bad_rows.iter_rows(named=True)
            ],
        )
        if bad_rows.height
        else empty_quarantine()
    )
    good = checked.filter(pl.col("_reason").is_null()).select(
        "line_no", *typed_exprs, "extra_fields"
    )
    missing = [pl.lit(None, dtype=dt).alias(c) for c, dt in COLUMNS.items() if c not in present]
    records = good.with_columns(*missing, pl.lit(source_file).alias("source_file")).select(
        [pl.col(c).cast(dt) for c, dt in SCHEMA.items()]
    )
    variant = f"parquet: v{layout_version(fields)}, {len(fields)} fields ({' '.join(fields)})"
    notes = (
        [f"columns this parser does not know, kept in extra_fields: {unknown}"] if unknown else []
    )
    result = ParseResult(records, quarantine, variant, frame.height, notes)
    result.check_accounting()
    return result
