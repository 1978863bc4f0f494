"""The remediation catalog: every action the platform can plan, with what it needs and risks.

Each action has a parameter schema (JSON Schema, validated before anything runs), the IAM
permissions its calls need (the remediation Lambda's role holds exactly their union), its
preconditions, ``plan`` (a dry run: what would change, whether it is already done, and the
record that would undo it) and ``apply``. Recommendation-only actions never call AWS: they say
what to do and what it would save.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from egress_platform.remediate.accounts import AccountApi, is_protected, same_ports

RISKS = ("low", "medium", "high")
FULL_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
BUCKET = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"}
GROUP = {"type": "string", "pattern": r"^sg-[0-9a-f]{8,17}$"}
PORT = {"type": "integer", "minimum": -1, "maximum": 65535}


@dataclass(frozen=True)
class Plan:
    changes: list[str]  # what apply would do, in words
    noop: bool  # the resource is already in the desired state
    resource: str
    tags: dict[str, str] = field(default_factory=dict)
    rollback: dict[str, Any] = field(default_factory=dict)  # what undoes it

    @property
    def protected(self) -> bool:
        return is_protected(self.tags)


@dataclass(frozen=True)
class Action:
    name: str
    summary: str
    kind: str  # "change" (apply calls AWS) or "recommendation"
    risk: str
    parameters: dict[str, Any]
    permissions: tuple[str, ...]
    preconditions: tuple[str, ...]
    plan: Callable[[AccountApi | None, dict[str, Any]], Plan]
    apply: Callable[[AccountApi, dict[str, Any]], None] | None = None

    def validate(self, params: dict[str, Any]) -> list[str]:
        validator = jsonschema.Draft202012Validator(self.parameters)
        return sorted(e.message for e in validator.iter_errors(params))


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


# -- S3 -----------------------------------------------------------------------------------------


def _full_block(config: dict[str, bool] | None) -> bool:
    """All four settings on (Config spells them in camelCase, the S3 API in PascalCase)."""
    if not config:
        return False
    return all(config.get(k) or config.get(k[0].lower() + k[1:]) for k in FULL_BLOCK)


def plan_block_public_access(account: AccountApi | None, p: dict[str, Any]) -> Plan:
    assert account is not None
    bucket = p["bucket"]
    current = account.public_access_block(bucket)
    done = _full_block(current)
    return Plan(
        [] if done else [f"turn on all four public access block settings of bucket {bucket}"],
        done,
        bucket,
        account.bucket_tags(bucket),
        {"call": "PutPublicAccessBlock", "bucket": bucket, "previous": current},
    )


def apply_block_public_access(account: AccountApi, p: dict[str, Any]) -> None:
    account.put_public_access_block(p["bucket"], dict(FULL_BLOCK))


def public_statements(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Allow statements open to anyone (``"*"`` principal, no condition)."""
    statements = (policy or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    return [
        s
        for s in statements
        if s.get("Effect") == "Allow"
        and s.get("Principal") in ("*", {"AWS": "*"})
        and not s.get("Condition")
    ]


def _without_public(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    statements = (policy or {}).get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    public = public_statements(policy)
    kept = [s for s in statements if s not in public]
    return {**(policy or {}), "Statement": kept} if kept else None


def plan_remove_public_statement(account: AccountApi | None, p: dict[str, Any]) -> Plan:
    assert account is not None
    bucket = p["bucket"]
    policy = account.bucket_policy(bucket)
    public = public_statements(policy)
    sids = ", ".join(str(s.get("Sid", "(no Sid)")) for s in public)
    after = _without_public(policy)
    change = f"remove public statement(s) {sids} from the policy of bucket {bucket}" + (
        "" if after else " (nothing else is left: delete the policy)"
    )
    return Plan(
        [change] if public else [],
        not public,
        bucket,
        account.bucket_tags(bucket),
        {"call": "PutBucketPolicy", "bucket": bucket, "previous": policy},
    )


def apply_remove_public_statement(account: AccountApi, p: dict[str, Any]) -> None:
    account.put_bucket_policy(p["bucket"], _without_public(account.bucket_policy(p["bucket"])))


# -- security groups ----------------------------------------------------------------------------


def _permission(p: dict[str, Any]) -> dict[str, Any]:
    """Exactly the matched permission: one protocol, one port range, one open CIDR."""
    perm: dict[str, Any] = {"IpProtocol": p["protocol"]}
    if p["protocol"] != "-1":
        perm |= {"FromPort": p["from_port"], "ToPort": p["to_port"]}
    v6 = ":" in p["cidr"]
    perm["IpRanges"] = [] if v6 else [{"CidrIp": p["cidr"]}]
    perm["Ipv6Ranges"] = [{"CidrIpv6": p["cidr"]}] if v6 else []
    return perm


def _has(rules: list[dict[str, Any]], perm: dict[str, Any]) -> bool:
    for rule in rules:
        if not same_ports(rule, perm):
            continue
        v4 = {r["CidrIp"] for r in rule.get("IpRanges", [])}
        v6 = {r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])}
        if {r["CidrIp"] for r in perm["IpRanges"]} <= v4 and {
            r["CidrIpv6"] for r in perm["Ipv6Ranges"]
        } <= v6:
            return True
    return False


def _sg_planner(direction: str) -> Callable[[AccountApi | None, dict[str, Any]], Plan]:
    def plan(account: AccountApi | None, p: dict[str, Any]) -> Plan:
        assert account is not None
        group = account.security_group(p["group_id"])
        perm = _permission(p)
        present = _has(group[direction], perm)
        ports = "all ports" if p["protocol"] == "-1" else f"{p['from_port']}-{p['to_port']}"
        change = f"revoke {direction} {p['protocol']} {ports} from {p['cidr']} on {p['group_id']}"
        return Plan(
            [change] if present else [],
            not present,
            p["group_id"],
            group["tags"],
            {"call": f"AuthorizeSecurityGroup{direction.title()}", "group_id": p["group_id"],
             "permission": perm},
        )  # fmt: skip

    return plan


def _sg_applier(direction: str) -> Callable[[AccountApi, dict[str, Any]], None]:
    def apply(account: AccountApi, p: dict[str, Any]) -> None:
        account.revoke(p["group_id"], direction, _permission(p))

    return apply


def _sg_schema() -> dict[str, Any]:
    return _schema(
        {
            "group_id": GROUP,
            "protocol": {"type": "string", "enum": ["tcp", "udp", "icmp", "icmpv6", "-1"]},
            "from_port": PORT,
            "to_port": PORT,
            "cidr": {"type": "string", "enum": ["0.0.0.0/0", "::/0"]},
        }
    )


# -- recommendations ----------------------------------------------------------------------------


def _recommend(text: str, resource_key: str) -> Callable[[AccountApi | None, dict[str, Any]], Plan]:
    def plan(_: AccountApi | None, p: dict[str, Any]) -> Plan:
        return Plan([text.format(**p)], False, str(p[resource_key]))

    return plan


CATALOG: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "s3-block-public-access",
            "Turn on the bucket-level S3 public access block (all four settings).",
            "change", "low", _schema({"bucket": BUCKET}),
            ("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
             "s3:GetBucketTagging"),
            ("the bucket exists", "the bucket is not tagged egress:protected=true"),
            plan_block_public_access, apply_block_public_access,
        ),
        Action(
            "s3-remove-public-policy-statement",
            "Remove the bucket policy statements that allow anyone (Principal *), keep the rest.",
            "change", "medium", _schema({"bucket": BUCKET}),
            ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
             "s3:GetBucketTagging"),
            ("the bucket exists", "the policy has an unconditional public Allow statement",
             "the bucket is not tagged egress:protected=true"),
            plan_remove_public_statement, apply_remove_public_statement,
        ),
        Action(
            "sg-revoke-open-ingress",
            "Revoke exactly the matched inbound rule open to 0.0.0.0/0 or ::/0 on its ports.",
            "change", "medium", _sg_schema(),
            ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress"),
            ("the group exists and still has the rule",
             "the group is not tagged egress:protected=true"),
            _sg_planner("ingress"), _sg_applier("ingress"),
        ),
        Action(
            "sg-revoke-open-egress",
            "Revoke exactly the matched outbound rule open to 0.0.0.0/0 or ::/0 on its ports.",
            "change", "high", _sg_schema(),
            ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupEgress"),
            ("the group exists and still has the rule",
             "the group is not tagged egress:protected=true"),
            _sg_planner("egress"), _sg_applier("egress"),
        ),
        Action(
            "add-s3-gateway-endpoint",
            "Add an S3 gateway endpoint to the VPC so S3 traffic skips the NAT gateway (free).",
            "recommendation", "low",
            _schema({"vpc_id": {"type": "string", "pattern": r"^vpc-[0-9a-f]{8,17}$"},
                     "service": {"type": "string", "enum": ["s3", "dynamodb"]}}),
            (), ("the VPC has no gateway endpoint for the service",),
            _recommend("add a {service} gateway endpoint to {vpc_id} and its private route "
                       "tables", "vpc_id"),
        ),
        Action(
            "enable-cloudfront-caching",
            "Restore a caching policy on the distribution so viewers are served from the edge.",
            "recommendation", "low", _schema({"distribution_id": {"type": "string",
                                                                  "pattern": r"^E[0-9A-Z]{6,20}$"}}),
            (), ("the distribution's default behaviour forwards query strings or disables caching",),
            _recommend("set the CachingOptimized policy on {distribution_id}'s default "
                       "behaviour", "distribution_id"),
        ),
        Action(
            "colocate-az",
            "Move the workload into the same AZ as the peers it talks to.",
            "recommendation", "low",
            _schema({"eni": {"type": "string", "pattern": r"^eni-[0-9a-f]{8,17}$"},
                     "peers": {"type": "string", "maxLength": 400}}),
            (), ("the peers sit in one AZ",),
            _recommend("run {eni}'s workload in the AZ of its peers ({peers})", "eni"),
        ),
        Action(
            "fix-replication-rule",
            "Scope the replication rule to the prefixes that need a copy in the other region.",
            "recommendation", "low",
            _schema({"bucket": BUCKET, "rule_id": {"type": "string", "maxLength": 255}}),
            (), ("the rule replicates the whole bucket",),
            _recommend("limit replication rule {rule_id} of {bucket} to the prefixes that need "
                       "it", "bucket"),
        ),
    )
}  # fmt: skip


def executable_permissions() -> list[str]:
    """Every IAM action the catalog's applies and plans call: the remediation role's policy."""
    return sorted({p for a in CATALOG.values() if a.kind == "change" for p in a.permissions})
