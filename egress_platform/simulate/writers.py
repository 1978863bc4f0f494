"""Writers for each source in the exact formats and S3 key layouts AWS delivers.

Every file is written deterministically (seeded values, gzip mtime 0), so the same seed gives the
same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from egress_platform.simulate.account import (
    AZS,
    PEER_REGION,
    REGION,
    Account,
    Change,
    config_replication,
    stable_id,
    stable_uuid,
)
from egress_platform.sources.vpc_flow import RECOMMENDED_FORMAT

# The simulated flow logs use the product's recommended custom format (the CDK flow logs too).
SIM_FLOW_FIELDS = RECOMMENDED_FORMAT


def write_bytes(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def stamp(ts: datetime) -> str:
    return ts.strftime("%Y%m%dT%H%MZ")


def flow_log_key(account: Account, hour_start: datetime) -> str:
    day = hour_start.strftime("%Y/%m/%d")
    suffix = stable_id(account.seed, "flow", hour_start.isoformat(), length=8)
    return (
        f"AWSLogs/{account.account_id}/vpcflowlogs/{REGION}/{day}/"
        f"{account.account_id}_vpcflowlogs_{REGION}_fl-0a1b2c3d4e5f60718_{stamp(hour_start)}_{suffix}.log.gz"
    )


def flow_log_file(lines: list[str]) -> bytes:
    return gz("\n".join([" ".join(SIM_FLOW_FIELDS), *lines]) + "\n")


def cloudtrail_key(account: Account, hour_start: datetime) -> str:
    day = hour_start.strftime("%Y/%m/%d")
    unique = stable_id(account.seed, "ct", hour_start.isoformat(), length=16).upper()
    return (
        f"AWSLogs/{account.account_id}/CloudTrail/{REGION}/{day}/"
        f"{account.account_id}_CloudTrail_{REGION}_{stamp(hour_start)}_{unique}.json.gz"
    )


def cloudtrail_event(account: Account, change: Change, when: datetime) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDA" + stable_id(account.seed, change.user_arn, length=16).upper(),
            "arn": change.user_arn,
            "accountId": account.account_id,
            "userName": change.user_arn.rsplit("/", 1)[-1],
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": change.event_source,
        "eventName": change.event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": "aws-cli/2.17.0 Python/3.11.9 Linux/6.1 exe/x86_64",
        "requestParameters": change.request_parameters,
        "responseElements": None,
        "requestID": stable_uuid(account.seed, "req", change.event_id),
        "eventID": change.event_id,
        "readOnly": False,
        "resources": [
            {
                "ARN": change.resource_id,
                "accountId": account.account_id,
                "type": change.resource_type,
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account.account_id,
        "eventCategory": "Management",
    }


BACKGROUND_CALLS = [
    ("DescribeInstances", "ec2.amazonaws.com"),
    ("DescribeSecurityGroups", "ec2.amazonaws.com"),
    ("ListBuckets", "s3.amazonaws.com"),
    ("GetCallerIdentity", "sts.amazonaws.com"),
    ("AssumeRole", "sts.amazonaws.com"),
    ("DescribeVpcEndpoints", "ec2.amazonaws.com"),
]


def background_event(account: Account, when: datetime, index: int) -> dict[str, Any]:
    name, source = BACKGROUND_CALLS[index % len(BACKGROUND_CALLS)]
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{account.account_id}:assumed-role/monitoring/session",
            "accountId": account.account_id,
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "10.0.10.20",
        "userAgent": "Boto3/1.35.0 md/Botocore#1.35.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": stable_uuid(account.seed, "bg", when.isoformat(), index),
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account.account_id,
    }


def config_item(
    account: Account,
    resource_type: str,
    resource_id: str,
    configuration: dict[str, Any],
    captured: datetime,
    *,
    supplementary: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    az: str = "Not Applicable",
    relationships: list[dict[str, str]] | None = None,
    status: str = "OK",
) -> dict[str, Any]:
    return {
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": captured.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "configurationStateId": int(captured.timestamp() * 1000),
        "awsAccountId": account.account_id,
        "configurationItemStatus": status,
        "resourceType": resource_type,
        "resourceId": resource_id,
        "resourceName": resource_id,
        "ARN": f"arn:aws:{resource_type.split('::')[1].lower()}:{REGION}:{account.account_id}:{resource_id}",
        "awsRegion": REGION,
        "availabilityZone": az,
        "tags": tags or {},
        "relatedEvents": [],
        "relationships": relationships or [],
        "configuration": configuration,
        "supplementaryConfiguration": supplementary or {},
    }


def inventory(
    account: Account, captured: datetime, changed: dict[str, Change]
) -> list[dict[str, Any]]:
    """Every resource as Config records it, reflecting the changes made so far."""
    items: list[dict[str, Any]] = [
        config_item(
            account,
            "AWS::EC2::VPC",
            account.vpc_id,
            {"vpcId": account.vpc_id, "cidrBlock": account.vpc_cidr},
            captured,
        )
    ]
    limited = account.recorder == "limited"
    for subnet_id, (cidr, az_id, public) in account.subnets.items():
        subnet = {
            "subnetId": subnet_id,
            "vpcId": account.vpc_id,
            "cidrBlock": cidr,
            "availabilityZone": AZS[az_id],
            "availabilityZoneId": az_id,
            "mapPublicIpOnLaunch": public,
        }
        if limited:
            del subnet["availabilityZoneId"]
        items.append(
            config_item(account, "AWS::EC2::Subnet", subnet_id, subnet, captured, az=AZS[az_id])
        )
    for eni in account.all_enis:
        if limited and eni.role == "nat":
            continue  # the NAT gateway's ENI is requester-managed; this recorder skips it
        interface = {
            "networkInterfaceId": eni.eni_id,
            "subnetId": eni.subnet_id,
            "vpcId": account.vpc_id,
            "availabilityZone": AZS[eni.az_id],
            "privateIpAddress": eni.private_ip,
            "interfaceType": "nat_gateway" if eni.role == "nat" else "interface",
            "requesterManaged": eni.role == "nat",
            "attachment": {"instanceId": eni.instance_id} if eni.instance_id else None,
            "groups": [{"groupId": eni.security_group}] if eni.security_group != "-" else [],
        }
        # As Config relates an ENI to its subnet, VPC and groups (a limited recorder: none).
        relationships = [
            {"resourceType": "AWS::EC2::Subnet", "resourceId": eni.subnet_id,
             "relationshipName": "Is contained in Subnet"},
            {"resourceType": "AWS::EC2::VPC", "resourceId": account.vpc_id,
             "relationshipName": "Is contained in Vpc"},
        ]  # fmt: skip
        if eni.security_group != "-":
            relationships.append({"resourceType": "AWS::EC2::SecurityGroup",
                                  "resourceId": eni.security_group,
                                  "relationshipName": "Is associated with SecurityGroup"})  # fmt: skip
        if limited:
            del interface["subnetId"], interface["groups"]
            relationships = []
        items.append(
            config_item(
                account,
                "AWS::EC2::NetworkInterface",
                eni.eni_id,
                interface,
                captured,
                az=AZS[eni.az_id],
                tags=eni.tags,
                relationships=relationships,
            )
        )
        if eni.instance_id:
            items.append(
                config_item(
                    account,
                    "AWS::EC2::Instance",
                    eni.instance_id,
                    {
                        "instanceId": eni.instance_id,
                        "subnetId": eni.subnet_id,
                        "privateIpAddress": eni.private_ip,
                        "placement": {"availabilityZone": AZS[eni.az_id]},
                        "networkInterfaces": [{"networkInterfaceId": eni.eni_id}],
                    },
                    captured,
                    az=AZS[eni.az_id],
                    tags={"Name": eni.role, **eni.tags},
                )
            )
    items.append(
        config_item(
            account,
            "AWS::EC2::NatGateway",
            account.nat_gateway_id,
            {
                "natGatewayId": account.nat_gateway_id,
                "subnetId": account.nat_eni.subnet_id,
                "vpcId": account.vpc_id,
                "natGatewayAddresses": [
                    {
                        "networkInterfaceId": account.nat_eni.eni_id,
                        "privateIp": account.nat_eni.private_ip,
                    }
                ],
            },
            captured,
        )
    )
    endpoint_state = "deleted" if account.s3_endpoint_id in changed else "available"
    items.append(
        config_item(
            account,
            "AWS::EC2::VPCEndpoint",
            account.s3_endpoint_id,
            {
                "vpcEndpointId": account.s3_endpoint_id,
                "vpcEndpointType": "Gateway",
                "serviceName": f"com.amazonaws.{REGION}.s3",
                "state": endpoint_state,
                "routeTableIds": [account.route_table_id],
            },
            captured,
            status="ResourceDeleted" if endpoint_state == "deleted" else "OK",
        )
    )
    routes = [{"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": account.nat_gateway_id}]
    if endpoint_state == "available":
        routes.append(
            {"destinationPrefixListId": "pl-63a5400a", "gatewayId": account.s3_endpoint_id}
        )
    items.append(
        config_item(
            account,
            "AWS::EC2::RouteTable",
            account.route_table_id,
            {
                "routeTableId": account.route_table_id,
                "vpcId": account.vpc_id,
                "routes": routes,
                "associations": [
                    {"subnetId": s} for s, (_, _, public) in account.subnets.items() if not public
                ],
            },
            captured,
        )
    )
    for sg in sorted({e.security_group for e in account.enis}):
        change = changed.get(sg)
        perms = (
            change.configuration["ipPermissions"]
            if change
            else [
                {
                    "ipProtocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "ipRanges": ["0.0.0.0/0"]
                    if sg == account.enis[0].security_group
                    else ["10.0.0.0/16"],
                }
            ]
        )
        items.append(
            config_item(
                account,
                "AWS::EC2::SecurityGroup",
                sg,
                {"groupId": sg, "vpcId": account.vpc_id, "ipPermissions": perms},
                captured,
            )
        )
    for role, bucket in account.buckets.items():
        change = changed.get(bucket)
        supplementary = (
            change.supplementary
            if change
            else {
                "PublicAccessBlockConfiguration": {
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                }
            }
        )
        if role == "app" and not change:
            supplementary = {
                **supplementary,
                "BucketReplicationConfiguration": config_replication(
                    account.replication_role_arn,
                    [
                        {
                            "ID": "critical",
                            "Status": "Enabled",
                            "Filter": {"Prefix": "critical/"},
                            "Destination": {"Bucket": f"arn:aws:s3:::{account.buckets['replica']}"},
                        }
                    ],
                ),
            }
        items.append(
            config_item(
                account,
                "AWS::S3::Bucket",
                bucket,
                {"name": bucket, "region": PEER_REGION if role == "replica" else REGION},
                captured,
                supplementary=supplementary,
            )
        )
    dist_change = changed.get(account.distribution_id)
    items.append(
        config_item(
            account,
            "AWS::CloudFront::Distribution",
            account.distribution_id,
            dist_change.configuration
            if dist_change
            else {
                "id": account.distribution_id,
                "defaultCacheBehavior": {"cachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
                "origins": [{"domainName": f"origin.{account.account_id}.example.com"}],
            },
            captured,
        )
    )
    return items


def config_snapshot_key(account: Account, day: datetime) -> str:
    ts = (day + timedelta(hours=23, minutes=55)).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"AWSLogs/{account.account_id}/Config/{REGION}/{day.year}/{day.month}/{day.day}/ConfigSnapshot/"
        f"{account.account_id}_Config_{REGION}_ConfigSnapshot_{ts}_{stable_uuid(account.seed, 'snap', day.isoformat())}.json.gz"
    )


def config_history_key(account: Account, change_time: datetime, resource_type: str) -> str:
    start = change_time.strftime("%Y%m%dT%H%M%SZ")
    end = (change_time + timedelta(hours=6)).strftime("%Y%m%dT%H%M%SZ")
    rtype = resource_type.replace("::", "_")
    return (
        f"AWSLogs/{account.account_id}/Config/{REGION}/{change_time.year}/{change_time.month}/{change_time.day}/"
        f"ConfigHistory/{account.account_id}_Config_{REGION}_ConfigHistory_{rtype}_{start}_{end}_1.json.gz"
    )


def config_file(items: list[dict[str, Any]], snapshot_id: str | None = None) -> bytes:
    doc: dict[str, Any] = {"fileVersion": "1.0", "configurationItems": items}
    if snapshot_id:
        doc["configSnapshotId"] = snapshot_id
    return gz(json.dumps(doc))


CUR_COLUMNS = [
    "identity/LineItemId", "identity/TimeInterval", "bill/InvoiceId", "bill/BillingEntity", "bill/BillType",
    "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/UsageAccountId",
    "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/ProductCode",
    "lineItem/UsageType", "lineItem/Operation", "lineItem/AvailabilityZone", "lineItem/ResourceId",
    "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedRate", "lineItem/UnblendedCost",
    "lineItem/BlendedRate", "lineItem/BlendedCost", "lineItem/LineItemDescription", "product/ProductName",
    "product/fromLocation", "product/toLocation", "product/productFamily", "product/region",
    "product/servicecode", "product/transferType", "product/usagetype", "pricing/unit",
    "pricing/publicOnDemandRate", "pricing/term",
]  # fmt: skip


def cur_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CUR_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return gz(buffer.getvalue())


def cur_paths(
    account: Account, period_start: datetime, period_end: datetime
) -> tuple[str, str, str]:
    """(manifest key, assembly id, report file key) in the CUR 1.0 delivery layout."""
    folder = f"cur/egress-cur/hourly/{period_start:%Y%m%d}-{period_end:%Y%m%d}"
    assembly = stable_uuid(account.seed, "cur", period_start.isoformat())
    return (
        f"{folder}/hourly-Manifest.json",
        assembly,
        f"{folder}/{assembly}/hourly-00001.csv.gz",
    )


def cur_manifest(
    account: Account, assembly: str, report_key: str, period_start: datetime, period_end: datetime
) -> bytes:
    manifest = {
        "assemblyId": assembly,
        "account": account.account_id,
        "columns": [{"category": c.split("/")[0], "name": c.split("/")[1]} for c in CUR_COLUMNS],
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": stable_id(account.seed, "report", length=64),
        "reportName": "hourly",
        "billingPeriod": {
            "start": f"{period_start:%Y%m%d}T000000.000Z",
            "end": f"{period_end:%Y%m%d}T000000.000Z",
        },
        "bucket": f"{account.account_id}-billing",
        "reportKeys": [report_key],
        "additionalArtifactKeys": [],
    }
    return json.dumps(manifest, indent=2).encode()


def s3_access_key(bucket: str, hour_start: datetime, seed: int) -> str:
    unique = stable_id(seed, "s3log", bucket, hour_start.isoformat(), length=16).upper()
    return f"s3-access-logs/{bucket}/{hour_start:%Y-%m-%d-%H}-00-00-{unique}"


def s3_access_line(
    account: Account,
    bucket: str,
    when: datetime,
    remote_ip: str,
    requester: str,
    key: str,
    size: int,
    user_agent: str,
    request_id: str,
) -> str:
    return (
        f"{stable_id(account.seed, 'owner', length=64)} {bucket} [{when:%d/%b/%Y:%H:%M:%S} +0000] {remote_ip} "
        f'{requester} {request_id} REST.GET.OBJECT {key} "GET /{bucket}/{key} HTTP/1.1" 200 - {size} {size} '
        f'{40 + size // 50_000_000} 12 "-" "{user_agent}" - {stable_id(account.seed, "hid", request_id, length=56)}= '
        f"SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {bucket}.s3.{REGION}.amazonaws.com TLSv1.2 - -"
    )


def cloudfront_key(distribution_id: str, hour_start: datetime, seed: int) -> str:
    return f"cloudfront-logs/{distribution_id}.{hour_start:%Y-%m-%d-%H}.{stable_id(seed, 'cf', hour_start.isoformat(), length=8)}.gz"


CLOUDFRONT_HEADER = (
    "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header "
    "cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type "
    "cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type "
    "sc-content-type sc-content-len sc-range-start sc-range-end\n"
)


def cloudfront_line(
    distribution_id: str,
    when: datetime,
    size: int,
    client: str,
    result: str,
    path: str,
    query: str,
    request_id: str,
) -> str:
    host = f"{distribution_id.lower()}.cloudfront.net"
    fields = [
        f"{when:%Y-%m-%d}",
        f"{when:%H:%M:%S}",
        "IAD89-C1",
        str(size),
        client,
        "GET",
        host,
        path,
        "200",
        "-",
        "Mozilla/5.0%20(X11;%20Linux%20x86_64)",
        query,
        "-",
        result,
        request_id,
        host,
        "https",
        "180",
        "0.050",
        "-",
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256",
        result,
        "HTTP/2.0",
        "-",
        "-",
        "51234",
        "0.020",
        result,
        "application/octet-stream",
        str(size),
        "-",
        "-",
    ]
    return "\t".join(fields)


def cost_explorer_key(account_id: str, day: datetime) -> str:
    return f"cost-explorer/{account_id}/{day:%Y/%m/%d}/get-cost-and-usage-daily.json"


def cost_explorer_response(
    day: datetime, totals: dict[tuple[str, str], tuple[float, float]]
) -> bytes:
    """A DAILY GetCostAndUsage response grouped by SERVICE and USAGE_TYPE."""
    groups = [
        {
            "Keys": [service, usage_type],
            "Metrics": {
                "UnblendedCost": {"Amount": f"{cost:.10f}", "Unit": "USD"},
                "UsageQuantity": {"Amount": f"{quantity:.10f}", "Unit": "N/A"},
            },
        }
        for (service, usage_type), (cost, quantity) in sorted(totals.items())
    ]
    response = {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {
                    "Start": f"{day:%Y-%m-%d}",
                    "End": f"{day + timedelta(days=1):%Y-%m-%d}",
                },
                "Total": {},
                "Groups": groups,
                "Estimated": False,
            }
        ],
        "DimensionValueAttributes": [],
    }
    return json.dumps(response, indent=2).encode()
