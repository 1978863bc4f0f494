"""CloudTrail: ``{"Records": [...]}`` log files (plain/gzip), single events, NDJSON exports.

Digest files (``CloudTrail-Digest``) carry no events and are recognised and skipped. Exports
without ``eventTime`` (Logstash ``@timestamp``) fall back to that time. An event without an id,
name or time is quarantined.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from egress_platform.lake_layout import split_on
from egress_platform.sources.common import ParseResult, quarantine_rows
from egress_platform.sources.json_documents import as_json_text, read_json_documents

SOURCE = "cloudtrail"

SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "event_time": pl.Datetime("us", "UTC"),
    "event_version": pl.String(),
    "event_source": pl.String(),
    "event_name": pl.String(),
    "event_type": pl.String(),
    "aws_region": pl.String(),
    "source_ip": pl.String(),
    "user_agent": pl.String(),
    "identity_type": pl.String(),
    "identity_arn": pl.String(),
    "account_id": pl.String(),
    "read_only": pl.Boolean(),
    "error_code": pl.String(),
    "error_message": pl.String(),
    "request_parameters": pl.String(),
    "response_elements": pl.String(),
    "resources": pl.String(),
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    return parse_many([(source_file, data)])[0]


@dataclass
class _Events:
    """One object's events as rows, what was refused in it, its variant and input count."""

    rows: list[dict[str, Any]]
    bad: list[tuple[int, str, str]]
    variant: str
    input_records: int


def _events_of(data: bytes, source_file: str) -> _Events:
    docs = read_json_documents(data, source_file)
    events: list[tuple[int, dict[str, Any]]] = []
    bad = list(docs.errors)
    kinds: set[str] = set()
    for line_no, doc in docs.documents:
        if isinstance(doc, dict) and "Records" in doc and isinstance(doc["Records"], list):
            kinds.add("Records log file")
            for i, event in enumerate(doc["Records"]):
                events.append((line_no + i if docs.layout == "document" and i else line_no, event))
        elif (isinstance(doc, dict) and "digestSignatureAlgorithm" in doc) or (
            isinstance(doc, dict) and "digestStartTime" in doc
        ):
            kinds.add("digest file: skipped")
        elif isinstance(doc, dict):
            kinds.add("single events" if docs.layout == "document" else "NDJSON events")
            events.append((line_no, doc))
        else:
            bad.append((line_no, f"expected a JSON object, found {type(doc).__name__}", str(doc)))
    # Records inside one document are numbered by position so each event has a stable key.
    if docs.layout == "document":
        events = [(i + 1, e) for i, (_, e) in enumerate(events)]
    rows: list[dict[str, Any]] = []
    for line_no, event in events:
        row, reason = _event_row(event)
        if reason:
            bad.append((line_no, reason, as_json_text(event) or ""))
        else:
            row["line_no"] = line_no
            row["source_file"] = source_file
            rows.append(row)
    variant = docs.label + (", ".join(sorted(kinds)) or docs.layout)
    inputs = (
        len(events)
        + len(docs.errors)
        + sum(1 for _, d in docs.documents if not isinstance(d, dict))
    )
    return _Events(rows, bad, f"CloudTrail {variant}", inputs)


def parse_many(objects: list[tuple[str, bytes]]) -> list[ParseResult]:
    """Each object's events, typed in one polars frame for all of them (an hour's trail is a
    few events: a frame per object cost more than its parse)."""
    read = [_events_of(data, key) for key, data in objects]
    rows = [row for found in read for row in found.rows]
    frame = (
        pl.DataFrame(rows, schema={**SCHEMA, "event_time": pl.String()})
        if rows
        else pl.DataFrame(schema={**SCHEMA, "event_time": pl.String()})
    )
    records = frame.with_columns(
        pl.col("event_time")
        .str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        .alias("event_time")
    )
    unparsed = records.filter(pl.col("event_time").is_null())
    records = records.filter(pl.col("event_time").is_not_null()).select(list(SCHEMA))
    records_of = split_on(records, "source_file", [key for key, _ in objects], keep_column=True)
    results = []
    for (key, _), found in zip(objects, read, strict=True):
        bad = list(found.bad)
        for row in unparsed.filter(pl.col("source_file") == key).iter_rows(named=True):
            bad.append((row["line_no"], "invalid eventTime", str(row)))
        result = ParseResult(
            records_of[key],
            quarantine_rows(key, sorted(bad)),
            found.variant,
            found.input_records,
        )
        result.check_accounting()
        results.append(result)
    return results


def _event_row(event: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(event, dict):
        return {}, f"event is not an object ({type(event).__name__})"
    time = event.get("eventTime") or event.get("@timestamp")
    insight: dict[str, Any] = (
        event["insightDetails"] if isinstance(event.get("insightDetails"), dict) else {}
    )
    name = event.get("eventName") or insight.get("eventName")
    missing = [k for k, v in (("eventName", name), ("eventTime", time)) if not v]
    if missing:
        return {}, f"missing {', '.join(missing)}"
    # Old documentation-era events have no eventID; derive a stable one so keys stay unique.
    event_id = (
        event.get("eventID")
        or "derived-" + hashlib.sha1((as_json_text(event) or "").encode()).hexdigest()[:32]
    )
    identity: dict[str, Any] = (
        event["userIdentity"] if isinstance(event.get("userIdentity"), dict) else {}
    )
    read_only = event.get("readOnly")
    return {
        "event_id": str(event_id),
        "event_time": str(time),
        "event_version": event.get("eventVersion"),
        "event_source": event.get("eventSource") or insight.get("eventSource"),
        "event_name": str(name),
        "event_type": event.get("eventType"),
        "aws_region": event.get("awsRegion"),
        "source_ip": event.get("sourceIPAddress"),
        "user_agent": event.get("userAgent"),
        "identity_type": identity.get("type"),
        "identity_arn": identity.get("arn"),
        "account_id": event.get("recipientAccountId") or identity.get("accountId"),
        "read_only": None if read_only is None else str(read_only).lower() == "true",
        "error_code": event.get("errorCode"),
        "error_message": event.get("errorMessage"),
        "request_parameters": as_json_text(event.get("requestParameters")),
        "response_elements": as_json_text(event.get("responseElements")),
        "resources": as_json_text(event.get("resources")),
        "source_file": None,
        "line_no": None,
    }, None
