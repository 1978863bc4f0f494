"""Remediation and alerts against a moto server: real S3 / EC2 / SNS / SQS API calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from egress_platform.remediate.aws_account import Boto3Account
from egress_platform.remediate.run import Ledger, Policy, remediate
from egress_platform.respond.alerts import deliver
from resources.respond import SnsNotifier
from resources.storage import LocalStore

BUCKET = "acme-data-exports"


def _public_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    },
                    {
                        "Sid": "Partner",
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    },
                ],
            }
        ),
    )


def test_public_bucket_is_made_private(moto_endpoint: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    _public_bucket(s3)
    account = Boto3Account(s3, boto3.client("ec2", region_name="us-east-1"))
    recs = [
        {"action": "s3-remove-public-policy-statement", "params": {"bucket": BUCKET}},
        {"action": "s3-block-public-access", "params": {"bucket": BUCKET}},
    ]
    ledger = Ledger(LocalStore(tmp_path))
    planned = remediate("anom-1", recs, account, Policy(), ledger)
    assert [r["status"] for r in planned] == ["planned", "planned"]
    assert "PublicRead" in planned[0]["detail"]
    assert account.public_access_block(BUCKET) is None  # dry run changed nothing
    applied = remediate("anom-1", recs, account, Policy("auto", "medium"), ledger)
    assert [r["status"] for r in applied] == ["applied", "applied"]
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["Partner"]
    again = remediate("anom-1", recs, account, Policy("auto", "medium"), ledger)
    assert [r["status"] for r in again] == ["applied", "applied"]
    assert json.loads(applied[1]["rollback"])["previous"] is None


def _group(ec2: Any, name: str, tags: dict[str, str] | None = None) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=name, Description="analytics", VpcId=vpc)["GroupId"]
    if tags:
        ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/16"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            },
        ],
    )
    return str(group)


def _ingress(ec2: Any, group: str) -> list[tuple[Any, ...]]:
    perms = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    return sorted(
        (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"])
        for p in perms
        for r in p.get("IpRanges", [])
    )


def _revoke_22(group: str) -> dict[str, Any]:
    return {
        "action": "sg-revoke-open-ingress",
        "params": {
            "group_id": group,
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
            "cidr": "0.0.0.0/0",
        },
    }


def test_security_group_keeps_every_other_rule(moto_endpoint: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    group = _group(ec2, "analytics")
    account = Boto3Account(boto3.client("s3", region_name="us-east-1"), ec2)
    [row] = remediate(
        "anom-2",
        [_revoke_22(group)],
        account,
        Policy("auto", "medium"),
        Ledger(LocalStore(tmp_path)),
    )
    assert row["status"] == "applied", row
    assert _ingress(ec2, group) == [("tcp", 22, 22, "10.0.0.0/16"), ("tcp", 443, 443, "0.0.0.0/0")]


def test_protected_group_is_left_alone(moto_endpoint: str, tmp_path: Path) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    group = _group(ec2, "bastion", {"egress:protected": "true"})
    before = _ingress(ec2, group)
    account = Boto3Account(boto3.client("s3", region_name="us-east-1"), ec2)
    [row] = remediate(
        "anom-3", [_revoke_22(group)], account, Policy("auto", "high"), Ledger(LocalStore(tmp_path))
    )
    assert row["status"] == "blocked_protected"
    assert _ingress(ec2, group) == before


def test_alerts_reach_an_sqs_subscriber(moto_endpoint: str, tmp_path: Path) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="egress-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    notifier = SnsNotifier(topic_arn=topic)
    message = {
        "anomaly_id": "anom-4",
        "state": "opened",
        "severity": "high",
        "entity": "eni-1",
        "dest_class": "internet",
        "extra_usd_per_hour": 2.5,
        "top_hypothesis": {"title": "Security group opened to the internet"},
    }
    rows = deliver(
        [message, {**message, "state": "resolved"}], LocalStore(tmp_path), notifier.publish
    )
    assert [r["delivered"] for r in rows] == [True, True]
    assert deliver([message], LocalStore(tmp_path), notifier.publish) == []  # deduplicated
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    envelopes = [json.loads(m["Body"]) for m in got]
    assert sorted(json.loads(e["Message"])["state"] for e in envelopes) == ["opened", "resolved"]
    first = envelopes[0]
    assert first["MessageAttributes"]["severity"] == {"Type": "String", "Value": "high"}
    assert first["Subject"].startswith("[egress high]")
    assert json.loads(first["Message"])["top_hypothesis"]["title"].startswith("Security group")
