"""Detection: feature golden frame, model round trip, and the anomaly contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from egress_platform.detect.anomalies import (
    ANOMALY_SCHEMA,
    anomaly_problems,
    judge_hour,
    latest_rows,
    open_events_from_rows,
)
from egress_platform.detect.evaluate import score_against_truth
from egress_platform.detect.features import (
    FEATURES,
    LOOKBACK_HOURS,
    build_features,
    series_frame,
)
from egress_platform.detect.model import EgressModel, train, training_window
from egress_platform.detect.planned import (
    ChangeWindowError,
    parse_windows,
    planned_changes,
    tagged_in_config,
)
from egress_platform.network.facts import FACTS_SCHEMA
from egress_platform.pricing.estimate import price_facts
from egress_platform.pricing.price_book import GB

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def flows_for(series: dict[tuple[str, str], list[float]], hours: int) -> pl.DataFrame:
    """Priced flow rows: (entity, class) -> GB per hour (internet at $0.09/GB after 100 GB)."""
    rows = []
    for (entity, cls), values in series.items():
        for h in range(hours):
            gb = values[h]
            if gb <= 0:
                continue
            row: dict[str, object] = dict.fromkeys(FACTS_SCHEMA)
            row.update(
                hour=T0 + timedelta(hours=h),
                account_id="111122223333",
                region="us-east-1",
                product_code="AmazonEC2",
                source_type="eni",
                source_id=entity,
                dest_class=cls,
                dest_prefix="81.2.69.0/24",
                bytes_out=int(gb * GB),
                bytes_in=0,
                packets=0,
                flows=1,
            )
            rows.append(row)
    facts = pl.DataFrame(rows, schema=FACTS_SCHEMA)
    return price_facts(facts, prior_internet_gb={("111122223333", "2026-11"): 1000.0})


def diurnal(base: float, hours: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    h = np.arange(hours)
    return list(
        base * (1 + 0.4 * np.sin((h % 24 - 9) / 24 * 2 * np.pi)) * rng.lognormal(0, 0.05, hours)
    )


def test_features_golden_for_a_short_series() -> None:
    flows = flows_for({("eni-a", "internet"): [0, 1, 2, 0, 4]}, 5)
    features = build_features(series_frame(flows))
    got = features.select("hour", "usd", "lag_1", "lag_2", "new_class", "history_hours")
    usd = [0.09, 0.18, 0.0, 0.36]
    expected = pl.DataFrame(
        {
            "hour": [T0 + timedelta(hours=h) for h in range(1, 5)],
            "usd": usd,
            "lag_1": [None, 0.09, 0.18, 0.0],
            "lag_2": [None, None, 0.09, 0.18],
            "new_class": [1, 0, 0, 0],
            "history_hours": [0, 1, 2, 3],
        },
        schema={
            "hour": pl.Datetime("us", "UTC"),
            "usd": pl.Float64,
            "lag_1": pl.Float64,
            "lag_2": pl.Float64,
            "new_class": pl.Int8,
            "history_hours": pl.Int64,
        },
    )
    assert_frame_equal(got, expected, abs_tol=1e-9)  # the grid starts at the first traffic


def test_nat_traffic_belongs_to_the_nat_gateway() -> None:
    flows = flows_for({("eni-a", "nat_gateway"): [1.0]}, 1).with_columns(
        pl.lit("nat-1").alias("via_nat_gateway_id")
    )
    series = series_frame(flows)
    assert series.select("entity", "entity_type").rows() == [("nat-1", "nat_gateway")]


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    hours = 24 * 8
    incident = [0.0] * hours
    for h in range(24 * 6 + 5, 24 * 6 + 17):
        incident[h] = 40.0  # 12 hours of exfiltration from an ENI with no internet history
    spike = diurnal(3.0, hours, 2)
    for h in range(24 * 7 + 10, 24 * 7 + 13):
        spike[h] *= 4
    return flows_for(
        {
            ("eni-web", "internet"): diurnal(3.0, hours, 1),
            ("eni-app", "internet"): spike,
            ("eni-db", "internet"): incident,
            ("eni-migration", "internet"): [0.0] * 100 + [25.0] * 6 + [0.0] * (hours - 106),
        },
        hours,
    )


def judge_days(
    history: pl.DataFrame, planned: dict[str, str], warmup_days: int = 3
) -> pl.DataFrame:
    """What egress_model and egress_anomalies do over a range: a model per day trained on the
    days before it, each hour judged with its day's model, open events carried hour to hour."""
    features = build_features(series_frame(history))
    day = features["hour"].min().replace(hour=0) + timedelta(days=warmup_days)  # type: ignore[union-attr]
    rows, open_events = [], []
    while day <= features["hour"].max():  # type: ignore[operator]
        model = train(training_window(features, day))
        for h in range(24):
            found, open_events = judge_hour(
                features, day + timedelta(hours=h), model.predict, open_events, planned
            )
            rows.append(found)
        day += timedelta(days=1)
    return latest_rows(pl.concat(rows)).sort("onset_hour", "entity")


def test_model_round_trips_and_bounds_the_normal_hours(history: pl.DataFrame) -> None:
    features = build_features(series_frame(history))
    model = train(features.filter(pl.col("hour") < T0 + timedelta(days=6)))
    again = EgressModel.from_json(model.to_json())
    recent = features.filter(
        pl.col("hour") >= T0 + timedelta(days=5), pl.col("entity") == "eni-web"
    )
    assert_frame_equal(model.predict(recent), again.predict(recent))
    predicted = model.predict(recent)
    assert (predicted["upper_usd"] >= predicted["expected_usd"]).all()
    assert (recent["usd"] <= predicted["upper_usd"] * 1.15).mean() > 0.95  # type: ignore[operator]
    assert model.metadata["rows"] > 0 and set(FEATURES) <= set(features.columns)


def test_events_are_found_typed_suppressed_and_stable(history: pl.DataFrame) -> None:
    planned = {"eni-migration": "tagged egress:planned-change=dc-migration"}
    first = judge_days(history, planned)
    again = judge_days(history, planned)
    assert_frame_equal(first, again)  # deterministic ids and figures
    by_entity = {r["entity"]: r for r in first.iter_rows(named=True)}
    exfil = by_entity["eni-db"]
    assert exfil["type"] == "new_destination"  # cold start: no history, still judged
    assert exfil["onset_hour"] == T0 + timedelta(days=6, hours=5)
    assert exfil["hours"] == 12 and exfil["status"] == "closed"  # one event, not twelve
    assert exfil["extra_usd_per_hour"] == pytest.approx(40 * 0.09, rel=0.01)
    assert exfil["projected_extra_usd_per_month"] == pytest.approx(
        exfil["extra_usd_per_hour"] * 730
    )
    spike = by_entity["eni-app"]
    assert spike["type"] == "spike" and spike["hours"] == 3
    assert by_entity["eni-migration"]["suppressed"]
    assert "eni-web" not in by_entity


def test_events_check_finds_unstable_ids_and_a_series_open_twice(history: pl.DataFrame) -> None:
    events = judge_days(history, {})
    assert events.height >= 2
    assert anomaly_problems(events) == {
        "unstable_ids": 0,
        "duplicate_rows": 0,
        "duplicate_open_events": 0,
    }
    first = events.head(1).with_columns(pl.lit("open").alias("status"))
    renamed = first.with_columns(pl.lit("anom-0000000000000000").alias("anomaly_id"))
    assert anomaly_problems(pl.concat([first, first, renamed])) == {
        "unstable_ids": 1,  # an id that is not its series' and onset's
        "duplicate_rows": 1,  # one event twice in the hour
        "duplicate_open_events": 2,  # three open rows of one series
    }


def test_open_events_carry_across_hourly_runs(history: pl.DataFrame) -> None:
    """Judging hour by hour (as the hourly asset does) gives the same event as one pass."""
    features = build_features(series_frame(history))
    model = train(features.filter(pl.col("hour") < T0 + timedelta(days=6)))
    start = T0 + timedelta(days=6)
    rows = pl.DataFrame(schema=ANOMALY_SCHEMA)
    ids = set()
    for h in range(24):
        hour = start + timedelta(hours=h)
        found, _ = judge_hour(features, hour, model.predict, open_events_from_rows(rows))
        ids |= set(found.filter(pl.col("entity") == "eni-db")["anomaly_id"])
        rows = found
    assert len(ids) == 1


def test_planned_change_tags_come_from_config() -> None:
    items = pl.DataFrame(
        {
            "resource_id": ["eni-1", "eni-2"],
            "tags": [json.dumps({"egress:planned-change": "dc"}), "{}"],
        }
    )
    assert tagged_in_config(items) == {"eni-1": "tagged egress:planned-change=dc"}
    assert tagged_in_config(items, "change-ticket") == {}


def _trail(*calls: tuple[str, datetime, dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "event_name": name,
                "event_time": when,
                "request_parameters": json.dumps(params),
                "error_code": None,
            }
            for name, when, params in calls
        ],
        schema={
            "event_name": pl.String,
            "event_time": pl.Datetime("us", "UTC"),
            "request_parameters": pl.String,
            "error_code": pl.String,
        },
    )


def _create_tags(resource: str, key: str, value: str) -> dict[str, object]:
    """CreateTags' requestParameters as CloudTrail logs them."""
    return {
        "resourcesSet": {"items": [{"resourceId": resource}]},
        "tagSet": {"items": [{"key": key, "value": value}]},
    }


def test_planned_changes_come_from_cloudtrail_tagging_and_a_change_window_file() -> None:
    """Issue 15: a planned change was recognised only through the Config tag. A CreateTags on
    the instance (its ENI inherits it, via the ENI's attachment in Config) until DeleteTags,
    S3's PutBucketTagging as CloudTrail renders the XML body, a configurable key, and windows
    from a file."""
    config = pl.DataFrame(
        {
            "resource_id": ["eni-mig"],
            "resource_type": ["AWS::EC2::NetworkInterface"],
            "configuration": [json.dumps({"attachment": {"instanceId": "i-mig"}})],
            "tags": ["{}"],
        }
    )
    t = T0 + timedelta(days=3)
    trail = _trail(
        ("CreateTags", t, _create_tags("i-mig", "egress:planned-change", "dc-move")),
        ("CreateTags", t, _create_tags("i-other", "Name", "web")),
        ("DeleteTags", t + timedelta(days=2), {
            "resourcesSet": {"items": [{"resourceId": "i-mig"}]},
            "tagSet": {"items": [{"key": "egress:planned-change"}]},
        }),
        ("PutBucketTagging", t, {
            "bucketName": "exports",
            "Tagging": {"TagSet": {"Tag": {"Key": "egress:planned-change", "Value": "backfill"}}},
        }),
    )  # fmt: skip
    windows = parse_windows(
        '{"windows": [{"resource_id": "*", "start": "2026-11-20T02:00:00Z",'
        ' "end": "2026-11-20T04:00:00Z", "reason": "CHG-1234 network cut-over"}]}'
    )
    planned = planned_changes(config, trail, windows=windows)
    assert (
        planned.reason("eni-mig", t)
        == "tagged egress:planned-change=dc-move (CloudTrail CreateTags)"
    )
    assert planned.reason("i-mig", t - timedelta(minutes=30)) is not None  # tag set just after
    assert planned.reason("eni-mig", t - timedelta(hours=2)) is None
    assert planned.reason("eni-mig", t + timedelta(days=2)) is None  # the tag was removed
    assert planned.reason("i-other", t) is None
    assert planned.reason("exports", t + timedelta(days=9)) is not None
    cut_over = datetime(2026, 11, 20, 3, tzinfo=UTC)
    assert planned.reason("eni-anything", cut_over) == "CHG-1234 network cut-over"
    assert planned.reason("eni-anything", cut_over + timedelta(hours=1)) is None
    assert planned_changes(config, trail, key="change-ticket").reason("eni-mig", t) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"windows": 3}', "expected"),
        ('[{"start": "2026-11-20T02:00:00Z", "end": "2026-11-20T04:00:00Z"}]', "resource_id"),
        ('[{"resource_id": "*", "start": "yesterday", "end": "2026-11-20"}]', "ISO 8601"),
        ('[{"resource_id": "*", "start": "2026-11-20", "end": "2026-11-19"}]', "not after start"),
    ],
)
def test_a_bad_change_window_file_says_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ChangeWindowError, match=message):
        parse_windows(text)


def test_scoring_counts_both_sides_of_a_cross_az_incident() -> None:
    onset = T0 + timedelta(days=5)
    row = dict.fromkeys(ANOMALY_SCHEMA)
    row.update(
        anomaly_id="a",
        entity="eni-sender",
        dest_class="inter_az",
        onset_hour=onset,
        detected_at=onset + timedelta(hours=1),
        last_hour=onset + timedelta(hours=10),
        hours=11,
        extra_usd_per_hour=0.11,
        suppressed=False,
        top_destinations="10.0.0.5",
        type="new_destination",
    )
    other = dict(row, anomaly_id="b", entity="eni-db", top_destinations="10.0.1.7")
    noise = dict(
        row,
        anomaly_id="c",
        entity="eni-web",
        onset_hour=onset + timedelta(days=2),
        last_hour=onset + timedelta(days=2),
    )
    truth = {
        "incidents": [
            {
                "id": "i",
                "kind": "cross_az",
                "entity": "eni-sender",
                "start": onset.isoformat(),
                "end": (onset + timedelta(hours=11)).isoformat(),
                "extra_usd_per_hour": 0.22,
            }
        ],
        "benign_changes": [],
        "resources": {"enis": {"eni-sender": {"ip": "10.0.1.7", "instance": "i-1"}}},
    }
    result = score_against_truth(pl.DataFrame([row, other, noise], schema=ANOMALY_SCHEMA), truth)
    assert (result.recall, result.precision) == (1.0, pytest.approx(2 / 3))
    assert result.delays_h == [1.0]
    assert result.impact_errors == [pytest.approx(0.0)]


def test_top_destinations_break_ties_by_name_so_reruns_are_identical() -> None:
    one = flows_for({("eni-a", "internet"): [1.0]}, 1)
    tied = pl.concat(
        [one.with_columns(pl.lit(f"81.2.{n}.0/24").alias("dest_prefix")) for n in (9, 7, 8, 6)]
    )
    orders = [
        series_frame(tied.sample(fraction=1.0, shuffle=True, seed=s))["top_destinations"][0]
        for s in range(5)
    ]
    assert set(orders) == {"81.2.6.0/24,81.2.7.0/24,81.2.8.0/24"}


def test_an_hours_features_are_the_same_in_a_four_hour_run_and_in_a_backfill() -> None:
    """egress_features reads LOOKBACK_HOURS before its range: whatever the range, the rows of an
    hour are the same (issue 16: a 4-hour run gave 18 series per hour, the backfill 21)."""
    hours = 24 * 14
    quiet_then_back = [1.0] * 24 + [0.0] * (hours - 24)  # traffic only in the first day ...
    quiet_then_back[24 * 12 + 2] = 2.0  # ... and once more ten days later: new again
    late = [0.0] * (24 * 11) + [3.0] * (hours - 24 * 11)  # a series that starts on day 11
    flows = flows_for(
        {
            ("eni-web", "internet"): diurnal(3.0, hours, 1),
            ("eni-old", "internet"): quiet_then_back,
            ("eni-late", "internet"): late,
            ("eni-gone", "internet"): [1.0] * 24 * 3 + [0.0] * (hours - 24 * 3),
        },
        hours,
    )
    start = T0 + timedelta(days=12)  # the hourly run's range: hours 288-291
    lookback = timedelta(hours=LOOKBACK_HOURS)

    def run(first: datetime, last: datetime) -> pl.DataFrame:
        window = flows.filter(pl.col("hour").is_between(first - lookback, last))
        features = build_features(series_frame(window, first - lookback, last))
        return features.filter(pl.col("hour").is_between(start, start + timedelta(hours=3)))

    hourly = run(start, start + timedelta(hours=3))
    backfill = run(T0, T0 + timedelta(hours=hours - 1))
    assert_frame_equal(hourly, backfill)
    got = hourly.filter(pl.col("hour") == start + timedelta(hours=2)).sort("entity")
    # eni-gone's last traffic was 9 days before: no row; eni-old is new again after 11 days.
    assert got["entity"].to_list() == ["eni-late", "eni-old", "eni-web"]
    assert got["new_class"].to_list() == [0, 1, 0]
    assert got["history_hours"].to_list() == [26, 0, LOOKBACK_HOURS]  # eni-late: since day 11
    assert got["new_destination_share"].to_list() == [0.0, 1.0, 0.0]


def test_the_product_judges_each_hour_through_the_detector_core() -> None:
    """egress_anomalies opens an event where the core's strength reaches 1 (and the hour costs
    materially more than expected): by default, the forecast view (past upper x margin); with
    the core's novelty view switched on, also a cost far beyond the day before."""
    from dataclasses import replace

    from egress_platform.detect.anomalies import DEFAULT_CONFIG, detect
    from egress_platform.detect.core import CoreSettings

    hours = [T0 + timedelta(hours=h) for h in range(26)]
    usd = [*(1.0 + 0.01 * (h % 3) for h in range(24)), 1.01, 1.60]
    scored = pl.DataFrame(
        {
            "account_id": "111122223333",
            "entity": "eni-1",
            "entity_type": "eni",
            "dest_class": "internet",
            "hour": hours,
            "usd": usd,
            "expected_usd": [1.0] * 26,
            "upper_usd": [1.0] * 24 + [1.0, 1.5],  # hour 25: 1.60 < 1.5 x 1.15 = 1.725
            "new_destination_share": 0.0,
            "top_destinations": "81.2.69.0/24",
            "new_class": False,
        }
    )
    # The mechanism at a margin of 1.15, each hour judged alone (no confirmation hour).
    config = replace(DEFAULT_CONFIG, margin=1.15, min_extra_usd=0.05, confirm="none")
    # Neither hour passes its bound (1.01 < 1.15, 1.60 < 1.725): nothing.
    found, _ = detect(scored, hours[24], config)
    assert found.height == 0
    # Hour 24 at 1.20 passes 1.15 by the forecast view: one event, $0.20/h above expectation.
    one = scored.with_columns(usd=pl.Series([*usd[:24], 1.20, 1.0]))
    found, _ = detect(one, hours[24], config)
    assert found["onset_hour"].to_list() == [hours[24]]
    assert found["extra_usd_per_hour"].to_list() == [pytest.approx(0.20)]
    # The same core with its novelty view: hour 25 (1.60) passes the day's range (1.00-1.02) by
    # 29 times its width (more than half of it), and costs $0.60 above expectation: an event.
    novel = replace(config, core=CoreSettings(novelty_share=0.5, warmup=0, refractory=0))
    found, _ = detect(scored, hours[24], novel)
    assert found["onset_hour"].to_list() == [hours[25]]


def _scored(usd: list[float], peak: float) -> pl.DataFrame:
    """One series' scored hours: forecast 1.0, upper bound 1.2, the week's peak ``peak``."""
    n = len(usd)
    return pl.DataFrame(
        {
            "account_id": ["111122223333"] * n,
            "entity": ["eni-web"] * n,
            "entity_type": ["eni"] * n,
            "dest_class": ["internet"] * n,
            "hour": [T0 + timedelta(hours=h) for h in range(n)],
            "usd": usd,
            "expected_usd": [1.0] * n,
            "upper_usd": [1.2] * n,
            "new_destination_share": [0.0] * n,
            "top_destinations": ["81.2.69.0/24"] * n,
            "new_class": [0] * n,
            "peak_usd_168": [peak] * n,
        }
    )


def test_a_burst_within_the_series_own_week_waits_for_a_second_hour() -> None:
    """Issue 15, item 4: client-facing series burst now and then (heavy-tailed, normal). With
    confirm="within_peak", an hour no higher than the week's peak opens an event only when the next
    hour is above the bound too; the event then starts at the first hour. An hour above the
    peak, or a series with no such bursts, opens at once, as before."""
    from dataclasses import replace

    from egress_platform.detect.anomalies import DEFAULT_CONFIG, detect

    confirm = replace(DEFAULT_CONFIG, confirm="within_peak")
    plain_config = replace(DEFAULT_CONFIG, confirm="none")
    one_burst = [1.0] * 24 + [3.0] + [1.0] * 5
    assert detect(_scored(one_burst, peak=4.0), T0 + timedelta(hours=24), confirm)[0].height == 0
    plain = detect(_scored(one_burst, peak=4.0), T0 + timedelta(hours=24), plain_config)[0]
    assert plain.height == 1
    two = [1.0] * 24 + [3.0, 3.5] + [3.0] * 4
    found = detect(_scored(two, peak=4.0), T0 + timedelta(hours=24), confirm)[0]
    assert found.select("onset_hour", "detected_at", "hours").rows() == [
        (T0 + timedelta(hours=24), T0 + timedelta(hours=26), 6)
    ]
    again = open_events_from_rows(found)  # carried into the next hour's run, it stays confirmed
    assert [e.confirmed_after for e in again] == [1]
    above_peak = detect(_scored(one_burst, peak=2.0), T0 + timedelta(hours=24), confirm)[0]
    assert above_peak.select("onset_hour", "detected_at").rows() == [
        (T0 + timedelta(hours=24), T0 + timedelta(hours=25))
    ]


def test_a_blip_that_is_small_for_the_account_is_not_an_alert() -> None:
    """Issue 15, item 4: the extra an hour must cost is at least min_extra_usd and a share of
    the whole account's expected $/h (0.5 % by default): +$0.12/h for two hours alerts on a
    small account, not beside a $50/h one."""
    from egress_platform.detect.anomalies import DEFAULT_CONFIG, detect

    blip = _scored([0.1] * 24 + [0.22, 0.22] + [0.1] * 2, peak=0.0).with_columns(
        pl.col("expected_usd") * 0.1, pl.col("upper_usd") * 0.1
    )
    judged = T0 + timedelta(hours=24)
    assert detect(blip, judged, DEFAULT_CONFIG)[0].height == 1
    big = _scored([50.0] * 28, peak=50.0).with_columns(
        pl.lit("eni-db").alias("entity"),
        pl.lit(50.0).alias("expected_usd"),
        pl.lit(60.0).alias("upper_usd"),
    )
    assert detect(pl.concat([blip, big]), judged, DEFAULT_CONFIG)[0].height == 0


def test_a_sustained_rise_that_no_single_hour_shows_is_still_an_event() -> None:
    """Issue 15, item 4: on a bursty series the upper bound is wide (here 3x the forecast), so a
    cache turned off (traffic 2x for hours) never passes it; with sustained_hours=3, three
    consecutive hours at 1.5x the forecast or more open an event that starts at the first.
    One hour at 2x among normal ones (a burst) does not."""
    from dataclasses import replace

    from egress_platform.detect.anomalies import DEFAULT_CONFIG, detect

    wide = _scored([1.0] * 24 + [2.0, 2.1, 1.9, 2.0], peak=5.0).with_columns(
        pl.lit(3.0).alias("upper_usd")
    )
    judged = T0 + timedelta(hours=24)
    hourly_only = replace(DEFAULT_CONFIG, sustained_hours=0)
    assert detect(wide, judged, hourly_only)[0].height == 0  # no hour passes 3.0 x 1.3
    sustained = replace(DEFAULT_CONFIG, sustained_hours=3)
    found = detect(wide, judged, sustained)[0]
    assert found.select("onset_hour", "detected_at", "hours").rows() == [
        (T0 + timedelta(hours=24), T0 + timedelta(hours=27), 4)
    ]
    burst = wide.with_columns(
        pl.Series("usd", [1.0] * 24 + [2.0, 1.0, 1.1, 0.9]), pl.lit(3.0).alias("upper_usd")
    )
    assert detect(burst, judged, sustained)[0].height == 0
