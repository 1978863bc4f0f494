"""``make demo``: simulate an account, then `egress run` over its landing zone, and score it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from egress_platform.app.errors import UnusableInput
from egress_platform.app.run import WARMUP_DAYS
from egress_platform.settings import get_settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Scale:
    days: int
    enis: int


SCALES = {"default": Scale(21, 10), "large": Scale(28, 40)}


def demo_scale() -> Scale:
    """``EGRESS_SCALE`` (default or large) picks the simulated account's size."""
    return SCALES[get_settings().scale]


def run_demo(
    start: date, days: int, seed: int, say: Say, enis: int = 10, dagster_home: Path | None = None
) -> int:
    """Simulate an account into the lake's landing zone, then `egress run` over it."""
    from egress_platform.app.evaluation import score_lake
    from egress_platform.app.run import run_landing, say_summary, write_summary
    from egress_platform.simulate import simulate
    from resources.lake import LocalLakeIOManager

    began = time.monotonic()
    settings = get_settings()
    lake = settings.lake_root()
    landing = lake / "landing"
    say(f"simulating {days} days of account activity into {landing} (seed {seed}, {enis} ENIs)")
    t0 = time.monotonic()
    try:
        sim = simulate(landing, start, days, seed, enis, progress=lambda m: say(f"      {m}"))
    except OSError as exc:
        raise UnusableInput(f"cannot write the landing zone {landing}: {exc.strerror}") from exc
    say(
        f"      account {sim.account_id}, {sim.incidents} incidents injected, "
        f"{time.monotonic() - t0:.1f}s"
    )
    outcome = run_landing(str(landing), str(lake), say, dagster_home=dagster_home)
    summary: dict[str, Any] = {
        "account_id": sim.account_id,
        "days": days,
        "seed": seed,
        "enis": enis,
    }
    summary |= outcome.summary
    truth = json.loads((landing / "ground_truth.json").read_text())
    summary["ground_truth_score"] = score_lake(lake, truth)[0]
    summary["seconds"] = round(time.monotonic() - began, 1)
    say_summary(summary, say)
    say_score(summary, say)
    write_summary(LocalLakeIOManager(root=str(lake)), summary)
    reports = lake / "reports"
    say(
        f"\nraw zone: {lake / 'raw'}   processed: {lake / 'processed'}   curated: {lake / 'curated'}"
    )
    say(f"summary: {reports / 'summary.json'}   dashboard: {reports / 'dashboard.html'}")
    say(f"ground truth: {landing / 'ground_truth.json'}")
    if summary["anomalies"]:
        say(f"lineage of an anomaly: egress audit-lineage {summary['anomalies'][0]['anomaly_id']}")
    say("browse the assets, partitions, lineage and checks with `make dev`")
    say(f"done in {summary['seconds']:.0f}s")
    return 0 if outcome.checks_ok else 1


def say_score(summary: dict[str, Any], say: Say) -> None:
    s = summary["ground_truth_score"]
    if summary["days"] <= WARMUP_DAYS:
        say(
            f"score against the ground truth: not judged (detection needs more than {WARMUP_DAYS} days)"
        )
        return
    delay = f"{s['median_delay_h']:.1f} h" if s["median_delay_h"] is not None else "n/a"
    error = f"{s['median_impact_error']:.1%}" if s["median_impact_error"] is not None else "n/a"
    say(
        f"score against the ground truth: {s['detected']}/{s['incidents']} incidents detected "
        f"(recall {s['recall']:.0%}), precision {s['precision']:.0%} over {s['events']} events, "
        f"{s['benign_alerts']} alerts on benign changes, median delay {delay}, "
        f"median $ impact error {error}, root cause right for {s['rca_correct']}/{s['rca_judged']}"
    )
