"""Golden frames for the flow-log parser and robustness of every parser against damaged input."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.sources import SOURCES, vpc_flow
from egress_platform.sources.common import MAX_LINE_BYTES, SourceError

V2 = b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n"


def test_v2_record_golden_frame() -> None:
    result = vpc_flow.parse_bytes(V2, "f.log")
    got = result.records.select(
        "version",
        "account_id",
        "interface_id",
        "srcaddr",
        "dstport",
        "bytes",
        "start",
        "action",
        "vpc_id",
    )
    expected = pl.DataFrame(
        {
            "version": [2],
            "account_id": ["123456789010"],
            "interface_id": ["eni-1235b8ca123456789"],
            "srcaddr": ["172.31.16.139"],
            "dstport": [22],
            "bytes": [4249],
            "start": [1418530010],
            "action": ["ACCEPT"],
            "vpc_id": [None],
        },
        schema={
            "version": pl.Int16,
            "account_id": pl.String,
            "interface_id": pl.String,
            "srcaddr": pl.String,
            "dstport": pl.Int32,
            "bytes": pl.Int64,
            "start": pl.Int64,
            "action": pl.String,
            "vpc_id": pl.String,
        },
    )
    assert_frame_equal(got, expected)
    assert result.records.columns == list(vpc_flow.SCHEMA)


def test_header_in_any_order_maps_fields_by_name() -> None:
    text = b"bytes srcaddr version interface-id\n999 2001:db8::1 5 eni-1\n- - 5 eni-2\n"
    result = vpc_flow.parse_bytes(text, "h.log")
    expected = pl.DataFrame(
        {
            "version": [5, 5],
            "interface_id": ["eni-1", "eni-2"],
            "srcaddr": ["2001:db8::1", None],
            "bytes": [999, None],
        },
        schema={
            "version": pl.Int16,
            "interface_id": pl.String,
            "srcaddr": pl.String,
            "bytes": pl.Int64,
        },
    )
    assert_frame_equal(result.records.select(expected.columns), expected)
    assert "header line: v2, 4 fields (bytes srcaddr version interface-id)" in result.variant


def test_bad_values_are_quarantined_with_reason_and_text() -> None:
    text = V2 + V2.replace(b" 4249 ", b" lots ") + V2.replace(b"ACCEPT", b"MAYBE") + b"garbage\n"
    result = vpc_flow.parse_bytes(text, "bad.log")
    assert result.records.height == 1
    assert result.quarantine.get_column("reason").to_list() == [
        "invalid bytes",
        "invalid action (not ACCEPT/REJECT)",
        "1 fields with no header line and no configured log-format; pass the flow log's log-format (egress parse --log-format)",
    ]
    assert result.quarantine.get_column("line_no").to_list() == [2, 3, 4]
    assert "lots" in result.quarantine.get_column("raw")[0]


LINE_SOURCES = ["vpc_flow", "s3_access", "cloudfront"]
ALL_SOURCES = list(SOURCES)


def good_input(source: str) -> bytes:
    if source == "vpc_flow":
        return V2 * 50
    if source == "s3_access":
        line = (
            '79a5 bucket [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a5 3E57 REST.GET.OBJECT key "GET /b/key HTTP/1.1" '
            '200 - 113 113 7 - "-" "S3Console/0.4" - s9lz= SigV4 ECDHE AuthHeader b.s3.amazonaws.com TLSv1.2 - -\n'
        )
        return line.encode() * 50
    if source == "cloudfront":
        fields = [
            "2019-12-04",
            "21:02:31",
            "LAX1",
            "392",
            "192.0.2.100",
            "GET",
            "d.cloudfront.net",
            "/i",
            "200",
            "-",
            "UA",
            "-",
            "-",
            "Hit",
            "id==",
            "d.cloudfront.net",
            "https",
            "23",
            "0.001",
            "-",
            "TLSv1.2",
            "C",
            "Hit",
            "HTTP/2.0",
        ]
        return ("\t".join(fields) + "\n").encode() * 50
    if source == "cloudtrail":
        event = {"eventID": "e1", "eventName": "X", "eventTime": "2026-11-01T00:00:00Z"}
        return json.dumps({"Records": [dict(event, eventID=f"e{i}") for i in range(50)]}).encode()
    if source == "config":
        item = {
            "resourceType": "AWS::S3::Bucket",
            "resourceId": "b",
            "configurationItemCaptureTime": "2026-11-01T00:00:00Z",
        }
        return json.dumps({"fileVersion": "1.0", "configurationItems": [item] * 50}).encode()
    if source == "cost_explorer":
        period = {
            "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
            "Total": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}},
        }
        return json.dumps({"ResultsByTime": [period] * 50}).encode()
    header = (
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UnblendedCost,lineItem/UsageType\n"
    )
    return (header + "a,2026-11-01T00:00:00Z,1.5,DataTransfer-Out-Bytes\n" * 50).encode()


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_good_input_parses_fully(source: str) -> None:
    result = SOURCES[source].parse(good_input(source), "good")
    assert (result.records.height, result.quarantined) == (50, 0)


VARYING_FIELD = {
    "vpc_flow": (b" 4249 ", b" {} "),
    "s3_access": (b" 113 113 ", b" {} {} "),
    "cloudfront": (b"\t392\t", b"\t{}\t"),
}


@pytest.mark.parametrize("source", LINE_SOURCES)
def test_cut_gzip_keeps_complete_lines_and_quarantines_the_partial_one(source: str) -> None:
    line = good_input(source).split(b"\n")[0]
    old, new = VARYING_FIELD[source]
    lines = [line.replace(old, new.replace(b"{}", str(i * 7919).encode())) for i in range(3000)]
    data = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
    cut = data[: len(data) // 2]
    result = SOURCES[source].parse(cut, "cut.gz")
    result.check_accounting()
    assert result.records.height > 0
    assert result.quarantined == 1
    assert "damaged gzip stream" in result.quarantine.get_column("reason")[0]


@pytest.mark.parametrize("source", [s for s in ALL_SOURCES if s != "cur"])
def test_binary_garbage_is_quarantined_not_raised(source: str) -> None:
    garbage = bytes(range(256)) * 40
    result = SOURCES[source].parse(garbage, "garbage.bin")
    result.check_accounting()
    assert result.records.height == 0
    assert result.quarantined >= 1


def test_cur_garbage_is_a_clear_error_that_ingest_quarantines() -> None:
    from egress_platform.sources.ingest import ingest_objects

    with pytest.raises(SourceError, match=r"cut\.csv\.gz: damaged gzip"):
        SOURCES["cur"].parse(gzip.compress(good_input("cur"))[:40], "cut.csv.gz")
    batch = ingest_objects(SOURCES["cur"], [("cut.csv.gz", gzip.compress(good_input("cur"))[:40])])
    assert (batch.records.height, batch.quarantine.height, batch.input_records) == (0, 1, 1)


@pytest.mark.parametrize("source", LINE_SOURCES)
def test_huge_line_and_wrong_encoding_are_quarantined_and_the_rest_parses(source: str) -> None:
    good = good_input(source)
    data = (
        good
        + b"x" * (MAX_LINE_BYTES + 10)
        + b"\n"
        + "caf\u00e9 latin1".encode("latin-1")
        + b"\n"
        + good
    )
    result = SOURCES[source].parse(data, "mixed.log")
    result.check_accounting()
    assert result.records.height == 100
    reasons = result.quarantine.get_column("reason").to_list()
    assert any(r.startswith("line too long") for r in reasons)
    assert "not valid UTF-8" in reasons


@pytest.mark.parametrize("source", ["cloudtrail", "config", "cost_explorer"])
def test_truncated_json_is_one_quarantined_document(source: str) -> None:
    data = good_input(source)
    result = SOURCES[source].parse(data[: len(data) // 2], "half.json")
    assert (result.records.height, result.quarantined) == (0, 1)
    assert result.quarantine.get_column("reason")[0].startswith("invalid JSON")


def test_one_poison_object_is_quarantined_whole_and_the_others_still_parse() -> None:
    from egress_platform.sources import SOURCES
    from egress_platform.sources.ingest import ingest_objects

    good_trail = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "1.08",
                    "eventTime": "2026-11-01T00:00:00Z",
                    "eventSource": "ec2.amazonaws.com",
                    "eventName": "RunInstances",
                    "awsRegion": "us-east-1",
                    "eventID": "e-1",
                    "recipientAccountId": "111122223333",
                }
            ]
        }
    ).encode()
    nested = b'{"Records": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}"
    huge_number = b'{"Records": [{"eventTime": "2026-11-01T00:00:00Z", "n": ' + b"9" * 5000 + b"}]}"
    trail = ingest_objects(
        SOURCES["cloudtrail"], [("a.json", nested), ("b.json", huge_number), ("c.json", good_trail)]
    )
    assert trail.balanced and trail.files == 3
    assert trail.records.height >= 1 and "c.json" in set(trail.records["source_file"])
    twice = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes bytes start end action log-status\n"
    twice += (
        b"2 111122223333 eni-1 10.0.0.1 1.1.1.1 1 2 6 1 10 10 1793491200 1793491260 ACCEPT OK\n"
    )
    good_flow = (
        b"2 111122223333 eni-1 10.0.0.1 1.1.1.1 1 2 6 1 10 1793491200 1793491260 ACCEPT OK\n"
    )
    flows = ingest_objects(SOURCES["vpc_flow"], [("x.log", twice), ("y.log", good_flow)])
    assert flows.balanced and flows.files == 2
    assert "y.log" in set(flows.records["source_file"])


@pytest.mark.parametrize("source", ["s3_access", "cloudfront"])
def test_objects_parsed_in_one_pass_give_what_each_gives_alone(source: str) -> None:
    """Issue 17: the raw layer parses an hour range's access logs together; every object keeps
    its own records, quarantine (reasons, lines) and variant, clean, gzip, cut or garbage."""
    from egress_platform.sources.ingest import ingest_objects, ingest_partitions, parse_each

    spec = SOURCES[source]
    good = good_input(source)
    first = next(line for line in good.split(b"\n") if not line.startswith(b"#"))
    old, new = VARYING_FIELD[source]
    damaged = first.replace(old, new.replace(b"{}", b"1x3"))
    mixed = b"\n".join([first, b"short line", damaged, first]) + b"\n"
    objects = [
        ("a.log", good),
        ("b.log.gz", gzip.compress(good, mtime=0)),
        ("c.log", mixed),
        ("d.log.gz", gzip.compress(mixed, mtime=0)[:-30]),
        ("e.bin", bytes(range(256)) * 40),
        ("f.log", b""),
    ]
    alone = [spec.parse(data, key) for key, data in objects]
    together = parse_each(spec, objects)
    for one, many in zip(alone, together, strict=True):
        assert_frame_equal(many.records, one.records)
        assert_frame_equal(many.quarantine, one.quarantine)
        assert (many.variant, many.input_records) == (one.variant, one.input_records)
    assert [r.quarantined for r in together][:3] == [0, 0, 2]

    batches = ingest_partitions(spec, {"h1": objects[:3], "h2": objects[3:], "h3": []})
    for part, objs in (("h1", objects[:3]), ("h2", objects[3:]), ("h3", [])):
        each = ingest_objects(spec, objs)
        assert_frame_equal(batches[part].records, each.records)
        assert_frame_equal(batches[part].quarantine, each.quarantine)
        assert batches[part].objects == each.objects and batches[part].balanced


def test_one_object_that_breaks_the_shared_pass_is_quarantined_alone() -> None:
    from dataclasses import replace

    from egress_platform.sources import s3_access
    from egress_platform.sources.ingest import parse_each

    real = s3_access.parse_many

    def poisoned(objects: list[tuple[str, bytes]]) -> list:  # type: ignore[type-arg]
        if any(key == "poison.log" for key, _ in objects):
            raise pl.exceptions.ComputeError("no shared pass with this one")
        return real(objects)

    spec = replace(SOURCES["s3_access"], parse_many=poisoned)
    results = parse_each(spec, [("ok.log", good_input("s3_access")), ("poison.log", b"x\n")])
    assert results[0].records.height == 50
    assert results[1].quarantined == 1


def test_trail_objects_parsed_in_one_pass_give_what_each_gives_alone() -> None:
    """Issue 17: CloudTrail's hourly objects are typed in one frame; each keeps its own events,
    refused events (a bad eventTime, a non-object) and variant."""
    from egress_platform.sources.ingest import parse_each

    spec = SOURCES["cloudtrail"]
    good = good_input("cloudtrail")
    event = {"eventID": "e-1", "eventTime": "2026-11-01T00:00:00Z", "eventName": "GetObject"}
    late = {**event, "eventID": "e-2", "eventTime": "not a time"}
    ndjson = "\n".join(json.dumps(e) for e in (event, late, [1, 2])).encode()
    objects = [
        ("a.json", good),
        ("b.json.gz", gzip.compress(good, mtime=0)),
        ("c.json", ndjson),
        ("d.json", b"{not json"),
        ("e.json", b""),
    ]
    together = parse_each(spec, objects)
    for (key, data), many in zip(objects, together, strict=True):
        one = spec.parse(data, key)
        assert_frame_equal(many.records, one.records)
        assert_frame_equal(many.quarantine, one.quarantine)
        assert (many.variant, many.input_records) == (one.variant, one.input_records)
    assert together[0].records.height == 50
    assert together[2].records.height == 1 and together[2].quarantined == 2
