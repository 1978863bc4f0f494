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


def scaled_sigmoids(positions: np.ndarray) -> np.ndarray:
    """NAB's scaled sigmoid of each position: 1 far before a window's end, 0 at it, -1 from
    three window widths past it."""
    sigmoid = 2.0 / (1.0 + np.exp(5.0 * np.minimum(positions, 3.0))) - 1.0
    return np.where(positions > 3.0, -1.0, sigmoid)


def scaled_sigmoid(position: float) -> float:
    return float(scaled_sigmoids(np.array([position]))[0])


MAX_TP = scaled_sigmoid(-1.0)


def probation(length: int) -> int:
    return min(math.floor(0.15 * length), 750)


@dataclass(frozen=True)
class LabelledFile:
    name: str
    scores: np.ndarray
    windows: list[tuple[int, int]]  # inclusive index ranges


def corpus_of(item: LabelledFile) -> str:
    """The corpus of a file named ``<corpus>/<file>.csv``."""
    return item.name.split("/")[0]


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
    detections = np.flatnonzero(item.scores >= threshold)
    detections = detections[detections >= probation(len(item.scores))]
    windows = item.windows
    total = 0.0
    hit: set[int] = set()
    if windows and len(detections):
        starts = np.array([a for a, _ in windows])
        ends = np.array([b for _, b in windows])
        at = np.searchsorted(starts, detections, side="right") - 1  # window starting before
        inside = (at >= 0) & (detections <= ends[np.maximum(at, 0)])
        for i, w in zip(detections[inside].tolist(), at[inside].tolist(), strict=True):
            if w in hit:
                continue  # only the earliest detection of a window counts
            hit.add(w)
            a, b = windows[w]
            total += weights["tp"] * scaled_sigmoid(-(b - i + 1) / (b - a + 1)) / MAX_TP
        outside = detections[~inside]
        previous = np.searchsorted(ends, outside, side="left") - 1  # window ending before
        after = previous >= 0
        a, b = starts[previous[after]], ends[previous[after]]
        past = np.abs(b - outside[after]) / np.maximum(b - a, 1)
        total += weights["fp"] * float(scaled_sigmoids(past).sum())
        total -= weights["fp"] * int((~after).sum())
    else:
        total -= weights["fp"] * len(detections)
    total -= weights["fn"] * (len(windows) - len(hit))
    return total


def null_and_perfect(items: list[LabelledFile], weights: dict[str, float]) -> tuple[float, float]:
    windows = sum(len(i.windows) for i in items)
    return -weights["fn"] * windows, weights["tp"] * windows


def normalised(raw: float, items: list[LabelledFile], weights: dict[str, float]) -> float:
    null, perfect = null_and_perfect(items, weights)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def candidate_thresholds(items: list[LabelledFile]) -> np.ndarray:
    """Thresholds worth trying: high quantiles of all the scores (NAB's own sweep is finer)."""
    every = np.concatenate([i.scores for i in items])
    candidates = np.unique(np.quantile(every, 1 - np.geomspace(0.5, 1e-5, 400)))
    return np.r_[candidates[candidates > 0], 1.01]


def score_table(
    items: list[LabelledFile], weights: dict[str, float], thresholds: np.ndarray
) -> np.ndarray:
    """Raw NAB score of each file (rows) at each threshold (columns)."""
    return np.array([[score_file(i, float(t), weights) for t in thresholds] for i in items])


def best_threshold(
    items: list[LabelledFile], weights: dict[str, float], thresholds: np.ndarray | None = None
) -> tuple[float, float]:
    """(threshold, normalised score) maximising the total over all files, as NAB does."""
    grid = candidate_thresholds(items) if thresholds is None else thresholds
    totals = score_table(items, weights, grid).sum(axis=0)
    best = int(np.argmax(totals))
    return float(grid[best]), normalised(float(totals[best]), items, weights)


@dataclass(frozen=True)
class Fold:
    """One held-out corpus: the setting and threshold chosen on the other corpora, and the
    held-out corpus's score with them."""

    corpus: str
    setting: str
    threshold: float
    raw: float
    normalised: float


def leave_one_corpus_out(
    tables: dict[str, np.ndarray],
    items: list[LabelledFile],
    corpora: list[str],
    weights: dict[str, float],
    thresholds: np.ndarray,
) -> tuple[list[Fold], float]:
    """Per corpus, the setting (a key of ``tables``: its score table over ``items``) and the
    threshold that maximise the total over the *other* corpora, scored on the held-out one; and
    the normalised total of the held-out scores over all files."""
    names = list(tables)
    stacked = np.stack([tables[n] for n in names])  # setting x file x threshold
    corpus_of_item = np.array([corpus_of(i) for i in items])
    folds = []
    for corpus in corpora:
        held = corpus_of_item == corpus
        train = stacked[:, ~held, :].sum(axis=1)
        setting, column = np.unravel_index(int(np.argmax(train)), train.shape)
        raw = float(stacked[setting, held, column].sum())
        held_items = [i for i, h in zip(items, held.tolist(), strict=True) if h]
        folds.append(
            Fold(
                corpus,
                names[setting],
                float(thresholds[column]),
                raw,
                normalised(raw, held_items, weights),
            )
        )
    return folds, normalised(sum(f.raw for f in folds), items, weights)


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


CV_GRID: dict[str, tuple[float, ...]] = {
    # The settings leave-one-corpus-out chooses among (with the threshold): how strong a surprise
    # must be, and how long one alert holds off a second, weaker one.
    "likelihood_digits": (2.5, 3.3),
    "refractory": (50, 150),
}


def grid_settings() -> dict[str, dict[str, float]]:
    """Every combination of CV_GRID, named ``key=value,...``."""
    combos: list[dict[str, float]] = [{}]
    for key, values in CV_GRID.items():
        combos = [{**c, key: v} for c in combos for v in values]
    return {",".join(f"{k}={v:g}" for k, v in c.items()): c for c in combos}


def corpora_in(root: Path, corpus: str) -> list[str]:
    """``all`` is every corpus folder under ``root/data``; otherwise the one named."""
    data = root / "data"
    if corpus != "all":
        return [corpus]
    return sorted(p.name for p in data.iterdir() if p.is_dir() and any(p.glob("*.csv")))


def published_table(
    results: Path, items: list[LabelledFile], corpora: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """detector -> profile -> corpus (and ``total``) -> normalised score, for the detectors whose
    published per-file scores cover exactly these files."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    groups = {c: [i for i in items if corpus_of(i) == c] for c in corpora}
    groups["total"] = items
    for group, members in groups.items():
        raw = published_raw_scores(results, [i.name for i in members])
        for detector, by_profile in raw.items():
            for profile, value in by_profile.items():
                cell = table.setdefault(detector, {}).setdefault(profile, {})
                cell[group] = round(normalised(value, members, PROFILES[profile]), 2)
    return {d: p for d, p in table.items() if all(len(v) == len(groups) for v in p.values())}


def in_sample(
    table: np.ndarray, items: list[LabelledFile], corpora: list[str], weights: dict[str, float]
) -> tuple[int, dict[str, float]]:
    """NAB's own figure: the one threshold (column of ``table``) best over all files, and the
    normalised score per corpus and in total at that threshold."""
    column = int(np.argmax(table.sum(axis=0)))
    row = {}
    for corpus in corpora:
        rows = [corpus_of(i) == corpus for i in items]
        members = [i for i, r in zip(items, rows, strict=True) if r]
        row[corpus] = round(normalised(float(table[rows, column].sum()), members, weights), 2)
    row["total"] = round(normalised(float(table[:, column].sum()), items, weights), 2)
    return column, row


def evaluate_detector(
    scored: dict[str, list[LabelledFile]],
    default: str,
    corpora: list[str],
    thresholds: np.ndarray,
    cv: bool,
) -> dict[str, object]:
    """The detector's NAB figures per profile: in-sample with the ``default`` setting (one
    threshold over all files, as NAB reports), and with ``cv`` the leave-one-corpus-out figure
    over every setting in ``scored`` (setting and threshold chosen on the other corpora)."""
    items = scored[default]
    table: dict[str, dict[str, dict[str, float]]] = {"egress (in-sample)": {}}
    folds_by_profile: dict[str, list[dict[str, object]]] = {}
    thresholds_used: dict[str, float] = {}
    for profile, weights in PROFILES.items():
        tables = {k: score_table(v, weights, thresholds) for k, v in scored.items()}
        column, row = in_sample(tables[default], items, corpora, weights)
        table["egress (in-sample)"][profile] = row
        thresholds_used[profile] = float(thresholds[column])
        if cv:
            folds, total = leave_one_corpus_out(tables, items, corpora, weights, thresholds)
            held = {f.corpus: round(f.normalised, 2) for f in folds}
            table.setdefault("egress (held-out, CV)", {})[profile] = {
                **held,
                "total": round(total, 2),
            }
            folds_by_profile[profile] = [f.__dict__ for f in folds]
    return {"table": table, "thresholds": thresholds_used, "cv": folds_by_profile}
