"""``egress_model``: LightGBM quantile forecasts of each series' hourly cost.

Two boosters share the features: the median (what the hour should cost) and a high quantile
(how much it may cost before it is unusual). Targets are ``log1p(usd * 1000)`` so a $0.01/h
series and a $10/h one weigh alike. The artifact is the two boosters' text plus metadata as one
JSON document: the same bytes locally and as a SageMaker model artifact.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl

from egress_platform.detect.features import FEATURES, SERIES_KEY

SCALE = 1000.0
UPPER_QUANTILE = 0.98
MIN_UPPER_RATIO = 1.25
CALIBRATION_HOURS = 48
BAND_SIGMAS = 5.0
MIN_BAND = 0.2  # log1p units: about +22 % at least
MATERIAL_USD = 0.01
PARAMS: dict[str, Any] = {
    "objective": "quantile",
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "verbose": -1,
    # One thread: on a day's features (about 10k rows) two threads cost more in wake-ups than they
    # save (1.4 s per model vs 5.3 s with passive waiting; 1.4 s with busy-waiting threads).
    "num_threads": 1,
    "seed": 7,
    "deterministic": True,
}
ROUNDS = 200
TRAINING_DAYS = 14  # each day's model learns from the 14 days before it
MIN_TRAINING_ROWS = 50  # feature rows with a day of history, below which no model is trained


def to_target(usd: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(usd, 0.0) * SCALE)


def from_target(y: np.ndarray) -> np.ndarray:
    return np.maximum(np.expm1(y), 0.0) / SCALE


@dataclass
class EgressModel:
    median: Any
    upper: Any
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: pl.DataFrame) -> pl.DataFrame:
        """Expected and upper-bound USD for each row.

        The bound is the larger of the upper-quantile booster and a calibrated band around the
        median: the residual quantile measured on held-out hours of the same destination class
        (split conformal), so a series that is noisier than the booster learnt still gets room.
        """
        x = features.select(FEATURES).to_numpy().astype(np.float64)
        median = self.median.predict(x)
        band = (
            features.select(band_key())
            .to_series()
            .replace_strict(
                self.metadata.get("residual_band", {}),
                default=self.metadata.get("default_band", 0.5),
            )
        )
        calibrated = from_target(median + band.cast(pl.Float64).to_numpy())
        expected = from_target(median)
        upper = np.maximum.reduce(
            [from_target(self.upper.predict(x)), calibrated, expected * MIN_UPPER_RATIO]
        )
        return pl.DataFrame({"expected_usd": expected, "upper_usd": upper})

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": "egress-lightgbm-quantile/1",
                "features": FEATURES,
                "median": self.median.model_to_string(),
                "upper": self.upper.model_to_string(),
                "metadata": self.metadata,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> EgressModel:
        lgb = lightgbm()

        doc = json.loads(text)
        if doc.get("features") != FEATURES:
            raise ValueError("model was trained on other features; retrain egress_model")
        return cls(
            lgb.Booster(model_str=doc["median"]),
            lgb.Booster(model_str=doc["upper"]),
            doc.get("metadata", {}),
        )


def band_key() -> pl.Expr:
    return pl.concat_str([pl.col("entity_type"), pl.col("dest_class")], separator="|")


def lightgbm() -> ModuleType:
    """LightGBM as a good neighbour: OpenMP threads that sleep while they wait (busy-waiting
    burnt a loaded 2-core machine: 586 s wall for 75 s of work), and without its scikit-learn
    glue, about 4 s of imports per process that the product never uses (it calls lgb.train)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when the OpenMP runtime loads
    with _IMPORTING:  # days train on two threads: one imports, the other waits for the module
        if "lightgbm" in sys.modules:
            return sys.modules["lightgbm"]
        hide = "sklearn" not in sys.modules
        if hide:
            sys.modules["sklearn"] = None  # type: ignore[assignment]  # lightgbm.compat: ImportError
        try:
            import lightgbm as lgb
        finally:
            if hide:
                sys.modules.pop("sklearn", None)  # whoever needs scikit-learn later still gets it
        return lgb


_IMPORTING = threading.Lock()


def fit_quantile(rows: pl.DataFrame, alpha: float, rounds: int) -> Any:
    """A LightGBM booster for the ``alpha`` quantile of log1p(usd) given the features."""
    lgb = lightgbm()

    x = rows.select(FEATURES).to_numpy().astype(np.float64)
    y = to_target(rows.get_column("usd").to_numpy())
    data = lgb.Dataset(x, y, feature_name=FEATURES, free_raw_data=True)
    return lgb.train({**PARAMS, "alpha": alpha}, data, num_boost_round=rounds)


def residual_bands(
    rows: pl.DataFrame, rounds: int, hold_out_hours: int = CALIBRATION_HOURS
) -> dict[str, float]:
    """Per entity type and class: how far above the median held-out hours go (robust, in sigmas)."""
    if rows.height == 0:
        return {}
    cut = rows.get_column("hour").max() - timedelta(hours=hold_out_hours)  # type: ignore[operator]
    fit_rows, held = rows.filter(pl.col("hour") <= cut), rows.filter(pl.col("hour") > cut)
    if fit_rows.height < 200 or held.height == 0:
        return {}
    model = fit_quantile(fit_rows, 0.5, rounds)
    predicted = model.predict(held.select(FEATURES).to_numpy().astype(np.float64))
    residual = to_target(held.get_column("usd").to_numpy()) - predicted
    frame = pl.DataFrame({"band_key": held.select(band_key()).to_series(), "r": residual})
    # Hours below a cent are all relative noise and could never reach min_extra_usd anyway.
    material = frame.filter(held.get_column("usd") >= MATERIAL_USD)
    # A robust spread (MAD): incidents inside the calibration hours must not widen the band.
    spread = (pl.col("r") - pl.col("r").median()).abs().median() * 1.4826
    bands = material.group_by("band_key").agg(
        (pl.col("r").median() + spread * BAND_SIGMAS).alias("b")
    )
    return {c: max(float(b), MIN_BAND) for c, b in bands.iter_rows()}


def train(features: pl.DataFrame, rounds: int = ROUNDS) -> EgressModel:
    """Fit both quantiles on every series-hour with at least a day of history, and calibrate."""
    # In a fixed order: LightGBM's bins and splits depend on row order, and the rows arrive in
    # whatever order the partitions' group-bys left them, so equal data gave unequal models.
    rows = features.filter(pl.col("history_hours") >= 24).sort(["hour", *SERIES_KEY])
    boosters = [fit_quantile(rows, alpha, rounds) for alpha in (0.5, UPPER_QUANTILE)]
    bands = residual_bands(rows, rounds)
    hours = rows.get_column("hour")
    metadata = {
        "rows": rows.height,
        "series": rows.select("entity", "dest_class").unique().height,
        "trained_from": str(hours.min()) if rows.height else None,
        "trained_to": str(hours.max()) if rows.height else None,
        "upper_quantile": UPPER_QUANTILE,
        "residual_band": bands,
        "default_band": max(bands.values()) if bands else 0.5,
        "rounds": rounds,
        "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
    }
    return EgressModel(boosters[0], boosters[1], metadata)


def backtest(model: EgressModel, features: pl.DataFrame) -> dict[str, float]:
    """Held-out figures: median absolute error ($/h) and how often actual exceeds the bound."""
    if features.height == 0:
        return {"rows": 0}
    predicted = model.predict(features)
    actual = features.get_column("usd").to_numpy()
    expected = predicted.get_column("expected_usd").to_numpy()
    upper = predicted.get_column("upper_usd").to_numpy()
    return {
        "rows": int(features.height),
        "median_abs_error_usd": float(np.median(np.abs(actual - expected))),
        "share_above_upper": float(np.mean(actual > upper)),
        "total_actual_usd": float(actual.sum()),
        "total_expected_usd": float(expected.sum()),
    }


def training_window(features: pl.DataFrame, day: datetime) -> pl.DataFrame:
    """The features a day's model learns from: the ``TRAINING_DAYS`` before the day."""
    return features.filter(
        (pl.col("hour") < day) & (pl.col("hour") >= day - timedelta(days=TRAINING_DAYS))
    )


class NotEnoughHistory(ValueError):
    """Too few feature rows before a day to train its model."""


def train_for_day(
    history: pl.DataFrame, day: datetime, fit: Callable[[pl.DataFrame, str], EgressModel]
) -> tuple[EgressModel, dict[str, float] | None]:
    """The day's model from the features before it (``fit`` trains: in-process or SageMaker),
    and a backtest on the last of those days by a model that did not see it (None when the
    days before that are too few to train on)."""
    day_key = f"{day:%Y-%m-%d}"
    if not enough_history(history):
        raise NotEnoughHistory(
            f"not enough feature history before {day_key} to train; materialize "
            "egress_features for the days before it (the model needs at least 2 days)"
        )
    model = fit(history, f"egress-{day_key}")
    held_out_start = day - timedelta(days=1)
    held = history.filter(pl.col("hour") >= held_out_start)
    earlier = history.filter(pl.col("hour") < held_out_start)
    figures = (
        backtest(fit(earlier, f"backtest-{day_key}"), held) if enough_history(earlier) else None
    )
    model.metadata |= {"day": day_key, "version": f"egress-model-{day_key}"}
    return model, figures


def enough_history(history: pl.DataFrame) -> bool:
    return history.height > 0 and (
        history.filter(pl.col("history_hours") >= 24).height >= MIN_TRAINING_ROWS
    )
