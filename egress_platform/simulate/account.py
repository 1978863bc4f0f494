"""The simulated account: network topology, traffic streams, incidents and benign changes.

A *stream* is one directed flow of bytes with a daily shape, a destination class and the CUR lines
it is billed on. Incidents switch streams on or off in a window and carry their causing change (a
CloudTrail event and a Config item); benign changes do the same without being incidents.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

REGION = "us-east-1"
PEER_REGION = "us-west-2"
AZS = {"use1-az1": "us-east-1a", "use1-az2": "us-east-1b"}
INTERNET_CLIENTS = ["81.2.69.", "89.160.20.", "216.160.83.", "175.16.199.", "67.43.156."]
S3_US_EAST_1 = ["52.216.10.", "54.231.1.", "3.5.1."]
EC2_US_WEST_2 = ["44.230.1.", "35.160.1."]
CLOUDFRONT_ORIGIN_FACING = ["130.176.1.", "130.176.2."]
EXFIL_DESTINATION = "185.220.101.7"
# The AWS address blocks the simulator sends traffic to, as ip-ranges.json lists them (these /24s
# lie inside AWS's published S3, EC2 and CloudFront ranges): it writes them beside its landing
# zone so classification works with nothing else on the machine.
SIMULATED_AWS_RANGES = (
    [(p, REGION, "S3") for p in S3_US_EAST_1]
    + [(p, PEER_REGION, "EC2") for p in EC2_US_WEST_2]
    + [(p, "GLOBAL", "CLOUDFRONT_ORIGIN_FACING") for p in CLOUDFRONT_ORIGIN_FACING]
)


PLANNED_TAG = "egress:planned-change"
NOISE_SIGMA = 0.15  # hour-to-hour lognormal noise of every stream
BURST_RATE = 0.02  # share of hours a client-facing stream bursts
BURST_TAIL = 1.5  # Pareto index of a burst's size: small index, heavy tail
BURST_MAX = 5.0  # a burst is at most this many times the usual hour


@dataclass
class Eni:
    eni_id: str
    instance_id: str | None
    role: str
    subnet_id: str
    az_id: str
    private_ip: str
    security_group: str
    tags: dict[str, str] = field(default_factory=dict)
    flow_logs: bool = True  # whether a flow log is delivered for this ENI


@dataclass
class BillingLine:
    """A CUR line this stream's bytes are billed on."""

    product_code: str
    usage_type: str
    operation: str
    resource_id: str
    price_key: str  # key into the price book, or "internet" for the tiered rate
    direction: str = "out"  # "out": bytes sent, "both": sent + returned (NAT processing)
    availability_zone: str = ""


@dataclass
class Stream:
    name: str
    kind: str  # flow | s3_get | replication | cloudfront_viewer
    dest_class: str
    base_gb_per_h: float
    profile: str  # diurnal | flat | nightly
    eni: Eni | None = None
    peer_eni: Eni | None = None
    dst_prefixes: list[str] = field(default_factory=list)
    dst_port: int = 443
    via_nat: Eni | None = None
    traffic_path: int | None = None
    dst_service: str | None = None
    billing: list[BillingLine] = field(default_factory=list)
    bucket: str | None = None
    distribution_id: str | None = None
    active: tuple[int, int] | None = None  # only in [start, end) hours when set
    off: list[tuple[int, int]] = field(default_factory=list)
    return_ratio: float = 0.05

    def is_active(self, hours: np.ndarray) -> np.ndarray:
        mask = np.ones(hours.shape, dtype=bool)
        if self.active is not None:
            mask &= (hours >= self.active[0]) & (hours < self.active[1])
        for start, end in self.off:
            mask &= ~((hours >= start) & (hours < end))
        return mask


@dataclass
class Change:
    """A recorded change: the CloudTrail event and the Config item it produced."""

    hour: int
    minute: int
    event_id: str
    event_name: str
    event_source: str
    user_arn: str
    resource_type: str
    resource_id: str
    request_parameters: dict[str, Any]
    configuration: dict[str, Any]
    supplementary: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Incident:
    incident_id: str
    kind: str
    entity: str
    entity_type: str
    dest_class: str
    start_hour: int
    end_hour: int
    streams: list[Stream]
    cause: Change
    remediation: str
    extra_gb_per_h: float = 0.0
    extra_usd_per_h: float = 0.0


@dataclass
class BenignChange:
    change_id: str
    kind: str
    start_hour: int
    end_hour: int
    entity: str
    change: Change | None
    streams: list[Stream]


@dataclass
class Account:
    account_id: str
    seed: int
    vpc_id: str
    vpc_cidr: str
    subnets: dict[str, tuple[str, str, bool]]  # subnet id -> (cidr, az id, public)
    enis: list[Eni]
    nat_eni: Eni
    nat_gateway_id: str
    s3_endpoint_id: str
    route_table_id: str
    buckets: dict[str, str]  # role -> bucket name
    distribution_id: str
    streams: list[Stream]
    incidents: list[Incident]
    benign: list[BenignChange]
    rng_seed: int
    # "all": Config records every resource type in full; "limited": as a recorder limited to
    # some types delivers (subnets named by AZ only, ENI items without subnetId or groups, no
    # item for the NAT gateway's ENI).
    recorder: str = "all"

    @property
    def all_enis(self) -> list[Eni]:
        return [*self.enis, self.nat_eni]

    @property
    def replication_role_arn(self) -> str:
        """The role S3 assumes to replicate (a path, as the console's service roles have)."""
        return f"arn:aws:iam::{self.account_id}:role/service-role/s3-replication"

    @property
    def replication_requester(self) -> str:
        """The requester S3 access logs show for replication: a session of that role."""
        return f"arn:aws:sts::{self.account_id}:assumed-role/s3-replication/s3-replication"


def config_replication(role_arn: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A replication configuration as AWS Config records it: ``roleARN`` and a map of rules by
    id (not the S3 API's ``Role`` and ``Rules`` list)."""
    return {
        "roleARN": role_arn,
        "rules": {
            r["ID"]: {
                "destinationConfig": {
                    "bucketARN": r["Destination"]["Bucket"],
                    "storageClass": None,
                },
                "prefix": (r.get("Filter") or {}).get("Prefix", ""),
                "status": r["Status"],
            }
            for r in rules
        },
    }


def stable_id(seed: int, *parts: object, length: int = 17) -> str:
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).hexdigest()
    return digest[:length]


def stable_uuid(seed: int, *parts: object) -> str:
    return str(
        uuid.UUID(hex=hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).hexdigest()[:32])
    )


def build_account(seed: int, total_hours: int, n_enis: int = 10) -> Account:
    """Lay out a VPC, its workloads, their normal traffic, the incidents and the benign changes."""
    rng = np.random.default_rng(seed)
    account_id = f"{100000000000 + (seed * 7_919_113) % 900000000000:012d}"

    def rid(prefix: str, *parts: object) -> str:
        return f"{prefix}-{stable_id(seed, prefix, *parts)}"

    vpc_id = rid("vpc", "main")
    # The workers split over the two private subnets; past a /24's hosts each gets a /20 (at
    # 2,000 ENIs a /24 handed out 10.0.10.549, which no parser accepts).
    wide = (n_enis - 10) // 2 + 10 > 250
    subnets = {
        rid("subnet", "public-a"): ("10.0.0.0/24", "use1-az1", True),
        rid("subnet", "public-b"): ("10.0.1.0/24", "use1-az2", True),
        rid("subnet", "private-a"): ("10.0.16.0/20" if wide else "10.0.10.0/24", "use1-az1", False),
        rid("subnet", "private-b"): ("10.0.32.0/20" if wide else "10.0.11.0/24", "use1-az2", False),
    }
    by_name = dict(zip(["public-a", "public-b", "private-a", "private-b"], subnets, strict=True))
    counters: dict[str, int] = {}

    def eni(role: str, subnet: str, sg: str, tags: dict[str, str] | None = None) -> Eni:
        counters[subnet] = counters.get(subnet, 9) + 1
        cidr, az, _ = subnets[by_name[subnet]]
        ip = str(ipaddress.ip_network(cidr).network_address + counters[subnet])
        return Eni(rid("eni", role), rid("i", role), role, by_name[subnet], az, ip, sg, tags or {})

    sg_web, sg_app, sg_db, sg_worker = (rid("sg", n) for n in ("web", "app", "db", "worker"))
    nat_eni = eni("nat", "public-a", "-")
    nat_eni.instance_id = None
    nat_gateway_id = rid("nat", "main")
    web_a, web_b = eni("web-a", "public-a", sg_web), eni("web-b", "public-b", sg_web)
    app_a, app_b = eni("app-a", "private-a", sg_app), eni("app-b", "private-b", sg_app)
    db = eni("db", "private-a", sg_db)
    db.flow_logs = False  # flow logs enabled on the application ENIs only, as is common
    orders_a = eni("orders-a", "private-a", sg_app)
    orders_b = eni("orders-b", "private-b", sg_app)
    batch = eni("batch", "private-a", sg_worker)
    analytics = eni("analytics", "public-b", sg_worker)
    recorder = "limited" if seed % 2 else "all"
    # A limited recorder never records the tag: the migration is tagged through CreateTags.
    planned_tag = {} if recorder == "limited" else {PLANNED_TAG: "dc-migration"}
    migration = eni("migration", "private-b", sg_worker, planned_tag)
    workers = [
        eni(f"worker-{i}", "private-a" if i % 2 else "private-b", sg_app)
        for i in range(max(0, n_enis - 10))
    ]
    enis = [
        web_a,
        web_b,
        app_a,
        app_b,
        db,
        orders_a,
        orders_b,
        batch,
        analytics,
        migration,
        *workers,
    ]

    buckets = {
        "exports": f"{account_id}-data-exports",
        "app": f"{account_id}-app-data",
        "assets": f"{account_id}-web-assets",
        "replica": f"{account_id}-app-data-replica-usw2",
    }
    distribution_id = "E" + stable_id(seed, "dist", length=13).upper()
    s3_endpoint_id = rid("vpce", "s3")
    route_table_id = rid("rtb", "private")

    def ec2_line(usage: str, op: str, e: Eni, key: str) -> BillingLine:
        return BillingLine(
            "AmazonEC2", usage, op, e.instance_id or nat_gateway_id, key, "out", AZS[e.az_id]
        )

    def internet_out(e: Eni) -> BillingLine:
        return ec2_line("DataTransfer-Out-Bytes", "RunInstances", e, "internet")

    inter_az = inter_az_lines

    nat_processing = BillingLine(
        "AmazonEC2",
        "NatGateway-Bytes",
        "NatGateway",
        nat_gateway_id,
        "nat_gateway",
        "both",
        "us-east-1a",
    )
    nat_internet = BillingLine(
        "AmazonEC2",
        "DataTransfer-Out-Bytes",
        "NatGateway",
        nat_gateway_id,
        "internet",
        "out",
        "us-east-1a",
    )

    def s3_direct(e: Eni, gb: float, name: str) -> Stream:
        return Stream(
            name,
            "flow",
            "aws_service_same_region",
            gb,
            "diurnal",
            eni=e,
            dst_prefixes=S3_US_EAST_1,
            traffic_path=7,
            dst_service="S3",
        )

    def s3_via_nat(e: Eni, gb: float, name: str) -> Stream:
        return Stream(
            name,
            "flow",
            "nat_gateway",
            gb,
            "diurnal",
            eni=e,
            dst_prefixes=S3_US_EAST_1,
            via_nat=nat_eni,
            traffic_path=1,
            dst_service="S3",
            billing=[nat_processing],
        )

    scale = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    streams: list[Stream] = [
        Stream(
            "web-a-clients",
            "flow",
            "internet",
            scale(2.5, 3.5),
            "diurnal",
            eni=web_a,
            dst_prefixes=INTERNET_CLIENTS,
            traffic_path=8,
            billing=[internet_out(web_a)],
        ),
        Stream(
            "web-b-clients",
            "flow",
            "internet",
            scale(2.5, 3.5),
            "diurnal",
            eni=web_b,
            dst_prefixes=INTERNET_CLIENTS,
            traffic_path=8,
            billing=[internet_out(web_b)],
        ),
        Stream(
            "web-a-origin",
            "flow",
            "cloudfront",
            scale(1.0, 1.5),
            "diurnal",
            eni=web_a,
            dst_prefixes=CLOUDFRONT_ORIGIN_FACING,
            traffic_path=8,
            dst_service="CLOUDFRONT",
        ),
        Stream(
            "app-a-db",
            "flow",
            "intra_az",
            scale(3, 5),
            "diurnal",
            eni=app_a,
            peer_eni=db,
            dst_port=5432,
            traffic_path=1,
        ),
        Stream(
            "app-b-db",
            "flow",
            "inter_az",
            scale(1.5, 2.5),
            "diurnal",
            eni=app_b,
            peer_eni=db,
            dst_port=5432,
            traffic_path=1,
            billing=inter_az(app_b, db),
        ),
        Stream(
            "orders-a-db",
            "flow",
            "intra_az",
            scale(8, 12),
            "diurnal",
            eni=orders_a,
            peer_eni=db,
            dst_port=5432,
            traffic_path=1,
        ),
        s3_direct(app_a, scale(4, 6), "app-a-s3"),
        s3_direct(app_b, scale(4, 6), "app-b-s3"),
        Stream(
            "app-a-api",
            "flow",
            "internet",
            scale(0.2, 0.4),
            "diurnal",
            eni=app_a,
            dst_prefixes=INTERNET_CLIENTS,
            via_nat=nat_eni,
            traffic_path=1,
            billing=[nat_processing, nat_internet],
        ),
        Stream(
            "batch-backup",
            "flow",
            "aws_service_same_region",
            scale(60, 80),
            "nightly",
            eni=batch,
            dst_prefixes=S3_US_EAST_1,
            traffic_path=7,
            dst_service="S3",
        ),
        Stream(
            "analytics-updates",
            "flow",
            "internet",
            scale(0.05, 0.1),
            "flat",
            eni=analytics,
            dst_prefixes=INTERNET_CLIENTS,
            traffic_path=8,
            billing=[internet_out(analytics)],
        ),
        Stream(
            "exports-internal",
            "s3_get",
            "aws_service_same_region",
            scale(0.3, 0.6),
            "diurnal",
            bucket=buckets["exports"],
        ),
        Stream(
            "app-replication",
            "replication",
            "inter_region",
            scale(0.3, 0.6),
            "diurnal",
            bucket=buckets["app"],
            billing=[
                BillingLine(
                    "AmazonS3",
                    "USE1-USW2-AWS-Out-Bytes",
                    "S3-Replication",
                    buckets["app"],
                    "inter_region",
                )
            ],
        ),
        Stream(
            "cdn-viewers",
            "cloudfront_viewer",
            "internet",
            scale(4, 6),
            "diurnal",
            distribution_id=distribution_id,
            billing=[
                BillingLine(
                    "AmazonCloudFront",
                    "US-DataTransfer-Out-Bytes",
                    "GET",
                    f"arn:aws:cloudfront::{account_id}:distribution/{distribution_id}",
                    "cloudfront_us",
                )
            ],
        ),
    ]
    for w in workers:
        streams.append(
            Stream(
                f"{w.role}-db",
                "flow",
                "intra_az" if w.az_id == db.az_id else "inter_az",
                scale(0.5, 1.5),
                "diurnal",
                eni=w,
                peer_eni=db,
                dst_port=5432,
                traffic_path=1,
                billing=[] if w.az_id == db.az_id else inter_az(w, db),
            )
        )
        streams.append(s3_direct(w, scale(0.5, 1.0), f"{w.role}-s3"))

    account = Account(
        account_id,
        seed,
        vpc_id,
        "10.0.0.0/16",
        subnets,
        enis,
        nat_eni,
        nat_gateway_id,
        s3_endpoint_id,
        route_table_id,
        buckets,
        distribution_id,
        streams,
        [],
        [],
        seed,
        recorder=recorder,
    )
    _schedule(
        account,
        rng,
        total_hours,
        orders_a,
        orders_b,
        db,
        analytics,
        migration,
        app_a,
        app_b,
        s3_via_nat,
    )
    return account


@dataclass
class Stage:
    """What an incident builder works with: the account so far and the one random stream."""

    account: Account
    rng: np.random.Generator
    total_hours: int
    enis: dict[str, Eni]  # the account's workloads by role (orders_a, db, analytics ...)
    s3_via_nat: Callable[[Eni, float, str], Stream]
    change: Callable[..., Change]  # a Change by an admin user at a random minute


@dataclass
class Placed:
    """An incident as built: its cause, the traffic it adds and what should fix it."""

    cause: Change
    streams: list[Stream]
    entity: str
    entity_type: str
    dest_class: str
    remediation: str
    end: int  # the last hour (a relaunch lasts to the end of the window)


class IncidentBuilder:
    """One kind of incident; ``build`` draws from ``stage.rng`` in a fixed order (same seed,
    same account)."""

    kind: ClassVar[str]

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        raise NotImplementedError


INCIDENTS: dict[str, IncidentBuilder] = {}  # in registration order: the order seeds place them


def incident(cls: type[IncidentBuilder]) -> type[IncidentBuilder]:
    """Register an incident kind: adding one is one class below."""
    if cls.kind in INCIDENTS:
        raise ValueError(f"incident kind {cls.kind!r} is registered twice")
    INCIDENTS[cls.kind] = cls()
    return cls


@incident
class PublicBucket(IncidentBuilder):
    """A bucket policy opened to everyone: public downloads to the internet."""

    kind = "public_bucket"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        rng = stage.rng
        b = stage.account.buckets
        change = stage.change
        kind = self.kind
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{b['exports']}/*",
                }
            ],
        }
        cause = change(
            kind,
            cause_hour,
            "PutBucketPolicy",
            "s3.amazonaws.com",
            "AWS::S3::Bucket",
            b["exports"],
            {"bucketName": b["exports"], "bucketPolicy": policy},
            {"name": b["exports"]},
            # AWS Config delivers the policy as JSON text inside the item.
            {
                "BucketPolicy": {"policyText": json.dumps(policy)},
                "PublicAccessBlockConfiguration": None,
            },
        )
        streams = [
            Stream(
                f"{iid}-public-downloads",
                "s3_get",
                "internet",
                float(rng.uniform(30, 50)),
                "flat",
                bucket=b["exports"],
                dst_prefixes=INTERNET_CLIENTS,
                active=(start, end),
                billing=[
                    BillingLine(
                        "AmazonS3",
                        "DataTransfer-Out-Bytes",
                        "GetObject",
                        b["exports"],
                        "internet",
                    )
                ],
            )
        ]
        entity, etype, dclass, fix = (
            b["exports"],
            "bucket",
            "internet",
            "s3-block-public-access",
        )
        return Placed(cause, streams, entity, etype, dclass, fix, end)


@incident
class SgExfiltration(IncidentBuilder):
    """Port 22 opened to the world on a security group, then data leaves over it."""

    kind = "sg_exfiltration"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        rng = stage.rng
        change = stage.change
        analytics = stage.enis["analytics"]
        kind = self.kind
        perm = {
            "ipProtocol": "tcp",
            "fromPort": 22,
            "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
        }
        cause = change(
            kind,
            cause_hour,
            "AuthorizeSecurityGroupIngress",
            "ec2.amazonaws.com",
            "AWS::EC2::SecurityGroup",
            analytics.security_group,
            {"groupId": analytics.security_group, "ipPermissions": {"items": [perm]}},
            {
                "groupId": analytics.security_group,
                "ipPermissions": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "ipRanges": ["0.0.0.0/0"],
                    },
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "ipRanges": ["10.0.0.0/16"],
                    },
                ],
            },
        )
        streams = [
            Stream(
                f"{iid}-exfil",
                "flow",
                "internet",
                float(rng.uniform(20, 35)),
                "flat",
                eni=analytics,
                dst_prefixes=[EXFIL_DESTINATION],
                dst_port=22,
                traffic_path=8,
                active=(start, end),
                billing=[
                    BillingLine(
                        "AmazonEC2",
                        "DataTransfer-Out-Bytes",
                        "RunInstances",
                        analytics.instance_id or "",
                        "internet",
                        "out",
                        AZS[analytics.az_id],
                    )
                ],
            )
        ]
        entity, etype, dclass, fix = (
            analytics.eni_id,
            "eni",
            "internet",
            "sg-revoke-open-ingress",
        )
        return Placed(cause, streams, entity, etype, dclass, fix, end)


@incident
class NatS3(IncidentBuilder):
    """The S3 gateway endpoint deleted: S3 traffic goes through the NAT gateway."""

    kind = "nat_s3"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        account = stage.account
        change = stage.change
        s3_via_nat = stage.s3_via_nat
        kind = self.kind
        cause = change(
            kind,
            cause_hour,
            "DeleteVpcEndpoints",
            "ec2.amazonaws.com",
            "AWS::EC2::VPCEndpoint",
            account.s3_endpoint_id,
            {
                "DeleteVpcEndpointsRequest": {
                    "VpcEndpointId": {"tag": 1, "content": account.s3_endpoint_id}
                }
            },
            {
                "vpcEndpointId": account.s3_endpoint_id,
                "state": "deleted",
                "serviceName": "com.amazonaws.us-east-1.s3",
            },
        )
        direct = [s for s in account.streams if s.name in ("app-a-s3", "app-b-s3")]
        streams = []
        for s in direct:
            s.off.append((start, end))
            assert s.eni is not None
            nat_stream = s3_via_nat(s.eni, s.base_gb_per_h, f"{iid}-{s.name}-via-nat")
            nat_stream.active = (start, end)
            streams.append(nat_stream)
        entity, etype, dclass, fix = (
            account.nat_gateway_id,
            "nat_gateway",
            "nat_gateway",
            "add-s3-gateway-endpoint",
        )
        return Placed(cause, streams, entity, etype, dclass, fix, end)


@incident
class Replication(IncidentBuilder):
    """A replication rule that copies the whole bucket to another region."""

    kind = "replication"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        rng = stage.rng
        b = stage.account.buckets
        change = stage.change
        kind = self.kind
        rule = {
            "ID": "replicate-all",
            "Status": "Enabled",
            "Priority": 1,
            "Filter": {"Prefix": ""},
            "Destination": {"Bucket": f"arn:aws:s3:::{b['replica']}"},
        }
        role = stage.account.replication_role_arn
        cause = change(  # CloudTrail's requestParameters come from the XML body: Role, Rule
            kind,
            cause_hour,
            "PutBucketReplication",
            "s3.amazonaws.com",
            "AWS::S3::Bucket",
            b["app"],
            {
                "bucketName": b["app"],
                "replication": "",
                "ReplicationConfiguration": {
                    "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                    "Role": role,
                    "Rule": rule,
                },
            },
            {"name": b["app"]},
            {"BucketReplicationConfiguration": config_replication(role, [rule])},
        )
        streams = [
            Stream(
                f"{iid}-replicate-all",
                "replication",
                "inter_region",
                float(rng.uniform(15, 25)),
                "flat",
                bucket=b["app"],
                active=(start, end),
                billing=[
                    BillingLine(
                        "AmazonS3",
                        "USE1-USW2-AWS-Out-Bytes",
                        "S3-Replication",
                        b["app"],
                        "inter_region",
                    )
                ],
            )
        ]
        entity, etype, dclass, fix = b["app"], "bucket", "inter_region", "fix-replication-rule"
        return Placed(cause, streams, entity, etype, dclass, fix, end)


@incident
class CrossAz(IncidentBuilder):
    """The orders service relaunched in another AZ than its database."""

    kind = "cross_az"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        account = stage.account
        change = stage.change
        orders_b = stage.enis["orders_b"]
        db = stage.enis["db"]
        total_hours = stage.total_hours
        kind = self.kind
        cause = change(
            kind,
            cause_hour,
            "RunInstances",
            "ec2.amazonaws.com",
            "AWS::EC2::Instance",
            orders_b.instance_id or "",
            {
                "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890"}]},
                "subnetId": orders_b.subnet_id,
            },
            {
                "instanceId": orders_b.instance_id,
                "subnetId": orders_b.subnet_id,
                "placement": {"availabilityZone": AZS[orders_b.az_id]},
                "networkInterfaces": [{"networkInterfaceId": orders_b.eni_id}],
            },
            tags={"Name": "orders"},
        )
        old = next(s for s in account.streams if s.name == "orders-a-db")
        old.active = (0, start)
        streams = [
            Stream(
                f"{iid}-orders-b-db",
                "flow",
                "inter_az",
                old.base_gb_per_h,
                "diurnal",
                eni=orders_b,
                peer_eni=db,
                dst_port=5432,
                traffic_path=1,
                active=(start, total_hours),
                billing=inter_az_lines(orders_b, db),
            )
        ]
        end = total_hours
        entity, etype, dclass, fix = orders_b.eni_id, "eni", "inter_az", "colocate-az"
        return Placed(cause, streams, entity, etype, dclass, fix, end)


@incident
class CloudFrontCacheMiss(IncidentBuilder):
    """Caching turned off on the distribution: viewers miss, origin fetches."""

    kind = "cloudfront_cache_miss"

    def build(self, stage: Stage, iid: str, start: int, end: int, cause_hour: int) -> Placed:
        account = stage.account
        rng = stage.rng
        change = stage.change
        kind = self.kind
        config = {
            "id": account.distribution_id,
            "defaultCacheBehavior": {
                "cachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
                "forwardedValues": {"queryString": True},
            },
        }
        cause = change(
            kind,
            cause_hour,
            "UpdateDistribution",
            "cloudfront.amazonaws.com",
            "AWS::CloudFront::Distribution",
            account.distribution_id,
            {"id": account.distribution_id, "distributionConfig": config},
            config,
        )
        base = next(s for s in account.streams if s.name == "cdn-viewers")
        streams = [
            Stream(
                f"{iid}-cache-miss-viewers",
                "cloudfront_viewer",
                "internet",
                base.base_gb_per_h * float(rng.uniform(2.0, 3.0)),
                "diurnal",
                distribution_id=account.distribution_id,
                active=(start, end),
                billing=base.billing,
            ),
            Stream(
                f"{iid}-origin-fetch",
                "flow",
                "cloudfront",
                base.base_gb_per_h * 3.0,
                "diurnal",
                eni=next(e for e in account.enis if e.role == "web-a"),
                dst_prefixes=CLOUDFRONT_ORIGIN_FACING,
                traffic_path=8,
                dst_service="CLOUDFRONT",
                active=(start, end),
            ),
        ]
        entity, etype, dclass, fix = (
            account.distribution_id,
            "distribution",
            "internet",
            "enable-cloudfront-caching",
        )
        return Placed(cause, streams, entity, etype, dclass, fix, end)


def _schedule(
    account: Account,
    rng: np.random.Generator,
    total_hours: int,
    orders_a: Eni,
    orders_b: Eni,
    db: Eni,
    analytics: Eni,
    migration: Eni,
    app_a: Eni,
    app_b: Eni,
    s3_via_nat: Any,
) -> None:
    """Place the six incidents and the benign changes after a stretch of clean history."""
    seed = account.seed
    history = max(24, int(total_hours * 0.35))
    kinds = list(INCIDENTS)
    order = list(rng.permutation(len(kinds)))
    span = max(1, total_hours - history - 8)
    slots = np.linspace(history, history + span, len(kinds) + 1)[:-1]
    admin = f"arn:aws:iam::{account.account_id}:user/"
    users = [admin + u for u in ("dev-alice", "ops-bob", "ci-deployer", "data-carol")]

    def change(
        kind: str,
        hour: int,
        name: str,
        source: str,
        rtype: str,
        rid: str,
        params: dict[str, Any],
        conf: dict[str, Any],
        supp: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Change:
        return Change(
            hour,
            int(rng.integers(0, 50)),
            stable_uuid(seed, kind, name, hour),
            name,
            source,
            users[int(rng.integers(0, len(users)))],
            rtype,
            rid,
            params,
            conf,
            supp or {},
            tags or {},
        )

    enis = {
        "orders_a": orders_a,
        "orders_b": orders_b,
        "db": db,
        "analytics": analytics,
        "migration": migration,
        "app_a": app_a,
        "app_b": app_b,
    }
    stage = Stage(account, rng, total_hours, enis, s3_via_nat, change)
    for slot_index, kind_index in enumerate(order):
        kind = kinds[kind_index]
        start = int(slots[slot_index] + rng.integers(0, max(1, int(span / len(kinds) / 3))))
        end = min(total_hours, start + int(rng.integers(8, 20)))
        cause_hour = max(0, start - 1)
        iid = f"inc-{stable_id(seed, kind, start, length=10)}"
        placed = INCIDENTS[kind].build(stage, iid, start, end, cause_hour)
        streams, end = placed.streams, placed.end
        account.streams.extend(streams)
        account.incidents.append(
            Incident(
                iid,
                kind,
                placed.entity,
                placed.entity_type,
                placed.dest_class,
                start,
                end,
                streams,
                placed.cause,
                placed.remediation,
            )
        )

    # Benign changes: a deploy every few days, and one planned migration in a maintenance window.
    for day in range(1, total_hours // 24, 3):
        hour = day * 24 + 14
        web = account.enis[0]
        account.benign.append(
            BenignChange(
                f"deploy-{day}",
                "deploy",
                hour,
                hour + 1,
                web.instance_id or "",
                Change(
                    hour,
                    5,
                    stable_uuid(seed, "deploy", day),
                    "CreateTags",
                    "ec2.amazonaws.com",
                    admin + "ci-deployer",
                    "AWS::EC2::Instance",
                    web.instance_id or "",
                    {
                        "resourcesSet": {"items": [{"resourceId": web.instance_id}]},
                        "tagSet": {"items": [{"key": "release", "value": f"r{day}"}]},
                    },
                    {"instanceId": web.instance_id},
                    tags={"release": f"r{day}"},
                ),
                [],
            )
        )
    mig_start = max(history // 2, 6)
    mig = Stream(
        "planned-migration",
        "flow",
        "inter_region",
        float(rng.uniform(20, 30)),
        "flat",
        eni=migration,
        dst_prefixes=EC2_US_WEST_2,
        traffic_path=8,
        active=(mig_start, mig_start + 6),
        billing=[
            BillingLine(
                "AmazonEC2",
                "USE1-USW2-AWS-Out-Bytes",
                "RunInstances",
                migration.instance_id or "",
                "inter_region",
                "out",
                AZS[migration.az_id],
            )
        ],
    )
    account.streams.append(mig)
    tagged = None
    if account.recorder == "limited":
        tagged = Change(
            mig_start - 2,
            10,
            stable_uuid(seed, "planned-migration-tag"),
            "CreateTags",
            "ec2.amazonaws.com",
            admin + "ops-bob",
            "AWS::EC2::Instance",
            migration.instance_id or "",
            {
                "resourcesSet": {"items": [{"resourceId": migration.instance_id}]},
                "tagSet": {"items": [{"key": PLANNED_TAG, "value": "dc-migration"}]},
            },
            {"instanceId": migration.instance_id},
        )
    account.benign.append(
        BenignChange(
            "planned-migration",
            "planned_migration",
            mig_start,
            mig_start + 6,
            migration.eni_id,
            tagged,
            [mig],
        )
    )
    account.benign.append(
        BenignChange(
            "nightly-backup",
            "nightly_backup",
            0,
            total_hours,
            batch_eni(account).eni_id,
            None,
            [s for s in account.streams if s.name == "batch-backup"],
        )
    )


def inter_az_lines(sender: Eni, receiver: Eni) -> list[BillingLine]:
    """Requests and responses both cross the AZ boundary, and each side pays $0.01/GB."""
    return [
        BillingLine(
            "AmazonEC2",
            "DataTransfer-Regional-Bytes",
            operation,
            eni.instance_id or "",
            "inter_az",
            "both",
            AZS[eni.az_id],
        )
        for operation, eni in (("InterZone-Out", sender), ("InterZone-In", receiver))
    ]


def batch_eni(account: Account) -> Eni:
    return next(e for e in account.enis if e.role == "batch")


def hourly_gb(
    stream: Stream, hours: np.ndarray, start_dow: int, rng: np.random.Generator
) -> np.ndarray:
    """Bytes in GB per hour: base x daily/weekly shape x noise, zero where inactive."""
    hod = hours % 24
    dow = (start_dow + hours // 24) % 7
    if stream.profile == "diurnal":
        shape = 1.0 + 0.45 * np.sin((hod - 9) / 24 * 2 * np.pi)
        shape *= np.where(dow >= 5, 0.75, 1.0)
    elif stream.profile == "nightly":
        shape = np.where((hod >= 2) & (hod < 4), 1.0, 0.0)
    else:
        shape = np.ones(hours.shape)
    noise = rng.lognormal(0.0, NOISE_SIGMA, hours.shape)
    if stream.dest_class in ("internet", "cloudfront") and stream.profile == "diurnal":
        # Client-driven traffic bursts: now and then an hour of several times the usual, with a
        # heavy (Pareto) tail. Normal for such a series, so never an anomaly by itself.
        burst = rng.random(hours.shape) < BURST_RATE
        size = np.minimum(rng.pareto(BURST_TAIL, hours.shape), BURST_MAX - 1)
        noise = noise * np.where(burst, 1.0 + size, 1.0)
    result: np.ndarray = stream.base_gb_per_h * shape * noise * stream.is_active(hours)
    return result
