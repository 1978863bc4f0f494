"""Rank root-cause hypotheses from evidence, with the catalog actions each one calls for.

A hypothesis is a known cause (a rule: the API calls and Config settings that produce it, the
destination classes it can explain) found in the evidence on a related resource. Its score
weighs the rule's prior, whether it explains the anomaly's destination class, how close the
resource is to the entity and how shortly before onset the change happened. Actions and their
parameters come from the rule and the structured evidence alone; narrative text (the LLM's or
the template's) is produced afterwards and never feeds back into this ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from egress_platform.pricing.price_book import HOURS_PER_MONTH
from egress_platform.rca.evidence import UNLINKED_GROUP, AnomalyRef, Evidence

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
UNEXPLAINED_WEIGHT = 0.25  # how much confidence stays on "something we did not see"


@dataclass(frozen=True)
class CauseRule:
    rule: str
    title: str
    event_names: tuple[str, ...]
    config_markers: tuple[str, ...]  # changed Config keys (prefixes) that show this cause
    classes: tuple[str, ...]
    actions: tuple[str, ...]
    prior: float


RULES = (
    CauseRule("public_bucket_policy", "Bucket policy grants public access",
              ("PutBucketPolicy",), ("supplementary.BucketPolicy",), ("internet",),
              ("s3-remove-public-policy-statement", "s3-block-public-access"), 0.9),
    CauseRule("public_access_block_removed", "Bucket public access block removed",
              ("DeleteBucketPublicAccessBlock", "DeletePublicAccessBlock",
               "PutBucketPublicAccessBlock"),
              ("supplementary.PublicAccessBlockConfiguration",), ("internet",),
              ("s3-block-public-access",), 0.8),
    CauseRule("public_bucket_acl", "Bucket ACL grants public access", ("PutBucketAcl",),
              ("supplementary.AccessControlList",), ("internet",), ("s3-block-public-access",),
              0.7),
    CauseRule("open_ingress", "Security group opened to the internet",
              ("AuthorizeSecurityGroupIngress",), ("ipPermissions",), ("internet",),
              ("sg-revoke-open-ingress",), 0.85),
    CauseRule("open_egress", "Security group egress opened to the internet",
              ("AuthorizeSecurityGroupEgress",), ("ipPermissionsEgress",), ("internet",),
              ("sg-revoke-open-egress",), 0.75),
    CauseRule("gateway_endpoint_removed",
              "VPC gateway endpoint removed: S3 traffic now goes through the NAT gateway",
              ("DeleteVpcEndpoints", "ModifyVpcEndpoint"), ("state", "status", "routeTableIds"),
              ("nat_gateway", "aws_service_same_region"), ("add-s3-gateway-endpoint",), 0.85),
    CauseRule("route_changed", "Route table changed the traffic path",
              ("ReplaceRoute", "CreateRoute", "DeleteRoute", "ReplaceRouteTableAssociation"),
              ("routes", "associations"),
              ("nat_gateway", "internet", "inter_region", "transit_gateway", "peering"), (), 0.6),
    CauseRule("replication_rule", "Replication rule copies the whole bucket to another region",
              ("PutBucketReplication",), ("supplementary.BucketReplicationConfiguration",),
              ("inter_region",), ("fix-replication-rule",), 0.85),
    CauseRule("placement_moved", "Workload placed in a different AZ from its peers",
              ("RunInstances", "ModifyInstancePlacement", "AttachNetworkInterface"),
              ("placement", "subnetId", "availabilityZone"), ("inter_az",), ("colocate-az",), 0.7),
    CauseRule("cloudfront_cache", "CloudFront cache behaviour changed: more requests miss",
              ("UpdateDistribution", "UpdateCachePolicy"),
              ("defaultCacheBehavior", "cacheBehaviors"), ("internet", "cloudfront"),
              ("enable-cloudfront-caching",), 0.8),
)  # fmt: skip
RULES_BY_EVENT = {name: rule for rule in RULES for name in rule.event_names}
GROWTH = CauseRule(
    "workload_growth",
    "Workload sends more without a recorded configuration change",
    (),
    (),
    (),
    (),
    0.3,
)
RELATION_WEIGHT = {
    "entity": 1.0,
    "attached instance": 1.0,
    "security group": 1.0,
    UNLINKED_GROUP: 0.5,  # may guard the entity: nothing recorded says it does
}


@dataclass(frozen=True)
class Hypothesis:
    rule: str
    title: str
    resource_id: str
    event_name: str
    event_id: str
    actor: str
    time: str
    score: float
    evidence_ids: tuple[str, ...]
    actions: tuple[dict[str, Any], ...]
    relation: str = "entity"  # how the changed resource is tied to the entity: how sure

    def to_dict(self, rank: int, confidence: float) -> dict[str, Any]:
        return {
            "hypothesis_id": f"h{rank}",
            "rule": self.rule,
            "title": self.title,
            "resource_id": self.resource_id,
            "relation": self.relation,
            "event_name": self.event_name,
            "cloudtrail_event_id": self.event_id,
            "actor": self.actor,
            "time": self.time,
            "confidence": round(confidence, 3),
            "evidence_ids": list(self.evidence_ids),
            "actions": list(self.actions),
        }


def _rule_for(item: Evidence) -> CauseRule | None:
    if item.kind == "cloudtrail":
        return RULES_BY_EVENT.get(item.name)
    if item.kind == "config":
        changed = item.name.split(",")
        for rule in RULES:
            if any(k.startswith(m) for k in changed for m in rule.config_markers):
                return rule
    return None


def _weight(rule: CauseRule, item: Evidence, anomaly: AnomalyRef) -> float:
    fits = 1.0 if anomaly.dest_class in rule.classes else 0.3
    near = RELATION_WEIGHT.get(item.relation, 0.8)
    hours_before = max(0.0, (anomaly.onset - item.time).total_seconds() / 3600) if item.time else 48
    return rule.prior * fits * near / (1 + hours_before / 12)


def _open_permissions(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The open-to-the-world permissions in an Authorize* call's request parameters."""
    perms = params.get("ipPermissions", {})
    items = perms.get("items", []) if isinstance(perms, dict) else perms
    found = []
    for perm in items if isinstance(items, list) else []:
        if not isinstance(perm, dict):
            continue
        ranges = [
            *[r.get("cidrIp") for r in (perm.get("ipRanges") or {}).get("items", [])],
            *[r.get("cidrIpv6") for r in (perm.get("ipv6Ranges") or {}).get("items", [])],
        ]
        for cidr in ranges:
            if cidr in OPEN_CIDRS:
                found.append(
                    {
                        "protocol": str(perm.get("ipProtocol", "tcp")),
                        "from_port": int(perm.get("fromPort", -1)),
                        "to_port": int(perm.get("toPort", -1)),
                        "cidr": cidr,
                    }
                )
    return found


def _replication_rules(params: dict[str, Any]) -> list[str]:
    """The ids of the rules that copy the whole bucket. CloudTrail turns the request's XML into
    ``Rule`` (one object, or a list when there are several); the S3 API's JSON says ``Rules``."""
    config = params.get("ReplicationConfiguration") or {}
    if not isinstance(config, dict):
        return []
    rules = config.get("Rule", config.get("Rules", []))
    rules = [rules] if isinstance(rules, dict) else rules if isinstance(rules, list) else []
    return [str(r["ID"]) for r in rules if isinstance(r, dict) and r.get("ID") and _whole_bucket(r)]


def _whole_bucket(rule: dict[str, Any]) -> bool:
    """No prefix and no tag filter (an empty XML element reaches CloudTrail as "" or null)."""
    filt = rule.get("Filter")
    if isinstance(filt, dict) and (filt.get("Tag") or filt.get("And")):
        return False
    prefix = (filt or {}).get("Prefix") if isinstance(filt, dict) else rule.get("Prefix")
    return not prefix


def action_params(
    rule: CauseRule,
    item: Evidence,
    anomaly: AnomalyRef,
    state: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each recommended action with parameters taken from structured evidence only."""
    params = item.details.get("request_parameters") or {}
    saving = round(anomaly.extra_usd_per_hour * HOURS_PER_MONTH, 2)
    actions: list[dict[str, Any]] = []
    for name in rule.actions:
        found: list[dict[str, Any]] = []
        if name in ("s3-block-public-access", "s3-remove-public-policy-statement"):
            found = [{"bucket": item.resource_id}]
        elif name in ("sg-revoke-open-ingress", "sg-revoke-open-egress"):
            found = [{"group_id": item.resource_id, **p} for p in _open_permissions(params)]
        elif name == "add-s3-gateway-endpoint":
            conf = state.get(anomaly.entity, {}).get("configuration", {})
            found = [{"vpc_id": conf.get("vpcId") or "", "service": "s3"}]
        elif name == "fix-replication-rule":
            found = [{"bucket": item.resource_id, "rule_id": r} for r in _replication_rules(params)]
        elif name == "colocate-az":
            found = [{"eni": anomaly.entity, "peers": anomaly.top_destinations}]
        elif name == "enable-cloudfront-caching":
            found = [{"distribution_id": item.resource_id}]
        actions.extend(
            {"action": name, "params": p, "estimated_monthly_savings_usd": saving} for p in found
        )
    return actions


def link_note(top: dict[str, Any], entity: str) -> str:
    """How sure the top cause's tie to the entity is, when it is not recorded but inferred."""
    relation = top.get("relation") or "entity"
    if RELATION_WEIGHT.get(relation, 0.8) >= 0.8:
        return ""
    return f"{top['resource_id']} is a {relation}: its link to {entity} is inferred, not recorded."


def rank_hypotheses(
    anomaly: AnomalyRef, evidence: list[Evidence], state: dict[str, Any], top: int = 3
) -> list[dict[str, Any]]:
    """Hypotheses best first, each with a confidence in [0, 1] and its evidence ids."""
    by_cause: dict[tuple[str, str], Hypothesis] = {}
    for item in evidence:
        rule = _rule_for(item)
        if rule is None:
            continue
        key = (rule.rule, item.resource_id)
        score = _weight(rule, item, anomaly)
        known = by_cause.get(key)
        if known is None:
            by_cause[key] = Hypothesis(
                rule.rule,
                rule.title,
                item.resource_id,
                item.name if item.kind == "cloudtrail" else "",
                item.details.get("event_id", "") if item.kind == "cloudtrail" else "",
                item.actor,
                item.time.isoformat() if item.time else "",
                score,
                (item.evidence_id,),
                tuple(action_params(rule, item, anomaly, state)),
                item.relation,
            )
            continue
        # A second source for the same cause corroborates it; a CloudTrail call names who.
        call = known if known.event_id or item.kind != "cloudtrail" else None
        by_cause[key] = Hypothesis(
            rule.rule,
            rule.title,
            item.resource_id,
            call.event_name if call else item.name,
            call.event_id if call else item.details.get("event_id", ""),
            call.actor if call else item.actor,
            call.time if call else (item.time.isoformat() if item.time else ""),
            max(known.score, score) + 0.1,
            (*known.evidence_ids, item.evidence_id),
            known.actions or tuple(action_params(rule, item, anomaly, state)),
            known.relation,
        )
    ranked = sorted(by_cause.values(), key=lambda h: (-h.score, h.rule, h.resource_id))
    context = tuple(e.evidence_id for e in evidence if e.kind in ("cost", "flows"))
    growth_actions: tuple[dict[str, Any], ...] = ()
    services = {e.details.get("dest_service") for e in evidence if e.kind == "flows"}
    if anomaly.entity_type == "nat_gateway" and services & {"S3", "DYNAMODB"}:
        growth_actions = tuple(
            action_params(
                CauseRule("", "", (), (), (), ("add-s3-gateway-endpoint",), 0),
                evidence[0],
                anomaly,
                state,
            )
        )
    ranked.append(
        Hypothesis(
            GROWTH.rule,
            GROWTH.title,
            anomaly.entity,
            "",
            "",
            "",
            "",
            GROWTH.prior / 2 if ranked else GROWTH.prior,
            context,
            growth_actions,
        )
    )
    total = sum(h.score for h in ranked) + UNEXPLAINED_WEIGHT
    return [h.to_dict(i + 1, h.score / total) for i, h in enumerate(ranked[:top])]
