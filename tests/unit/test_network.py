"""Destination classification: golden frames over a hand-built VPC, IPv4 and IPv6."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.etl.processed import classified_flows
from egress_platform.network.classify import CLASSIFIED_SCHEMA
from egress_platform.network.ip_ranges import IpRanges, IpRangesError, load_ip_ranges
from egress_platform.network.topology import ADDRESS_SCHEMA, NetworkMetadata
from egress_platform.sources import vpc_flow
from tests.conftest import samples_dir

ACCOUNT = "111122223333"
IP_RANGES_DOC = {
    "syncToken": "1",
    "createDate": "2026-11-01-00-00-00",
    "prefixes": [
        {"ip_prefix": "52.216.0.0/15", "region": "us-east-1", "service": "AMAZON"},
        {"ip_prefix": "52.216.0.0/15", "region": "us-east-1", "service": "S3"},
        {"ip_prefix": "44.224.0.0/11", "region": "us-west-2", "service": "EC2"},
        {"ip_prefix": "130.176.0.0/17", "region": "GLOBAL", "service": "CLOUDFRONT"},
        {"ip_prefix": "130.176.0.0/18", "region": "GLOBAL", "service": "CLOUDFRONT_ORIGIN_FACING"},
    ],
    "ipv6_prefixes": [
        {"ipv6_prefix": "2600:1f18::/33", "region": "us-east-1", "service": "EC2"},
        {"ipv6_prefix": "2a05:d018::/36", "region": "eu-west-1", "service": "EC2"},
    ],
}


def _item(rtype: str, rid: str, conf: dict[str, Any], status: str = "OK") -> dict[str, Any]:
    return {
        "resource_type": rtype,
        "resource_id": rid,
        "account_id": ACCOUNT,
        "aws_region": "us-east-1",
        "capture_time": datetime(2026, 11, 1, tzinfo=UTC),
        "status": status,
        "configuration": json.dumps(conf),
    }


def network() -> NetworkMetadata:
    items = [
        _item(
            "AWS::EC2::VPC",
            "vpc-1",
            {
                "vpcId": "vpc-1",
                "cidrBlock": "10.0.0.0/16",
                "ipv6CidrBlockAssociationSet": [{"ipv6CidrBlock": "2600:1f18:aaaa:bb00::/56"}],
            },
        ),
        _item(
            "AWS::EC2::Subnet",
            "subnet-a",
            {
                "subnetId": "subnet-a",
                "vpcId": "vpc-1",
                "cidrBlock": "10.0.0.0/24",
                "availabilityZoneId": "use1-az1",
                "ipv6CidrBlockAssociationSet": [{"ipv6CidrBlock": "2600:1f18:aaaa:bb00::/64"}],
            },
        ),
        _item(
            "AWS::EC2::Subnet",
            "subnet-b",
            {
                "subnetId": "subnet-b",
                "vpcId": "vpc-1",
                "cidrBlock": "10.0.1.0/24",
                "availabilityZoneId": "use1-az2",
            },
        ),
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-web",
            {
                "networkInterfaceId": "eni-web",
                "subnetId": "subnet-a",
                "vpcId": "vpc-1",
                "privateIpAddress": "10.0.0.10",
                "attachment": {"instanceId": "i-web"},
            },
        ),
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-app",
            {
                "networkInterfaceId": "eni-app",
                "subnetId": "subnet-b",
                "vpcId": "vpc-1",
                "privateIpAddress": "10.0.1.20",
                "attachment": {"instanceId": "i-app"},
            },
        ),
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-db",
            {
                "networkInterfaceId": "eni-db",
                "subnetId": "subnet-a",
                "vpcId": "vpc-1",
                "privateIpAddress": "10.0.0.30",
            },
        ),
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-nat",
            {
                "networkInterfaceId": "eni-nat",
                "subnetId": "subnet-a",
                "vpcId": "vpc-1",
                "privateIpAddress": "10.0.0.5",
                "interfaceType": "nat_gateway",
            },
        ),
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-vpce",
            {
                "networkInterfaceId": "eni-vpce",
                "subnetId": "subnet-b",
                "vpcId": "vpc-1",
                "privateIpAddress": "10.0.1.50",
                "interfaceType": "vpc_endpoint",
            },
        ),
        _item(
            "AWS::EC2::NatGateway",
            "nat-1",
            {"natGatewayId": "nat-1", "natGatewayAddresses": [{"networkInterfaceId": "eni-nat"}]},
        ),
        _item(
            "AWS::EC2::VPCEndpoint",
            "vpce-gw",
            {"vpcEndpointId": "vpce-gw", "vpcEndpointType": "Gateway", "state": "available"},
        ),
        _item(
            "AWS::EC2::RouteTable",
            "rtb-private",
            {
                "routeTableId": "rtb-private",
                "vpcId": "vpc-1",
                "associations": [{"subnetId": "subnet-b"}],
                "routes": [
                    {"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"},
                    {"destinationPrefixListId": "pl-63a5400a", "gatewayId": "vpce-gw"},
                    {"destinationCidrBlock": "172.16.0.0/12", "transitGatewayId": "tgw-1"},
                    {"destinationCidrBlock": "192.168.0.0/16", "vpcPeeringConnectionId": "pcx-1"},
                ],
            },
        ),
        # A deleted resource no longer counts.
        _item(
            "AWS::EC2::NetworkInterface",
            "eni-gone",
            {
                "networkInterfaceId": "eni-gone",
                "subnetId": "subnet-a",
                "privateIpAddress": "10.0.0.99",
            },
            status="ResourceDeleted",
        ),
    ]
    return NetworkMetadata.from_config_items(pl.DataFrame(items))


HOUR = 1_793_491_200  # 2026-11-01T00:00:00Z
# eni, src, dst, bytes, direction, traffic path, expected class, entity, dest_region, dest_prefix
CASES = [
    ("eni-web", "10.0.0.10", "81.2.69.7", 1000, "egress", 8, "internet", "eni-web", None, "81.2.69.0/24"),
    ("eni-web", "10.0.0.10", "10.0.0.30", 200, "egress", 1, "intra_az", "eni-web", "us-east-1", "10.0.0.30"),
    ("eni-app", "10.0.1.20", "10.0.0.30", 300, "egress", 1, "inter_az", "eni-app", "us-east-1", "10.0.0.30"),
    ("eni-app", "10.0.0.30", "10.0.1.20", 30, "ingress", None, "inter_az", "eni-app", "us-east-1", "10.0.0.30"),
    ("eni-app", "10.0.1.20", "52.216.1.1", 400, "egress", 1, "nat_gateway", "eni-app", "us-east-1", "52.216.0.0/15"),
    ("eni-app", "52.216.1.1", "10.0.1.20", 40, "ingress", None, "nat_gateway", "eni-app", "us-east-1", "52.216.0.0/15"),
    ("eni-app", "10.0.1.20", "52.216.2.2", 500, "egress", 7, "vpc_endpoint", "eni-app", "us-east-1", "52.216.0.0/15"),
    ("eni-nat", "10.0.0.5", "52.216.1.1", 400, "egress", 8, "aws_service_same_region", "nat-1", "us-east-1", "52.216.0.0/15"),
    ("eni-nat", "10.0.0.5", "81.2.69.8", 600, "egress", 8, "internet", "nat-1", None, "81.2.69.0/24"),
    ("eni-web", "10.0.0.10", "44.230.1.1", 700, "egress", 8, "inter_region", "eni-web", "us-west-2", "44.224.0.0/11"),
    ("eni-web", "10.0.0.10", "130.176.1.1", 800, "egress", 8, "cloudfront", "eni-web", "GLOBAL", "130.176.0.0/18"),
    ("eni-app", "10.0.1.20", "10.0.1.50", 900, "egress", 1, "vpc_endpoint", "eni-app", "us-east-1", "10.0.1.50"),
    ("eni-app", "10.0.1.20", "172.20.0.9", 110, "egress", 3, "transit_gateway", "eni-app", "us-east-1", "172.20.0.9"),
    ("eni-app", "10.0.1.20", "192.168.4.4", 120, "egress", 4, "peering", "eni-app", "us-east-1", "192.168.4.4"),
    ("eni-web", "2600:1f18:aaaa:bb00::10", "2a05:d018:1::1", 130, "egress", 8, "inter_region", "eni-web", "eu-west-1", "2a05:d018::/36"),
    ("eni-web", "2600:1f18:aaaa:bb00::10", "2a00:1450:4001:81c::200e", 140, "egress", 8, "internet", "eni-web", None, "2a00:1450:4001::/48"),
]  # fmt: skip


def raw_records(rows: list[tuple[Any, ...]]) -> pl.LazyFrame:
    records = [
        {
            "version": 5,
            "account_id": ACCOUNT,
            "interface_id": eni,
            "srcaddr": src,
            "dstaddr": dst,
            "srcport": 40000 + i,
            "dstport": 443,
            "protocol": 6,
            "packets": 1,
            "bytes": nbytes,
            "start": HOUR + 60,
            "end": HOUR + 120,
            "action": "ACCEPT",
            "log_status": "OK",
            "flow_direction": direction,
            "traffic_path": path,
            "region": "us-east-1",
            "source_file": "f",
            "line_no": i,
        }
        for i, (eni, src, dst, nbytes, direction, path, *_rest) in enumerate(rows)
    ]
    frame = pl.DataFrame(records)
    return (
        frame.with_columns(
            [
                pl.lit(None, dtype=t).alias(c)
                for c, t in vpc_flow.SCHEMA.items()
                if c not in frame.columns
            ]
        )
        .select([pl.col(c).cast(t) for c, t in vpc_flow.SCHEMA.items()])
        .lazy()
    )


def test_every_case_gets_the_hand_computed_class() -> None:
    ranges = IpRanges.from_document(IP_RANGES_DOC)
    result = classified_flows(raw_records(CASES), network(), ranges)
    got = result.select(
        "interface_id",
        "counterparty",
        "direction",
        "bytes",
        "dest_class",
        "entity_id",
        "dest_region",
        "dest_prefix",
    ).sort("interface_id", "counterparty", "direction")
    expected = pl.DataFrame(
        [
            (
                eni,
                dst if direction == "egress" else src,
                direction,
                nbytes,
                cls,
                entity,
                region,
                prefix,
            )
            for eni, src, dst, nbytes, direction, _path, cls, entity, region, prefix in CASES
        ],
        schema={c: CLASSIFIED_SCHEMA[c] for c in got.columns},  # the declared dtypes
        orient="row",
    ).sort("interface_id", "counterparty", "direction")
    assert_frame_equal(got, expected)


def test_nat_classified_traffic_names_the_nat_gateway_and_hour() -> None:
    result = classified_flows(
        raw_records(CASES[4:6]), network(), IpRanges.from_document(IP_RANGES_DOC)
    )
    assert result.get_column("via_nat_gateway_id").to_list() == ["nat-1", "nat-1"]
    assert result.get_column("hour").unique().to_list() == [datetime(2026, 11, 1, tzinfo=UTC)]


def test_without_ip_ranges_aws_destinations_fall_back_to_internet() -> None:
    result = classified_flows(raw_records([CASES[9]]), network(), None)
    assert result.get_column("dest_class").to_list() == ["internet"]


def test_duplicates_and_rejected_records_do_not_count() -> None:
    raw = raw_records([CASES[0]]).collect()
    doubled = pl.concat([raw, raw.with_columns(pl.lit("other-file").alias("source_file"))])
    rejected = raw.with_columns(
        pl.lit("REJECT").alias("action"), pl.lit(10**9, dtype=pl.Int64).alias("bytes")
    )
    result = classified_flows(pl.concat([doubled, rejected]).lazy(), network(), None)
    assert result.get_column("bytes").to_list() == [1000]


def test_v2_records_without_direction_are_oriented_by_private_side() -> None:
    raw = raw_records([CASES[0]]).with_columns(
        pl.lit(None, dtype=pl.String).alias("flow_direction")
    )
    reply = raw.with_columns(pl.col("dstaddr").alias("srcaddr"), pl.col("srcaddr").alias("dstaddr"))
    result = classified_flows(pl.concat([raw, reply]), network(), None)
    assert sorted(result.get_column("direction").to_list()) == ["egress", "ingress"]
    assert set(result.get_column("counterparty").to_list()) == {"81.2.69.7"}


def test_ip_ranges_most_specific_prefix_and_service_win() -> None:
    ranges = IpRanges.from_document(IP_RANGES_DOC)
    found = ranges.lookup("130.176.1.1")
    assert found is not None and found.service == "CLOUDFRONT_ORIGIN_FACING"
    s3 = ranges.lookup("52.217.0.1")
    assert s3 is not None and (s3.service, s3.region) == ("S3", "us-east-1")
    assert ranges.lookup("8.8.8.8") is None
    assert ranges.lookup("not-an-ip") is None


def test_ip_ranges_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(IpRangesError, match="EGRESS_IP_RANGES"):
        load_ip_ranges(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(IpRangesError, match="not an AWS ip-ranges"):
        load_ip_ranges(bad)


def test_url_source_is_cached_and_reused_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def read(self) -> bytes:
            return json.dumps(IP_RANGES_DOC).encode()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response())
    first = load_ip_ranges("https://example.invalid/ip-ranges.json", tmp_path)

    def offline(url: str, timeout: int) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    again = load_ip_ranges("https://example.invalid/ip-ranges.json", tmp_path)
    assert first.sync_token == again.sync_token == "1"


def test_real_ip_ranges_sample_resolves_known_addresses() -> None:
    ranges = load_ip_ranges(samples_dir() / "network" / "ip-ranges.json")
    assert ranges.sync_token == "1787411825"
    s3 = ranges.lookup("52.216.10.5")
    assert s3 is not None and (s3.service, s3.region, s3.prefix) == (
        "S3",
        "us-east-1",
        "52.216.0.0/15",
    )
    ipv6 = ranges.lookup("2600:1f18:4000::1")
    assert ipv6 is not None and ipv6.region == "us-east-1"


# ---- S3 replication is told by the requester, never by the user agent (issue 16, item 11) ----
BUCKET = "111122223333-app-data"
REPLICATOR = "arn:aws:sts::111122223333:assumed-role/s3-replication/s3-replication"


def _bucket_config(supplementary: dict[str, Any], bucket: str = BUCKET) -> dict[str, Any]:
    return {
        "resource_type": "AWS::S3::Bucket",
        "resource_id": bucket,
        "capture_time": "2026-11-01T00:00:00.000Z",
        "supplementary_configuration": json.dumps(supplementary),
    }


def _s3_request(requester: str, agent: str, ip: str, bucket: str = BUCKET) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "time": datetime(2026, 11, 1, 3, 17, tzinfo=UTC),
        "remote_ip": ip,
        "requester": requester,
        "user_agent": agent,
        "bytes_sent": 1000,
    }


def test_replication_roles_read_configs_and_api_shapes() -> None:
    from egress_platform.etl.egress_flows import replication_roles

    config_form = {  # AWS Config delivers some supplementary values as JSON text
        "BucketReplicationConfiguration": json.dumps(
            {
                "roleARN": "arn:aws:iam::111122223333:role/service-role/s3-replication",
                "rules": {"all": {"prefix": "", "status": "Enabled"}},
            }
        )
    }
    api_form = {"BucketReplicationConfiguration": {"Role": "arn:aws:iam::444455556666:role/r"}}
    items = pl.DataFrame(
        [
            _bucket_config(config_form),
            _bucket_config(api_form, "other-bucket"),
            _bucket_config({"BucketReplicationConfiguration": "not json"}, "third"),
        ]
    )
    assert_frame_equal(
        replication_roles(items),
        pl.DataFrame(
            {
                "bucket": [BUCKET, "other-bucket"],
                "role_key": ["111122223333:s3-replication", "444455556666:r"],
            }
        ),
    )


def test_s3_replication_is_the_configured_roles_requests_whatever_the_user_agent() -> None:
    from egress_platform.etl.egress_flows import replication_roles
    from egress_platform.network.facts import s3_egress_facts

    roles = replication_roles(
        pl.DataFrame(
            [
                _bucket_config(
                    {
                        "BucketReplicationConfiguration": {
                            "roleARN": "arn:aws:iam::111122223333:role/service-role/s3-replication"
                        }
                    }
                )
            ]
        )
    )
    records = pl.DataFrame(
        [
            _s3_request(REPLICATOR, "curl/8.5.0", "10.0.0.1"),  # agent replaced: still replication
            _s3_request("-", "aws-internal/3 S3Replication", "93.184.216.7"),  # forged agent
            _s3_request(
                "arn:aws:sts::111122223333:assumed-role/app/i-0abc", "Boto3", "93.184.217.8"
            ),
            _s3_request(REPLICATOR, "aws-internal/3", "93.184.218.9", "not-replicated-bucket"),
        ]
    )
    facts = s3_egress_facts(records, "111122223333", "us-east-1", NetworkMetadata(), None, roles)
    assert_frame_equal(
        facts.select("source_id", "dest_class", "dest_service", "flows").sort(
            "dest_class", "source_id"
        ),
        pl.DataFrame(
            {
                "source_id": [BUCKET, BUCKET, BUCKET, "not-replicated-bucket"],
                "dest_class": ["inter_region", "internet", "internet", "internet"],
                "dest_service": ["S3_REPLICATION", None, None, None],
                "flows": [1, 1, 1, 1],
            },
            schema={
                "source_id": pl.String,
                "dest_class": pl.String,
                "dest_service": pl.String,
                "flows": pl.Int64,
            },
        ),
    )


def _sparse_network() -> NetworkMetadata:
    """``network()`` plus what a recorder that records less leaves: a subnet whose item gives
    no AZ at all, and an ENI in it."""
    base = network()
    extra = NetworkMetadata.from_config_items(
        pl.DataFrame(
            [
                _item("AWS::EC2::VPC", "vpc-1", {"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/16"}),
                _item(
                    "AWS::EC2::Subnet",
                    "subnet-c",
                    {"subnetId": "subnet-c", "vpcId": "vpc-1", "cidrBlock": "10.0.2.0/24"},
                ),
                _item(
                    "AWS::EC2::NetworkInterface",
                    "eni-batch",
                    {
                        "networkInterfaceId": "eni-batch",
                        "subnetId": "subnet-c",
                        "vpcId": "vpc-1",
                        "privateIpAddress": "10.0.2.7",
                    },
                ),
            ]
        )
    )
    base.subnets.update(extra.subnets)
    base.enis.update(extra.enis)
    return base


# eni, src, dst, bytes, direction, path, class, class it is priced as
UNKNOWN_CASES = [
    ("eni-batch", "10.0.2.7", "10.0.0.30", 1000, "egress", 1, "unknown", "inter_az"),
    ("eni-web", "10.0.0.10", "10.0.2.7", 2000, "egress", 1, "unknown", "inter_az"),
    ("eni-web", "10.0.0.10", "100.64.3.3", 3000, "egress", None, "unknown", "transit_gateway"),
    ("eni-web", "10.0.0.10", "169.254.169.254", 4000, "egress", None, "intra_az", None),
    ("eni-web", "10.0.0.10", "10.0.0.30", 5000, "egress", 1, "intra_az", None),
]  # fmt: skip


def test_a_destination_that_cannot_be_placed_is_unknown_and_priced_as_its_likely_class() -> None:
    """Issue 15: an AZ Config does not give, or a private address outside every VPC and route,
    was classed intra_az at $0; now it is ``unknown``, priced as the likeliest class."""
    from egress_platform.network.facts import flow_egress_facts
    from egress_platform.pricing.estimate import price_facts

    sparse = _sparse_network()
    classified = classified_flows(raw_records(UNKNOWN_CASES), sparse, None)
    got = classified.select("counterparty", "bytes", "dest_class", "assumed_class").sort("bytes")
    expected = pl.DataFrame(
        [(dst, n, cls, assumed) for _e, _s, dst, n, _d, _p, cls, assumed in UNKNOWN_CASES],
        schema={c: CLASSIFIED_SCHEMA[c] for c in got.columns},
        orient="row",
    )
    assert_frame_equal(got, expected)
    priced = price_facts(flow_egress_facts(classified, sparse))
    usd = dict(priced.select("dest_prefix", "estimated_usd").iter_rows())
    assert usd["169.254.169.254"] == 0.0  # instance metadata is never billed
    # 2000 B to an ENI of a subnet with no AZ, which logs too: priced inter-AZ, this side.
    assert usd["10.0.2.7"] == pytest.approx(2000 * 0.01 / 1024**3)
    # From that ENI to eni-db (intra-AZ from eni-web: 0), which logged nothing this hour:
    # both sides ($0.01 + $0.01 per GB).
    by_source = priced.group_by("source_id").agg(pl.col("estimated_usd").sum())
    assert dict(by_source.iter_rows())["eni-batch"] == pytest.approx(1000 * 2 * 0.01 / 1024**3)
    assert usd["100.64.3.3"] == pytest.approx(3000 * 0.02 / 1024**3)
    usage = dict(priced.select("dest_prefix", "usage_type").iter_rows())
    assert usage["100.64.3.3"] == "TransitGateway-Bytes"


def test_inter_az_is_billed_on_both_sides_once_whichever_flow_logs_are_there() -> None:
    """Issue 15: the cross-AZ incident's $ was half the bill's when only the sender's flow log
    held the flow. Each side pays $0.01/GB: with both logs each row carries its own side, with
    one the row seen carries both, so the total is the same either way."""
    from egress_platform.network.facts import flow_egress_facts
    from egress_platform.pricing.estimate import price_facts

    app_to_db = [
        ("eni-app", "10.0.1.20", "10.0.0.30", 3000, "egress", 1),
        ("eni-app", "10.0.0.30", "10.0.1.20", 1000, "ingress", None),
    ]
    db_side = [
        ("eni-db", "10.0.1.20", "10.0.0.30", 3000, "ingress", None),
        ("eni-db", "10.0.0.30", "10.0.1.20", 1000, "egress", 1),
    ]
    net = network()

    def bill(rows: list[tuple[Any, ...]]) -> tuple[float, list[bool]]:
        facts = flow_egress_facts(classified_flows(raw_records(rows), net, None), net)
        priced = price_facts(facts)
        return float(priced["estimated_usd"].sum()), facts["bills_peer_side"].to_list()

    one_side, flags_one = bill(app_to_db)
    both_sides, flags_both = bill(app_to_db + db_side)
    assert flags_one == [True] and flags_both == [False, False]
    assert one_side == pytest.approx(both_sides)
    assert both_sides == pytest.approx(2 * 4000 * 0.01 / 1024**3)
    # An address no ENI item names: its side is absent only if every ENI that logged is known.
    stranger = [("eni-app", "10.0.1.20", "10.0.0.77", 3000, "egress", 1)]
    assert bill(stranger)[1] == [True]
    unknown_eni = [("eni-unrecorded", "10.0.0.77", "10.0.1.20", 3000, "ingress", None)]
    assert bill(stranger + unknown_eni)[1] == [False, False]


def test_addresses_resolved_in_columns_match_the_per_address_rules() -> None:
    """Plain public IPv4 addresses resolve in columns (a busy ENI meets a million a day); the
    answer must be what the per-address rules give, for AWS's real ranges and every odd case."""
    import random

    net = network()
    sample = samples_dir() / "network" / "ip-ranges.json"
    real = load_ip_ranges(sample) if sample.is_file() else None
    rng = random.Random(7)
    addresses = [f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.0.{rng.randint(0, 255)}"]
    addresses += [
        ".".join(str(rng.randint(0, 255)) for _ in range(4)) for _ in range(5000)
    ]  # mostly public, some special-purpose, some AWS
    addresses += [
        f"{rng.choice(['2600:1f18', '2a05:d018', '2001:db8', '2002:c000', '2a00:1450', '3fff:0', '2001:0', 'fd00:1'])}:{rng.randint(0, 0xFFFF):x}:{rng.choice([0, rng.randint(1, 0xFFFF)]):x}::{rng.randint(1, 0xFFFF):x}"
        for _ in range(3000)
    ]  # global, AWS (the real ranges hold prefixes up to /128), documentation, 6to4, ULA
    addresses += [
        "52.217.0.1", "130.176.1.1", "44.230.9.9", "8.8.8.8", "10.0.1.5", "10.9.9.9",
        "172.16.0.1", "100.64.1.1", "169.254.169.254", "127.0.0.1", "192.0.0.9", "192.0.2.1",
        "224.0.0.1", "255.255.255.255", "0.1.2.3", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1",
        "", "not-an-ip", "2600:1f18:aaaa:bb00::10", "2001:db8::1", "::ffff:8.8.8.8",
    ]  # fmt: skip
    for ranges in (IpRanges.from_document(IP_RANGES_DOC), real, None):
        got = net.resolve_addresses(addresses, ranges)
        endpoint_ips: dict[str, bool] = {}
        routes = net._private_routes()
        rows = [net._resolve(a, endpoint_ips, routes, ranges) for a in addresses]
        want = pl.DataFrame(rows, schema=ADDRESS_SCHEMA, orient="row")
        assert_frame_equal(got, want)
    assert got.filter(pl.col("scope") == "public").height > 4000


def test_a_range_of_partitions_in_one_pass_gives_each_partition_what_it_gives_alone() -> None:
    """Issue 17: egress_flows_hourly takes a range at once (PARTITION kept through the facts);
    an inter-AZ peer whose log arrived in another partition of the same hour is that
    partition's, as when each partition is taken alone."""
    from egress_platform.etl.egress_flows import EgressInputs, egress_facts
    from egress_platform.lake_layout import PARTITION
    from egress_platform.sources import SOURCES

    net = network()
    first = classified_flows(
        raw_records([("eni-app", "10.0.1.20", "10.0.0.30", 3000, "egress", 1)]), net, None
    )
    late = classified_flows(
        raw_records([("eni-db", "10.0.1.20", "10.0.0.30", 3000, "ingress", None)]), net, None
    )
    no_s3 = pl.DataFrame(schema=SOURCES["s3_access"].schema)
    no_cloudfront = pl.DataFrame(schema=SOURCES["cloudfront"].schema)

    def inputs(flows: pl.DataFrame, s3: pl.DataFrame, cf: pl.DataFrame, account: Any) -> Any:
        return EgressInputs(flows, s3, cf, net, None, account)

    parts = {"2026-11-01-10:00": first, "2026-11-01-11:00": late}
    alone = {k: egress_facts(inputs(f, no_s3, no_cloudfront, "111")) for k, f in parts.items()}

    def tag(frame: pl.DataFrame, key: str) -> pl.DataFrame:
        return frame.with_columns(pl.lit(key).alias(PARTITION))

    together = egress_facts(
        inputs(
            pl.concat([tag(f, k) for k, f in parts.items()]),
            pl.concat([tag(no_s3, k) for k in parts]),
            pl.concat([tag(no_cloudfront, k) for k in parts]),
            pl.col(PARTITION).replace_strict({k: "111" for k in parts}, return_dtype=pl.String),
        ),
        keep=(PARTITION,),
    )
    for key, facts in alone.items():
        assert facts["bills_peer_side"].to_list() == [True]  # alone, each sees one side
        assert_frame_equal(together.filter(pl.col(PARTITION) == key).drop(PARTITION), facts)
