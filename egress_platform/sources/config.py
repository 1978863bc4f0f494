"""AWS Config: configuration items as delivered (history/snapshot files), single items, and
SNS change notifications (old list schema and new object schema, Message inline or as a string).

Delivery-completed notifications carry no items and are recognised and skipped.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import polars as pl

from egress_platform.sources.common import ParseResult, quarantine_rows
from egress_platform.sources.json_documents import as_json_text, as_text, read_json_documents

SOURCE = "config"

SCHEMA: dict[str, pl.DataType] = {
    "resource_type": pl.String(),
    "resource_id": pl.String(),
    "resource_name": pl.String(),
    "arn": pl.String(),
    "account_id": pl.String(),
    "aws_region": pl.String(),
    "availability_zone": pl.String(),
    "capture_time": pl.Datetime("us", "UTC"),
    "status": pl.String(),
    "state_id": pl.String(),
    "change_type": pl.String(),
    "configuration": pl.String(),
    "supplementary_configuration": pl.String(),
    "tags": pl.String(),
    "relationships": pl.String(),
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    docs = read_json_documents(data, source_file)
    items: list[tuple[dict[str, Any] | Any, str | None]] = []
    kinds: set[str] = set()
    bad = list(docs.errors)
    for line_no, doc in docs.documents:
        found, kind = _items_of(doc)
        kinds.add(kind)
        if kind.startswith("unrecognised"):
            bad.append(
                (
                    line_no,
                    f"not a Config item, file or notification ({kind})",
                    as_json_text(doc) or "",
                )
            )
            continue
        items.extend(found)
    rows: list[dict[str, Any]] = []
    for i, (item, change_type) in enumerate(items, start=1):
        row, reason = _item_row(item, change_type)
        if reason:
            bad.append((i, reason, as_json_text(item) or ""))
        else:
            row["line_no"] = i
            rows.append(row)
    records = (
        pl.DataFrame(rows, schema={**SCHEMA, "capture_time": pl.String()}).with_columns(
            pl.col("capture_time").str.to_datetime(time_unit="us", time_zone="UTC", strict=False),
            pl.lit(source_file).alias("source_file"),
        )
        if rows
        else pl.DataFrame(schema=SCHEMA)
    )
    for row in records.filter(pl.col("capture_time").is_null()).iter_rows(named=True):
        bad.append((row["line_no"], "invalid configurationItemCaptureTime", str(row)))
    records = records.filter(pl.col("capture_time").is_not_null())
    input_records = (
        len(items)
        + len(docs.errors)
        + sum(1 for _, d in docs.documents if _items_of(d)[1].startswith("unrecognised"))
    )
    prefix = docs.label
    result = ParseResult(
        records,
        quarantine_rows(source_file, sorted(bad)),
        f"Config {prefix}{', '.join(sorted(kinds)) or docs.layout}",
        input_records,
    )
    result.check_accounting()
    return result


def _items_of(doc: Any) -> tuple[list[tuple[Any, str | None]], str]:
    if not isinstance(doc, dict):
        return [], f"unrecognised {type(doc).__name__}"
    if "configurationItems" in doc:
        kind = "snapshot/history file" if "fileVersion" in doc else "configurationItems list"
        return [(item, None) for item in doc["configurationItems"] or []], kind
    if "Message" in doc:  # an SNS envelope
        message = doc["Message"]
        if isinstance(message, str):
            try:
                message = json.loads(message)
            except json.JSONDecodeError:
                return [], "unrecognised SNS message text"
        return _items_of_message(message)
    if "messageType" in doc:
        return _items_of_message(doc)
    if "resourceType" in doc and "resourceId" in doc:
        return [(doc, None)], "configuration item"
    return [], "unrecognised object"


def _items_of_message(message: Any) -> tuple[list[tuple[Any, str | None]], str]:
    if not isinstance(message, dict):
        return [], "unrecognised SNS message"
    kind = str(message.get("messageType", "unknown"))
    item = message.get("configurationItem")
    if item is None:
        return [], f"{kind} notification: skipped (no configuration item)"
    diff = message.get("configurationItemDiff") or {}
    change_type = diff.get("changeType") if isinstance(diff, dict) else None
    listed = item if isinstance(item, list) else [item]
    schema = "old schema" if isinstance(item, list) else "new schema"
    return [(i, change_type) for i in listed], f"{kind} ({schema})"


def _item_row(item: Any, change_type: str | None) -> tuple[dict[str, Any], str | None]:
    if not isinstance(item, dict):
        return {}, f"configuration item is not an object ({type(item).__name__})"
    missing = [
        k for k in ("resourceType", "resourceId", "configurationItemCaptureTime") if not item.get(k)
    ]
    if missing:
        return {}, f"missing {', '.join(missing)}"
    odd = [
        f"{k} ({type(item[k]).__name__})"
        for k in ("resourceType", "resourceId", "configurationItemCaptureTime")
        if not isinstance(item[k], str | int) or isinstance(item[k], bool)
    ]
    if odd:
        return {}, f"not text: {', '.join(odd)}; AWS Config writes these as strings"
    configuration = item.get("configuration")
    if isinstance(configuration, str):  # some deliveries embed the configuration as JSON text
        with contextlib.suppress(json.JSONDecodeError):
            configuration = json.loads(configuration)
    return {
        "resource_type": str(item["resourceType"]),
        "resource_id": str(item["resourceId"]),
        "resource_name": as_text(item.get("resourceName")),
        "arn": as_text(item.get("ARN") or item.get("arn")),
        "account_id": as_text(item.get("awsAccountId") or item.get("accountId") or None),
        "aws_region": as_text(item.get("awsRegion")),
        "availability_zone": as_text(item.get("availabilityZone")),
        "capture_time": str(item["configurationItemCaptureTime"]),
        "status": as_text(item.get("configurationItemStatus")),
        "state_id": as_text(
            item.get("configurationStateId") or item.get("configurationStateID") or None
        ),
        "change_type": as_text(change_type),
        "configuration": as_json_text(configuration),
        "supplementary_configuration": as_json_text(item.get("supplementaryConfiguration")),
        "tags": as_json_text(item.get("tags")),
        "relationships": as_json_text(item.get("relationships")),
        "source_file": None,
        "line_no": None,
    }, None


# Fields AWS Config delivers as JSON text inside an item (the simulator once wrote them as
# objects, which hid the difference): the bucket policy's text and the ACL among them.
def decode_embedded_json(supplementary: dict[str, Any]) -> dict[str, Any]:
    """A supplementaryConfiguration with its JSON-string values parsed (``BucketPolicy.
    policyText``, ``AccessControlList``, ...); text that is not JSON is kept as it is."""
    out: dict[str, Any] = {}
    for key, value in supplementary.items():
        value = _maybe_json(value)
        if isinstance(value, dict) and "policyText" in value:
            value = {**value, "policyText": _maybe_json(value["policyText"])}
        out[key] = value
    return out


def stored_supplementary(text: str | None) -> dict[str, Any]:
    """A ``supplementary_configuration`` column value, parsed and decoded ({} if not an object)."""
    value = _maybe_json(text)
    return decode_embedded_json(value) if isinstance(value, dict) else {}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value
