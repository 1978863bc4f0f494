"""AWS Config items as AWS delivers them, not as the simulator once wrote them: JSON text inside
items, AZ names without ids, ENI items without subnetId, a NAT gateway whose ENI has no item."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from egress_platform.network.topology import NetworkMetadata
from egress_platform.rca.evidence import latest_resources
from egress_platform.remediate.accounts import FakeAccount
from egress_platform.remediate.catalog import public_statements
from egress_platform.sources import config
from tests.conftest import samples_dir

AT = datetime(2026, 11, 2, tzinfo=UTC)


def item(
    rtype: str, rid: str, conf: dict[str, Any], supp: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "resource_type": rtype,
        "resource_id": rid,
        "account_id": "111122223333",
        "aws_region": "us-east-1",
        "capture_time": datetime(2026, 11, 1, tzinfo=UTC),
        "status": "OK",
        "state_id": "1",
        "configuration": json.dumps(conf),
        "supplementary_configuration": json.dumps(supp or {}),
        "tags": "{}",
    }


PUBLIC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::exports/*"}]}  # fmt: skip


def test_a_bucket_policy_delivered_as_json_text_is_read_as_a_policy() -> None:
    items = pl.DataFrame(
        [
            item(
                "AWS::S3::Bucket",
                "exports",
                {"name": "exports"},
                {
                    "BucketPolicy": {"policyText": json.dumps(PUBLIC_POLICY)},
                    "AccessControlList": json.dumps({"grantList": []}),
                },
            )
        ]
    )
    resources = latest_resources(items, AT)
    assert resources["exports"]["supplementary"]["AccessControlList"] == {"grantList": []}
    account = FakeAccount.from_resources(resources)
    statements = public_statements(account.buckets["exports"]["policy"])
    assert [s["Sid"] for s in statements] == ["Public"]


@pytest.mark.samples
def test_the_aws_config_rdk_bucket_item_parses_and_its_policy_is_a_document() -> None:
    path = samples_dir() / "config" / "aws-config-rdk" / "AWS_S3_Bucket.json"
    raw = json.loads(path.read_text())
    assert isinstance(raw["supplementaryConfiguration"]["BucketPolicy"]["policyText"], str)
    parsed = config.parse_bytes(path.read_bytes(), str(path))
    assert parsed.quarantined == 0 and parsed.records.height == 1
    resources = latest_resources(parsed.records, datetime(2100, 1, 1, tzinfo=UTC))
    bucket = next(iter(resources.values()))
    policy = bucket["supplementary"]["BucketPolicy"]["policyText"]
    assert isinstance(policy, dict) and policy["Statement"]
    account = FakeAccount.from_resources(resources)
    public_statements(next(iter(account.buckets.values()))["policy"])  # no AttributeError


def sparse_recorder() -> NetworkMetadata:
    """Subnets named by AZ only (one also with its id), an ENI item with no subnetId or groups,
    and a NAT gateway whose ENI the recorder did not record."""
    return NetworkMetadata.from_config_items(
        pl.DataFrame(
            [
                item("AWS::EC2::VPC", "vpc-1", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16"}),
                item(
                    "AWS::EC2::Subnet",
                    "subnet-a",
                    {
                        "subnetId": "subnet-a",
                        "vpcId": "vpc-1",
                        "cidrBlock": "10.0.0.0/24",
                        "availabilityZone": "us-east-1a",
                        "availabilityZoneId": "use1-az1",
                    },
                ),
                item(
                    "AWS::EC2::Subnet",
                    "subnet-a2",
                    {
                        "subnetId": "subnet-a2",
                        "vpcId": "vpc-1",
                        "cidrBlock": "10.0.2.0/24",
                        "availabilityZone": "us-east-1a",
                    },
                ),
                item(
                    "AWS::EC2::Subnet",
                    "subnet-b",
                    {
                        "subnetId": "subnet-b",
                        "vpcId": "vpc-1",
                        "cidrBlock": "10.0.1.0/24",
                        "availabilityZone": "us-east-1b",
                    },
                ),
                item(
                    "AWS::EC2::NetworkInterface",
                    "eni-app",
                    {
                        "networkInterfaceId": "eni-app",
                        "privateIpAddress": "10.0.1.20",
                        "requesterManaged": False,
                    },
                ),
                item(
                    "AWS::EC2::NatGateway",
                    "nat-1",
                    {
                        "natGatewayId": "nat-1",
                        "vpcId": "vpc-1",
                        "subnetId": "subnet-a",
                        "natGatewayAddresses": [
                            {
                                "networkInterfaceId": "eni-nat",
                                "privateIp": "10.0.0.5",
                                "publicIp": "3.3.3.3",
                            }
                        ],
                    },
                ),
            ]
        )
    )


def test_an_az_named_without_its_id_is_the_same_az_as_one_named_with_it() -> None:
    meta = sparse_recorder()
    assert meta.subnets["subnet-a"].az_id == meta.subnets["subnet-a2"].az_id == "use1-az1"
    assert meta.subnets["subnet-b"].az_id == "us-east-1b"  # known by name only, still an AZ


def test_an_eni_item_without_subnet_is_placed_by_its_address() -> None:
    eni = sparse_recorder().enis["eni-app"]
    assert (eni.subnet_id, eni.vpc_id) == ("subnet-b", "vpc-1")


def test_a_nat_gateway_eni_without_its_own_item_is_the_nat_gateway() -> None:
    frame = sparse_recorder().eni_frame().filter(pl.col("interface_id") == "eni-nat")
    row = frame.row(0, named=True)
    assert (row["entity_type"], row["entity_id"], row["eni_az_id"]) == (
        "nat_gateway",
        "nat-1",
        "use1-az1",
    )


def test_an_eni_item_without_groups_is_linked_to_them_by_its_relationships() -> None:
    """AWS Config relates an ENI to its security groups ("Is associated with SecurityGroup")
    even where the configuration leaves ``groups`` out: that link is recorded, not inferred.
    With neither, the account's groups are candidates, weighed as an inferred link."""
    from egress_platform.rca.evidence import UNLINKED_GROUP, related_resources, unlinked_groups

    bare = {
        **item("AWS::EC2::NetworkInterface", "eni-web", {"vpcId": "vpc-1"}),
        "relationships": None,
    }
    related_item = {
        **bare,
        "relationships": json.dumps(
            [
                {"resourceType": "AWS::EC2::SecurityGroup", "resourceId": "sg-web",
                 "relationshipName": "Is associated with SecurityGroup"},
                {"resourceType": "AWS::EC2::Subnet", "resourceId": "subnet-a",
                 "relationshipName": "Is contained in Subnet"},
            ]
        ),
    }  # fmt: skip
    group = item("AWS::EC2::SecurityGroup", "sg-web", {"groupId": "sg-web", "vpcId": "vpc-1"})
    group = {**group, "relationships": None}
    with_links = latest_resources(pl.DataFrame([related_item, group]), AT)
    assert related_resources("eni-web", "eni", with_links)["sg-web"] == "security group"
    assert unlinked_groups("eni-web", "eni", with_links, pl.DataFrame(), AT) == {}
    without = latest_resources(pl.DataFrame([bare, group]), AT)
    assert "sg-web" not in related_resources("eni-web", "eni", without)
    assert unlinked_groups("eni-web", "eni", without, pl.DataFrame(), AT) == {
        "sg-web": UNLINKED_GROUP
    }


def test_requester_managed_enis_and_items_config_no_longer_records() -> None:
    """A requester-managed ENI (a NAT gateway's, as Config records it: interfaceType
    nat_gateway, requesterManaged true) belongs to the NAT gateway even without the gateway's
    item; an item whose status says the resource is gone or no longer recorded
    (ResourceDeleted, ResourceNotRecorded) places nothing."""
    items = [
        item("AWS::EC2::VPC", "vpc-1", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16"}),
        item("AWS::EC2::Subnet", "subnet-a", {"subnetId": "subnet-a", "vpcId": "vpc-1",
             "cidrBlock": "10.0.0.0/24", "availabilityZoneId": "use1-az1"}),
        item("AWS::EC2::NetworkInterface", "eni-nat", {"networkInterfaceId": "eni-nat",
             "subnetId": "subnet-a", "vpcId": "vpc-1", "privateIpAddress": "10.0.0.5",
             "interfaceType": "nat_gateway", "requesterManaged": True}),
        {**item("AWS::EC2::NetworkInterface", "eni-old", {"networkInterfaceId": "eni-old",
           "subnetId": "subnet-a", "privateIpAddress": "10.0.0.9"}), "status": "ResourceNotRecorded"},
        {**item("AWS::EC2::NetworkInterface", "eni-gone", {"networkInterfaceId": "eni-gone",
           "subnetId": "subnet-a", "privateIpAddress": "10.0.0.8"}), "status": "ResourceDeleted"},
    ]  # fmt: skip
    meta = NetworkMetadata.from_config_items(pl.DataFrame(items))
    assert (meta.enis["eni-nat"].entity_type, meta.enis["eni-nat"].entity_id) == (
        "nat_gateway",
        "eni-nat",
    )
    assert "eni-old" not in meta.enis and "eni-gone" not in meta.enis


def test_cloudtrail_s_own_authorize_call_gives_the_permission_it_opened() -> None:
    """The elastic-integrations AuthorizeSecurityGroupEgress event (CloudTrail's XML-shaped
    requestParameters: ipPermissions.items[].ipRanges.items[].cidrIp, empty groups as {}) is
    read as AWS logs it: its /32 is not open to the world; opened to 0.0.0.0/0 it is, with the
    event's protocol and ports."""
    from egress_platform.rca.hypotheses import _open_permissions

    path = samples_dir() / "cloudtrail" / "elastic_integrations"
    event = json.loads((path / "test-authorize-security-group-egress-json.log").read_text())
    params = event["requestParameters"]
    assert _open_permissions(params) == []
    params["ipPermissions"]["items"][0]["ipRanges"]["items"][0]["cidrIp"] = "0.0.0.0/0"
    assert _open_permissions(params) == [
        {"protocol": "tcp", "from_port": 4444, "to_port": 4444, "cidr": "0.0.0.0/0"}
    ]
