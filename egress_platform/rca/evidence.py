"""Evidence for one anomaly, gathered deterministically from the lake's processed tables.

Starting from the anomaly's entity, the account's Config items give the resources that can
change its traffic (its instance and security groups; for a NAT gateway or an ENI also the
VPC's route tables, endpoints and NAT gateways). Evidence is then: CloudTrail write calls on
those resources, Config changes to them in the window before onset, the CUR lines of the
resources whose cost moved, and the top flows. Everything here is log content and so untrusted:
it is matched by resource id and event name only, and carried as data, never interpreted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from egress_platform.sources.config import decode_embedded_json

LOOKBACK = timedelta(hours=48)  # how far before onset a change can be the cause
AFTER_ONSET = timedelta(hours=1)  # CloudTrail can lag the first bytes by a few minutes
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Lookup", "Head", "AssumeRole")
MAX_TEXT = 300  # evidence fields are clipped: they are shown, never followed


@dataclass(frozen=True)
class Evidence:
    evidence_id: str
    kind: str  # cloudtrail | config | cost | flows
    resource_id: str
    relation: str  # how the resource relates to the anomaly's entity
    time: datetime | None
    name: str  # event name, changed setting, usage type or destination
    actor: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["time"] = self.time.isoformat() if self.time else None
        return found


@dataclass(frozen=True)
class AnomalyRef:
    """The fields of an ``egress_anomalies`` row that RCA needs."""

    anomaly_id: str
    account_id: str
    entity: str
    entity_type: str
    dest_class: str
    onset: datetime
    top_destinations: str = ""
    extra_usd_per_hour: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AnomalyRef:
        return cls(
            row["anomaly_id"],
            row["account_id"] or "",
            row["entity"],
            row["entity_type"],
            row["dest_class"],
            row["onset_hour"],
            row.get("top_destinations") or "",
            float(row.get("extra_usd_per_hour") or 0.0),
        )


@dataclass(frozen=True)
class Sources:
    """The processed tables RCA reads, already restricted to the window around onset."""

    config_items: pl.DataFrame
    cloudtrail: pl.DataFrame
    cur: pl.DataFrame
    flows: pl.DataFrame


def clip(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _json(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return {}


def latest_resources(config_items: pl.DataFrame, at: datetime) -> dict[str, dict[str, Any]]:
    """Each resource's last known state before ``at``: type, configuration, tags.

    A later item's keys win, but keys it omits are kept from earlier items: Config records a
    deleted resource with an empty configuration, and it must still link to its VPC.
    """
    if config_items.height == 0:
        return {}
    items = config_items.filter(pl.col("capture_time") <= at).sort("capture_time", "state_id")
    found: dict[str, dict[str, Any]] = {}
    for r in items.iter_rows(named=True):
        known = found.setdefault(
            r["resource_id"],
            {"configuration": {}, "supplementary": {}, "tags": {}, "relationships": []},
        )
        known["type"] = r["resource_type"]
        relationships = _json(r.get("relationships"))
        if isinstance(relationships, list) and relationships:
            known["relationships"] = [x for x in relationships if isinstance(x, dict)]
        for key, column in (
            ("configuration", "configuration"),
            ("supplementary", "supplementary_configuration"),
            ("tags", "tags"),
        ):
            value = _json(r[column])
            if isinstance(value, dict):
                if key == "supplementary":
                    value = decode_embedded_json(value)
                known[key] = {**known[key], **value}
    return found


def _ids(values: Any, key: str) -> list[str]:
    if not isinstance(values, list):
        return []
    return [str(v[key]) for v in values if isinstance(v, dict) and v.get(key)]


def _peers(addresses: list[str], resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The ENIs (and their instances) behind peer addresses: the other side of in-VPC flows."""
    found: dict[str, str] = {}
    for rid, r in resources.items():
        c = r["configuration"]
        if r["type"] == "AWS::EC2::NetworkInterface" and c.get("privateIpAddress") in addresses:
            found[rid] = "peer"
            attachment = c.get("attachment") or {}
            if isinstance(attachment, dict) and attachment.get("instanceId"):
                found[str(attachment["instanceId"])] = "peer instance"
    return found


def security_groups(resource: dict[str, Any]) -> list[str]:
    """The groups an ENI's item names: ``configuration.groups``, or the item's relationships
    (``AWS::EC2::SecurityGroup``, "Is associated with SecurityGroup")."""
    named = _ids(resource.get("configuration", {}).get("groups"), "groupId")
    related = [
        str(r["resourceId"])
        for r in resource.get("relationships", [])
        if r.get("resourceType") == "AWS::EC2::SecurityGroup" and r.get("resourceId")
    ]
    return list(dict.fromkeys([*named, *related]))


def related_resources(
    entity: str,
    entity_type: str,
    resources: dict[str, dict[str, Any]],
    peers: list[str] | None = None,
) -> dict[str, str]:
    """Resource id -> how it relates to the entity, for every resource that can move its traffic."""
    related = {entity: "entity"}
    peers = peers or []
    conf = resources.get(entity, {}).get("configuration", {})
    vpc = conf.get("vpcId")
    if entity_type == "eni":
        attachment = conf.get("attachment") or {}
        if isinstance(attachment, dict) and attachment.get("instanceId"):
            related[str(attachment["instanceId"])] = "attached instance"
        for group in security_groups(resources.get(entity, {})):
            related[group] = "security group"
        if conf.get("subnetId"):
            related[str(conf["subnetId"])] = "subnet"
        for rid, relation in _peers(peers, resources).items():
            related.setdefault(rid, relation)
    if entity_type in ("eni", "nat_gateway") and vpc:
        tables = {
            rid
            for rid, r in resources.items()
            if r["type"] == "AWS::EC2::RouteTable" and r["configuration"].get("vpcId") == vpc
        }
        for rid, r in resources.items():
            c = r["configuration"]
            if rid in tables:
                related.setdefault(rid, "route table")
            elif r["type"] == "AWS::EC2::VPCEndpoint" and (
                c.get("vpcId") == vpc or tables & set(c.get("routeTableIds") or [])
            ):
                related.setdefault(rid, "vpc endpoint")
            elif r["type"] == "AWS::EC2::NatGateway" and c.get("vpcId") == vpc:
                related.setdefault(rid, "nat gateway")
    return related


UNLINKED_GROUP = "security group in the account (the entity's Config item names none)"
GROUP_CALLS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
)


def unlinked_groups(
    entity: str,
    entity_type: str,
    resources: dict[str, dict[str, Any]],
    cloudtrail: pl.DataFrame,
    onset: datetime,
) -> dict[str, str]:
    """Security groups that may guard an ENI whose own item does not say which do.

    A recorder limited to some resource types, or an ENI item recorded without ``groups``,
    leaves the link out; the search then widens to every group the account's Config items hold
    (in the ENI's VPC where that is known) and every group a security-group call in the window
    names. They are weighed as less sure than a linked group (``UNLINKED_GROUP``).
    """
    if entity_type != "eni":
        return {}
    if security_groups(resources.get(entity, {})):
        return {}
    conf = resources.get(entity, {}).get("configuration", {})
    vpc = conf.get("vpcId")
    found = {
        rid: UNLINKED_GROUP
        for rid, r in resources.items()
        if r["type"] == "AWS::EC2::SecurityGroup"
        and (not vpc or r["configuration"].get("vpcId") in (None, vpc))
    }
    if cloudtrail.height:
        calls = cloudtrail.filter(
            pl.col("event_name").is_in(GROUP_CALLS)
            & pl.col("event_time").is_between(onset - LOOKBACK, onset + AFTER_ONSET)
        )
        for text in calls.get_column("request_parameters").to_list():
            params = _json(text)
            group = params.get("groupId") if isinstance(params, dict) else None
            if isinstance(group, str) and group.startswith("sg-"):
                found.setdefault(group, UNLINKED_GROUP)
    return found


def cloudtrail_evidence(
    cloudtrail: pl.DataFrame, related: dict[str, str], onset: datetime
) -> list[Evidence]:
    """Successful write calls naming a related resource, in the window before onset."""
    if cloudtrail.height == 0:
        return []
    ids = sorted(related)
    calls = cloudtrail.filter(
        pl.col("event_time").is_between(onset - LOOKBACK, onset + AFTER_ONSET, closed="left")
        & pl.col("error_code").is_null()
        & ~pl.col("event_name").str.contains(f"^({'|'.join(READ_ONLY_PREFIXES)})")
        & (pl.col("read_only").is_null() | ~pl.col("read_only"))
        & (
            pl.col("resources").fill_null("").str.contains_any(ids)
            | pl.col("request_parameters").fill_null("").str.contains_any(ids)
        )
    ).sort("event_time", "event_id")
    found = []
    for row in calls.iter_rows(named=True):
        text = (row["resources"] or "") + (row["request_parameters"] or "")
        resource = next(rid for rid in ids if rid in text)
        found.append(
            Evidence(
                f"cloudtrail:{row['event_id']}",
                "cloudtrail",
                resource,
                related[resource],
                row["event_time"],
                row["event_name"],
                clip(row["identity_arn"]),
                {
                    "event_id": row["event_id"],
                    "event_source": clip(row["event_source"]),
                    "request_parameters": _json(row["request_parameters"]),
                    "user_agent": clip(row["user_agent"]),
                    "source_ip": clip(row["source_ip"]),
                },
            )
        )
    return found


def _changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def config_evidence(
    config_items: pl.DataFrame, related: dict[str, str], onset: datetime
) -> list[Evidence]:
    """Config items of related resources whose recorded state changed in the window."""
    if config_items.height == 0:
        return []
    items = config_items.filter(
        pl.col("resource_id").is_in(list(related)) & (pl.col("capture_time") < onset + AFTER_ONSET)
    ).sort("resource_id", "capture_time", "state_id")
    found = []
    previous: dict[str, dict[str, Any]] = {}
    for row in items.iter_rows(named=True):
        state = {
            **_json(row["configuration"]),
            **{
                f"supplementary.{k}": v
                for k, v in _json(row["supplementary_configuration"]).items()
            },
            "status": row["status"],
        }
        before = previous.get(row["resource_id"])
        previous[row["resource_id"]] = state
        if before is None or row["capture_time"] < onset - LOOKBACK:
            continue
        changed = _changed_keys(before, state)
        if not changed:
            continue
        found.append(
            Evidence(
                f"config:{row['resource_id']}:{row['capture_time']:%Y%m%dT%H%M%S}",
                "config",
                row["resource_id"],
                related[row["resource_id"]],
                row["capture_time"],
                ",".join(changed),
                "",
                {
                    "resource_type": row["resource_type"],
                    "status": row["status"],
                    "changed": {k: clip(json.dumps(state.get(k), default=str)) for k in changed},
                },
            )
        )
    return found


def cost_evidence(
    cur: pl.DataFrame, related: dict[str, str], entity: str, onset: datetime, top: int = 3
) -> list[Evidence]:
    """CUR lines of the related resources: cost in the 24 h from onset vs the 24 h before."""
    if cur.height == 0:
        return []
    after = pl.col("usage_start").is_between(onset, onset + timedelta(hours=24), closed="left")
    before = pl.col("usage_start").is_between(onset - timedelta(hours=24), onset, closed="left")
    deltas = (
        cur.filter(pl.col("resource_id").is_in([*related, entity]))
        .group_by("resource_id", "product_code", "usage_type")
        .agg(
            pl.col("unblended_cost").filter(after).sum().alias("after_usd"),
            pl.col("unblended_cost").filter(before).sum().alias("before_usd"),
        )
        .with_columns((pl.col("after_usd") - pl.col("before_usd")).alias("delta_usd"))
        .filter(pl.col("delta_usd") > 0)
        .sort(["delta_usd", "usage_type"], descending=[True, False])
        .head(top)
    )
    return [
        Evidence(
            f"cost:{r['resource_id']}:{r['usage_type']}",
            "cost",
            r["resource_id"],
            related.get(r["resource_id"], "entity"),
            onset,
            r["usage_type"],
            "",
            {
                "product_code": r["product_code"],
                "usd_24h_before": round(r["before_usd"], 4),
                "usd_24h_after": round(r["after_usd"], 4),
                "delta_usd": round(r["delta_usd"], 4),
            },
        )
        for r in deltas.iter_rows(named=True)
    ]


def flow_evidence(flows: pl.DataFrame, anomaly: AnomalyRef, top: int = 5) -> list[Evidence]:
    """The entity's top destinations in its class over the first hours of the anomaly."""
    if flows.height == 0:
        return []
    mine = (
        pl.col("via_nat_gateway_id") == anomaly.entity
        if anomaly.entity_type == "nat_gateway"
        else pl.col("source_id") == anomaly.entity
    )
    grouped = (
        flows.filter(
            mine
            & (pl.col("dest_class") == anomaly.dest_class)
            & pl.col("hour").is_between(anomaly.onset, anomaly.onset + timedelta(hours=3))
        )
        .group_by("dest_service", "dest_region", "dest_prefix", "dest_az")
        .agg(
            pl.col("estimated_usd").sum().alias("usd"),
            (pl.col("bytes_out").sum() / 1e9).alias("gb_out"),
        )
        .sort(["usd", "dest_prefix"], descending=[True, False], nulls_last=True)
        .head(top)
    )
    found = []
    for r in grouped.iter_rows(named=True):
        where = r["dest_service"] or r["dest_prefix"] or r["dest_region"] or r["dest_az"] or "?"
        found.append(
            Evidence(
                f"flows:{anomaly.entity}:{where}",
                "flows",
                anomaly.entity,
                "entity",
                anomaly.onset,
                clip(where),
                "",
                {
                    "dest_service": r["dest_service"],
                    "dest_region": r["dest_region"],
                    "dest_prefix": clip(r["dest_prefix"]),
                    "usd_first_3h": round(r["usd"] or 0.0, 4),
                    "gb_out_first_3h": round(r["gb_out"] or 0.0, 3),
                },
            )
        )
    return found


def gather_evidence(anomaly: AnomalyRef, sources: Sources) -> tuple[list[Evidence], dict[str, Any]]:
    """(evidence, the resources' latest Config state) for one anomaly."""
    resources = latest_resources(sources.config_items, anomaly.onset + AFTER_ONSET)
    peers = [p for p in anomaly.top_destinations.split(",") if p]
    related = related_resources(anomaly.entity, anomaly.entity_type, resources, peers)
    for rid, relation in unlinked_groups(
        anomaly.entity, anomaly.entity_type, resources, sources.cloudtrail, anomaly.onset
    ).items():
        related.setdefault(rid, relation)
    evidence = [
        *cloudtrail_evidence(sources.cloudtrail, related, anomaly.onset),
        *config_evidence(sources.config_items, related, anomaly.onset),
        *cost_evidence(sources.cur, related, anomaly.entity, anomaly.onset),
        *flow_evidence(sources.flows, anomaly),
    ]
    state = {rid: resources[rid] for rid in related if rid in resources}
    return evidence, state
