"""``AccountApi`` on real AWS through boto3: the only module of the catalog that calls AWS.

Used by the aws profile's ``executor`` resource and by the remediation Lambda; each method is
one or two API calls, each covered by a permission the catalog declares.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from egress_platform.remediate.accounts import ResourceMissing

MISSING_BUCKET = ("NoSuchBucket",)
NO_CONFIG = ("NoSuchPublicAccessBlockConfiguration", "NoSuchBucketPolicy", "NoSuchTagSet")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Boto3Account:
    def __init__(self, s3: Any, ec2: Any) -> None:
        self.s3, self.ec2 = s3, ec2

    @classmethod
    def from_session(cls, region_name: str) -> Boto3Account:
        import boto3

        return cls(
            boto3.client("s3", region_name=region_name),
            boto3.client("ec2", region_name=region_name),
        )

    def _s3(self, call: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = getattr(self.s3, call)(**kwargs)
            return found
        except ClientError as error:
            if _code(error) in MISSING_BUCKET:
                raise ResourceMissing(f"bucket {kwargs.get('Bucket')} does not exist") from None
            if _code(error) in NO_CONFIG:
                return None
            raise

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        found = self._s3("get_bucket_tagging", Bucket=bucket) or {}
        return {t["Key"]: t["Value"] for t in found.get("TagSet", [])}

    def public_access_block(self, bucket: str) -> dict[str, bool] | None:
        found = self._s3("get_public_access_block", Bucket=bucket)
        return found["PublicAccessBlockConfiguration"] if found else None

    def put_public_access_block(self, bucket: str, config: dict[str, bool]) -> None:
        self._s3("put_public_access_block", Bucket=bucket, PublicAccessBlockConfiguration=config)

    def bucket_policy(self, bucket: str) -> dict[str, Any] | None:
        found = self._s3("get_bucket_policy", Bucket=bucket)
        return json.loads(found["Policy"]) if found else None

    def put_bucket_policy(self, bucket: str, policy: dict[str, Any] | None) -> None:
        if policy is None:
            self._s3("delete_bucket_policy", Bucket=bucket)
        else:
            self._s3("put_bucket_policy", Bucket=bucket, Policy=json.dumps(policy))

    def security_group(self, group_id: str) -> dict[str, Any]:
        try:
            group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        except ClientError as error:
            if "NotFound" in _code(error):
                raise ResourceMissing(f"security group {group_id} does not exist") from None
            raise
        keep = (
            "IpProtocol",
            "FromPort",
            "ToPort",
            "IpRanges",
            "Ipv6Ranges",
            "UserIdGroupPairs",
            "PrefixListIds",
        )

        def rules(key: str) -> list[dict[str, Any]]:
            found = []
            for perm in group.get(key, []):
                rule = {k: perm[k] for k in keep if k in perm}
                rule["IpRanges"] = [{"CidrIp": r["CidrIp"]} for r in perm.get("IpRanges", [])]
                rule["Ipv6Ranges"] = [
                    {"CidrIpv6": r["CidrIpv6"]} for r in perm.get("Ipv6Ranges", [])
                ]
                found.append(rule)
            return found

        return {
            "tags": {t["Key"]: t["Value"] for t in group.get("Tags", [])},
            "ingress": rules("IpPermissions"),
            "egress": rules("IpPermissionsEgress"),
        }

    def revoke(self, group_id: str, direction: str, permission: dict[str, Any]) -> None:
        perm = {k: v for k, v in permission.items() if v != []}
        if direction == "ingress":
            self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
        else:
            self.ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[perm])
