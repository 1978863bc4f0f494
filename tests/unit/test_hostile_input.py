"""Valid data is never thrown away whole, and invalid values are never accepted (issue 16, 6-7).

Each case was read wrongly before: a byte-order mark or one new field in a flow-log header
quarantined the whole file as headerless; one ragged row, one Latin-1 byte or bytes after the gzip
stream rejected a whole CUR file; a BOM or trailing bytes made a JSON file one quarantined row;
negative counts, impossible times, addresses, ports and protocols, infinite costs and usage in
1970 were accepted as good.
"""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

from egress_platform.sources import SOURCES, cur, vpc_flow
from egress_platform.sources.common import SourceError
from tests.unit.test_parsers import ALL_SOURCES, good_input

BOM = b"\xef\xbb\xbf"
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
RECORD = (
    "2 123456789012 eni-0a1b2c3d 10.0.0.5 52.1.2.3 443 49152 6 10 840 1700000000 1700000060 "
    "ACCEPT OK"
)


def _flows(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_a_byte_order_mark_is_no_part_of_any_record(source: str) -> None:
    plain = SOURCES[source].parse(good_input(source), "good")
    marked = SOURCES[source].parse(BOM + good_input(source), "bom")
    assert (marked.records.height, marked.quarantined) == (plain.records.height, 0)


@pytest.mark.parametrize("source", ALL_SOURCES)
def test_bytes_after_a_complete_gzip_stream_leave_its_records_whole(source: str) -> None:
    data = gzip.compress(good_input(source)) + b"\x00garbage after the stream"
    result = SOURCES[source].parse(data, "trailing.gz")
    assert (result.records.height, result.quarantined) == (50, 0)
    assert "bytes after the gzip stream ignored" in result.variant


@pytest.mark.parametrize("source", ["config", "cloudtrail", "cost_explorer"])
def test_text_after_a_json_document_is_quarantined_and_the_document_read(source: str) -> None:
    pretty = json.dumps(json.loads(good_input(source)), indent=2).encode()
    result = SOURCES[source].parse(pretty + b"\n}} trailing junk\n", "junk.json")
    assert result.records.height == 50
    assert result.quarantine.select("line_no", "raw").row(0) == (
        pretty.count(b"\n") + 1,
        "\n}} trailing junk\n",
    )
    assert "text after the end of the JSON document" in result.quarantine["reason"][0]


def test_a_flow_log_header_with_a_field_aws_added_later_keeps_every_record() -> None:
    data = (HEADER + " new-field\n" + RECORD + ' x"y\n' + RECORD + " -\n").encode()
    result = vpc_flow.parse_bytes(data, "new-field.log")
    assert (result.records.height, result.quarantined) == (2, 0)
    assert result.records.get_column("extra_fields").to_list() == [
        '{"new-field": "x\\"y"}',
        '{"new-field": null}',
    ]
    assert result.records.get_column("bytes").to_list() == [840, 840]
    assert result.notes == [
        "header names fields this parser does not know, kept in extra_fields: ['new-field']"
    ]


FLOW_CASES = [
    (" 840 ", " -5 ", "invalid bytes (negative)"),
    (" 10 840", " -1 840", "invalid packets (negative)"),
    ("1700000000 1700000060", "0 60", "invalid start (outside the documented"),
    ("1700000000 1700000060", "99999999999999 99999999999999", "invalid start (outside"),
    ("1700000000 1700000060", "1700000060 1700000000", "invalid end (before start)"),
    ("52.1.2.3", "2001:::1", "invalid dstaddr (not an IPv4 or IPv6 address)"),
    ("52.1.2.3", "300.1.1.1", "invalid dstaddr (not an IPv4 or IPv6 address)"),
    (" 443 ", " 70000 ", "invalid srcport (outside the documented 0..65535)"),
    (" 6 10 ", " 999 10 ", "invalid protocol (outside the documented 0..255)"),
]


@pytest.mark.parametrize(("good", "bad", "reason"), FLOW_CASES, ids=[c[1] for c in FLOW_CASES])
def test_a_flow_value_outside_its_documented_range_is_quarantined(
    good: str, bad: str, reason: str
) -> None:
    broken = RECORD.replace(good, bad)
    assert broken != RECORD
    result = vpc_flow.parse_bytes(_flows(RECORD, broken), "values.log")
    assert (result.records.height, result.quarantined) == (1, 1)
    assert result.quarantine.get_column("reason")[0].startswith(reason)
    assert result.quarantine.get_column("raw")[0] == broken


def test_ipv6_and_edge_values_inside_the_ranges_are_good() -> None:
    fine = (
        RECORD.replace("52.1.2.3", "2600:1f18:abcd::1")
        .replace("10.0.0.5", "::ffff:10.0.0.5")
        .replace(" 443 ", " 65535 ")
        .replace(" 6 10 ", " 255 0 ")
    )
    result = vpc_flow.parse_bytes(_flows(fine), "fine.log")
    assert (result.records.height, result.quarantined) == (1, 0)


CUR_HEADER = (
    "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/UnblendedCost,"
    "lineItem/UsageType,lineItem/LineItemDescription\n"
)


def _cur_row(n: int, start: str = "2026-11-01T00:00:00Z", cost: str = "1.5") -> str:
    return (
        f'li-{n},{start},2026-11-01T01:00:00Z,{cost},DataTransfer-Out-Bytes,"$0.09 per GB, out"\n'
    )


def test_one_ragged_cur_row_is_quarantined_with_its_line_and_the_rest_read() -> None:
    rows = [_cur_row(i) for i in range(1486)]
    rows[700] = rows[700].rstrip("\n") + ",an extra field\n"
    result = cur.parse_bytes((CUR_HEADER + "".join(rows)).encode(), "ragged.csv")
    assert (result.records.height, result.quarantined) == (1485, 1)
    assert result.quarantine.select("line_no", "raw").row(0) == (702, rows[700].rstrip("\n"))
    assert result.quarantine["reason"][0].startswith(
        "expected 6 fields as the header names, found 7"
    )
    assert result.records.get_column("line_no").to_list()[699:701] == [701, 703]


def test_a_latin1_byte_quarantines_its_line_only_and_gzip_trailing_bytes_are_harmless() -> None:
    rows = [_cur_row(i) for i in range(20)]
    data = (CUR_HEADER + "".join(rows)).encode().replace(b"li-5,", b"li-\xe9,")
    result = cur.parse_bytes(gzip.compress(data) + b"junk", "latin1.csv.gz")
    assert (result.records.height, result.quarantined) == (19, 1)
    assert result.quarantine.select("line_no", "reason").row(0) == (7, "not valid UTF-8")
    assert "li-\\xe9" in result.quarantine["raw"][0]


def test_a_short_cur_row_keeps_its_values_and_is_counted_in_a_note() -> None:
    rows = [
        _cur_row(0),
        "li-1,2026-11-01T00:00:00Z,2026-11-01T01:00:00Z,2.5,DataTransfer-Out-Bytes\n",
    ]
    result = cur.parse_bytes((CUR_HEADER + "".join(rows)).encode(), "short.csv")
    assert result.records.get_column("unblended_cost").to_list() == [1.5, 2.5]
    assert result.records.get_column("description").to_list() == ["$0.09 per GB, out", None]
    assert (
        result.notes[-1] == "1 rows with fewer fields than the header: their last values are empty"
    )


CUR_CASES = [
    ("1e400", "2026-11-01T00:00:00Z", "invalid unblended_cost (not a finite number)"),
    ("1.5", "1970-01-01T00:00:00Z", "invalid usage_start (before 2006 or after 2099)"),
    ("1.5", "2100-01-01T00:00:00Z", "invalid usage_start (before 2006 or after 2099)"),
    ("1.5", "2026-11-01T02:00:00Z", "invalid usage_end (before usage_start)"),
]


@pytest.mark.parametrize(("cost", "start", "reason"), CUR_CASES)
def test_a_cur_value_no_bill_can_hold_is_quarantined_with_its_original_line(
    cost: str, start: str, reason: str
) -> None:
    bad = _cur_row(1, start=start, cost=cost)
    result = cur.parse_bytes((CUR_HEADER + _cur_row(0) + bad).encode(), "values.csv")
    assert (result.records.height, result.quarantined) == (1, 1)
    assert result.quarantine.select("line_no", "reason", "raw").row(0) == (3, reason, bad.rstrip())


def test_a_cur_without_a_cost_column_is_an_error_not_null_costs() -> None:
    text = "identity/LineItemId,lineItem/UsageStartDate\nli-1,2026-11-01T00:00:00Z\n"
    with pytest.raises(SourceError, match="no cost column"):
        cur.parse_bytes(text.encode(), "nocost.csv")


def test_quoted_newlines_in_a_cur_description_are_one_row() -> None:
    row = 'li-9,2026-11-01T00:00:00Z,2026-11-01T01:00:00Z,1.5,DataTransfer-Out-Bytes,"two\nlines"\n'
    result = cur.parse_bytes((CUR_HEADER + row + _cur_row(1)).encode(), "quoted.csv")
    assert result.records.select("description", "line_no").rows() == [
        ("two\nlines", 2),
        ("$0.09 per GB, out", 4),
    ]
    assert isinstance(result.records, pl.DataFrame)


def test_cur_tag_columns_that_differ_only_in_case_are_both_kept() -> None:
    """Tag keys are case-sensitive: a CUR may have both `user:Owner` and `user:owner` (a crash
    found by the property tests: the normalised names collided)."""
    header = (
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UnblendedCost,"
        "lineItem/UsageType,resourceTags/user:Owner,resourceTags/user:owner\n"
    )
    data = (header + "a,2026-11-01T00:00:00Z,1.5,DataTransfer-Out-Bytes,ann,bob\n").encode()
    result = cur.parse_bytes(data, "tags.csv")
    assert (result.records.height, result.quarantined) == (1, 0)


def test_a_cost_explorer_period_without_metrics_is_quarantined_not_dropped() -> None:
    doc = {"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01"}, "Total": {}}, 7]}
    result = SOURCES["cost_explorer"].parse(json.dumps(doc).encode(), "ce.json")
    assert (result.input_records, result.records.height) == (2, 0)
    assert (
        result.quarantine.get_column("reason").to_list()
        == ["a ResultsByTime entry without metrics (Total or Groups[].Metrics)"] * 2
    )
