"""The remediation catalog: every action the platform can plan, with what it needs and risks.

Actions are registered as Cloud Custodian registers its own (``@actions.register("name")`` on
a class): each class states its ``summary``, ``kind``, ``risk``, parameter ``schema`` (JSON
Schema, validated before anything runs), the IAM ``permissions`` its calls need (the
remediation Lambda's role holds exactly their union) and ``preconditions``, and implements
``plan`` (a dry run: what would change, whether it is already done), ``rollback`` (the call
that restores the state the plan saw) and, for changes, ``apply``. Recommendation-only actions
never call AWS: they say what to do. A new action is one new class here; the registry test
checks every one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

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


class Action:
    """One catalogued action; subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""  # set by ``actions.register``
    summary: ClassVar[str]
    kind: ClassVar[str] = "change"  # "change" (apply calls AWS) or "recommendation"
    risk: ClassVar[str]
    schema: ClassVar[dict[str, Any]]
    permissions: ClassVar[tuple[str, ...]] = ()
    preconditions: ClassVar[tuple[str, ...]]

    def validate(self, params: dict[str, Any]) -> list[str]:
        validator = jsonschema.Draft202012Validator(self.schema)
        return sorted(e.message for e in validator.iter_errors(params))

    def plan(self, account: AccountApi | None, params: dict[str, Any]) -> Plan:
        raise NotImplementedError

    def rollback(self, params: dict[str, Any], before: Any) -> dict[str, Any]:
        """The call that puts back ``before``, the state the plan read (empty: nothing to undo)."""
        return {}

    def apply(self, account: AccountApi, params: dict[str, Any]) -> None:
        raise TypeError(f"{self.name} is a recommendation: it is made by hand, never applied")


A = TypeVar("A", bound=type[Action])


class ActionRegistry(Mapping[str, Action]):
    """Name -> action, filled by the ``register`` decorator."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, name: str) -> Callable[[A], A]:
        def add(cls: A) -> A:
            if name in self._actions:
                raise ValueError(f"remediation action {name!r} is registered twice")
            cls.name = name
            self._actions[name] = cls()
            return cls

        return add

    def __getitem__(self, name: str) -> Action:
        return self._actions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions)

    def __len__(self) -> int:
        return len(self._actions)


actions = ActionRegistry()


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


class _BucketSettingAction(Action):
    """Changes one setting of a bucket; undone by putting back the setting the plan read."""

    rollback_call: ClassVar[str]
    schema = _schema({"bucket": BUCKET})

    def read(self, account: AccountApi, bucket: str) -> Any:
        """The setting as it is now."""
        raise NotImplementedError

    def pending(self, bucket: str, current: Any) -> list[str]:
        """What apply would change, in words; empty when the setting is already right."""
        raise NotImplementedError

    def plan(self, account: AccountApi | None, params: dict[str, Any]) -> Plan:
        assert account is not None
        bucket = params["bucket"]
        current = self.read(account, bucket)
        changes = self.pending(bucket, current)
        return Plan(changes, not changes, bucket, account.bucket_tags(bucket),
                    self.rollback(params, current))  # fmt: skip

    def rollback(self, params: dict[str, Any], before: Any) -> dict[str, Any]:
        return {"call": self.rollback_call, "bucket": params["bucket"], "previous": before}


@actions.register("s3-block-public-access")
class BlockPublicAccess(_BucketSettingAction):
    summary = "Turn on the bucket-level S3 public access block (all four settings)."
    risk = "low"
    rollback_call = "PutPublicAccessBlock"
    permissions = (
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketTagging",
    )
    preconditions = ("the bucket exists", "the bucket is not tagged egress:protected=true")

    def read(self, account: AccountApi, bucket: str) -> Any:
        return account.public_access_block(bucket)

    def pending(self, bucket: str, current: Any) -> list[str]:
        if _full_block(current):
            return []
        return [f"turn on all four public access block settings of bucket {bucket}"]

    def apply(self, account: AccountApi, params: dict[str, Any]) -> None:
        account.put_public_access_block(params["bucket"], dict(FULL_BLOCK))


@actions.register("s3-remove-public-policy-statement")
class RemovePublicPolicyStatement(_BucketSettingAction):
    summary = "Remove the bucket policy statements that allow anyone (Principal *), keep the rest."
    risk = "medium"
    rollback_call = "PutBucketPolicy"
    permissions = (
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:GetBucketTagging",
    )
    preconditions = (
        "the bucket exists",
        "the policy has an unconditional public Allow statement",
        "the bucket is not tagged egress:protected=true",
    )

    def read(self, account: AccountApi, bucket: str) -> Any:
        return account.bucket_policy(bucket)

    def pending(self, bucket: str, current: Any) -> list[str]:
        public = public_statements(current)
        if not public:
            return []
        sids = ", ".join(str(s.get("Sid", "(no Sid)")) for s in public)
        gone = "" if _without_public(current) else " (nothing else is left: delete the policy)"
        return [f"remove public statement(s) {sids} from the policy of bucket {bucket}{gone}"]

    def apply(self, account: AccountApi, params: dict[str, Any]) -> None:
        bucket = params["bucket"]
        account.put_bucket_policy(bucket, _without_public(account.bucket_policy(bucket)))


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


class _RevokeOpenRule(Action):
    """Revoke one security group rule open to the world, in one direction."""

    direction: ClassVar[str]
    schema = _schema(
        {
            "group_id": GROUP,
            "protocol": {"type": "string", "enum": ["tcp", "udp", "icmp", "icmpv6", "-1"]},
            "from_port": PORT,
            "to_port": PORT,
            "cidr": {"type": "string", "enum": ["0.0.0.0/0", "::/0"]},
        }
    )
    preconditions = (
        "the group exists and still has the rule",
        "the group is not tagged egress:protected=true",
    )

    def plan(self, account: AccountApi | None, params: dict[str, Any]) -> Plan:
        assert account is not None
        group = account.security_group(params["group_id"])
        present = _has(group[self.direction], _permission(params))
        ports = (
            "all ports"
            if params["protocol"] == "-1"
            else f"{params['from_port']}-{params['to_port']}"
        )
        change = (
            f"revoke {self.direction} {params['protocol']} {ports} from {params['cidr']} "
            f"on {params['group_id']}"
        )
        return Plan(
            [change] if present else [],
            not present,
            params["group_id"],
            group["tags"],
            self.rollback(params, group),
        )

    def rollback(self, params: dict[str, Any], before: Any) -> dict[str, Any]:
        return {
            "call": f"AuthorizeSecurityGroup{self.direction.title()}",
            "group_id": params["group_id"],
            "permission": _permission(params),
        }

    def apply(self, account: AccountApi, params: dict[str, Any]) -> None:
        account.revoke(params["group_id"], self.direction, _permission(params))


@actions.register("sg-revoke-open-ingress")
class RevokeOpenIngress(_RevokeOpenRule):
    summary = "Revoke exactly the matched inbound rule open to 0.0.0.0/0 or ::/0 on its ports."
    risk = "medium"
    direction = "ingress"
    permissions = ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress")


@actions.register("sg-revoke-open-egress")
class RevokeOpenEgress(_RevokeOpenRule):
    summary = "Revoke exactly the matched outbound rule open to 0.0.0.0/0 or ::/0 on its ports."
    risk = "high"
    direction = "egress"
    permissions = ("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupEgress")


# -- recommendations ----------------------------------------------------------------------------


class _Recommendation(Action):
    """Says what to change; the product never makes the change itself."""

    kind = "recommendation"
    risk = "low"
    advice: ClassVar[str]  # formatted with the parameters
    resource_key: ClassVar[str]  # the parameter that names the resource

    def plan(self, account: AccountApi | None, params: dict[str, Any]) -> Plan:
        return Plan([self.advice.format(**params)], False, str(params[self.resource_key]))


@actions.register("add-s3-gateway-endpoint")
class AddGatewayEndpoint(_Recommendation):
    summary = "Add an S3 gateway endpoint to the VPC so S3 traffic skips the NAT gateway (free)."
    schema = _schema(
        {
            "vpc_id": {"type": "string", "pattern": r"^vpc-[0-9a-f]{8,17}$"},
            "service": {"type": "string", "enum": ["s3", "dynamodb"]},
        }
    )
    preconditions = ("the VPC has no gateway endpoint for the service",)
    advice = "add a {service} gateway endpoint to {vpc_id} and its private route tables"
    resource_key = "vpc_id"


@actions.register("enable-cloudfront-caching")
class EnableCloudFrontCaching(_Recommendation):
    summary = "Restore a caching policy on the distribution so viewers are served from the edge."
    schema = _schema({"distribution_id": {"type": "string", "pattern": r"^E[0-9A-Z]{6,20}$"}})
    preconditions = (
        "the distribution's default behaviour forwards query strings or disables caching",
    )
    advice = "set the CachingOptimized policy on {distribution_id}'s default behaviour"
    resource_key = "distribution_id"


@actions.register("colocate-az")
class ColocateAz(_Recommendation):
    summary = "Move the workload into the same AZ as the peers it talks to."
    schema = _schema(
        {
            "eni": {"type": "string", "pattern": r"^eni-[0-9a-f]{8,17}$"},
            "peers": {"type": "string", "maxLength": 400},
        }
    )
    preconditions = ("the peers sit in one AZ",)
    advice = "run {eni}'s workload in the AZ of its peers ({peers})"
    resource_key = "eni"


@actions.register("fix-replication-rule")
class FixReplicationRule(_Recommendation):
    summary = "Scope the replication rule to the prefixes that need a copy in the other region."
    schema = _schema({"bucket": BUCKET, "rule_id": {"type": "string", "maxLength": 255}})
    preconditions = ("the rule replicates the whole bucket",)
    advice = "limit replication rule {rule_id} of {bucket} to the prefixes that need it"
    resource_key = "bucket"


def executable_permissions() -> list[str]:
    """Every IAM action the catalog's applies and plans call: the remediation role's policy."""
    return sorted({p for a in actions.values() if a.kind == "change" for p in a.permissions})
