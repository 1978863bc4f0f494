"""The AWS ip-ranges source: a path or URL, loaded once per run and cached on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

from egress_platform.network.ip_ranges import IpRanges, IpRangesError, load_ip_ranges

NO_IP_RANGES_WARNING = (
    "no AWS ip-ranges.json configured (set EGRESS_IP_RANGES to a path or to "
    "https://ip-ranges.amazonaws.com/ip-ranges.json): classification uses VPC metadata only, "
    "so AWS-service and other-region destinations count as internet"
)


class AwsIpRanges(ConfigurableResource):
    """Where AWS's ip-ranges.json comes from; empty means 'not available'."""

    source: str = ""
    cache_dir: str = str(Path.home() / ".cache" / "egress-platform")

    def load(self, log: Any = None) -> IpRanges | None:
        if not self.source:
            if log is not None:
                log.warning(NO_IP_RANGES_WARNING)
            return None
        try:
            return load_ip_ranges(self.source, Path(self.cache_dir))
        except IpRangesError as exc:
            if log is not None:
                log.warning(f"{exc}; {NO_IP_RANGES_WARNING}")
            return None


LANDED_IP_RANGES = "ip-ranges.json"  # beside the landing zone (the simulator writes its own there)


def ip_ranges_for(source: str, landing: Path | None = None) -> AwsIpRanges:
    """The configured ip-ranges source, else the ``ip-ranges.json`` beside the landing zone."""
    if not source and landing is not None and (landing / LANDED_IP_RANGES).is_file():
        source = str(landing / LANDED_IP_RANGES)
    return AwsIpRanges(source=source)
