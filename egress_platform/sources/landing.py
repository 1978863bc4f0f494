"""Where each source lands in S3 (AWS's native key layouts) and which partition a key belongs to.

The landing zone mirrors what AWS writes into a log bucket, so the product runs unchanged against a
real account's buckets: ``AWSLogs/<account>/vpcflowlogs|CloudTrail|Config/...``, CUR report folders
with manifests, S3 and CloudFront access-log prefixes. Raw partitions follow the delivery time in
the key, the way Glue/Athena partition projection does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class LandingLayout:
    prefix: str
    key_pattern: re.Pattern[str]
    time_format: str  # strptime format for the captured ``t`` group


LAYOUTS: dict[str, LandingLayout] = {
    "vpc_flow": LandingLayout(
        "AWSLogs/",
        re.compile(r"/vpcflowlogs/.*_vpcflowlogs_[^_]+_[^_]+_(?P<t>\d{8}T\d{4})Z_[^/]+$"),
        "%Y%m%dT%H%M",
    ),
    "cloudtrail": LandingLayout(
        "AWSLogs/",
        re.compile(r"/CloudTrail/.*_CloudTrail_[^_]+_(?P<t>\d{8}T\d{4})Z_[^/]+$"),
        "%Y%m%dT%H%M",
    ),
    "config": LandingLayout(
        "AWSLogs/",
        re.compile(r"/Config/[^/]+/(?P<t>\d{4}/\d{1,2}/\d{1,2})/Config(History|Snapshot)/[^/]+$"),
        "%Y/%m/%d",
    ),
    "s3_access": LandingLayout(
        "s3-access-logs/",
        re.compile(r"(?P<t>\d{4}-\d{2}-\d{2}-\d{2})-\d{2}-\d{2}-[0-9A-F]{16}$"),
        "%Y-%m-%d-%H",
    ),
    "cloudfront": LandingLayout(
        "cloudfront-logs/",
        re.compile(r"\.(?P<t>\d{4}-\d{2}-\d{2}-\d{2})\.[0-9a-f]+\.gz$"),
        "%Y-%m-%d-%H",
    ),
    "cost_explorer": LandingLayout(
        "cost-explorer/", re.compile(r"/(?P<t>\d{4}/\d{2}/\d{2})/[^/]+\.json$"), "%Y/%m/%d"
    ),
    "cur": LandingLayout(
        "cur/", re.compile(r"/(?P<t>\d{8})-\d{8}/[^/]+-Manifest\.json$"), "%Y%m%d"
    ),
}


# A Kinesis Data Firehose stream (flow logs publish to one natively; the raw stream of the CDK
# app partitions by record source) writes the records as delivered, under
# ``firehose/source=<source>/YYYY/MM/DD/HH/<stream>-<version>-<time>-<uuid>``.
FIREHOSE_PREFIX = "firehose/"
FIREHOSE_KEY = re.compile(
    r"^firehose/source=(?P<source>[a-z_]+)/(?P<t>\d{4}/\d{2}/\d{2}/\d{2})/[^/]+$"
)


def source_prefixes(source: str) -> list[str]:
    """Where a source's objects may land: its own AWS layout and its Firehose prefix."""
    return [LAYOUTS[source].prefix, f"{FIREHOSE_PREFIX}source={source}/"]


def key_time(source: str, key: str) -> datetime | None:
    """Delivery time encoded in a landing key, or None if the key is not this source's object."""
    firehose = FIREHOSE_KEY.match(key)
    if firehose:
        if firehose.group("source") != source:
            return None
        return datetime.strptime(firehose.group("t"), "%Y/%m/%d/%H").replace(tzinfo=UTC)
    match = LAYOUTS[source].key_pattern.search(key)
    if not match:
        return None
    return datetime.strptime(match.group("t"), LAYOUTS[source].time_format).replace(tzinfo=UTC)


def partition_key(source: str, key: str, partitioning: str) -> str | None:
    """The Dagster partition key (``YYYY-MM-DD-HH:00`` hourly, ``YYYY-MM-DD`` daily) of a key."""
    when = key_time(source, key)
    if when is None:
        return None
    return (
        when.strftime("%Y-%m-%d-%H:00") if partitioning == "hourly" else when.strftime("%Y-%m-%d")
    )


@dataclass(frozen=True)
class CurManifest:
    key: str
    assembly_id: str
    report_keys: list[str]
    period_start: datetime
    period_end: datetime

    def covers(self, day: datetime) -> bool:
        return self.period_start <= day < self.period_end


def read_cur_manifest(key: str, data: bytes) -> CurManifest:
    """A CUR manifest names the current assembly's report files for one billing period."""
    doc = json.loads(data)
    period = doc["billingPeriod"]
    return CurManifest(
        key,
        doc["assemblyId"],
        list(doc["reportKeys"]),
        datetime.strptime(period["start"][:8], "%Y%m%d").replace(tzinfo=UTC),
        datetime.strptime(period["end"][:8], "%Y%m%d").replace(tzinfo=UTC),
    )
