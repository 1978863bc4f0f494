"""Reading JSON deliveries: one document, a ``Records``-style wrapper, or NDJSON lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from egress_platform.sources.common import decompress


@dataclass
class JsonDocuments:
    documents: list[tuple[int, Any]]
    errors: list[tuple[int, str, str]]
    label: str  # the variant's prefix: "gzip, " or ""
    layout: str


def read_json_documents(data: bytes, source_file: str) -> JsonDocuments:
    """Parse a whole JSON document, else NDJSON line by line; unparseable text becomes errors.

    A whole document followed by other text keeps the document and quarantines the rest as one
    error on the line where it starts: the text after a document is no part of it.
    """
    decoded = decompress(data)
    label = decoded.label
    if decoded.truncated_reason:
        text = decoded.data.decode("utf-8", errors="backslashreplace")
        return JsonDocuments([], [(1, decoded.truncated_reason, text)], label, "damaged")
    try:
        text = decoded.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = decoded.data.decode("utf-8", errors="backslashreplace")
        return JsonDocuments([], [(1, f"not valid UTF-8 ({exc.reason})", raw)], label, "binary")
    if not text.strip():
        return JsonDocuments([], [], label, "empty")
    try:
        return JsonDocuments([(1, json.loads(text))], [], label, "document")
    except json.JSONDecodeError as whole_error:
        lines = [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]
        if not _parses(lines[0][1]):
            return _document_then_text(text, whole_error, label)
        docs: list[tuple[int, Any]] = []
        errors: list[tuple[int, str, str]] = []
        for line_no, line in lines:
            try:
                docs.append((line_no, json.loads(line)))
            except json.JSONDecodeError as exc:
                errors.append((line_no, f"invalid JSON line: {exc.msg}", line))
        return JsonDocuments(docs, errors, label, "ndjson")


def _document_then_text(text: str, whole_error: json.JSONDecodeError, label: str) -> JsonDocuments:
    """One document and text after it, or text that is no JSON document at all."""
    start = len(text) - len(text.lstrip())
    try:
        document, end = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        reason = (
            f"invalid JSON: {whole_error.msg} at line {whole_error.lineno} "
            f"column {whole_error.colno}"
        )
        return JsonDocuments([], [(1, reason, text)], label, "invalid")
    rest_line = text.count("\n", 0, end) + 1
    reason = (
        f"text after the end of the JSON document (from line {rest_line}): not part of it; "
        "the document before it was read"
    )
    return JsonDocuments([(1, document)], [(rest_line, reason, text[end:])], label, "document")


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def as_text(value: Any) -> str | None:
    """A field AWS documents as text: itself when it is text, else its JSON (a number, a list),
    so that one odd value never gives a column two types."""
    return value if isinstance(value, str) or value is None else as_json_text(value)


def as_json_text(value: Any) -> str | None:
    """Nested request/response/configuration blobs are kept as compact JSON text."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
