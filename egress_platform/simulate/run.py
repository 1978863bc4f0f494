"""Generate a whole simulated account into a landing folder, with ``ground_truth.json``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from egress_platform.pricing.price_book import CURRENT, GB
from egress_platform.simulate import writers as w
from egress_platform.simulate.account import (
    AZS,
    INTERNET_CLIENTS,
    REGION,
    SIMULATED_AWS_RANGES,
    Account,
    Change,
    Eni,
    Stream,
    build_account,
    hourly_gb,
    stable_id,
)

SERVICE_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud - Compute",
    "AmazonS3": "Amazon Simple Storage Service",
    "AmazonCloudFront": "Amazon CloudFront",
}
INSTANCE_HOURLY_USD = 0.0416  # t3.medium on-demand, for realistic non-transfer lines


@dataclass
class SimulationSummary:
    out_dir: Path
    account_id: str
    start: date
    days: int
    files: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    bytes_written: dict[str, int] = field(default_factory=dict)
    incidents: int = 0

    def add(self, source: str, size: int, records: int) -> None:
        self.files[source] = self.files.get(source, 0) + 1
        self.records[source] = self.records.get(source, 0) + records
        self.bytes_written[source] = self.bytes_written.get(source, 0) + size


Progress = Callable[[str], None]


def simulate(
    out_dir: Path,
    start: date,
    days: int,
    seed: int,
    enis: int = 10,
    progress: Progress | None = None,
) -> SimulationSummary:
    """Write ``days`` of a synthetic account starting ``start`` into ``out_dir`` (the landing zone)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    say = progress or (lambda _msg: None)
    hours_total = days * 24
    account = build_account(seed, hours_total, enis)
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hours = np.arange(hours_total)
    rng = np.random.default_rng(seed + 1)
    volumes = {s.name: hourly_gb(s, hours, t0.weekday(), rng) for s in account.streams}
    summary = SimulationSummary(
        out_dir, account.account_id, start, days, incidents=len(account.incidents)
    )
    out_dir.mkdir(parents=True, exist_ok=True)

    line_costs = _write_cur(account, volumes, t0, hours_total, out_dir, summary)
    say(f"CUR written ({summary.records.get('cur', 0):,} line items)")
    for day in range(days):
        day_start = t0 + timedelta(days=day)
        for hour in range(day * 24, day * 24 + 24):
            hour_start = t0 + timedelta(hours=hour)
            _write_flow_hour(account, volumes, hour, hour_start, rng, out_dir, summary)
            _write_s3_hour(account, volumes, hour, hour_start, rng, out_dir, summary)
            _write_cloudfront_hour(account, volumes, hour, hour_start, rng, out_dir, summary)
            _write_cloudtrail_hour(account, hour, hour_start, out_dir, summary)
        _write_config_day(account, day, day_start, t0, out_dir, summary)
        _write_cost_explorer_day(account, line_costs, day_start, out_dir, summary)
        say(f"day {day + 1}/{days} ({day_start:%Y-%m-%d}) written")
    truth = ground_truth(account, volumes, line_costs, t0)
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    (out_dir / "ip-ranges.json").write_text(json.dumps(ip_ranges_document(t0), indent=1) + "\n")
    return summary


def ip_ranges_document(t0: datetime) -> dict[str, Any]:
    """The simulated account's AWS destinations in AWS's ip-ranges.json format (each block also
    under AMAZON, as AWS lists it)."""
    prefixes = []
    for block, region, service in SIMULATED_AWS_RANGES:
        prefix = f"{block}0/24"
        for listed in (service, "AMAZON"):
            prefixes.append(
                {
                    "ip_prefix": prefix,
                    "region": region,
                    "service": listed,
                    "network_border_group": region,
                }
            )
    return {
        "syncToken": str(int(t0.timestamp())),
        "createDate": t0.strftime("%Y-%m-%d-%H-%M-%S"),
        "prefixes": prefixes,
        "ipv6_prefixes": [],
    }


def _hour_ts(t0: datetime, hour: int) -> str:
    return (t0 + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:00:00Z")


def _write_flow_hour(
    account: Account,
    volumes: dict[str, np.ndarray],
    hour: int,
    hour_start: datetime,
    rng: np.random.Generator,
    out_dir: Path,
    summary: SimulationSummary,
) -> None:
    lines: list[str] = []
    base_epoch = int(hour_start.timestamp())
    for stream in account.streams:
        gb = float(volumes[stream.name][hour])
        if stream.kind != "flow" or gb <= 0 or stream.eni is None:
            continue
        total_bytes = gb * GB
        for window in range(6):
            start = base_epoch + window * 600
            conns = 2
            for _ in range(conns):
                out_bytes = int(total_bytes / 6 / conns)
                dst = _destination(stream, rng)
                sport = int(rng.integers(32768, 60999))
                lines.extend(_flow_pair(account, stream, stream.eni, dst, sport, out_bytes, start))
    if not lines:
        return
    key = w.flow_log_key(account, hour_start)
    size = w.write_bytes(out_dir / key, w.flow_log_file(lines))
    summary.add("vpc_flow", size, len(lines))


def _destination(stream: Stream, rng: np.random.Generator) -> str:
    if stream.peer_eni is not None:
        return stream.peer_eni.private_ip
    prefix = stream.dst_prefixes[int(rng.integers(0, len(stream.dst_prefixes)))]
    return (
        prefix
        if prefix.count(".") == 3 and not prefix.endswith(".")
        else prefix + str(int(rng.integers(1, 254)))
    )


def _flow_record(
    account: Account,
    eni: Eni,
    *,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    nbytes: int,
    start: int,
    direction: str,
    path: int | None,
    pkt_src: str,
    pkt_dst: str,
    src_service: str,
    dst_service: str,
) -> str:
    packets = max(1, nbytes // 1400)
    fields = [
        "5",
        account.account_id,
        eni.eni_id,
        src,
        dst,
        str(sport),
        str(dport),
        "6",
        str(packets),
        str(nbytes),
        str(start),
        str(start + 598),
        "ACCEPT",
        "OK",
        account.vpc_id,
        eni.subnet_id,
        eni.instance_id or "-",
        eni.az_id,
        "IPv4",
        pkt_src,
        pkt_dst,
        src_service,
        dst_service,
        direction,
        str(path) if path is not None and direction == "egress" else "-",
        REGION,
    ]
    return " ".join(fields)


def _connection(
    account: Account,
    logged_at: Eni,
    request: tuple[str, str],
    packet: tuple[str, str],
    ports: tuple[int, int],
    sizes: tuple[int, int],
    start: int,
    request_direction: str,
    path: int | None,
    services: tuple[str, str],
) -> list[str]:
    """One connection as an ENI logs it: the request (``request`` addresses, ``ports`` and the
    first of ``sizes``) and the response, reversed; ``path`` is logged on the egress side."""
    response_direction = "ingress" if request_direction == "egress" else "egress"
    (src, dst), (pkt_src, pkt_dst), (sport, dport), (here, there) = request, packet, ports, services
    sides = [
        (request_direction, src, dst, sport, dport, sizes[0], pkt_src, pkt_dst, here, there),
        (response_direction, dst, src, dport, sport, sizes[1], pkt_dst, pkt_src, there, here),
    ]
    return [
        _flow_record(
            account,
            logged_at,
            src=a,
            dst=b,
            sport=pa,
            dport=pb,
            nbytes=n,
            start=start,
            direction=way,
            path=path,
            pkt_src=ka,
            pkt_dst=kb,
            src_service=sa,
            dst_service=sb,
        )
        for way, a, b, pa, pb, n, ka, kb, sa, sb in sides
    ]


def _flow_pair(
    account: Account,
    stream: Stream,
    eni: Eni,
    dst: str,
    sport: int,
    out_bytes: int,
    start: int,
) -> list[str]:
    """The egress record on the sending ENI, the return record, and the NAT's view when routed via NAT."""
    back = max(64, int(out_bytes * stream.return_ratio))
    ports, sizes = (sport, stream.dst_port), (out_bytes, back)
    to_service = ("-", stream.dst_service or "-")
    records = _connection(account, eni, (eni.private_ip, dst), (eni.private_ip, dst), ports,
                          sizes, start, "egress", stream.traffic_path, to_service)  # fmt: skip
    nat = stream.via_nat
    if nat is not None:  # the NAT gateway's ENI sends it on from its own address
        records += _connection(account, nat, (nat.private_ip, dst), (eni.private_ip, dst), ports,
                               sizes, start, "egress", 8, to_service)  # fmt: skip
    if stream.peer_eni is not None and stream.peer_eni.flow_logs:
        # The peer ENI logs the same connection from its side: request in, response out.
        peer = stream.peer_eni
        addresses = (eni.private_ip, peer.private_ip)
        records += _connection(account, peer, addresses, addresses, ports, sizes, start,
                               "ingress", 1, ("-", "-"))  # fmt: skip
    return records


def _write_s3_hour(
    account: Account,
    volumes: dict[str, np.ndarray],
    hour: int,
    hour_start: datetime,
    rng: np.random.Generator,
    out_dir: Path,
    summary: SimulationSummary,
) -> None:
    per_bucket: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for stream in account.streams:
        gb = float(volumes[stream.name][hour])
        if stream.kind not in ("s3_get", "replication") or gb <= 0 or stream.bucket is None:
            continue
        requests = int(min(120, max(3, gb * 3)))
        size = int(gb * GB / requests)
        for i in range(requests):
            when = hour_start + timedelta(seconds=int(rng.integers(0, 3600)))
            request_id = stable_id(account.seed, stream.name, hour, i, length=16).upper()
            if stream.kind == "replication":
                ip, requester, agent = "10.0.0.1", account.replication_requester, "aws-internal/3"
            elif stream.dest_class == "internet":
                ip, requester, agent = _destination(stream, rng), "-", "curl/8.5.0"
            else:
                ip, requester, agent = (
                    "10.0.10.11",
                    f"arn:aws:iam::{account.account_id}:role/app",
                    "Boto3/1.35.0",
                )
            key = f"exports/part-{int(rng.integers(0, 400)):05d}.parquet"
            per_bucket[stream.bucket].append(
                (
                    when.isoformat(),
                    w.s3_access_line(
                        account, stream.bucket, when, ip, requester, key, size, agent, request_id
                    ),
                )
            )
    for bucket, entries in per_bucket.items():
        lines = [line for _, line in sorted(entries)]
        size = w.write_bytes(
            out_dir / w.s3_access_key(bucket, hour_start, account.seed),
            ("\n".join(lines) + "\n").encode(),
        )
        summary.add("s3_access", size, len(lines))


def _write_cloudfront_hour(
    account: Account,
    volumes: dict[str, np.ndarray],
    hour: int,
    hour_start: datetime,
    rng: np.random.Generator,
    out_dir: Path,
    summary: SimulationSummary,
) -> None:
    lines: list[tuple[str, str]] = []
    for stream in account.streams:
        gb = float(volumes[stream.name][hour])
        if stream.kind != "cloudfront_viewer" or gb <= 0:
            continue
        storm = stream.active is not None
        requests = 150 if storm else 60
        size = int(gb * GB / requests)
        for i in range(requests):
            when = hour_start + timedelta(seconds=int(rng.integers(0, 3600)))
            miss = rng.random() < (0.95 if storm else 0.1)
            query = f"v={stable_id(account.seed, hour, i, length=8)}" if storm else "-"
            client = f"{INTERNET_CLIENTS[i % len(INTERNET_CLIENTS)]}{int(rng.integers(1, 254))}"
            lines.append(
                (
                    when.isoformat(),
                    w.cloudfront_line(
                        account.distribution_id,
                        when,
                        size,
                        client,
                        "Miss" if miss else "Hit",
                        f"/assets/{i % 40}.bin",
                        query,
                        stable_id(account.seed, "cfreq", hour, i, stream.name, length=40),
                    ),
                )
            )
    if not lines:
        return
    text = w.CLOUDFRONT_HEADER + "\n".join(line for _, line in sorted(lines)) + "\n"
    size = w.write_bytes(
        out_dir / w.cloudfront_key(account.distribution_id, hour_start, account.seed), w.gz(text)
    )
    summary.add("cloudfront", size, len(lines))


def _changes(account: Account) -> list[Change]:
    found = [i.cause for i in account.incidents] + [
        b.change for b in account.benign if b.change is not None
    ]
    return sorted(found, key=lambda c: (c.hour, c.minute))


def _write_cloudtrail_hour(
    account: Account, hour: int, hour_start: datetime, out_dir: Path, summary: SimulationSummary
) -> None:
    events = [
        w.background_event(account, hour_start + timedelta(minutes=7 * i), hour * 10 + i)
        for i in range(6)
    ]
    for change in _changes(account):
        if change.hour == hour:
            events.append(
                w.cloudtrail_event(account, change, hour_start + timedelta(minutes=change.minute))
            )
    events.sort(key=lambda e: e["eventTime"])
    size = w.write_bytes(
        out_dir / w.cloudtrail_key(account, hour_start), w.gz(json.dumps({"Records": events}))
    )
    summary.add("cloudtrail", size, len(events))


def _write_config_day(
    account: Account,
    day: int,
    day_start: datetime,
    t0: datetime,
    out_dir: Path,
    summary: SimulationSummary,
) -> None:
    changes_so_far = {
        c.resource_id: c
        for c in _changes(account)
        if c.hour < (day + 1) * 24 and c.resource_type != "AWS::EC2::Instance"
    }
    snapshot = w.inventory(account, day_start + timedelta(hours=23, minutes=55), changes_so_far)
    size = w.write_bytes(
        out_dir / w.config_snapshot_key(account, day_start),
        w.config_file(snapshot, w.stable_uuid(account.seed, "snapid", day)),
    )
    summary.add("config", size, len(snapshot))
    for change in _changes(account):
        if day * 24 <= change.hour < (day + 1) * 24:
            when = t0 + timedelta(hours=change.hour, minutes=change.minute + 4)
            item = w.config_item(
                account,
                change.resource_type,
                change.resource_id,
                change.configuration,
                when,
                supplementary=change.supplementary,
                tags=change.tags,
                relationships=[{"name": "Is associated with", "resourceId": change.event_id}],
            )
            item["relatedEvents"] = [change.event_id]
            size = w.write_bytes(
                out_dir / w.config_history_key(account, when, change.resource_type),
                w.config_file([item]),
            )
            summary.add("config", size, 1)


def _stream_hour_gb(stream: Stream, gb: float, direction: str) -> float:
    return gb * (1 + stream.return_ratio) if direction == "both" else gb


def _write_cur(
    account: Account,
    volumes: dict[str, np.ndarray],
    t0: datetime,
    hours_total: int,
    out_dir: Path,
    summary: SimulationSummary,
) -> dict[tuple[int, str, str, str, str], tuple[float, float, dict[str, float]]]:
    """Price every billing line hour by hour (internet tiers accumulate per month) and write CUR files.

    Returns ``(hour, product, usage type, operation, resource) -> (GB, USD, USD by stream)``.
    """
    lines: dict[tuple[int, str, str, str, str], dict[str, float]] = defaultdict(dict)
    meta: dict[tuple[str, str, str, str], Any] = {}
    for stream in account.streams:
        for line in stream.billing:
            gb_series = volumes[stream.name]
            for hour in (int(h) for h in np.nonzero(gb_series > 0)[0]):
                key = (
                    int(hour),
                    line.product_code,
                    line.usage_type,
                    line.operation,
                    line.resource_id,
                )
                gb = _stream_hour_gb(stream, float(gb_series[hour]), line.direction)
                lines[key][stream.name] = lines[key].get(stream.name, 0.0) + gb
                meta[key[1:]] = line
    priced: dict[tuple[int, str, str, str, str], tuple[float, float, dict[str, float]]] = {}
    month_to_date: dict[str, float] = defaultdict(float)
    for key in sorted(lines):
        hour = key[0]
        month = (t0 + timedelta(hours=hour)).strftime("%Y-%m")
        by_stream = lines[key]
        gb = sum(by_stream.values())
        line = meta[key[1:]]
        if line.price_key == "internet":
            cost = CURRENT.internet_cost(month_to_date[month], gb)
            month_to_date[month] += gb
        else:
            cost = gb * CURRENT.usd_per_gb[line.price_key]
        priced[key] = (gb, cost, {name: cost * v / gb for name, v in by_stream.items()})
    # Non-transfer lines: instance hours and NAT gateway hours.
    rows_by_month: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (hour, product, usage_type, operation, resource), (gb, cost, _) in sorted(priced.items()):
        line = meta[(product, usage_type, operation, resource)]
        rows_by_month[(t0 + timedelta(hours=hour)).strftime("%Y-%m")].append(
            _cur_row(
                account,
                t0,
                hour,
                product,
                usage_type,
                operation,
                resource,
                gb,
                cost,
                line.availability_zone,
                "GB",
            )
        )
    for hour in range(hours_total):
        month = (t0 + timedelta(hours=hour)).strftime("%Y-%m")
        rows_by_month[month].append(
            _cur_row(
                account,
                t0,
                hour,
                "AmazonEC2",
                "NatGateway-Hours",
                "NatGateway",
                account.nat_gateway_id,
                1.0,
                CURRENT.nat_gateway_usd_per_hour,
                "us-east-1a",
                "Hrs",
            )
        )
        for eni in account.enis:
            if eni.instance_id:
                rows_by_month[month].append(
                    _cur_row(
                        account,
                        t0,
                        hour,
                        "AmazonEC2",
                        "BoxUsage:t3.medium",
                        "RunInstances",
                        eni.instance_id,
                        1.0,
                        INSTANCE_HOURLY_USD,
                        AZS[eni.az_id],
                        "Hrs",
                    )
                )
    for month, rows in sorted(rows_by_month.items()):
        period_start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
        period_end = (period_start + timedelta(days=32)).replace(day=1)
        manifest_key, assembly, report_key = w.cur_paths(account, period_start, period_end)
        for row in rows:
            row["bill/BillingPeriodStartDate"] = period_start.strftime("%Y-%m-%dT%H:%M:%SZ")
            row["bill/BillingPeriodEndDate"] = period_end.strftime("%Y-%m-%dT%H:%M:%SZ")
        size = w.write_bytes(out_dir / report_key, w.cur_csv(rows))
        summary.add("cur", size, len(rows))
        w.write_bytes(
            out_dir / manifest_key,
            w.cur_manifest(account, assembly, report_key, period_start, period_end),
        )
    return priced


def _cur_row(
    account: Account,
    t0: datetime,
    hour: int,
    product: str,
    usage_type: str,
    operation: str,
    resource: str,
    amount: float,
    cost: float,
    az: str,
    unit: str,
) -> dict[str, Any]:
    start = t0 + timedelta(hours=hour)
    end = start + timedelta(hours=1)
    rate = cost / amount if amount else 0.0
    transfer = (
        "DataTransfer" in usage_type
        or "Out-Bytes" in usage_type
        or "NatGateway-Bytes" in usage_type
    )
    to_location = {
        "USE1-USW2-AWS-Out-Bytes": "US West (Oregon)",
        "DataTransfer-Out-Bytes": "External",
        "US-DataTransfer-Out-Bytes": "External",
    }.get(usage_type, "US East (N. Virginia)")
    return {
        "identity/LineItemId": stable_id(
            account.seed, "li", hour, product, usage_type, operation, resource, length=52
        ),
        "identity/TimeInterval": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
        "bill/InvoiceId": "",
        "bill/BillingEntity": "AWS",
        "bill/BillType": "Anniversary",
        "bill/PayerAccountId": account.account_id,
        "lineItem/UsageAccountId": account.account_id,
        "lineItem/LineItemType": "Usage",
        "lineItem/UsageStartDate": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "lineItem/UsageEndDate": f"{end:%Y-%m-%dT%H:%M:%SZ}",
        "lineItem/ProductCode": product,
        "lineItem/UsageType": usage_type,
        "lineItem/Operation": operation,
        "lineItem/AvailabilityZone": az,
        "lineItem/ResourceId": resource,
        "lineItem/UsageAmount": f"{amount:.10f}",
        "lineItem/CurrencyCode": "USD",
        "lineItem/UnblendedRate": f"{rate:.10f}",
        "lineItem/UnblendedCost": f"{cost:.10f}",
        "lineItem/BlendedRate": f"{rate:.10f}",
        "lineItem/BlendedCost": f"{cost:.10f}",
        "lineItem/LineItemDescription": f"${rate:.4f} per {unit} - {usage_type}",
        "product/ProductName": SERVICE_NAMES.get(product, product),
        "product/fromLocation": "US East (N. Virginia)" if transfer else "",
        "product/toLocation": to_location if transfer else "",
        "product/productFamily": "Data Transfer"
        if transfer
        else ("NAT Gateway" if "Nat" in usage_type else "Compute Instance"),
        "product/region": REGION,
        "product/servicecode": "AWSDataTransfer"
        if transfer and "Nat" not in usage_type
        else product,
        "product/transferType": {
            "DataTransfer-Regional-Bytes": "IntraRegion",
            "USE1-USW2-AWS-Out-Bytes": "InterRegion Outbound",
        }.get(usage_type, "AWS Outbound" if transfer else ""),
        "product/usagetype": usage_type,
        "pricing/unit": unit,
        "pricing/publicOnDemandRate": f"{rate:.10f}",
        "pricing/term": "OnDemand",
    }


def _write_cost_explorer_day(
    account: Account,
    priced: dict[tuple[int, str, str, str, str], tuple[float, float, dict[str, float]]],
    day_start: datetime,
    out_dir: Path,
    summary: SimulationSummary,
) -> None:
    totals: dict[tuple[str, str], tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    day_key = day_start.strftime("%Y-%m-%d")
    for (hour, product, usage_type, _op, _res), (gb, cost, _) in priced.items():
        if _hour_day(hour, _period_start(summary)) != day_key:
            continue
        service = SERVICE_NAMES.get(product, product)
        prev_cost, prev_qty = totals[(service, usage_type)]
        totals[(service, usage_type)] = (prev_cost + cost, prev_qty + gb)
    data = w.cost_explorer_response(day_start, dict(totals))
    size = w.write_bytes(out_dir / w.cost_explorer_key(account.account_id, day_start), data)
    summary.add("cost_explorer", size, sum(2 for _ in totals))


def _period_start(summary: SimulationSummary) -> datetime:
    return datetime(summary.start.year, summary.start.month, summary.start.day, tzinfo=UTC)


def _hour_day(hour: int, t0: datetime) -> str:
    return (t0 + timedelta(hours=hour)).strftime("%Y-%m-%d")


def ground_truth(
    account: Account,
    volumes: dict[str, np.ndarray],
    priced: dict[tuple[int, str, str, str, str], tuple[float, float, dict[str, float]]],
    t0: datetime,
) -> dict[str, Any]:
    """What was injected: each incident with its cause, size, cost and correct remediation."""
    usd_by_stream_hour: dict[tuple[str, int], float] = defaultdict(float)
    for (hour, *_), (_, _, by_stream) in priced.items():
        for name, usd in by_stream.items():
            usd_by_stream_hour[(name, hour)] += usd
    incidents = []
    for inc in account.incidents:
        window = range(inc.start_hour, inc.end_hour)
        primary = [s for s in inc.streams if s.dest_class == inc.dest_class] or inc.streams
        extra_gb = (
            float(np.mean([sum(volumes[s.name][h] for s in primary) for h in window]))
            if window
            else 0.0
        )
        extra_usd = (
            float(
                np.mean([sum(usd_by_stream_hour[(s.name, h)] for s in inc.streams) for h in window])
            )
            if window
            else 0.0
        )
        incidents.append(
            {
                "id": inc.incident_id,
                "kind": inc.kind,
                "entity": inc.entity,
                "entity_type": inc.entity_type,
                "destination_class": inc.dest_class,
                "start": _hour_ts(t0, inc.start_hour),
                "end": _hour_ts(t0, inc.end_hour),
                "extra_bytes_per_hour": int(extra_gb * GB),
                "extra_usd_per_hour": round(extra_usd, 6),
                "causing_resource": inc.cause.resource_id,
                "causing_resource_type": inc.cause.resource_type,
                "cloudtrail_event_id": inc.cause.event_id,
                "cloudtrail_event_name": inc.cause.event_name,
                "cause_time": (
                    t0 + timedelta(hours=inc.cause.hour, minutes=inc.cause.minute)
                ).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "remediation": inc.remediation,
            }
        )
    benign = [
        {
            "id": b.change_id,
            "kind": b.kind,
            "entity": b.entity,
            "start": _hour_ts(t0, b.start_hour),
            "end": _hour_ts(t0, b.end_hour),
            "cloudtrail_event_id": b.change.event_id if b.change else None,
            "expected_alert": False,
        }
        for b in account.benign
    ]
    return {
        "account_id": account.account_id,
        "seed": account.seed,
        "region": REGION,
        "start": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hours": len(next(iter(volumes.values()))),
        "price_book": CURRENT.version,
        "incidents": sorted(incidents, key=lambda i: i["start"]),
        "benign_changes": benign,
        "resources": {
            "vpc": account.vpc_id,
            "nat_gateway": account.nat_gateway_id,
            "s3_gateway_endpoint": account.s3_endpoint_id,
            "distribution": account.distribution_id,
            "buckets": account.buckets,
            "enis": {
                e.eni_id: {
                    "role": e.role,
                    "instance": e.instance_id,
                    "az_id": e.az_id,
                    "ip": e.private_ip,
                }
                for e in account.all_enis
            },
        },
    }
