"""The NAB score (Numenta Anomaly Benchmark), as NAB defines it, for a folder of scored series.

Per file: points in the probationary period (the first 15 %, at most 750) are not scored; each
labelled window scores its earliest detection by the scaled sigmoid of its position in the
window (1 at the window's start, 0 at its end, times the profile's TP weight); a window with no
detection costs the FN weight; a detection outside every window costs the FP weight, scaled by
the sigmoid of its distance past the previous window (the full weight when there is none or it
is more than three window widths away). One threshold per profile, chosen to maximise the total
over all files, and the total normalised so the null detector (no detections) scores 0 and the
perfect one 100.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation(length: int) -> int:
    return min(math.floor(0.15 * length), 750)


@dataclass(frozen=True)
class LabelledFile:
    name: str
    scores: np.ndarray
    windows: list[tuple[int, int]]  # inclusive index ranges


def window_indices(timestamps: list[datetime], windows: list[list[str]]) -> list[tuple[int, int]]:
    found = []
    for start_text, end_text in windows:
        start = datetime.fromisoformat(start_text.split(".")[0])
        end = datetime.fromisoformat(end_text.split(".")[0])
        inside = [i for i, t in enumerate(timestamps) if start <= t <= end]
        if inside:
            found.append((inside[0], inside[-1]))
    return found


def score_file(item: LabelledFile, threshold: float, weights: dict[str, float]) -> float:
    detections = np.nonzero(item.scores >= threshold)[0]
    skip = probation(len(item.scores))
    total = 0.0
    hit: set[int] = set()
    for i in detections:
        if i < skip:
            continue
        inside = next((w for w, (a, b) in enumerate(item.windows) if a <= i <= b), None)
        if inside is not None:
            if inside in hit:
                continue  # only the earliest detection of a window counts
            hit.add(inside)
            a, b = item.windows[inside]
            position = -(b - i + 1) / (b - a + 1)
            total += weights["tp"] * scaled_sigmoid(position) / MAX_TP
            continue
        before = [(a, b) for a, b in item.windows if b < i]
        if before:
            a, b = before[-1]
            past = abs(b - i) / max(b - a, 1)
            total += weights["fp"] * scaled_sigmoid(past)
        else:
            total += -weights["fp"]
    total -= weights["fn"] * (len(item.windows) - len(hit))
    return total


def null_and_perfect(items: list[LabelledFile], weights: dict[str, float]) -> tuple[float, float]:
    windows = sum(len(i.windows) for i in items)
    return -weights["fn"] * windows, weights["tp"] * windows


def normalised(raw: float, items: list[LabelledFile], weights: dict[str, float]) -> float:
    null, perfect = null_and_perfect(items, weights)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def best_threshold(items: list[LabelledFile], weights: dict[str, float]) -> tuple[float, float]:
    """(threshold, normalised score) maximising the total over all files."""
    every = np.concatenate([i.scores for i in items])
    candidates = np.unique(np.quantile(every, 1 - np.geomspace(0.5, 1e-5, 400)))
    candidates = candidates[candidates > 0]
    best = (1.01, normalised(sum(score_file(i, 1.01, weights) for i in items), items, weights))
    for threshold in candidates:
        total = sum(score_file(i, float(threshold), weights) for i in items)
        value = normalised(total, items, weights)
        if value > best[1]:
            best = (float(threshold), value)
    return best


def load_windows(labels: Path) -> dict[str, list[list[str]]]:
    data: dict[str, list[list[str]]] = json.loads(labels.read_text())
    return data


def published_raw_scores(results: Path, files: list[str]) -> dict[str, dict[str, float]]:
    """Per published detector and profile: its raw score summed over exactly these files."""
    wanted = set(files)
    table: dict[str, dict[str, float]] = {}
    for folder in sorted(p for p in results.iterdir() if p.is_dir()):
        for profile in PROFILES:
            path = folder / f"{folder.name}_{profile}_scores.csv"
            if not path.is_file():
                continue
            rows = [r for r in csv.DictReader(path.open()) if r["File"] in wanted]
            if {r["File"] for r in rows} == wanted:
                table.setdefault(folder.name, {})[profile] = sum(float(r["Score"]) for r in rows)
    return table
