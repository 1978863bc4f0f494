"""``egress_anomalies``: hours whose cost is above the model's bound, grouped into events.

An event opens when an hour costs more than the upper quantile (times a margin) and at least
``min_extra_usd`` more than expected. While it is open its baseline is frozen: each later hour
is compared with the same hour of the day before the onset, so a level shift stays one anomaly
instead of becoming the new normal, and its dollar impact is measured against what it replaced.
The event closes after ``gap_hours`` hours back at baseline. Ids derive from the series and the
onset hour, so re-running the same hours gives the same ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from egress_platform.detect.core import CoreSettings, strength
from egress_platform.detect.features import SERIES_KEY
from egress_platform.detect.planned import PlannedChanges
from egress_platform.pricing.price_book import HOURS_PER_MONTH

ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "anomaly_id": pl.String(),
    "account_id": pl.String(),
    "entity": pl.String(),
    "entity_type": pl.String(),
    "dest_class": pl.String(),
    "top_destinations": pl.String(),
    "onset_hour": pl.Datetime("us", "UTC"),
    "detected_at": pl.Datetime("us", "UTC"),
    "last_hour": pl.Datetime("us", "UTC"),
    "hours": pl.Int64(),
    "status": pl.String(),
    "type": pl.String(),
    "severity": pl.String(),
    "actual_usd": pl.Float64(),
    "expected_usd": pl.Float64(),
    "upper_usd": pl.Float64(),
    "extra_usd_per_hour": pl.Float64(),
    "projected_extra_usd_per_day": pl.Float64(),
    "projected_extra_usd_per_month": pl.Float64(),
    "suppressed": pl.Boolean(),
    "suppressed_reason": pl.String(),
    "baseline_profile": pl.String(),
    "quiet_hours": pl.Int64(),
}


# The core's view of an hourly cost series: the model's forecast is the surprise (an hour
# alerts past upper x margin), with no warm-up or refractory period: the day's model has the
# history, and an event's own grouping (frozen baseline, gap_hours) keeps one change one anomaly.
HOURLY_COST = CoreSettings(novelty_share=float("inf"), warmup=0, refractory=0)


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's settings. Defaults chosen by ``egress evaluate --cv`` over the kept lakes
    of seeds 1, 2, 3 (the held-out seeds 41, 42, 43 never took part): see the README."""

    margin: float = 1.3  # actual must exceed the upper bound by this factor
    min_extra_usd: float = 0.1  # and cost at least this much more than expected, per hour
    min_extra_share_of_account: float = 0.005  # and this share of the account's expected $/h
    gap_hours: int = 2  # hours back at baseline before an event closes
    level_shift_hours: int = 24
    # Which hours above the bound wait for the next one before an event opens (it then starts
    # at the first): "spikes", any hour to a destination class and destinations the series
    # already had (client traffic bursts now and then, heavy-tailed: normal for it);
    # "within_peak", only such hours no higher than the series' peak of the past week; "none".
    # A new class or destination never waits.
    confirm: Literal["none", "within_peak", "spikes"] = "spikes"
    # A rise of sustained_hours consecutive hours, each at least sustained_ratio x the forecast,
    # opens an event though no hour passed the bound (0: off).
    sustained_hours: int = 3
    sustained_ratio: float = 1.5
    core: CoreSettings = HOURLY_COST

    def thresholds(self) -> dict[str, float | str]:
        """The settings an anomaly had to pass, as the run summary and Dagit report them."""
        return {
            "margin_over_upper_bound": self.margin,
            "min_extra_usd_per_hour": self.min_extra_usd,
            "min_extra_share_of_account": self.min_extra_share_of_account,
            "confirm": self.confirm,
            "sustained_hours": self.sustained_hours,
            "sustained_ratio": self.sustained_ratio,
        }


DEFAULT_CONFIG = DetectorConfig()


@dataclass
class OpenEvent:
    anomaly_id: str
    key: tuple[str, ...]
    onset: datetime
    baseline: list[float]  # the 24 hours before onset, by hour of day
    new_series: bool
    top_destinations: str
    last_hour: datetime
    hours: int = 0
    extra_sum: float = 0.0
    actuals: list[float] = field(default_factory=list)
    last_actual: float = 0.0
    last_expected: float = 0.0
    last_upper: float = 0.0
    quiet_hours: int = 0
    confirmed_after: int = 0  # hours after onset it took to confirm (a burst-like start)

    def to_row(self, config: DetectorConfig, status: str, suppressed: str | None) -> dict[str, Any]:
        extra = self.extra_sum / max(self.hours, 1)
        return {
            "anomaly_id": self.anomaly_id,
            "account_id": self.key[0],
            "entity": self.key[1],
            "entity_type": self.key[2],
            "dest_class": self.key[3],
            "top_destinations": self.top_destinations,
            "onset_hour": self.onset,
            "detected_at": self.onset + timedelta(hours=1 + self.confirmed_after),
            "last_hour": self.last_hour,
            "hours": self.hours,
            "status": status,
            "type": self._type(config),
            "severity": severity(extra * HOURS_PER_MONTH),
            "actual_usd": self.last_actual,
            "expected_usd": self.last_expected,
            "upper_usd": self.last_upper,
            "extra_usd_per_hour": extra,
            "projected_extra_usd_per_day": extra * 24,
            "projected_extra_usd_per_month": extra * HOURS_PER_MONTH,
            "suppressed": suppressed is not None,
            "suppressed_reason": suppressed,
            "baseline_profile": json.dumps([round(v, 6) for v in self.baseline]),
            "quiet_hours": self.quiet_hours,
        }

    def _type(self, config: DetectorConfig) -> str:
        if self.new_series:
            return "new_destination"
        if self.hours >= config.level_shift_hours:
            return "level_shift"
        first = self.actuals[:4]
        if len(first) >= 3 and all(b > a * 1.2 for a, b in itertools.pairwise(first)):
            return "ramp"
        return "spike"


def baseline_profile(hours: list[datetime], usd: list[float], fallback: float) -> list[float]:
    """Cost by hour of day over the 24 hours before onset; the model's expectation fills gaps."""
    profile: list[float | None] = [None] * 24
    for hour, value in zip(hours[-24:], usd[-24:], strict=True):
        profile[hour.hour] = value
    return [fallback if v is None else v for v in profile]


def latest_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Each anomaly event once, as of the last hour it was seen (one row per hour touched)."""
    if rows.height == 0:
        return rows
    return rows.sort("last_hour").unique("anomaly_id", keep="last", maintain_order=True)


def newly_reported(rows: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """The anomalies of an hour that the hour before did not report: reported for the first
    time, so each gets one response (an ongoing event is reported every hour it lasts)."""
    if not rows.height:
        return rows
    known = before["anomaly_id"].to_list() if before.height else []
    return rows.filter(~pl.col("anomaly_id").is_in(known))


def open_events_from_rows(rows: pl.DataFrame) -> list[OpenEvent]:
    """Rebuild the events still open from stored anomaly rows (the previous hour's partition)."""
    events = []
    for row in rows.filter(pl.col("status") == "open").iter_rows(named=True):
        events.append(
            OpenEvent(
                row["anomaly_id"],
                (row["account_id"], row["entity"], row["entity_type"], row["dest_class"]),
                row["onset_hour"],
                [float(v) for v in json.loads(row["baseline_profile"])],
                new_series=row["type"] == "new_destination",
                top_destinations=row["top_destinations"],
                last_hour=row["last_hour"],
                hours=int(row["hours"]),
                extra_sum=float(row["extra_usd_per_hour"]) * int(row["hours"]),
                actuals=[],
                last_actual=float(row["actual_usd"]),
                last_expected=float(row["expected_usd"]),
                last_upper=float(row["upper_usd"]),
                quiet_hours=int(row["quiet_hours"] or 0),
                confirmed_after=_hours_between(row["onset_hour"], row["detected_at"]) - 1,
            )
        )
    return events


def _hours_between(start: datetime, end: datetime) -> int:
    return round((end - start).total_seconds() / 3600)


def severity(usd_per_month: float) -> str:
    if usd_per_month >= 5000:
        return "critical"
    if usd_per_month >= 500:
        return "high"
    if usd_per_month >= 50:
        return "medium"
    return "low"


def anomaly_id(key: tuple[str, ...], onset: datetime) -> str:
    text = "|".join([*key, onset.isoformat()])
    return "anom-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def anomaly_problems(rows: pl.DataFrame) -> dict[str, int]:
    """One hour's rows that would mislead the response: an id that is not its series' and
    onset's (so a rerun would open a second event), an event twice in the hour, or two open
    events of one series at once."""
    if rows.height == 0:
        return {"unstable_ids": 0, "duplicate_rows": 0, "duplicate_open_events": 0}
    unstable = sum(
        r["anomaly_id"]
        != anomaly_id(tuple(str(r[c]) for c in SERIES_KEY), cast(datetime, r["onset_hour"]))
        for r in rows.iter_rows(named=True)
    )
    open_rows = rows.filter(pl.col("status") == "open")
    return {
        "unstable_ids": int(unstable),
        "duplicate_rows": rows.height - rows["anomaly_id"].n_unique(),
        "duplicate_open_events": open_rows.height - open_rows.select(SERIES_KEY).n_unique(),
    }


JUDGED_COLUMNS = (
    "hour",
    "usd",
    "expected_usd",
    "upper_usd",
    "new_destination_share",
    "top_destinations",
    "new_class",
    "_peak",
    "_min_extra",
)


def detect(
    scored: pl.DataFrame,
    judge_from: datetime,
    config: DetectorConfig = DEFAULT_CONFIG,
    open_events: list[OpenEvent] | None = None,
    planned_entities: PlannedChanges | Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, list[OpenEvent]]:
    """Judge every hour from ``judge_from`` in ``scored`` (features + expected/upper USD).

    Returns one row per event seen in those hours (its latest state) and the events still open
    at the end, to carry into the next run.
    """
    planned = PlannedChanges.of(planned_entities)
    carried = {e.key: e for e in (open_events or [])}
    rows: dict[str, dict[str, Any]] = {}
    still_open: list[OpenEvent] = []
    # Materiality: the extra an hour must cost, at least min_extra_usd and a share of what the
    # whole account is expected to spend on transfer that hour.
    account_hour = pl.col("expected_usd").sum().over("account_id", "hour")
    floor = pl.max_horizontal(
        pl.lit(config.min_extra_usd), account_hour * config.min_extra_share_of_account
    ).alias("_min_extra")
    frame = scored.with_columns(
        floor,
        (pl.col("peak_usd_168").fill_null(0.0) if "peak_usd_168" in scored.columns else pl.lit(0.0))
        .cast(pl.Float64)
        .alias("_peak"),
    ).sort([*SERIES_KEY, "hour"])
    # Columns taken out once and sliced per series (a frame per series and hour, and its
    # columns, cost more than the judging).
    column = {c: frame.get_column(c).to_list() for c in JUDGED_COLUMNS}
    starts = (
        frame.select(SERIES_KEY)
        .with_row_index("_at")
        .group_by(SERIES_KEY, maintain_order=True)
        .agg(pl.col("_at").first(), pl.len())
    )
    for *key_values, at, length in starts.iter_rows():
        key = tuple(str(v) for v in key_values)
        rows_of = slice(at, at + length)
        hours = column["hour"][rows_of]
        usd = column["usd"][rows_of]
        expected = column["expected_usd"][rows_of]
        upper = column["upper_usd"][rows_of]
        new_share = column["new_destination_share"][rows_of]
        tops = column["top_destinations"][rows_of]
        new_class = column["new_class"][rows_of]
        peaks = column["_peak"][rows_of]
        event = carried.pop(key, None)
        actuals, forecast = np.array(usd, dtype=np.float64), np.array(expected, dtype=np.float64)
        bounds = np.array(upper, dtype=np.float64) * config.margin
        surprise = strength(actuals, config.core, (forecast, bounds))
        extra = actuals - forecast
        floors = np.array(column["_min_extra"][rows_of], dtype=np.float64)
        exceeds = (surprise >= 1.0) & (extra >= floors)
        elevated = actuals >= forecast * config.sustained_ratio
        within_peak = (config.confirm == "spikes") | (actuals <= np.array(peaks))
        burst_like = (
            (config.confirm != "none")
            & ~np.array(new_class, dtype=bool)
            & (np.array(new_share) < 0.5)
            & within_peak
        )

        for i, hour in enumerate(hours):
            if hour < judge_from:
                continue
            actual = usd[i]
            if event is not None:
                base = event.baseline[hour.hour]
                bound = base * config.margin + config.min_extra_usd / 2
                if actual > bound:
                    event.hours += 1
                    event.extra_sum += actual - base
                    event.actuals.append(actual)
                    event.last_hour, event.quiet_hours = hour, 0
                    event.last_actual, event.last_expected, event.last_upper = actual, base, bound
                else:
                    event.quiet_hours += 1
                rows[event.anomaly_id] = event.to_row(
                    config, "open", planned.reason(key[1], event.onset)
                )
                if event.quiet_hours > config.gap_hours:
                    rows[event.anomaly_id]["status"] = "closed"
                    event = None
                continue
            follows = i >= 1 and hours[i - 1] == hour - timedelta(hours=1)
            sustained = _sustained_start(i, hours, elevated, extra, floors, config)
            profile: list[float] | None = None
            if exceeds[i] and not burst_like[i]:
                first = i
            elif follows and exceeds[i - 1] and burst_like[i - 1]:
                # The hour before was burst-like: an event only if this hour is still up by
                # the rule that keeps an event open; it then starts at that hour.
                first = i - 1
                profile = baseline_profile(hours[:first], usd[:first], expected[first])
                bound = profile[hour.hour] * config.margin + config.min_extra_usd / 2
                if actual <= bound:
                    if sustained is None:
                        continue
                    first, profile = sustained, None
            elif sustained is not None:
                first = sustained  # no single hour passed the bound, but the level did
            else:
                continue  # nothing, or a burst-like hour waiting for the next
            if profile is None:
                profile = baseline_profile(hours[:first], usd[:first], expected[first])
            event = OpenEvent(
                anomaly_id(key, hours[first]),
                key,
                hours[first],
                profile,
                new_series=bool(new_class[first]) or new_share[first] >= 0.5,
                top_destinations=tops[first],
                last_hour=hour,
                hours=i - first + 1,
                extra_sum=usd[first]
                - expected[first]
                + sum(usd[j] - profile[hours[j].hour] for j in range(first + 1, i + 1)),
                actuals=usd[first : i + 1],
                last_actual=actual,
                last_expected=expected[i],
                last_upper=upper[i],
                confirmed_after=i - first,
            )
            rows[event.anomaly_id] = event.to_row(
                config, "open", planned.reason(key[1], event.onset)
            )
        if event is not None:
            still_open.append(event)
    still_open.extend(carried.values())
    frame = (
        pl.DataFrame(list(rows.values()), schema=ANOMALY_SCHEMA)
        if rows
        else pl.DataFrame(schema=ANOMALY_SCHEMA)
    )
    return frame.sort("onset_hour", "entity"), still_open


def _sustained_start(
    i: int,
    hours: list[datetime],
    elevated: np.ndarray,
    extra: np.ndarray,
    floors: np.ndarray,
    config: DetectorConfig,
) -> int | None:
    """Where a sustained rise ending at hour ``i`` starts: ``sustained_hours`` consecutive hours
    each at least ``sustained_ratio`` x the forecast, together costing the materiality floor per
    hour more than expected. A rise no single hour of which passes a bursty series' wide bound
    (a cache turned off: two to three times the traffic, for hours) is still a change."""
    k = config.sustained_hours
    first = i - k + 1
    if k <= 0 or first < 0 or hours[first] != hours[i] - timedelta(hours=k - 1):
        return None
    window = slice(first, i + 1)
    if elevated[window].all() and extra[window].sum() >= floors[i] * k:
        return first
    return None


Predict = Callable[[pl.DataFrame], pl.DataFrame]


def judge_hour(
    features: pl.DataFrame,
    hour: datetime,
    predict: Predict,
    open_events: list[OpenEvent],
    planned: PlannedChanges | Mapping[str, str] | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> tuple[pl.DataFrame, list[OpenEvent]]:
    """Judge one hour with a day's model: the 24 hours before it ride along, because an
    event's baseline is the day before its onset."""
    (rows,), still_open = judge_hours(
        features, [hour], lambda _hour: predict, open_events, planned, config
    )
    return rows, still_open


def judge_hours(
    features: pl.DataFrame,
    hours: list[datetime],
    predictor: Callable[[datetime], Predict],
    open_events: list[OpenEvent],
    planned: PlannedChanges | Mapping[str, str] | None = None,
    config: DetectorConfig = DEFAULT_CONFIG,
) -> tuple[list[pl.DataFrame], list[OpenEvent]]:
    """Judge hours in order, each with the model of its day (``predictor``), carrying the open
    events from each hour to the next so an event keeps one id across hours and runs.

    What ``judge_hour`` does hour by hour, with each model's predictions made once for the
    hours it judges (and the day before them): a row rides along in 25 windows, and predicting
    it 25 times cost more than judging. Predictions are per row, so the result is the same.
    """
    judged = []
    for predict, run in _runs_of_same_model(hours, predictor):
        span = _within(features, run[0] - timedelta(hours=24), run[-1])
        scored = pl.concat([span, predict(span)], how="horizontal") if span.height else span
        for hour in run:
            window = _within(scored, hour - timedelta(hours=24), hour)
            if window.height == 0:
                judged.append(pl.DataFrame(schema=ANOMALY_SCHEMA))
                continue
            rows, open_events = detect(window, hour, config, open_events, planned)
            judged.append(rows)
    return judged, open_events


def _within(frame: pl.DataFrame, first: datetime, last: datetime) -> pl.DataFrame:
    return frame.filter(pl.col("hour").is_between(first, last))


def _runs_of_same_model(
    hours: list[datetime], predictor: Callable[[datetime], Predict]
) -> list[tuple[Predict, list[datetime]]]:
    """Consecutive hours judged by the same model, with it."""
    runs: list[tuple[Predict, list[datetime]]] = []
    for hour in hours:
        predict = predictor(hour)
        if runs and runs[-1][0] is predict:
            runs[-1][1].append(hour)
        else:
            runs.append((predict, [hour]))
    return runs


def anomaly_brief(row: dict[str, Any]) -> dict[str, Any]:
    """An anomaly row as people read it (run summary, Dagit metadata): rounded to the tenth of
    a cent per hour, and the month projected from that rounded rate so the two agree."""
    extra = round(row["extra_usd_per_hour"], 3)
    return {
        "anomaly_id": row["anomaly_id"],
        "account_id": row.get("account_id"),
        "entity": row["entity"],
        "dest_class": row["dest_class"],
        "type": row["type"],
        "onset": str(row["onset_hour"]),
        "severity": row["severity"],
        "extra_usd_per_hour": extra,
        "projected_extra_usd_per_month": round(extra * HOURS_PER_MONTH, 2),
    }
