"""The byte kernel behind the file-level flow path: the polars path's sums, or an honest None."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.etl.flow_kernel import shape_sums
from egress_platform.network.classify import HOUR_EPOCH, STAGE_KEY, partial_facts
from egress_platform.sources import vpc_flow

KEYS = [HOUR_EPOCH, *STAGE_KEY]
HEADER = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status traffic-path\n"
RECORD = b"5 111122223333 eni-0a1b2c3d 10.0.1.5 52.94.1.1 443 50000 6 10 %s 1700000000 1700000060 ACCEPT OK %s\n"
GOOD = RECORD % (b"10", b"1")


def polars_sums(texts: list[bytes], fields: list[str], skip: int) -> pl.DataFrame:
    """What the polars path computes for the same texts (the reference)."""
    frames = [
        pl.read_csv(
            text,
            separator=" ",
            has_header=False,
            skip_rows=skip,
            schema=vpc_flow.text_schema(fields),
            null_values=["-"],
            quote_char=None,
        )
        for text in texts
    ]
    return partial_facts(pl.concat(frames).lazy(), dedup=False).collect()


def kernel_sums(
    texts: list[bytes], capacity: int = 1 << 16
) -> tuple[pl.DataFrame, int, int] | None:
    layout = vpc_flow.text_layout(texts[0][:4096], None)
    assert layout is not None
    return shape_sums(texts, layout[0], layout[1], STAGE_KEY, HOUR_EPOCH, capacity)


def test_simulated_objects_give_the_polars_paths_sums(small_account: Path) -> None:
    objects = sorted(p for p in small_account.rglob("*.log.gz") if "vpcflowlogs" in p.as_posix())
    texts = [gzip.decompress(p.read_bytes()) for p in objects[:10]]
    texts[-1] = texts[-1].rstrip(b"\n")  # the last record without its newline still counts
    fields, skip = vpc_flow.text_layout(texts[0], None) or ([], 0)
    want = polars_sums(texts, fields, skip)
    # A tiny table grows many times on the way: growth keeps every group and sum.
    result = kernel_sums(texts, capacity=4)
    assert result is not None
    got, records, duplicates = result
    assert duplicates == 0
    assert records == sum(t.count(b"\n") + (not t.endswith(b"\n")) - 1 for t in texts) > 1000
    assert got.height == want.height > 100
    assert_frame_equal(
        got.select(want.columns).sort(KEYS, nulls_last=True), want.sort(KEYS, nulls_last=True)
    )


def test_integer_keys_group_by_value_and_dashes_are_nulls() -> None:
    text = HEADER + RECORD % (b"100", b"1") + RECORD % (b"200", b"01") + RECORD % (b"-", b"-")
    result = kernel_sums([text])
    assert result is not None
    got, records, _ = result
    assert records == 3
    want = polars_sums([text], HEADER.decode().split(), 1)
    assert_frame_equal(
        got.select(want.columns).sort(KEYS, nulls_last=True), want.sort(KEYS, nulls_last=True)
    )
    assert sorted(got["bytes"].to_list()) == [0, 300]  # "1" and "01" are one shape; "-" adds 0


@pytest.mark.parametrize(
    "record",
    [
        RECORD % (b"10x", b"1"),  # a letter in an integer field
        RECORD % (b"-5", b"1"),  # a negative number
        GOOD.replace(b" 443 ", b" 443  "),  # an empty field
        GOOD.replace(b" ACCEPT", b"\tACCEPT"),  # a tab
        GOOD.replace(b"\n", b"\r\n"),  # a CR
        GOOD.replace(b" OK", b""),  # a field short
        GOOD.replace(b"\n", b" extra\n"),  # a field too many
        GOOD.replace(b"eni-0a1b2c3d", "eni-é".encode()),  # outside ASCII
        GOOD.replace(b"1700000000", b"-"),  # no start
        GOOD.replace(b"5 ", b"40000 ", 1),  # too large for Int16 (version)
        RECORD % (b"1" * 20, b"1"),  # too large for Int64
        b"\n",  # a blank line
    ],
)
def test_anything_unusual_is_left_to_the_careful_parser(record: bytes) -> None:
    good = GOOD
    assert kernel_sums([HEADER + good]) is not None
    assert kernel_sums([HEADER + good + record + good]) is None


def test_a_record_delivered_twice_counts_once_and_any_field_makes_it_another() -> None:
    other_port = GOOD.replace(b" 50000 ", b" 50001 ")  # a skipped field differs
    other_end = GOOD.replace(b"1700000060", b"1700000061")
    text = HEADER + GOOD + other_port + GOOD + other_end
    again = HEADER + other_port + GOOD  # a second object repeating two of them
    # A table of four slots and a record set of four: growing keeps what was seen.
    result = kernel_sums([text, again], capacity=4)
    assert result is not None
    got, records, duplicates = result
    assert (records, duplicates) == (3, 3)
    assert got["flows"].sum() == 3 and got["bytes"].sum() == 30
