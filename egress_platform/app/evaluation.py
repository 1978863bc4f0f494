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
           "median_delay_h", "median_impact_error", "rca_accuracy")  # fmt: skip


def score_lake(lake: Path, truth: dict[str, Any]) -> tuple[dict[str, Any], pl.DataFrame]:
    """The detections and root causes in the lake scored against a ground truth, and the
    anomaly events scored (suppressed ones too: both scores leave them out themselves)."""
    from assets.report import latest_events
    from egress_platform.detect.evaluate import rca_accuracy, score_against_truth
    from egress_platform.rca.report import REPORT_SCHEMA
    from resources.lake import LocalLakeIOManager

    store = LocalLakeIOManager(root=str(lake))
    events = latest_events(store)
    score = score_against_truth(events, truth)
    rca = rca_accuracy(store.read_all("rca_reports", REPORT_SCHEMA), events, truth)
    return {**score.summary(), **rca, "per_incident": score.per_incident}, events


def evaluate_seed(seed: int, days: int, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Simulate one account, run the pipeline over it (`egress run`), score the lake it wrote."""
    from egress_platform.app.run import run_landing

    landing, lake = work / f"seed-{seed}" / "landing", work / f"seed-{seed}" / "lake"
    simulate(landing, date(2026, 11, 1), days, seed)
    run_landing(str(landing), str(lake), lambda _: None, dagster_home=lake / ".dagster")
    truth = json.loads((landing / "ground_truth.json").read_text())
    score, events = score_lake(lake, truth)
    shown = {
        k: v for k, v in score.items() if k not in ("per_incident", "rca_judged", "rca_correct")
    }
    say(f"  seed {seed}: {shown} rca {score['rca_correct']}/{score['rca_judged']}")
    return {"seed": seed, **score, "anomalies": events.drop("baseline_profile").to_dicts()}


def evaluate(seeds: list[int], days: int, say: Callable[[str], None]) -> dict[str, Any]:
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
