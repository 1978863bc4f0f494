"""What remediation actions may touch, behind one interface: a fake account or real AWS.

``AccountApi`` is the narrow surface the catalog uses (S3 public access and policies, security
group rules, tags). ``FakeAccount`` holds that state as a JSON document built from the lake's
Config items; the local profile applies actions to it. ``Boto3Account`` (``aws_account.py``)
makes the real calls. Permissions use boto3's shape (``IpProtocol``, ``IpRanges`` ...).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

PROTECTED_TAG = "egress:protected"


class ResourceMissing(LookupError):
    """The action's resource does not exist (any more)."""


class AccountApi(Protocol):
    def bucket_tags(self, bucket: str) -> dict[str, str]: ...
    def public_access_block(self, bucket: str) -> dict[str, bool] | None: ...
    def put_public_access_block(self, bucket: str, config: dict[str, bool]) -> None: ...
    def bucket_policy(self, bucket: str) -> dict[str, Any] | None: ...
    def put_bucket_policy(self, bucket: str, policy: dict[str, Any] | None) -> None: ...
    def security_group(self, group_id: str) -> dict[str, Any]: ...  # tags, ingress, egress
    def revoke(self, group_id: str, direction: str, permission: dict[str, Any]) -> None: ...


def is_protected(tags: dict[str, str]) -> bool:
    return str(tags.get(PROTECTED_TAG, "")).lower() == "true"


def _permission_from_config(perm: dict[str, Any]) -> dict[str, Any]:
    """Config's ``ipPermissions`` entry (strings or objects) in boto3's shape."""
    v4 = [r if isinstance(r, str) else r.get("cidrIp") for r in perm.get("ipRanges") or []]
    v4 += [r.get("cidrIp") for r in perm.get("ipv4Ranges") or [] if isinstance(r, dict)]
    v6 = [r if isinstance(r, str) else r.get("cidrIpv6") for r in perm.get("ipv6Ranges") or []]
    found: dict[str, Any] = {"IpProtocol": str(perm.get("ipProtocol", "-1"))}
    if perm.get("fromPort") is not None:
        found["FromPort"] = int(perm["fromPort"])
        found["ToPort"] = int(perm.get("toPort", perm["fromPort"]))
    found["IpRanges"] = [{"CidrIp": c} for c in dict.fromkeys(v4) if c]
    found["Ipv6Ranges"] = [{"CidrIpv6": c} for c in dict.fromkeys(v6) if c]
    # Kept so that removing one CIDR of a mixed rule never removes the group or prefix-list part.
    pairs = [p for p in perm.get("userIdGroupPairs") or [] if isinstance(p, dict)]
    found["UserIdGroupPairs"] = [
        {k: v for k, v in (("GroupId", p.get("groupId")), ("UserId", p.get("userId"))) if v}
        for p in pairs
    ]
    lists = [p.get("prefixListId") for p in perm.get("prefixListIds") or [] if isinstance(p, dict)]
    found["PrefixListIds"] = [{"PrefixListId": p} for p in lists if p]
    return found


@dataclass
class FakeAccount:
    """An account's buckets and security groups as plain data; every change is a dict update."""

    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    @classmethod
    def from_resources(cls, resources: dict[str, dict[str, Any]]) -> FakeAccount:
        """From ``rca.evidence.latest_resources``: each bucket and security group as Config saw it."""
        account = cls()
        for rid, r in resources.items():
            conf, supp, tags = r["configuration"], r["supplementary"], r.get("tags") or {}
            if r["type"] == "AWS::S3::Bucket":
                policy = (supp.get("BucketPolicy") or {}).get("policyText")
                account.buckets[rid] = {
                    "tags": dict(tags),
                    "public_access_block": supp.get("PublicAccessBlockConfiguration"),
                    "policy": policy,
                }
            elif r["type"] == "AWS::EC2::SecurityGroup":
                account.security_groups[rid] = {
                    "tags": dict(tags),
                    "ingress": [
                        _permission_from_config(p) for p in conf.get("ipPermissions") or []
                    ],
                    "egress": [
                        _permission_from_config(p) for p in conf.get("ipPermissionsEgress") or []
                    ],
                }
        return account

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "security_groups": self.security_groups}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> FakeAccount:
        return cls(doc.get("buckets", {}), doc.get("security_groups", {}))

    def _bucket(self, bucket: str) -> dict[str, Any]:
        if bucket not in self.buckets:
            raise ResourceMissing(f"bucket {bucket} does not exist")
        return self.buckets[bucket]

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        return dict(self._bucket(bucket)["tags"])

    def public_access_block(self, bucket: str) -> dict[str, bool] | None:
        return copy.deepcopy(self._bucket(bucket)["public_access_block"])

    def put_public_access_block(self, bucket: str, config: dict[str, bool]) -> None:
        self.calls.append(f"PutPublicAccessBlock {bucket}")
        self._bucket(bucket)["public_access_block"] = dict(config)

    def bucket_policy(self, bucket: str) -> dict[str, Any] | None:
        return copy.deepcopy(self._bucket(bucket)["policy"])

    def put_bucket_policy(self, bucket: str, policy: dict[str, Any] | None) -> None:
        self.calls.append(f"{'Put' if policy else 'Delete'}BucketPolicy {bucket}")
        self._bucket(bucket)["policy"] = copy.deepcopy(policy)

    def security_group(self, group_id: str) -> dict[str, Any]:
        if group_id not in self.security_groups:
            raise ResourceMissing(f"security group {group_id} does not exist")
        return copy.deepcopy(self.security_groups[group_id])

    def revoke(self, group_id: str, direction: str, permission: dict[str, Any]) -> None:
        self.calls.append(f"RevokeSecurityGroup{direction.title()} {group_id}")
        group = self.security_groups[group_id]
        group[direction] = [
            p for p in (remove_ranges(r, permission) for r in group[direction]) if p is not None
        ]


def same_ports(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("IpProtocol"), a.get("FromPort"), a.get("ToPort")) == (
        b.get("IpProtocol"),
        b.get("FromPort"),
        b.get("ToPort"),
    )


def remove_ranges(rule: dict[str, Any], revoked: dict[str, Any]) -> dict[str, Any] | None:
    """``rule`` without the CIDRs of ``revoked`` (None when nothing is left), as AWS revokes."""
    if not same_ports(rule, revoked):
        return rule
    gone4 = {r["CidrIp"] for r in revoked.get("IpRanges", [])}
    gone6 = {r["CidrIpv6"] for r in revoked.get("Ipv6Ranges", [])}
    kept = {
        **rule,
        "IpRanges": [r for r in rule.get("IpRanges", []) if r["CidrIp"] not in gone4],
        "Ipv6Ranges": [r for r in rule.get("Ipv6Ranges", []) if r["CidrIpv6"] not in gone6],
    }
    others = any(rule.get(k) for k in ("UserIdGroupPairs", "PrefixListIds"))
    return kept if kept["IpRanges"] or kept["Ipv6Ranges"] or others else None
