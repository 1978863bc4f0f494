"""Property-based tests of every parser (issue 16): whatever bytes arrive, a parser returns records
and quarantine that add up to its input records, or says the object is unreadable
(``SourceError``, which ingest quarantines whole); it never raises anything else. And one bad
record among good ones costs only itself.

Examples are derandomized (the same on every run, so CI cannot flake) and bounded, so the
file stays a few seconds per source.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress_platform.sources import SOURCES
from egress_platform.sources.common import ParseResult, SourceError
from egress_platform.sources.ingest import ingest_objects
from tests.unit.test_parsers import ALL_SOURCES, LINE_SOURCES, good_input

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
JSON_SOURCES = ["cloudtrail", "config", "cost_explorer"]
JSON_ARRAY = {
    "cloudtrail": "Records",
    "config": "configurationItems",
    "cost_explorer": "ResultsByTime",
}


def parse_or_unreadable(source: str, data: bytes) -> ParseResult | None:
    """The parse, checked: None when the parser called the whole object unreadable."""
    spec = SOURCES[source]
    try:
        result = spec.parse(data, "hypothesis.log")
    except SourceError:
        return None
    result.check_accounting()
    assert result.input_records >= 0
    assert dict(result.records.schema) == dict(spec.schema), "records off the source's schema"
    assert result.quarantine.get_column("reason").null_count() == 0
    return result


@st.composite
def damaged(draw: st.DrawFn, source: str) -> bytes:
    """A good object with a few byte-level injuries, then maybe gzipped (and maybe cut)."""
    data = bytearray(good_input(source))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "replace", "cut", "delete"]))
        junk = draw(st.binary(min_size=1, max_size=40))
        if kind == "insert":
            data[at:at] = junk
        elif kind == "replace":
            data[at : at + len(junk)] = junk
        elif kind == "cut":
            del data[at:]
        else:
            del data[at : at + len(junk)]
    out = bytes(data)
    if draw(st.booleans()):
        out = gzip.compress(out, mtime=0)
        if draw(st.booleans()):
            out = out[: draw(st.integers(0, len(out)))]
    return out


@pytest.mark.parametrize("source", ALL_SOURCES)
@PROPERTY
@given(data=st.binary(max_size=4096))
def test_any_bytes_give_balanced_records_or_an_unreadable_object(source: str, data: bytes) -> None:
    parse_or_unreadable(source, data)


@pytest.mark.parametrize("source", ALL_SOURCES)
@PROPERTY
@given(st.data())
def test_a_damaged_delivery_gives_balanced_records_or_an_unreadable_object(
    source: str, data: st.DataObject
) -> None:
    parse_or_unreadable(source, data.draw(damaged(source)))


@pytest.mark.parametrize("source", ALL_SOURCES)
@settings(PROPERTY, max_examples=25)
@given(st.data())
def test_ingest_never_raises_and_every_object_is_accounted_for(
    source: str, data: st.DataObject
) -> None:
    objects = [
        (f"o{i}", data.draw(st.one_of(damaged(source), st.binary(max_size=512))))
        for i in range(data.draw(st.integers(1, 3)))
    ]
    batch = ingest_objects(SOURCES[source], objects)
    assert batch.files == len(objects)
    assert batch.records.height + batch.quarantine.height == batch.input_records
    alone = [ingest_objects(SOURCES[source], [one]) for one in objects]
    assert [a.input_records for a in alone] == [
        batch.quarantine.filter(pl.col("source_file") == key).height + (a.records.height)
        for (key, _), a in zip(objects, alone, strict=True)
    ]


# A line that is not a record: text with no line break, and for the CUR no quote (an opening
# quote would, as in any CSV, run the field on into the next lines).
def junk_line(source: str) -> st.SearchStrategy[str]:
    banned = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" + ('"' if source == "cur" else "")
    return st.text(st.characters(blacklist_characters=banned, codec="utf-8"), max_size=200)


@pytest.mark.parametrize("source", [*LINE_SOURCES, "cur"])
@PROPERTY
@given(st.data())
def test_a_junk_line_among_good_ones_costs_only_itself(source: str, data: st.DataObject) -> None:
    lines = good_input(source).decode().splitlines(keepends=True)
    first = 1 if source == "cur" else 0  # after the CUR's header
    at = data.draw(st.integers(first, len(lines)))
    junk = data.draw(junk_line(source))
    lines.insert(at, junk + "\n")
    result = parse_or_unreadable(source, "".join(lines).encode())
    assert result is not None
    assert result.records.height >= 50  # every good line kept (the junk may be a record too)
    assert result.records.height + result.quarantined <= 51


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("source", JSON_SOURCES)
@PROPERTY
@given(st.data())
def test_one_strange_json_element_costs_only_itself(source: str, data: st.DataObject) -> None:
    doc: dict[str, Any] = json.loads(good_input(source))
    items = doc[JSON_ARRAY[source]]
    at = data.draw(st.integers(0, len(items) - 1))
    if data.draw(st.booleans()):  # a whole element replaced by any JSON value
        items[at] = data.draw(JSON_VALUES)
    else:  # one field of it changed to any JSON value
        field = data.draw(st.sampled_from(sorted(items[at])))
        items[at] = dict(items[at], **{field: data.draw(JSON_VALUES)})
    result = parse_or_unreadable(source, json.dumps(doc, allow_nan=True).encode())
    assert result is not None
    assert result.records.height >= 49
    # A Cost Explorer period holds one record per metric (and group), so may hold more than one.
    assert result.input_records == 50 or (source == "cost_explorer" and result.input_records > 50)


def test_the_properties_cover_every_source() -> None:
    assert set(ALL_SOURCES) == set(SOURCES) == {*LINE_SOURCES, "cur", *JSON_SOURCES}
