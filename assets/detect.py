"""Detection assets: ``egress_features`` -> ``egress_model`` (daily) -> ``egress_anomalies`` (hourly)."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSelection,
    Definitions,
    MetadataValue,
    Output,
    ResourceParam,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets.common import (
    CONFIG_ITEMS,
    HOURLY_FRESHNESS,
    after_upstream,
    asset_from_code,
    check_result,
    each_partition,
    lake_asset,
    when_first_needed,
)
from assets.partitions import DAILY, HOURLY
from egress_platform.detect.anomalies import (
    ANOMALY_SCHEMA,
    Predict,
    anomaly_brief,
    anomaly_problems,
    judge_hours,
    latest_rows,
    open_events_from_rows,
)
from egress_platform.detect.features import LOOKBACK_HOURS, build_features, series_frame
from egress_platform.detect.model import TRAINING_DAYS, EgressModel, train_for_day
from egress_platform.detect.planned import planned_changes as planned_changes_of
from egress_platform.lake_layout import HOUR_FORMAT, hour_keys, hour_of
from egress_platform.pricing.estimate import PRICED_SCHEMA
from resources.detection import DetectionPolicy
from resources.lake import LakeIOManager
from resources.ml import Scorer, Trainer

FEATURE_LOOKBACK = timedelta(hours=LOOKBACK_HOURS)
CLOUDTRAIL = "processed_cloudtrail"
TAG_CALLS_BEFORE = timedelta(hours=48)
EVENTS_CHECK = "events_have_stable_ids_and_open_once"
BACKTEST_CHECK = "backtest_on_held_out_day"
TRAINING_WORKERS = 2  # days trained at once (one per core)


@asset_from_code(
    description=(
        "Per entity x destination class x hour: cost, lags (1, 2, 3, 24, 168 h), rolling level and "
        "spread, hour of day, day of week, new class / new destination, share of the entity, $/GB."
    ),
    **lake_asset("detect", HOURLY, {"parquet", "polars"}, after_upstream()),
    deps=["egress_flows_hourly"],
)
def egress_features(
    context: AssetExecutionContext, lake: ResourceParam[LakeIOManager]
) -> Output[dict[str, pl.DataFrame]]:
    keys = list(context.partition_keys)
    first, last = hour_of(keys[0]), hour_of(keys[-1])
    window = hour_keys(first - FEATURE_LOOKBACK, last)
    lake.require("egress_flows_hourly", keys)
    flows = lake.read_frame("egress_flows_hourly", window, PRICED_SCHEMA)
    features = build_features(series_frame(flows, first - FEATURE_LOOKBACK, last))
    wanted = features.filter(pl.col("hour") >= first) if features.height else features
    by_hour = (
        {h.strftime(HOUR_FORMAT): f for (h,), f in wanted.group_by("hour")} if wanted.height else {}
    )
    empty = features.clear()
    out = {k: by_hour.get(k, empty) for k in keys}
    each_partition(
        context,
        {
            k: {
                "rows": f.height,
                "series": f.select("entity", "dest_class").unique().height if f.height else 0,
                "lookback_hours_read": FEATURE_LOOKBACK // timedelta(hours=1),
            }
            for k, f in out.items()
        },
        f"{len(out)} partitions, {sum(f.height for f in out.values()):,} rows, "
        f"{len(window) - len(keys)} earlier hours read",
    )
    return Output(out)


@asset_from_code(
    description=(
        "LightGBM quantile models (median and upper bound, plus a calibrated residual band) "
        "trained on the trailing 14 days of features before the day; retrained daily."
    ),
    **lake_asset("detect", DAILY, {"lightgbm", "parquet"}, when_first_needed()),
    deps=["egress_features"],
    check_specs=[AssetCheckSpec(BACKTEST_CHECK, asset="egress_model")],
)
def egress_model(
    context: AssetExecutionContext, lake: ResourceParam[LakeIOManager], trainer: Trainer
) -> Iterator[Output[dict[str, pl.DataFrame]] | AssetCheckResult]:
    out: dict[str, pl.DataFrame] = {}
    figures: dict[str, dict[str, float]] = {}

    keys = list(context.partition_keys)

    def window(day: datetime) -> list[str]:
        return hour_keys(day - timedelta(days=TRAINING_DAYS), day - timedelta(hours=1))

    # The hours every day's window reads, read once (each day read its 336 files again).
    first_day, last_day = (
        datetime.strptime(k, "%Y-%m-%d").replace(tzinfo=UTC) for k in (keys[0], keys[-1])
    )
    span = hour_keys(first_day - timedelta(days=TRAINING_DAYS), last_day - timedelta(hours=1))
    read = lake.read_each("egress_features", span, {})
    hours = {k: f for k, f in read.items() if f.width}  # materialized ones

    def trained(day_key: str) -> tuple[EgressModel, dict[str, float] | None]:
        day = datetime.strptime(day_key, "%Y-%m-%d").replace(tzinfo=UTC)
        frames = [hours[k] for k in window(day) if k in hours]
        history = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
        return train_for_day(history, day, trainer.train)

    # Each day's model depends only on the features before it: two days train at once (one
    # LightGBM thread each, which releases the GIL; on AWS two SageMaker jobs).
    with ThreadPoolExecutor(TRAINING_WORKERS) as pool:
        results = list(pool.map(trained, keys))
    for day_key, (model, backtested) in zip(keys, results, strict=True):
        if backtested is not None:
            figures[day_key] = backtested
        out[day_key] = pl.DataFrame(
            {"version": [f"egress-model-{day_key}"], "model": [model.to_json()]}
        )
        context.add_asset_metadata(
            {
                "days": 1,
                "version": f"egress-model-{day_key}",
                "training_rows": int(model.metadata["rows"]),
                "backtest": MetadataValue.json(backtested or {}),
            },
            partition_key=day_key,
        )
    last = figures[max(figures)] if figures else {}
    context.log.info(f"run totals: {len(out)} days trained")
    yield Output(out)
    yield AssetCheckResult(
        check_name=BACKTEST_CHECK,
        passed=bool(last) and last.get("share_above_upper", 1.0) <= 0.05,
        metadata={k: float(v) for k, v in last.items()},
    )


def load_model(lake: LakeIOManager, day_key: str) -> EgressModel:
    frame = lake.read_frame("egress_model", [day_key], {})
    if frame.height == 0:
        raise ValueError(
            f"no egress_model for {day_key}: materialize egress_model for that day first"
        )
    return EgressModel.from_json(frame.get_column("model")[0])


@asset_from_code(
    description=(
        "One row per anomaly event touched in the hour: entity, destination class and top "
        "destinations, onset, detection time, actual vs expected vs upper bound, extra $/h and "
        "projected $/day and $/month, severity, type. Events continue across hours under one id."
    ),
    **lake_asset(
        "detect", HOURLY, {"parquet", "lightgbm"}, after_upstream(CONFIG_ITEMS, CLOUDTRAIL)
    ),
    deps=["egress_features", "egress_model", CONFIG_ITEMS, CLOUDTRAIL],
    freshness_policy=HOURLY_FRESHNESS,
    check_specs=[
        AssetCheckSpec(
            EVENTS_CHECK,
            asset="egress_anomalies",
            blocking=True,
            description="each event's id is its series' and onset's, once per hour, and a series "
            "has one open event at most (blocking: a response would start twice)",
        )
    ],
)
def egress_anomalies(
    context: AssetExecutionContext,
    lake: ResourceParam[LakeIOManager],
    scorer: Scorer,
    detection: DetectionPolicy,
) -> Iterator[Output[dict[str, pl.DataFrame]] | AssetCheckResult]:
    keys = list(context.partition_keys)
    first, last = hour_of(keys[0]), hour_of(keys[-1])
    lake.require("egress_features", keys)
    features = lake.read_frame("egress_features", hour_keys(first - timedelta(hours=24), last), {})
    config = lake.read_frame(CONFIG_ITEMS, sorted({k[:10] for k in keys}), {})
    # Tagging calls from two days before the first hour: a tag set before a migration starts.
    trail = lake.read_frame(CLOUDTRAIL, hour_keys(first - TAG_CALLS_BEFORE, last), {})
    planned = planned_changes_of(config, trail, detection.planned_change_tag, detection.windows())
    settings = detection.detector_config()
    previous = lake.read_frame(
        "egress_anomalies",
        [(first - timedelta(hours=1)).strftime(HOUR_FORMAT)],
        ANOMALY_SCHEMA,
    )
    open_events = open_events_from_rows(previous)
    models: dict[str, Predict] = {}

    def predictor(hour: datetime) -> Predict:  # each day's model loaded once
        day_key = f"{hour:%Y-%m-%d}"
        if day_key not in models:
            models[day_key] = partial(scorer.predict, load_model(lake, day_key))
        return models[day_key]

    judged, open_events = judge_hours(
        features, [hour_of(k) for k in keys], predictor, open_events, planned, settings
    )
    out = dict(zip(keys, judged, strict=True))
    every = pl.concat(list(out.values())) if out else pl.DataFrame(schema=ANOMALY_SCHEMA)
    latest = latest_rows(every)
    reported = latest.filter(~pl.col("suppressed")) if latest.height else latest
    for key, rows in out.items():  # each hour: the events it opened or continued
        shown = rows.filter(~pl.col("suppressed")) if rows.height else rows
        reported_at = hour_of(key) + timedelta(hours=1)
        context.add_asset_metadata(
            {
                "anomalies": shown.height,
                # First reported in this hour (an event confirmed an hour after its onset too).
                "opened": int((shown["detected_at"] == reported_at).sum()) if shown.height else 0,
                "suppressed": rows.height - shown.height,
                "extra_usd_per_hour": round(float(shown["extra_usd_per_hour"].sum()), 4)
                if shown.height
                else 0.0,
                "anomaly_list": MetadataValue.json(
                    [anomaly_brief(r) | {"hours": r["hours"]} for r in shown.iter_rows(named=True)]
                ),
                "thresholds": MetadataValue.json(settings.thresholds()),
            },
            partition_key=key,
        )
    context.log.info(
        f"run totals: {len(out)} hours, {reported.height} anomalies reported, "
        f"{latest.height - reported.height} suppressed, {len(open_events)} open at the end"
    )
    yield Output(out)
    yield check_result(EVENTS_CHECK, {k: anomaly_problems(rows) for k, rows in out.items()})


DETECT_ASSETS = [egress_features, egress_model, egress_anomalies]

detect_hourly_job = define_asset_job(
    "detect_hourly",
    selection=AssetSelection.assets("egress_features", "egress_anomalies"),
    description="Features for the hour, then judge it with the day's model.",
)
retrain_daily_job = define_asset_job(
    "retrain_daily",
    selection=AssetSelection.assets("egress_model"),
    description=f"Retrain the detector on the trailing {TRAINING_DAYS} days.",
)
defs = Definitions(
    assets=DETECT_ASSETS,
    jobs=[detect_hourly_job, retrain_daily_job],
    # Each hourly run starts a few minutes after the hour closes, once its logs have landed.
    schedules=[
        build_schedule_from_partitioned_job(detect_hourly_job, minute_of_hour=15),
        build_schedule_from_partitioned_job(retrain_daily_job, hour_of_day=0, minute_of_hour=30),
    ],
)
