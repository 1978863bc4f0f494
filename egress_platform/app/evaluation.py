"""``egress evaluate``: simulate accounts, run the pipeline (`egress run`) on each, score the lake."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from egress_platform.simulate import simulate

COLUMNS = ("seed", "incidents", "detected", "recall", "events", "precision", "benign_alerts",
           "median_delay_h", "median_impact_error", "rca_accuracy", "bill_explained")  # fmt: skip
TRUTH_SCHEMA = Path(__file__).resolve().parents[1] / "detect" / "ground_truth.schema.json"


class TruthError(ValueError):
    """A ground-truth file that cannot be used: the message says where and what to fix."""


def load_truth(path: Path) -> dict[str, Any]:
    """A ground-truth file, checked against ``ground_truth.schema.json``."""
    import jsonschema

    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TruthError(
            f"cannot read {path}: {getattr(error, 'strerror', None) or error}"
        ) from None
    except ValueError as error:
        raise TruthError(f"{path} is not JSON ({error})") from None
    schema = json.loads(TRUTH_SCHEMA.read_text())
    problem = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(truth)
    )
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
        raise TruthError(
            f"{path} at {where}: {problem.message} (see {TRUTH_SCHEMA.name} for the format)"
        )
    return dict(truth)


def score_lake(lake: Path, truth: dict[str, Any]) -> tuple[dict[str, Any], pl.DataFrame]:
    """The detections and root causes in the lake scored against a ground truth, and the
    anomaly events scored (suppressed ones too: both scores leave them out themselves)."""
    from assets.report import latest_events
    from egress_platform.detect.evaluate import rca_accuracy, score_against_truth
    from egress_platform.pricing.reconcile import RECONCILIATION_SCHEMA, reconciliation_summary
    from egress_platform.rca.report import REPORT_SCHEMA
    from resources.lake import LocalLakeIOManager

    store = LocalLakeIOManager(root=str(lake))
    events = latest_events(store)
    score = score_against_truth(events, truth)
    rca = rca_accuracy(store.read_all("rca_reports", REPORT_SCHEMA), events, truth)
    bill = reconciliation_summary(store.read_all("cost_reconciliation", RECONCILIATION_SCHEMA))
    reconciliation = {
        "bill_explained": bill["explained_share"] if bill["cur_transfer_usd"] else None,
        "bill_assumed_usd": bill["assumed_usd"],
        "bill_by_usage_type": bill["by_usage_type"],
    }
    summary = {**score.summary(), **rca, **reconciliation}
    return {**summary, "per_incident": score.per_incident}, events


def evaluate_landing(
    landing: str, truth_path: Path, lake: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """Run the pipeline on a landing zone that is already there and score it against a
    ground-truth file: the same scoring as the simulated seeds, for accounts others wrote."""
    from egress_platform.app.run import run_landing

    truth = load_truth(truth_path)
    run_landing(landing, str(lake), lambda _: None, dagster_home=lake / ".dagster")
    score, events = score_lake(lake, truth)
    row = {"seed": Path(landing).name or landing, **score}
    say(f"  {row['seed']}: {_shown(score)}")
    result = {**row, "anomalies": events.drop("baseline_profile").to_dicts()}
    return {"landing": landing, "truth": str(truth_path), "seeds": [result], "overall": row}


def _shown(score: dict[str, Any]) -> dict[str, Any]:
    hidden = ("per_incident", "rca_judged", "rca_correct", "bill_by_usage_type")
    return {k: v for k, v in score.items() if k not in hidden}


def evaluate_seed(seed: int, days: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Simulate one account, run the pipeline over it (`egress run`), score the lake it wrote."""
    from egress_platform.app.run import run_landing

    landing, lake = work / f"seed-{seed}" / "landing", work / f"seed-{seed}" / "lake"
    simulate(landing, date(2026, 11, 1), days, seed)
    run_landing(str(landing), str(lake), lambda _: None, dagster_home=lake / ".dagster")
    truth = json.loads((landing / "ground_truth.json").read_text())
    score, events = score_lake(lake, truth)
    say(f"  seed {seed}: {_shown(score)} rca {score['rca_correct']}/{score['rca_judged']}")
    return {"seed": seed, **score, "anomalies": events.drop("baseline_profile").to_dicts()}


def evaluate(
    seeds: list[int], days: int, say: Callable[[str], None], keep: Path | None = None
) -> dict[str, Any]:
    """Each seed's account simulated, run and scored; the lakes kept under ``keep`` if given
    (``seed-N/landing`` and ``seed-N/lake``), for a later look or ``--cv``."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        results = [evaluate_seed(s, days, keep, say) for s in seeds]
    else:
        with tempfile.TemporaryDirectory(prefix="egress-eval-") as tmp:
            results = [evaluate_seed(s, days, Path(tmp), say) for s in seeds]
    incidents = sum(r["incidents"] for r in results)
    detected = sum(r["detected"] for r in results)
    events = sum(r["events"] for r in results)
    true_events = sum(r["true_events"] for r in results)
    delays = sorted(d["delay_h"] for r in results for d in r["per_incident"] if "delay_h" in d)
    errors = sorted(
        d["impact_error"] for r in results for d in r["per_incident"] if "impact_error" in d
    )
    overall = {
        "seed": "all",
        "incidents": incidents,
        "detected": detected,
        "recall": round(detected / incidents, 3) if incidents else None,
        "events": events,
        "precision": round(true_events / events, 3) if events else None,
        "benign_alerts": sum(r["benign_alerts"] for r in results),
        "median_delay_h": _median(delays),
        "median_impact_error": _median(errors),
        "rca_judged": sum(r["rca_judged"] for r in results),
        "rca_correct": sum(r["rca_correct"] for r in results),
    }
    overall["rca_accuracy"] = (
        round(overall["rca_correct"] / overall["rca_judged"], 3) if overall["rca_judged"] else None
    )
    shares = [r["bill_explained"] for r in results if r.get("bill_explained") is not None]
    overall["bill_explained"] = round(min(shares), 4) if shares else None  # the worst account
    return {"days": days, "seeds": results, "overall": overall}


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def table(report: dict[str, Any]) -> str:
    rows = [*report["seeds"], report["overall"]]
    lines = ["".join(f"{c:>20}" for c in COLUMNS)]
    for row in rows:
        lines.append("".join(f"{'' if row.get(c) is None else row.get(c)!s:>20}" for c in COLUMNS))
    return "\n".join(lines)


# ---- choosing the detector's settings by leave-one-seed-out cross-validation -----------------
# Each setting re-judges the hours of every kept lake (its features and daily models stay as the
# pipeline wrote them); the setting chosen without a seed is scored on that seed.
# Confirmation (DetectorConfig.confirm): none; an hour within the week's peak waits for a
# second; any hour to a class and destinations the series already had waits for a second.
CV_GRID = tuple(
    {"margin": margin, "min_extra_usd": extra, "confirm": confirm, "sustained_hours": sustained}
    for margin in (1.15, 1.3)
    for extra in (0.05, 0.1)
    for confirm in ("none", "within_peak", "spikes")
    for sustained in (0, 3)
)


def rejudge(lake: Path, truth: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The lake's hours judged again with other detector settings, scored against the truth."""
    from dataclasses import replace

    from assets.detect import load_model
    from egress_platform.detect.anomalies import DEFAULT_CONFIG, judge_hours, latest_rows
    from egress_platform.detect.evaluate import score_against_truth
    from egress_platform.detect.features import SERIES_KEY, recent_peak
    from egress_platform.detect.planned import planned_changes
    from egress_platform.lake_layout import hour_of
    from resources.lake import LocalLakeIOManager

    store = LocalLakeIOManager(root=str(lake))
    features = store.read_all("egress_features").sort([*SERIES_KEY, "hour"])
    if "peak_usd_168" not in features.columns:  # a lake written before the column existed
        features = features.with_columns(recent_peak())
    models = {day: load_model(store, day) for day in store.partitions("egress_model")}
    planned = planned_changes(
        store.read_all("processed_config_items"), store.read_all("processed_cloudtrail")
    )
    hours = [hour_of(k) for k in store.partitions("egress_anomalies")]
    config = replace(DEFAULT_CONFIG, **settings)
    judged, _ = judge_hours(
        features, hours, lambda h: models[f"{h:%Y-%m-%d}"].predict, [], planned, config
    )
    rows = [frame for frame in judged if frame.height]
    events = latest_rows(pl.concat(rows)) if rows else pl.DataFrame()
    if events.height == 0:
        return {"incidents": len(truth["incidents"]), "detected": 0, "events": 0,
                "true_events": 0, "delays": []}  # fmt: skip
    score = score_against_truth(events, truth)
    return {
        "incidents": score.incidents,
        "detected": score.detected,
        "events": score.events,
        "true_events": score.true_events,
        "delays": score.delays_h,
    }


def _f1(scores: list[dict[str, Any]]) -> tuple[float, float]:
    """(pooled F1 of recall and precision, minus the median delay) over seeds: bigger is better."""
    incidents = sum(s["incidents"] for s in scores)
    events = sum(s["events"] for s in scores)
    recall = sum(s["detected"] for s in scores) / incidents if incidents else 1.0
    precision = sum(s["true_events"] for s in scores) / events if events else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    delays = sorted(d for s in scores for d in s["delays"])
    return round(f1, 6), -(_median(delays) or 0.0)


def cross_validate(kept: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Leave one seed out over the lakes ``egress evaluate --keep`` wrote: for each seed, the
    grid setting with the best pooled F1 (then the shortest delay) on the other seeds, and its
    score on the held-out one; and the setting the seeds choose together (the default to use)."""
    seeds = sorted(
        (int(d.name.split("-", 1)[1]), d)
        for d in kept.glob("seed-*")
        if (d / "lake").is_dir() and (d / "landing" / "ground_truth.json").is_file()
    )
    if len(seeds) < 2:
        raise ValueError(f"{kept} holds fewer than two kept seeds (seed-N/lake): run "
                         "`egress evaluate --seeds A,B,C --keep DIR` first")  # fmt: skip
    table: dict[tuple[int, int], dict[str, Any]] = {}
    for seed, folder in seeds:
        truth = load_truth(folder / "landing" / "ground_truth.json")
        for i, settings in enumerate(CV_GRID):
            table[(seed, i)] = rejudge(folder / "lake", truth, settings)
        say(f"  seed {seed}: {len(CV_GRID)} settings judged")

    def best(train: list[int]) -> int:
        return max(range(len(CV_GRID)), key=lambda i: (_f1([table[(s, i)] for s in train]), -i))

    held_out = []
    for seed, _ in seeds:
        chosen = best([s for s, _ in seeds if s != seed])
        score = table[(seed, chosen)]
        held_out.append({"seed": seed, "settings": CV_GRID[chosen], **score})
        say(f"  without seed {seed}: {CV_GRID[chosen]} -> on seed {seed}: detected "
            f"{score['detected']}/{score['incidents']}, precision "
            f"{score['true_events']}/{score['events']}")  # fmt: skip
    pooled_f1, neg_delay = _f1(held_out)
    overall = best([s for s, _ in seeds])
    return {
        "grid": list(CV_GRID),
        "held_out": held_out,
        "held_out_f1": pooled_f1,
        "held_out_median_delay_h": -neg_delay,
        "chosen_on_all_seeds": CV_GRID[overall],
        "in_sample_f1_by_setting": {
            str(i): _f1([table[(s, i)] for s, _ in seeds])[0] for i in range(len(CV_GRID))
        },
    }
