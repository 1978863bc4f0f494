"""What has landed: partitions from AWS's key layouts (Firehose and Organizations prefixes too),
unmatched objects counted, changes found by digest, gaps split into ranges."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from egress_platform.app.run import segments
from egress_platform.sources.common import QUARANTINE_SCHEMA
from egress_platform.sources.discover import changed, discover, unmatched_quarantine

FLOW = (
    "AWSLogs/o-exampleorg1/111122223333/vpcflowlogs/eu-west-1/2026/01/01/"
    "111122223333_vpcflowlogs_eu-west-1_fl-0a1b2c3d_20260101T0005Z_0f1e2d3c.log.gz"
)
MANIFEST = "cur/egress-cur/hourly/20260101-20260201/egress-cur-Manifest.json"
REPORT = "cur/egress-cur/hourly/20260101-20260201/a1b2/egress-cur-00001.csv.gz"
LISTING = [
    (FLOW, 100),
    ("firehose/source=vpc_flow/2026/01/01/01/egress-raw-1-2026-01-01-01-00-00-abc", 50),
    ("firehose/source=cloudtrail/2026/01/01/03/egress-raw-1-2026-01-01-03-10-00-def", 70),
    ("firehose/errors/processing-failed/2026/01/01/egress-raw-1-x", 5),
    ("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/01/01/notes.txt", 3),
    (MANIFEST, 10),
    (REPORT, 900),
]


def manifest(_: str) -> bytes:
    return json.dumps(
        {
            "assemblyId": "a1b2",
            "reportKeys": [REPORT],
            "billingPeriod": {"start": "20260101T000000.000Z", "end": "20260201T000000.000Z"},
        }
    ).encode()


def test_partitions_come_from_the_keys_of_every_layout() -> None:
    landed = discover(LISTING, manifest)
    assert landed.hours("vpc_flow") == ["2026-01-01-00:00", "2026-01-01-01:00"]
    assert landed.hours("cloudtrail") == ["2026-01-01-03:00"]
    # The bill covers the month, clipped to the days the other sources span.
    assert sorted(landed.objects["cur"]) == ["2026-01-01"]
    assert landed.objects["cur"]["2026-01-01"] == [(MANIFEST, 10), (REPORT, 900)]
    assert sorted(k for k, _ in landed.unmatched) == [
        "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/01/01/notes.txt",
        "firehose/errors/processing-failed/2026/01/01/egress-raw-1-x",
    ]
    assert landed.object_count == 5


def test_unmatched_objects_are_quarantine_rows_that_say_what_to_do() -> None:
    got = unmatched_quarantine(discover(LISTING, manifest))
    reason = (
        "the key matches none of AWS's delivery layouts under {} ({} bytes, not ingested; the "
        "object is left in the landing zone): deliver it under the layout its service writes, "
        "or move it out of the log prefixes"
    )
    expected = pl.DataFrame(
        {
            "source_file": [
                "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/01/01/notes.txt",
                "firehose/errors/processing-failed/2026/01/01/egress-raw-1-x",
            ],
            "line_no": [None, None],
            "reason": [reason.format("AWSLogs/", 3), reason.format("firehose/", 5)],
            "raw": [None, None],
        },
        schema=QUARANTINE_SCHEMA,
    )
    assert_frame_equal(got.sort("source_file"), expected)


def test_a_partition_changes_when_its_objects_do_and_only_then() -> None:
    before = discover(LISTING, manifest).digests()
    assert changed(before, before) == {s: [] for s in before}
    grown = discover([*LISTING[:1], (LISTING[1][0], 51), *LISTING[2:]], manifest).digests()
    assert changed(grown, before)["vpc_flow"] == ["2026-01-01-01:00"]
    assert changed(before, {})["cloudtrail"] == ["2026-01-01-03:00"]  # nothing recorded yet


def test_since_and_until_keep_only_those_days() -> None:
    landed = discover(LISTING, manifest, until=date(2025, 12, 31))
    assert landed.object_count == 0


def test_ranges_split_around_hours_with_no_objects() -> None:
    hours = ["2025-12-31-22:00", "2025-12-31-23:00", "2026-01-01-00:00", "2026-01-01-02:00"]
    assert segments(hours) == [
        ("2025-12-31-22:00", "2026-01-01-00:00"),
        ("2026-01-01-02:00", "2026-01-01-02:00"),
    ]
    assert segments(["2026-01-30", "2026-01-31", "2026-02-02"]) == [
        ("2026-01-30", "2026-01-31"),
        ("2026-02-02", "2026-02-02"),
    ]


def test_a_range_is_cut_where_its_landed_flow_logs_would_pass_the_step_budget() -> None:
    hours = [f"2026-01-01-{h:02d}:00" for h in range(6)]
    weight = dict.fromkeys(hours, 10)
    weight["2026-01-01-03:00"] = 25  # a busy hour
    # 10+10+10 fits 30; 25 would pass it: a new run; 25 then +10 passes 30 again; an hour alone
    # over the budget is still one run of its own.
    assert segments(hours, weight, most=30) == [
        ("2026-01-01-00:00", "2026-01-01-02:00"),
        ("2026-01-01-03:00", "2026-01-01-03:00"),
        ("2026-01-01-04:00", "2026-01-01-05:00"),
    ]
    assert segments(hours, weight, most=20) == [
        ("2026-01-01-00:00", "2026-01-01-01:00"),
        ("2026-01-01-02:00", "2026-01-01-02:00"),
        ("2026-01-01-03:00", "2026-01-01-03:00"),
        ("2026-01-01-04:00", "2026-01-01-05:00"),
    ]
    assert segments(hours, None, most=1) == [("2026-01-01-00:00", "2026-01-01-05:00")]
