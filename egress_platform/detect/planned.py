"""Planned changes: traffic a person said would move, so its anomalies are suppressed, not sent.

A change is planned when its resource carries the planned-change tag (key configurable, default
``egress:planned-change``) in a Config item, or gets it from a ``CreateTags`` /
``PutBucketTagging`` call in CloudTrail (until a ``DeleteTags`` / ``DeleteBucketTagging``
removes it), or when a change-window file names the resource (or ``*``) for a time span. A tag on
an instance covers the ENIs attached to it. Tag values are log content: they are kept as the
suppression reason (clipped), never interpreted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

DEFAULT_TAG = "egress:planned-change"
ANY_RESOURCE = "*"
TAG_LEAD = timedelta(hours=1)  # a tag set minutes after the traffic moved still counts
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
MAX_REASON = 120


@dataclass(frozen=True)
class ChangeWindow:
    resource_id: str  # an ENI, instance, bucket... or "*" for every entity
    start: datetime
    end: datetime
    reason: str

    def covers(self, resource_id: str, at: datetime) -> bool:
        return self.resource_id in (resource_id, ANY_RESOURCE) and self.start <= at < self.end


@dataclass(frozen=True)
class PlannedChanges:
    tagged: Mapping[str, str] = field(default_factory=dict)  # Config: resource -> reason
    windows: tuple[ChangeWindow, ...] = ()

    def reason(self, entity: str, at: datetime) -> str | None:
        """Why an event of ``entity`` starting ``at`` is planned, or None."""
        if entity in self.tagged:
            return self.tagged[entity]
        return next((w.reason for w in self.windows if w.covers(entity, at)), None)

    @classmethod
    def of(cls, planned: PlannedChanges | Mapping[str, str] | None) -> PlannedChanges:
        if isinstance(planned, PlannedChanges):
            return planned
        return cls(tagged=dict(planned or {}))


def _clip(text: object) -> str:
    value = str(text)
    return value if len(value) <= MAX_REASON else value[: MAX_REASON - 1] + "…"


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _instance_enis(config_items: pl.DataFrame) -> dict[str, list[str]]:
    """Instance id -> the ENIs Config records attached to it."""
    found: dict[str, list[str]] = {}
    if "resource_type" not in config_items.columns or "configuration" not in config_items.columns:
        return found
    enis = config_items.filter(pl.col("resource_type") == "AWS::EC2::NetworkInterface")
    for eni, text in enis.select("resource_id", "configuration").iter_rows():
        conf = _json(text)
        attachment = conf.get("attachment") if isinstance(conf, dict) else None
        instance = attachment.get("instanceId") if isinstance(attachment, dict) else None
        if isinstance(instance, str) and eni and eni not in found.get(instance, []):
            found.setdefault(instance, []).append(eni)
    return found


def _with_attached(reasons: dict[str, str], instance_enis: dict[str, list[str]]) -> dict[str, str]:
    out = dict(reasons)
    for resource, reason in reasons.items():
        for eni in instance_enis.get(resource, []):
            out.setdefault(eni, reason)
    return out


def tagged_in_config(config_items: pl.DataFrame, key: str = DEFAULT_TAG) -> dict[str, str]:
    """Resources whose Config tags carry ``key`` (and the ENIs of a tagged instance)."""
    if config_items.height == 0 or "tags" not in config_items.columns:
        return {}
    found: dict[str, str] = {}
    for resource_id, tags in config_items.select("resource_id", "tags").iter_rows():
        parsed = _json(tags)
        if isinstance(parsed, dict) and key in parsed and resource_id:
            found[resource_id] = f"tagged {key}={_clip(parsed[key])}"
    return _with_attached(found, _instance_enis(config_items))


def _ec2_tag_call(params: dict[str, Any], key: str) -> tuple[list[str], str | None]:
    """(resources, value of ``key``) of a CreateTags/DeleteTags request as CloudTrail logs it:
    ``resourcesSet.items[].resourceId`` and ``tagSet.items[].key/value``."""
    resources = params.get("resourcesSet") or {}
    items = resources.get("items") if isinstance(resources, dict) else None
    ids = [str(r["resourceId"]) for r in items or [] if isinstance(r, dict) and r.get("resourceId")]
    tags = params.get("tagSet") or {}
    tag_items = tags.get("items") if isinstance(tags, dict) else None
    for tag in tag_items or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return ids, str(tag.get("value", ""))
    return ids, None


def _s3_tag_call(params: dict[str, Any], key: str) -> tuple[list[str], str | None]:
    """(bucket, value of ``key``) of a PutBucketTagging request: the XML body reaches CloudTrail
    as ``Tagging.TagSet.Tag`` (one object, or a list)."""
    bucket = params.get("bucketName")
    ids = [str(bucket)] if bucket else []
    tagging = params.get("Tagging") or {}
    tag_set = tagging.get("TagSet") if isinstance(tagging, dict) else None
    tags = tag_set.get("Tag") if isinstance(tag_set, dict) else None
    for tag in [tags] if isinstance(tags, dict) else tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("Key") == key:
            return ids, str(tag.get("Value", ""))
    return ids, None


def tagged_in_cloudtrail(
    cloudtrail: pl.DataFrame,
    key: str = DEFAULT_TAG,
    instance_enis: dict[str, list[str]] | None = None,
) -> tuple[ChangeWindow, ...]:
    """Windows from successful tagging calls: from the tag's creation (less ``TAG_LEAD``) until
    a call removes it, or open-ended."""
    needed = {"event_name", "event_time", "request_parameters"}
    if cloudtrail.height == 0 or not needed <= set(cloudtrail.columns):
        return ()
    names = ["CreateTags", "DeleteTags", "PutBucketTagging", "DeleteBucketTagging"]
    calls = cloudtrail.filter(pl.col("event_name").is_in(names))
    if "error_code" in calls.columns:
        calls = calls.filter(pl.col("error_code").is_null())
    opened: dict[str, tuple[datetime, str]] = {}
    windows: list[ChangeWindow] = []
    attached = instance_enis or {}
    rows = calls.sort("event_time").select("event_name", "event_time", "request_parameters")
    for name, when, text in rows.iter_rows():
        params = _json(text)
        if not isinstance(params, dict) or when is None:
            continue
        ec2 = name in ("CreateTags", "DeleteTags")
        ids, value = _ec2_tag_call(params, key) if ec2 else _s3_tag_call(params, key)
        if name == "CreateTags":
            if value is None:
                continue  # other tags
            removes = False
        elif name == "DeleteTags":  # removes the keys it names, or every tag when it names none
            tag_set = params.get("tagSet")
            named = tag_set.get("items") if isinstance(tag_set, dict) else None
            removes = not named or value is not None
        else:  # PutBucketTagging replaces the whole set: without the key it removes the tag
            removes = name == "DeleteBucketTagging" or value is None
        for resource in [*ids, *(e for r in ids for e in attached.get(r, []))]:
            if removes and resource in opened:
                since, why = opened.pop(resource)
                windows.append(ChangeWindow(resource, since, when, why))
            elif not removes and resource not in opened:
                why = f"tagged {key}={_clip(value)} (CloudTrail {name})"
                opened[resource] = (when - TAG_LEAD, why)
    windows += [ChangeWindow(r, s, FAR_FUTURE, why) for r, (s, why) in opened.items()]
    return tuple(sorted(windows, key=lambda w: (w.start, w.resource_id)))


class ChangeWindowError(ValueError):
    """A change-window file that cannot be read: the message says what to fix."""


def parse_windows(text: str, origin: str = "change-window file") -> tuple[ChangeWindow, ...]:
    """``{"windows": [{"resource_id", "start", "end", "reason"}]}`` (ISO 8601 times, UTC when no
    offset; ``resource_id`` ``*`` covers every entity) or the list alone."""
    try:
        doc = json.loads(text)
    except ValueError as error:
        raise ChangeWindowError(f"{origin} is not JSON ({error})") from None
    entries = doc.get("windows") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ChangeWindowError(f'{origin}: expected {{"windows": [...]}} or a list of windows')
    return tuple(_window(entry, i, origin) for i, entry in enumerate(entries))


def _window(entry: Any, index: int, origin: str) -> ChangeWindow:
    where = f"{origin}, window {index + 1}"
    if not isinstance(entry, dict):
        raise ChangeWindowError(f"{where}: expected an object")
    resource = entry.get("resource_id")
    if not isinstance(resource, str) or not resource:
        raise ChangeWindowError(f'{where}: "resource_id" is missing (use "*" for every entity)')
    start, end = (_time(entry.get(k), k, where) for k in ("start", "end"))
    if end <= start:
        raise ChangeWindowError(f"{where}: end {end.isoformat()} is not after start")
    return ChangeWindow(resource, start, end, _clip(entry.get("reason") or "change window"))


def _time(value: Any, name: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ChangeWindowError(
            f'{where}: "{name}" {value!r} is not an ISO 8601 time such as 2026-11-20T02:00:00Z'
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def planned_changes(
    config_items: pl.DataFrame,
    cloudtrail: pl.DataFrame | None = None,
    key: str = DEFAULT_TAG,
    windows: Iterable[ChangeWindow] = (),
) -> PlannedChanges:
    """Everything that says a change is planned, in one place."""
    attached = _instance_enis(config_items) if config_items.height else {}
    from_trail = tagged_in_cloudtrail(cloudtrail, key, attached) if cloudtrail is not None else ()
    return PlannedChanges(tagged_in_config(config_items, key), (*from_trail, *windows))
