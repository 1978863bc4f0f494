"""Cost Explorer ``GetCostAndUsage`` responses: one row per period x group x metric."""

from __future__ import annotations

from typing import Any

import polars as pl

from egress_platform.sources.common import ParseResult, quarantine_rows
from egress_platform.sources.json_documents import as_json_text, as_text, read_json_documents

SOURCE = "cost_explorer"

SCHEMA: dict[str, pl.DataType] = {
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "group_key_1": pl.String(),
    "group_key_2": pl.String(),
    "group_definitions": pl.String(),
    "metric": pl.String(),
    "amount": pl.Float64(),
    "unit": pl.String(),
    "estimated": pl.Boolean(),
    "source_file": pl.String(),
    "line_no": pl.Int64(),
}


def parse_bytes(data: bytes, source_file: str) -> ParseResult:
    docs = read_json_documents(data, source_file)
    bad = list(docs.errors)
    rows: list[dict[str, Any]] = []
    kinds: set[str] = set()
    input_records = len(docs.errors)
    for _, doc in docs.documents:
        if not isinstance(doc, dict) or "ResultsByTime" not in doc:
            what = next(
                (
                    k
                    for k in ("DimensionValues", "Forecast", "Anomalies")
                    if isinstance(doc, dict) and k in doc
                ),
                None,
            )
            kind = f"{what} response" if what else "JSON without ResultsByTime"
            bad.append((1, f"not a GetCostAndUsage response ({kind})", as_json_text(doc) or ""))
            input_records += 1
            kinds.add(f"{kind}: quarantined")
            continue
        groups = doc.get("GroupDefinitions") or []
        group_text = (
            ",".join(
                f"{g.get('Type')}:{g.get('Key')}" if isinstance(g, dict) else str(g)
                for g in (groups if isinstance(groups, list) else [groups])
            )
            or None
        )
        kinds.add(f"GetCostAndUsage grouped by {group_text or 'nothing'}")
        results = doc["ResultsByTime"]
        for result in results if isinstance(results, list) else [results]:
            sets = _metric_sets(result)
            if not any(metrics for _, metrics in sets):  # a period with no metric: one record
                input_records += 1
                reason = "a ResultsByTime entry without metrics (Total or Groups[].Metrics)"
                bad.append((input_records, reason, as_json_text(result) or ""))
                continue
            period = result.get("TimePeriod")  # an entry with metrics is an object
            period = period if isinstance(period, dict) else {}
            for keys, metrics in sets:
                for metric, value in metrics.items():
                    input_records += 1
                    line_no = input_records
                    try:
                        amount = float(value["Amount"])
                    except (KeyError, TypeError, ValueError) as exc:
                        bad.append(
                            (
                                line_no,
                                f"unreadable metric {metric}: {exc!r}",
                                as_json_text(value) or "",
                            )
                        )
                        continue
                    rows.append(
                        {
                            "period_start": as_text(period.get("Start")),
                            "period_end": as_text(period.get("End")),
                            "group_key_1": as_text(keys[0]) if len(keys) > 0 else None,
                            "group_key_2": as_text(keys[1]) if len(keys) > 1 else None,
                            "group_definitions": group_text,
                            "metric": metric,
                            "amount": amount,
                            "unit": as_text(value.get("Unit")),
                            "estimated": result.get("Estimated") is True,
                            "source_file": source_file,
                            "line_no": line_no,
                        }
                    )
    records = (
        pl.DataFrame(
            rows, schema={**SCHEMA, "period_start": pl.String(), "period_end": pl.String()}
        ).with_columns(pl.col("period_start", "period_end").str.to_date(strict=False))
        if rows
        else pl.DataFrame(schema=SCHEMA)
    )
    for row in records.filter(pl.col("period_start").is_null()).iter_rows(named=True):
        bad.append((row["line_no"], "invalid TimePeriod.Start", str(row)))
    records = records.filter(pl.col("period_start").is_not_null())
    result = ParseResult(
        records,
        quarantine_rows(source_file, sorted(bad)),
        docs.label + "Cost Explorer " + ("; ".join(sorted(kinds)) or docs.layout),
        input_records,
    )
    result.check_accounting()
    return result


def _metric_sets(result: Any) -> list[tuple[list[Any], dict[str, Any]]]:
    """(group keys, metrics) of one ResultsByTime entry; whatever is not of AWS's shape is no
    metric (the entry is then quarantined whole)."""
    if not isinstance(result, dict):
        return []
    groups = result.get("Groups") or []
    if groups and isinstance(groups, list):
        return [
            (_keys(g.get("Keys")), _metrics(g.get("Metrics")))
            for g in groups
            if isinstance(g, dict)
        ]
    return [([], _metrics(result.get("Total")))]


def _keys(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _metrics(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
