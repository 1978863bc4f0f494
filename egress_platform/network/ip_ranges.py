"""AWS's published ``ip-ranges.json``: which AWS region and service a public address belongs to.

The file is read from a path or fetched from a URL (AWS publishes it at ``AWS_IP_RANGES_URL``)
and cached on disk by URL, so a run without network reuses the last copy. It is never shipped
with the product. Prefixes nest (a block is listed under ``AMAZON`` and again under its service):
the longest matching prefix wins, and among equal prefixes the most specific service
(``CLOUDFRONT_ORIGIN_FACING`` before ``CLOUDFRONT``, ``S3`` before ``EC2``, ``AMAZON`` last).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

AWS_IP_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"

# Lower number wins when the same prefix is listed for several services.
_SERVICE_PRIORITY = {
    "CLOUDFRONT_ORIGIN_FACING": 0,
    "CLOUDFRONT": 1,
    "S3": 2,
    "DYNAMODB": 3,
    "EC2": 8,
    "AMAZON": 9,
}


@dataclass(frozen=True)
class AwsAddress:
    region: str
    service: str
    prefix: str


class IpRangesError(ValueError):
    """The ip-ranges source could not be read or is not AWS's format."""


@dataclass(frozen=True)
class IpRanges:
    """Per IP version and prefix length, the network address -> most specific AWS entry."""

    sync_token: str
    create_date: str
    _by_length: dict[int, dict[int, dict[int, AwsAddress]]]  # version -> prefixlen -> network

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> IpRanges:
        if "prefixes" not in doc:
            raise IpRangesError("not an AWS ip-ranges.json document (no 'prefixes' key)")
        by_length: dict[int, dict[int, dict[int, AwsAddress]]] = {4: {}, 6: {}}
        items = [(i["ip_prefix"], i) for i in doc.get("prefixes", [])] + [
            (i["ipv6_prefix"], i) for i in doc.get("ipv6_prefixes", [])
        ]
        for prefix, item in items:
            net = ipaddress.ip_network(prefix)
            service = item.get("service", "AMAZON")
            table = by_length[net.version].setdefault(net.prefixlen, {})
            key = int(net.network_address)
            current = table.get(key)
            if current is None or _priority(service) < _priority(current.service):
                table[key] = AwsAddress(item.get("region", ""), service, str(net))
        return cls(str(doc.get("syncToken", "")), str(doc.get("createDate", "")), by_length)

    def lookup(self, address: str) -> AwsAddress | None:
        """The AWS region/service/prefix of ``address``, or None when it is not AWS's."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        return self.lookup_value(ip.version, int(ip))

    def lookup_value(self, version: int, value: int) -> AwsAddress | None:
        """``lookup`` of an address already parsed (its version and integer value)."""
        tables = self._by_length[version]
        for length, mask in self._masks[version]:
            found = tables[length].get(value & mask)
            if found is not None:
                return found
        return None

    @cached_property
    def _masks(self) -> dict[int, list[tuple[int, int]]]:
        """Per IP version, (prefix length, network mask), most specific first."""
        return {
            version: [
                (length, ((1 << length) - 1) << (bits - length))
                for length in sorted(self._by_length[version], reverse=True)
            ]
            for version, bits in ((4, 32), (6, 128))
        }

    def ipv4_tables(self) -> list[tuple[int, np.ndarray, list[AwsAddress]]]:
        """Per IPv4 prefix length, most specific first: the sorted network addresses and
        their entries (what ``lookup`` walks, as arrays for a column of addresses)."""
        tables = []
        for length in sorted(self._by_length[4], reverse=True):
            items = sorted(self._by_length[4][length].items())
            keys = np.array([k for k, _ in items], dtype=np.int64)
            tables.append((length, keys, [e for _, e in items]))
        return tables


def _priority(service: str) -> int:
    return _SERVICE_PRIORITY.get(service, 5)


def load_ip_ranges(source: str | Path, cache_dir: Path | None = None) -> IpRanges:
    """Load ip-ranges.json from a path or an http(s) URL (cached under ``cache_dir``)."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        raw = _fetch_cached(text, cache_dir or Path.home() / ".cache" / "egress-platform")
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise IpRangesError(
                f"ip-ranges file {path} does not exist; set EGRESS_IP_RANGES to AWS's "
                f"ip-ranges.json path or to {AWS_IP_RANGES_URL}"
            )
        raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise IpRangesError(f"ip-ranges source {text} is not JSON: {exc}") from None
    return IpRanges.from_document(doc)


def _fetch_cached(url: str, cache_dir: Path) -> bytes:
    cached = cache_dir / f"ip-ranges-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            data: bytes = response.read()
    except OSError as exc:
        if cached.is_file():
            return cached.read_bytes()
        raise IpRangesError(f"could not fetch {url} ({exc}) and no cached copy exists") from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return data
