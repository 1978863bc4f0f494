"""List prices for data transfer, versioned, with internet tiers that accumulate per calendar month.

Figures are AWS list prices for us-east-1 (DESIGN section 6). The simulator prices its CUR with
this book, and the Glue layer prices flows with it, so both sides use the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GB = 1024**3
"""AWS bills data transfer in GB of 2^30 bytes."""


@dataclass(frozen=True)
class Tier:
    up_to_gb: float  # cumulative monthly GB at which this tier ends (inf for the last)
    usd_per_gb: float


@dataclass(frozen=True)
class PriceBook:
    version: str
    internet_tiers: tuple[Tier, ...]
    usd_per_gb: dict[str, float] = field(default_factory=dict)
    nat_gateway_usd_per_hour: float = 0.045

    def internet_cost(self, month_to_date_gb: float, gb: float) -> float:
        """Cost of ``gb`` more internet egress after ``month_to_date_gb`` this month (tiered)."""
        cost = 0.0
        start = month_to_date_gb
        remaining = gb
        floor = 0.0
        for tier in self.internet_tiers:
            if remaining <= 0:
                break
            if start < tier.up_to_gb:
                take = min(remaining, tier.up_to_gb - max(start, floor))
                cost += take * tier.usd_per_gb
                remaining -= take
                start += take
            floor = tier.up_to_gb
        return cost


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
        "vpc_endpoint_interface": 0.01,
        "vpc_endpoint_gateway": 0.0,
        "cloudfront_us": 0.085,
        "cloudfront_origin_fetch": 0.0,
        "intra_az": 0.0,
        "aws_service_same_region": 0.0,
    },
)
CURRENT = PRICE_BOOK_2026_11
