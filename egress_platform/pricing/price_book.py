"""List prices for data transfer, versioned and region-aware, with internet tiers per month.

Figures are AWS list prices (DESIGN section 6); us-east-1 is the base and other regions
override where their rates differ. The simulator prices its CUR with this book and the Glue
layer prices flows with it, so both sides use the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

GB = 1024**3
"""AWS bills data transfer in GB of 2^30 bytes."""
HOURS_PER_MONTH = 730  # AWS's own month for projecting an hourly rate (8,760 / 12)
# Where a byte can go, as the flows are classified and the price book prices them.
DEST_CLASSES = (
    "internet",
    "inter_region",
    "inter_az",
    "intra_az",
    "nat_gateway",
    "vpc_endpoint",
    "transit_gateway",
    "peering",
    "cloudfront",
    "aws_service_same_region",
    "unknown",  # priced as its assumed class (network.classify.ASSUMED_FOR_UNKNOWN)
)

# CUR usage-type prefixes of the regions (us-east-1 carries none on most transfer lines).
REGION_CODES = {
    "us-east-1": "USE1", "us-east-2": "USE2", "us-west-1": "USW1", "us-west-2": "USW2",
    "ca-central-1": "CAN1", "sa-east-1": "SAE1", "eu-west-1": "EU", "eu-west-2": "EUW2",
    "eu-west-3": "EUW3", "eu-central-1": "EUC1", "eu-north-1": "EUN1", "eu-south-1": "EUS1",
    "ap-northeast-1": "APN1", "ap-northeast-2": "APN2", "ap-northeast-3": "APN3",
    "ap-southeast-1": "APS1", "ap-southeast-2": "APS2", "ap-south-1": "APS3",
    "ap-east-1": "APE1", "me-south-1": "MES1", "af-south-1": "AFS1",
}  # fmt: skip


@dataclass(frozen=True)
class Tier:
    up_to_gb: float  # cumulative monthly GB at which this tier ends (inf for the last)
    usd_per_gb: float


@dataclass(frozen=True)
class PriceBook:
    version: str
    internet_tiers: tuple[Tier, ...]
    usd_per_gb: dict[str, float] = field(default_factory=dict)
    region_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    nat_gateway_usd_per_hour: float = 0.045

    def rate(self, key: str, region: str | None = None) -> float:
        """USD per GB for a flat-priced ``key`` (e.g. ``inter_az``) in ``region``."""
        override = self.region_overrides.get(region or "", {})
        return override.get(key, self.usd_per_gb[key])

    def highest_rate(self) -> float:
        """The most any billable GB can cost in this book (any class, region or tier)."""
        rates = [*self.usd_per_gb.values(), *(t.usd_per_gb for t in self.internet_tiers)]
        rates += [r for override in self.region_overrides.values() for r in override.values()]
        return max(rates)

    def internet_cost(self, month_to_date_gb: float, gb: float) -> float:
        """Cost of ``gb`` more internet egress after ``month_to_date_gb`` this month (tiered)."""
        return self._cumulative(month_to_date_gb + gb) - self._cumulative(month_to_date_gb)

    def _cumulative(self, gb: float) -> float:
        cost, floor = 0.0, 0.0
        for tier in self.internet_tiers:
            cost += max(0.0, min(gb, tier.up_to_gb) - floor) * tier.usd_per_gb
            floor = tier.up_to_gb
        return cost

    def cumulative_internet_cost(self, gb: pl.Expr, *, marginal: bool = False) -> pl.Expr:
        """Expression: cost of the first ``gb`` GB of a month (piecewise linear in the tiers).

        ``marginal``: the free tier priced at the first paid rate. A byte more in the month's
        first free GB still costs the paid rate once the month passes them, so this is what
        a change in traffic costs, and the same hour a week later does not look cheaper."""
        paid = next((t.usd_per_gb for t in self.internet_tiers if t.usd_per_gb > 0), 0.0)
        total = pl.lit(0.0)
        floor = 0.0
        for tier in self.internet_tiers:
            width = tier.up_to_gb - floor
            rate = paid if marginal and tier.usd_per_gb == 0 else tier.usd_per_gb
            total = total + (gb - floor).clip(0.0, width) * rate
            floor = tier.up_to_gb
        return total


PRICE_BOOK_2026_11 = PriceBook(
    version="aws-list-2026-11",
    internet_tiers=(
        Tier(100.0, 0.0),
        Tier(10_240.0, 0.09),
        Tier(51_200.0, 0.085),
        Tier(153_600.0, 0.07),
        Tier(float("inf"), 0.05),
    ),
    usd_per_gb={
        "inter_az": 0.01,  # charged in each direction
        "inter_region": 0.02,
        "nat_gateway": 0.045,  # per GB processed
        "transit_gateway": 0.02,  # per GB sent to the attachment
        "vpc_endpoint_interface": 0.01,
        "vpc_endpoint_gateway": 0.0,
        "cloudfront_us": 0.085,
        "cloudfront_origin_fetch": 0.0,
        "intra_az": 0.0,
        "aws_service_same_region": 0.0,
    },
    region_overrides={
        "ap-northeast-1": {"inter_region": 0.09, "nat_gateway": 0.062},
        "ap-southeast-1": {"inter_region": 0.09, "nat_gateway": 0.059},
        "sa-east-1": {"inter_region": 0.138, "nat_gateway": 0.093},
        "eu-central-1": {"nat_gateway": 0.052},
    },
)
CURRENT = PRICE_BOOK_2026_11
