"""The simulator writes AWS's own layouts, is deterministic, and its bill matches its flows."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from egress_platform.pricing.price_book import CURRENT, GB
from egress_platform.simulate import simulate
from egress_platform.sources import SOURCES
from egress_platform.sources.landing import LAYOUTS, partition_key


def landed(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def source_of(key: str) -> str | None:
    return next((s for s in LAYOUTS if partition_key(s, key, "daily")), None)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    simulate(tmp_path / "a", date(2026, 11, 1), 1, seed=3)
    simulate(tmp_path / "b", date(2026, 11, 1), 1, seed=3)
    simulate(tmp_path / "c", date(2026, 11, 1), 1, seed=4)
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in landed(tmp_path / "a").items()}
    assert digest == {k: hashlib.sha256(v).hexdigest() for k, v in landed(tmp_path / "b").items()}
    assert landed(tmp_path / "a") != landed(tmp_path / "c")


def test_the_simulator_writes_ip_ranges_for_the_aws_addresses_it_uses(small_account: Path) -> None:
    from egress_platform.network.ip_ranges import load_ip_ranges

    ranges = load_ip_ranges(small_account / "ip-ranges.json")
    s3, peer = ranges.lookup("52.216.10.7"), ranges.lookup("44.230.1.9")
    assert (s3.service, s3.region) == ("S3", "us-east-1")
    assert (peer.service, peer.region) == ("EC2", "us-west-2")
    assert ranges.lookup("81.2.69.7") is None  # internet clients are not AWS's


def test_keys_follow_aws_layouts_and_every_object_parses_cleanly(small_account: Path) -> None:
    files = landed(small_account)
    flow_keys = [k for k in files if "/vpcflowlogs/" in k]
    assert flow_keys and all(k.startswith("AWSLogs/") and k.endswith(".log.gz") for k in flow_keys)
    assert any(k.endswith("hourly-Manifest.json") for k in files)
    per_source: dict[str, int] = {}
    for key, data in files.items():
        source = source_of(key)
        if source is None:
            # CUR report files hang off manifests; the simulator's AWS ranges sit beside it all.
            assert key in ("ground_truth.json", "ip-ranges.json") or key.endswith(".csv.gz"), key
            continue
        if source == "cur":
            continue
        result = SOURCES[source].parse(data, key)
        assert result.quarantined == 0, (key, result.quarantine.head(3))
        per_source[source] = per_source.get(source, 0) + result.records.height
    assert set(per_source) == {
        "vpc_flow",
        "cloudtrail",
        "config",
        "s3_access",
        "cloudfront",
        "cost_explorer",
    }


def flows_and_cur(root: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    files = landed(root)
    flows = pl.concat(
        [SOURCES["vpc_flow"].parse(v, k).records for k, v in files.items() if "/vpcflowlogs/" in k]
    )
    cur = pl.concat(
        [SOURCES["cur"].parse(v, k).records for k, v in files.items() if k.endswith(".csv.gz")]
    )
    return flows, cur, json.loads(files["ground_truth.json"])


def test_cur_matches_flows_at_list_prices(small_account: Path) -> None:
    flows, cur, truth = flows_and_cur(small_account)
    enis = truth["resources"]["enis"]
    nat_eni = next(e for e, v in enis.items() if v["role"] == "nat")
    nat_flow_gb = flows.filter(pl.col("interface_id") == nat_eni)["bytes"].sum() / GB
    nat_cur_gb = float(cur.filter(pl.col("usage_type") == "NatGateway-Bytes")["usage_amount"].sum())
    assert nat_cur_gb == pytest.approx(nat_flow_gb, rel=0.005)
    assert cur.filter(pl.col("usage_type") == "NatGateway-Bytes")[
        "unblended_cost"
    ].sum() == pytest.approx(nat_cur_gb * 0.045)

    web_a = next(e for e, v in enis.items() if v["role"] == "web-a")
    web_instance = enis[web_a]["instance"]
    internet_gb = (
        flows.filter(
            (pl.col("interface_id") == web_a)
            & (pl.col("flow_direction") == "egress")
            & ~pl.col("dstaddr").str.starts_with("130.176.")
        )["bytes"].sum()
        / GB
    )
    billed = cur.filter(
        (pl.col("resource_id") == web_instance) & (pl.col("usage_type") == "DataTransfer-Out-Bytes")
    )
    assert billed["usage_amount"].sum() == pytest.approx(internet_gb, rel=0.005)

    # Internet egress is tiered over the month: re-price the bill's lines in order and compare.
    internet = cur.filter(pl.col("usage_type") == "DataTransfer-Out-Bytes").sort(
        "usage_start", "product_code", "usage_type", "operation", "resource_id"
    )
    month_to_date, expected = 0.0, 0.0
    for gb in internet["usage_amount"]:
        expected += CURRENT.internet_cost(month_to_date, gb)
        month_to_date += gb
    assert internet["unblended_cost"].sum() == pytest.approx(expected, rel=1e-9)
    assert month_to_date > 100  # past the free tier, so the tiers matter


def test_price_book_tiers_and_free_allowance() -> None:
    assert CURRENT.internet_cost(0, 100) == 0.0
    assert CURRENT.internet_cost(50, 100) == pytest.approx(50 * 0.09)
    assert CURRENT.internet_cost(10_200, 100) == pytest.approx(40 * 0.09 + 60 * 0.085)


def test_ground_truth_lists_each_incident_with_its_cause(tmp_path: Path) -> None:
    simulate(tmp_path, date(2026, 11, 1), 10, seed=5)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    kinds = {i["kind"] for i in truth["incidents"]}
    assert kinds == {
        "public_bucket",
        "sg_exfiltration",
        "nat_s3",
        "replication",
        "cross_az",
        "cloudfront_cache_miss",
    }
    trail = pl.concat(
        [
            SOURCES["cloudtrail"].parse(p.read_bytes(), str(p)).records
            for p in tmp_path.rglob("*_CloudTrail_*.json.gz")
        ]
    )
    config = pl.concat(
        [
            SOURCES["config"].parse(p.read_bytes(), str(p)).records
            for p in tmp_path.rglob("*_ConfigHistory_*")
        ]
    )
    for incident in truth["incidents"]:
        event = trail.filter(pl.col("event_id") == incident["cloudtrail_event_id"])
        assert event.height == 1 and event["event_name"][0] == incident["cloudtrail_event_name"]
        assert incident["causing_resource"] in config["resource_id"].to_list()
        assert incident["cause_time"] <= incident["start"] < incident["end"]
        assert incident["extra_bytes_per_hour"] > 0 and incident["extra_usd_per_hour"] > 0
    assert {b["kind"] for b in truth["benign_changes"]} >= {
        "deploy",
        "nightly_backup",
        "planned_migration",
    }


def test_every_registered_incident_kind_is_placed_once_with_a_catalogued_fix() -> None:
    from egress_platform.remediate.catalog import actions
    from egress_platform.simulate.account import INCIDENTS, IncidentBuilder, build_account, incident

    account = build_account(seed=3, total_hours=10 * 24)
    assert sorted(i.kind for i in account.incidents) == sorted(INCIDENTS)
    for placed in account.incidents:
        assert placed.streams and placed.cause.event_name, placed.kind
        assert placed.start_hour < placed.end_hour <= 10 * 24, placed.kind
        assert placed.remediation in actions, placed.kind

    class Again(IncidentBuilder):
        kind = "nat_s3"

    with pytest.raises(ValueError, match="registered twice"):
        incident(Again)


@pytest.mark.parametrize("enis", [10, 400, 2000])
def test_every_eni_has_a_distinct_address_inside_its_subnet(enis: int) -> None:
    import ipaddress

    from egress_platform.simulate.account import build_account

    account = build_account(5, 24, enis)
    addresses = [ipaddress.ip_address(e.private_ip) for e in account.enis]
    assert len(set(addresses)) == len(addresses) == len(account.enis) >= enis
    for eni, address in zip(account.enis, addresses, strict=True):
        cidr, _, _ = account.subnets[eni.subnet_id]
        assert address in ipaddress.ip_network(cidr), (eni.role, address, cidr)
