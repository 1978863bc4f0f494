"""`egress evaluate`'s honest parts: the ground-truth schema and the leave-one-seed-out choice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from egress_platform.app import evaluation
from egress_platform.app.evaluation import CV_GRID, TruthError, cross_validate, load_truth
from egress_platform.simulate import simulate


def test_the_simulator_s_truth_file_follows_the_schema_and_broken_ones_say_where(
    tmp_path: Path,
) -> None:
    from datetime import date

    simulate(tmp_path / "landing", date(2026, 11, 1), 1, 5)
    truth_file = tmp_path / "landing" / "ground_truth.json"
    truth = load_truth(truth_file)
    assert truth["incidents"] and truth["benign_changes"]
    truth["incidents"][0]["start"] = "yesterday"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(truth))
    with pytest.raises(TruthError, match=r"at incidents/0/start: 'yesterday' does not match"):
        load_truth(broken)
    broken.write_text("{")
    with pytest.raises(TruthError, match="is not JSON"):
        load_truth(broken)


def _kept(tmp_path: Path, seeds: list[int]) -> Path:
    for seed in seeds:
        (tmp_path / f"seed-{seed}" / "lake").mkdir(parents=True)
        (tmp_path / f"seed-{seed}" / "landing").mkdir()
        (tmp_path / f"seed-{seed}" / "landing" / "ground_truth.json").write_text(
            json.dumps({"incidents": []})
        )
    return tmp_path


def test_each_seed_is_scored_with_the_setting_the_other_seeds_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never tuned on what is scored: setting 3 is best on seeds 1 and 2 and worst on seed 3,
    so seed 3's held-out figure is setting 3's there, while seeds 1 and 2 are scored with what
    the others chose."""

    def fake(lake: Path, truth: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
        seed, index = int(lake.parent.name.split("-")[1]), CV_GRID.index(settings)
        good = (index == 3) != (seed == 3)  # setting 3 fits seeds 1, 2; the others fit seed 3
        return {"incidents": 4, "detected": 4 if good else 2, "events": 4, "true_events": 4,
                "delays": [1.0]}  # fmt: skip

    monkeypatch.setattr(evaluation, "rejudge", fake)
    report = cross_validate(_kept(tmp_path, [1, 2, 3]), lambda _: None)
    chosen = {r["seed"]: CV_GRID.index(r["settings"]) for r in report["held_out"]}
    assert chosen[3] == 3  # chosen on seeds 1 and 2
    assert chosen[1] == chosen[2] == 0  # without seed 1 (or 2), setting 0 ties and is first
    assert [r["detected"] for r in report["held_out"]] == [2, 2, 2]
    assert report["held_out_f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5, abs=1e-6)
    assert CV_GRID.index(report["chosen_on_all_seeds"]) == 3


def test_fewer_than_two_kept_seeds_is_an_error_that_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="egress evaluate --seeds"):
        cross_validate(_kept(tmp_path, [1]), lambda _: None)
