"""``egress audit-lineage``: from an anomaly back to the landed files, as Dagster recorded it.

Each step is read from the instance's event log: the materialization of the upstream partition
that was current when the downstream partition was materialized (the latest one before it), with
its run id, data version and code version. Which upstream partitions a partition depends on is
the asset graph's partition mapping; where a partition depends on many (a daily model on 24 hours
of features), the step shows the range and the latest of its materializations, without walking
each of them. Raw partitions end at the landing objects their run recorded in the lake's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from egress_platform.detect.anomalies import ANOMALY_SCHEMA


class UnknownAnomaly(LookupError):
    pass


class NotMaterialized(LookupError):
    pass


@dataclass
class Step:
    asset: str
    partition: str | None
    run_id: str
    storage_id: int
    data_version: str | None
    code_version: str | None
    materialized_at: str
    parents: list[str] = field(default_factory=list)
    upstream_partitions: dict[str, int] = field(default_factory=dict)
    landing_objects: list[dict[str, Any]] = field(default_factory=list)
    partition_range: tuple[str, str] | None = None  # a many-partition dependency, not walked

    @property
    def node_id(self) -> str:
        if self.partition_range:
            return f"{self.asset}[{self.partition_range[0]}..{self.partition_range[1]}]"
        return f"{self.asset}[{self.partition}]" if self.partition else self.asset

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "asset": self.asset,
            "partition": self.partition,
            "run_id": self.run_id,
            "storage_id": self.storage_id,
            "data_version": self.data_version,
            "code_version": self.code_version,
            "materialized_at": self.materialized_at,
            "parents": self.parents,
            "upstream_partitions": self.upstream_partitions,
            "partition_range": list(self.partition_range) if self.partition_range else None,
            "landing_objects": self.landing_objects,
        }


def find_anomaly(lake: Any, anomaly_id: str) -> tuple[str, dict[str, Any]]:
    """The hourly partition that first reported ``anomaly_id``, and its row there."""
    for key in lake.partitions("egress_anomalies"):
        rows = lake.read_frame("egress_anomalies", [key], ANOMALY_SCHEMA)
        found = rows.filter(pl.col("anomaly_id") == anomaly_id)
        if found.height:
            return key, found.row(0, named=True)
    raise UnknownAnomaly(
        f"no anomaly {anomaly_id!r} in egress_anomalies; ids look like anom-1a2b3c4d5e6f7a8b "
        "and are listed by `make demo`, in lake/reports/summary.json and in Dagit"
    )


def _record(instance: Any, asset: str, partition: str | None, before: int | None) -> Any:
    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey(asset),
            asset_partitions=[partition] if partition else None,
            before_storage_id=before,
        ),
        limit=1,
        ascending=False,
    ).records
    return records[0] if records else None


def _step(record: Any) -> Step:
    tags = record.asset_materialization.tags or {}
    return Step(
        asset=record.asset_key.path[-1],
        partition=record.partition_key,
        run_id=record.run_id,
        storage_id=record.storage_id,
        data_version=tags.get("dagster/data_version"),
        code_version=tags.get("dagster/code_version"),
        materialized_at=datetime.fromtimestamp(record.timestamp, UTC).isoformat(),
    )


def trace(instance: Any, asset_graph: Any, lake: Any, asset: str, partition: str) -> list[Step]:
    """Every upstream step of one asset partition, the partition itself first, each once."""
    from dagster import AssetKey

    root = _record(instance, asset, partition, None)
    if root is None:
        raise NotMaterialized(f"{asset} partition {partition} has no materialization recorded")
    steps: dict[str, Step] = {}
    todo: list[tuple[Any, tuple[str, str] | None]] = [(root, None)]
    while todo:
        record, partition_range = todo.pop(0)
        step = _step(record)
        step.partition_range = partition_range
        if step.node_id in steps:
            continue
        steps[step.node_id] = step
        if partition_range:
            continue  # a range is summarised by its latest materialization, not walked
        if step.asset.startswith("raw_") and step.partition:
            step.landing_objects = lake.landing_objects(step.asset, step.partition)
        node = asset_graph.get(AssetKey(step.asset))
        for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
            found = _parent_record(instance, asset_graph, record, parent)
            if found is None:
                continue
            keys, parent_record = found
            step.upstream_partitions[parent.path[-1]] = len(keys)
            span = (keys[0], keys[-1]) if len(keys) > 1 else None
            parent_step = _step(parent_record)
            parent_step.partition_range = span
            step.parents.append(parent_step.node_id)
            todo.append((parent_record, span))
    return list(steps.values())


def _parent_record(
    instance: Any, asset_graph: Any, child: Any, parent: Any
) -> tuple[list[str], Any] | None:
    """The parent partitions the child partition maps to, and the record to show for them: the
    latest materialization among them before the child's."""
    name = parent.path[-1]
    parent_node = asset_graph.get(parent)
    if parent_node.partitions_def is None or child.partition_key is None:
        record = _record(instance, name, None, child.storage_id)
        return ([], record) if record else None
    mapped = asset_graph.get_parent_partition_keys_for_child(
        child.partition_key, parent, child.asset_key
    ).partitions_subset.get_partition_keys()
    keys = sorted(mapped)
    for key in reversed(keys):
        record = _record(instance, name, key, child.storage_id)
        if record is not None:
            return keys, record
    return None


def audit(anomaly_id: str, instance: Any, asset_graph: Any, lake: Any) -> dict[str, Any]:
    partition, row = find_anomaly(lake, anomaly_id)
    steps = trace(instance, asset_graph, lake, "egress_anomalies", partition)
    return {
        "anomaly": {
            "anomaly_id": anomaly_id,
            "entity": row["entity"],
            "dest_class": row["dest_class"],
            "onset_hour": row["onset_hour"].isoformat(),
            "first_reported_partition": partition,
            "extra_usd_per_hour": row["extra_usd_per_hour"],
        },
        "steps": [s.as_dict() for s in steps],
    }


def render_tree(report: dict[str, Any]) -> str:
    """The chain as an indented tree; a step reached twice is printed once and referenced after."""
    a = report["anomaly"]
    by_node = {s["node"]: s for s in report["steps"]}
    lines = [
        f"anomaly {a['anomaly_id']}: {a['entity']} -> {a['dest_class']}, onset {a['onset_hour']}, "
        f"first reported in egress_anomalies[{a['first_reported_partition']}]"
    ]
    shown: set[str] = set()

    def visit(node: str, depth: int, via: int) -> None:
        step = by_node[node]
        pad = "  " * depth
        more = f" ({via} partitions; the latest materialization of them)" if via > 1 else ""
        if node in shown:
            lines.append(f"{pad}- {node}  (see above)")
            return
        shown.add(node)
        lines.append(
            f"{pad}- {node}{more}\n{pad}    run {step['run_id']}  at {step['materialized_at']}\n"
            f"{pad}    data version {(step['data_version'] or '-')[:16]}  "
            f"code version {step['code_version'] or '-'}"
        )
        for obj in step["landing_objects"]:
            lines.append(f"{pad}    landed: {obj['key']} ({obj['bytes']:,} bytes)")
        for parent in step["parents"]:
            name = by_node[parent]["asset"]
            visit(parent, depth + 1, step["upstream_partitions"].get(name, 1))

    visit(report["steps"][0]["node"], 0, 1)
    return "\n".join(lines)
