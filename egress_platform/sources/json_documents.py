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
    compression: str
    layout: str


def read_json_documents(data: bytes, source_file: str) -> JsonDocuments:
    """Parse a whole JSON document, else NDJSON line by line; unparseable text becomes errors."""
    decoded = decompress(data)
    if decoded.truncated_reason:
        text = decoded.data.decode("utf-8", errors="backslashreplace")
        return JsonDocuments(
            [], [(1, decoded.truncated_reason, text)], decoded.compression, "damaged"
        )
    try:
        text = decoded.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = decoded.data.decode("utf-8", errors="backslashreplace")
        return JsonDocuments(
            [], [(1, f"not valid UTF-8 ({exc.reason})", raw)], decoded.compression, "binary"
        )
    if not text.strip():
        return JsonDocuments([], [], decoded.compression, "empty")
    try:
        return JsonDocuments([(1, json.loads(text))], [], decoded.compression, "document")
    except json.JSONDecodeError as whole_error:
        lines = [(i, line) for i, line in enumerate(text.split("\n"), start=1) if line.strip()]
        if not _parses(lines[0][1]):
            reason = f"invalid JSON: {whole_error.msg} at line {whole_error.lineno} column {whole_error.colno}"
            return JsonDocuments([], [(1, reason, text)], decoded.compression, "invalid")
        docs: list[tuple[int, Any]] = []
        errors: list[tuple[int, str, str]] = []
        for line_no, line in lines:
            try:
                docs.append((line_no, json.loads(line)))
            except json.JSONDecodeError as exc:
                errors.append((line_no, f"invalid JSON line: {exc.msg}", line))
        return JsonDocuments(docs, errors, decoded.compression, "ndjson")


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def as_json_text(value: Any) -> str | None:
    """Nested request/response/configuration blobs are kept as compact JSON text."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
