"""Tiered pricing (month-boundary resets), per-class billable bytes, and CUR reconciliation."""

from __future__ import annotations

import pathlib
from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.etl.egress_flows import fact_problems
from egress_platform.network.facts import FACTS_SCHEMA
from egress_platform.pricing.estimate import internet_gb_by_month, price_facts
from egress_platform.pricing.price_book import CURRENT, GB
from egress_platform.pricing.reconcile import explained_share, reconcile, transfer_class_of
from egress_platform.sources import cur
from tests.conftest import samples_dir


def fact(
    hour: datetime, cls: str, out_gb: float, in_gb: float = 0.0, **extra: object
) -> dict[str, object]:
    row: dict[str, object] = {c: None for c in FACTS_SCHEMA}
    row.update(
        hour=hour,
        account_id="111122223333",
        region="us-east-1",
        product_code="AmazonEC2",
        source_type="eni",
        source_id="eni-1",
        dest_class=cls,
        bytes_out=int(out_gb * GB),
        bytes_in=int(in_gb * GB),
        packets=0,
        flows=1,
    )
    row.update(extra)
    return row


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FACTS_SCHEMA)


OCT_LAST = datetime(2026, 10, 31, 23, tzinfo=UTC)
NOV_FIRST = datetime(2026, 11, 1, 0, tzinfo=UTC)


def test_internet_tiers_accumulate_and_reset_at_the_month_boundary() -> None:
    facts = frame(
        [
            fact(OCT_LAST, "internet", 10.0),  # 95 GB before: 5 GB free, 5 GB at $0.09
            fact(NOV_FIRST, "internet", 10.0),  # new month: inside the free 100 GB
            fact(NOV_FIRST.replace(hour=1), "internet", 100.0),  # 10 + 100: 10 GB at $0.09
        ]
    )
    priced = price_facts(facts, prior_internet_gb={("111122223333", "2026-10"): 95.0})
    assert_frame_equal(
        priced.select("hour", "usage_type", "estimated_usd", "marginal_usd"),
        pl.DataFrame(
            {
                "hour": [OCT_LAST, NOV_FIRST, NOV_FIRST.replace(hour=1)],
                "usage_type": ["DataTransfer-Out-Bytes"] * 3,
                "estimated_usd": [0.45, 0.0, 0.90],
                # What the bytes cost past the free tier: the detector's view, in which the
                # month's first hours are not cheaper than the same hours a week later.
                "marginal_usd": [0.90, 0.90, 9.0],
            },
            schema={
                "hour": pl.Datetime("us", "UTC"),
                "usage_type": pl.String,
                "estimated_usd": pl.Float64,
                "marginal_usd": pl.Float64,
            },
        ),
        abs_tol=1e-9,
    )
    assert internet_gb_by_month(priced) == {
        ("111122223333", "2026-10"): pytest.approx(10.0),
        ("111122223333", "2026-11"): pytest.approx(110.0),
    }


def test_tier_boundary_inside_one_hour_is_split_pro_rata() -> None:
    hour = NOV_FIRST
    facts = frame(
        [fact(hour, "internet", 30.0, source_id="a"), fact(hour, "internet", 10.0, source_id="b")]
    )
    priced = price_facts(facts, prior_internet_gb={("111122223333", "2026-11"): 10_230.0})
    # 40 GB straddle the 10 TB mark: 10 GB at $0.09 + 30 GB at $0.085 = $3.45, split 3:1.
    assert priced.get_column("estimated_usd").to_list() == pytest.approx([3.45 * 0.75, 3.45 * 0.25])
    assert CURRENT.internet_cost(10_230.0, 40.0) == pytest.approx(3.45)


def test_each_class_bills_the_right_bytes_at_the_right_rate() -> None:
    facts = frame(
        [
            fact(NOV_FIRST, "inter_az", 1.0, 0.5),  # both sides pay $0.01 each: ENI view = out + in
            fact(NOV_FIRST, "nat_gateway", 2.0, 1.0),  # processing both ways at $0.045
            fact(NOV_FIRST, "inter_region", 3.0, 9.0, dest_region="us-west-2"),  # out only
            fact(NOV_FIRST, "vpc_endpoint", 4.0, 4.0),  # gateway endpoint: free
            fact(NOV_FIRST, "vpc_endpoint", 1.0, 1.0, dest_az="use1-az1"),  # interface endpoint
            fact(NOV_FIRST, "intra_az", 50.0, 50.0),
            fact(NOV_FIRST, "internet", 5.0, product_code="AmazonCloudFront", region="GLOBAL"),
        ]
    )
    priced = price_facts(facts)
    assert_frame_equal(
        priced.select(
            "dest_class", "transfer_class", "usage_type", "billable_bytes", "estimated_usd"
        ),
        pl.DataFrame(
            {
                "dest_class": [
                    "inter_az",
                    "nat_gateway",
                    "inter_region",
                    "vpc_endpoint",
                    "vpc_endpoint",
                    "intra_az",
                    "internet",
                ],
                "transfer_class": [
                    "inter_az",
                    "nat_gateway",
                    "inter_region",
                    None,
                    "vpc_endpoint",
                    None,
                    "internet",
                ],
                "usage_type": [
                    "DataTransfer-Regional-Bytes",
                    "NatGateway-Bytes",
                    "USE1-USW2-AWS-Out-Bytes",
                    None,
                    "VpcEndpoint-Bytes",
                    None,
                    "US-DataTransfer-Out-Bytes",
                ],
                "billable_bytes": [int(1.5 * GB), 3 * GB, 3 * GB, 0, 2 * GB, 0, 5 * GB],
                "estimated_usd": [0.015, 0.135, 0.06, 0.0, 0.02, 0.0, 0.425],
            }
        ),
        abs_tol=1e-9,
        check_dtypes=False,
    )


def test_facts_check_counts_negative_bytes_unknown_classes_and_dollars_off_the_book() -> None:
    priced = price_facts(
        frame(
            [
                fact(NOV_FIRST, "inter_az", 1.0),
                fact(NOV_FIRST, "nat_gateway", 2.0),
                fact(NOV_FIRST, "internet", 300.0),
            ]
        )
    )
    assert fact_problems(priced) == {
        "negative_bytes": 0,
        "unclassified": 0,
        "outside_price_book": 0,
    }
    broken = priced.with_columns(
        pl.Series("bytes_out", [-1, GB, 300 * GB], dtype=pl.Int64),
        pl.Series("dest_class", ["inter_az", "teleport", None]),
        # $1 for 1 GB is more than any rate in the book allows.
        pl.Series("estimated_usd", [1.0, 0.09, 18.0]),
    )
    assert fact_problems(broken) == {
        "negative_bytes": 1,
        "unclassified": 2,
        "outside_price_book": 1,
    }
    assert CURRENT.highest_rate() == pytest.approx(0.138)


def test_region_overrides_change_flat_rates() -> None:
    facts = frame([fact(NOV_FIRST, "nat_gateway", 1.0, region="eu-central-1")])
    priced = price_facts(facts)
    assert priced.get_column("estimated_usd").to_list() == pytest.approx([0.052])
    assert priced.get_column("usage_type").to_list() == ["EUC1-NatGateway-Bytes"]


USAGE_TYPES = {
    ("AmazonEC2", "DataTransfer-Out-Bytes"): "internet",
    ("AmazonEC2", "USW2-DataTransfer-Out-Bytes"): "internet",
    ("AmazonCloudFront", "US-DataTransfer-Out-Bytes"): "internet",
    ("AmazonEC2", "EUW2-DataTransfer-In-Bytes"): "inbound",
    ("AmazonEC2", "DataTransfer-Regional-Bytes"): "inter_az",
    ("AmazonS3", "USE1-USW2-AWS-Out-Bytes"): "inter_region",
    ("AmazonEC2", "USE1-EBS-USW2-EBS-AWS-In-Bytes"): "inter_region_in",
    ("AmazonEC2", "USW1-EBS-USW1-EBS-AWS-Out-Bytes"): "inter_region",
    ("AmazonEC2", "NatGateway-Bytes"): "nat_gateway",
    ("AmazonEC2", "USE2-TransitGateway-Bytes"): "transit_gateway",
    ("AmazonEC2", "VpcEndpoint-Bytes"): "vpc_endpoint",
    ("AmazonS3", "CloudFront-Out-Bytes"): "cloudfront",
    ("AmazonEC2", "NatGateway-Hours"): None,
    ("AmazonGuardDuty", "APS2-FreeEventsAnalyzed-Bytes"): None,
    ("AmazonEC2", "BoxUsage:t3.medium"): None,
}


def test_usage_type_mapping() -> None:
    frame_ = pl.DataFrame(
        [(p, u) for p, u in USAGE_TYPES], schema=["product_code", "usage_type"], orient="row"
    )
    got = frame_.select(transfer_class_of(pl.col("product_code"), pl.col("usage_type")))
    assert got.to_series().to_list() == list(USAGE_TYPES.values())


def test_real_cur_samples_map_their_transfer_lines() -> None:
    """Every Bytes usage type in the public CUR samples maps, except non-transfer ones."""
    root = samples_dir() / "cur"
    found: dict[str, float] = {}
    for path in sorted(p for p in pathlib.Path(root).rglob("*") if p.is_file()):
        records = cur.parse_bytes(path.read_bytes(), str(path)).records
        lines = records.filter(pl.col("usage_type").str.contains("Bytes"))
        classes = lines.with_columns(
            transfer_class_of(pl.col("product_code"), pl.col("usage_type")).alias("c")
        )
        unmapped = classes.filter(pl.col("c").is_null()).get_column("usage_type").unique().to_list()
        transfer_words = ("DataTransfer", "-AWS-", "Gateway-Bytes", "VpcEndpoint", "CloudFront-")
        assert not [u for u in unmapped if any(w in u for w in transfer_words)], unmapped
        for cls, usd in (
            classes.group_by("c").agg(pl.col("unblended_cost").sum()).drop_nulls("c").iter_rows()
        ):
            found[cls] = found.get(cls, 0.0) + usd
    assert {"internet", "inter_az", "inter_region", "inbound"} <= set(found)
    # wa-labs Step1CUR (13.4895) + Oct2018 (0.0133) + the other workshop months.
    assert found["inter_az"] == pytest.approx(13.5078381688, rel=1e-9)


def test_reconciliation_explains_the_bill() -> None:
    cur_rows = pl.DataFrame(
        {
            "line_item_type": ["Usage", "Usage", "Tax"],
            "usage_start": [NOV_FIRST, NOV_FIRST, NOV_FIRST],
            "usage_account_id": ["111122223333"] * 3,
            "payer_account_id": ["111122223333"] * 3,
            "product_code": ["AmazonEC2", "AmazonEC2", "AmazonEC2"],
            "usage_type": [
                "DataTransfer-Regional-Bytes",
                "NatGateway-Bytes",
                "DataTransfer-Out-Bytes",
            ],
            "usage_amount": [1.5, 3.0, 0.0],
            "unblended_cost": [0.015, 0.140, 5.0],
        }
    )
    priced = price_facts(
        frame([fact(NOV_FIRST, "inter_az", 1.0, 0.5), fact(NOV_FIRST, "nat_gateway", 2.0, 1.0)])
    )
    report = reconcile(cur_rows, priced)
    assert report.select("transfer_class", "cur_usd", "estimated_usd").rows() == [
        ("inter_az", 0.015, pytest.approx(0.015)),
        ("nat_gateway", 0.140, pytest.approx(0.135)),
    ]
    share = explained_share(report, ["day"])
    assert share.get_column("day").to_list() == [date(2026, 11, 1)]
    assert share.get_column("explained_share").to_list() == [pytest.approx(0.150 / 0.155)]


def test_reconciliation_says_per_usage_type_what_is_explained_assumed_and_unexplained() -> None:
    """Issue 15: unknown destinations are counted as attributed on an assumption, and what
    nothing explains is listed by usage type."""
    from egress_platform.pricing.reconcile import reconciliation_summary

    cur_rows = pl.DataFrame(
        {
            "line_item_type": ["Usage", "Usage"],
            "usage_start": [NOV_FIRST, NOV_FIRST],
            "usage_account_id": ["111122223333"] * 2,
            "payer_account_id": ["111122223333"] * 2,
            "product_code": ["AmazonEC2", "AmazonEC2"],
            "usage_type": ["DataTransfer-Regional-Bytes", "NatGateway-Bytes"],
            "usage_amount": [5.0, 3.0],
            "unblended_cost": [0.05, 0.135],
        }
    )
    priced = price_facts(
        frame(
            [
                fact(NOV_FIRST, "inter_az", 1.0, 1.0),
                fact(NOV_FIRST, "unknown", 1.5, 0.5, assumed_class="inter_az"),
            ]
        )
    )
    assert priced.select("transfer_class", "usage_type").unique().rows() == [
        ("inter_az", "DataTransfer-Regional-Bytes")
    ]
    summary = reconciliation_summary(reconcile(cur_rows, priced))
    assert summary["assumed_usd"] == pytest.approx(0.02)
    assert summary["by_usage_type"] == [
        {
            "transfer_class": "nat_gateway",
            "usage_types": "NatGateway-Bytes",
            "cur_usd": 0.14,
            "explained_usd": 0.0,
            "assumed_usd": 0.0,
            "unexplained_usd": 0.14,
        },
        {
            "transfer_class": "inter_az",
            "usage_types": "DataTransfer-Regional-Bytes",
            "cur_usd": 0.05,
            "explained_usd": 0.02,
            "assumed_usd": 0.02,
            "unexplained_usd": 0.01,
        },
    ]
