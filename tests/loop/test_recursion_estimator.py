"""The compounding estimator and verdict on synthetic lineages with a known gain ratio."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rsimeter.loop.recursion.estimator import (
    conservative_interval,
    estimate_recursion,
    unit_weights,
)
from rsimeter.loop.recursion.synthetic import SyntheticImprover, flat, synthetic_runs

CONTROLS = {"gen0_repeated": flat()}


@pytest.mark.parametrize(
    ("rho", "verdict"), [(1.5, "compounding"), (1.0, "indeterminate"), (0.5, "damped")]
)
def test_estimator_recovers_gain_ratio_set_by_construction_and_calls_verdict(
    rho: float, verdict: str
) -> None:
    runs = synthetic_runs(SyntheticImprover(rho=rho), generations=4, controls=CONTROLS)
    est = estimate_recursion(runs, reps=1000)
    assert est.treatment.mean_gain_ratio.contains(rho)
    for g in est.treatment.generations[2:]:
        assert g.gain_ratio.contains(rho)
    assert est.verdict.verdict == verdict


def test_constant_gains_are_indeterminate_because_the_interval_includes_one() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.0), generations=4, controls=CONTROLS)
    est = estimate_recursion(runs, reps=1000)
    assert any("includes 1" in r for r in est.verdict.reasons)


def test_noise_free_lineage_gives_exact_utilities_gains_and_ratios() -> None:
    imp = SyntheticImprover(rho=2.0, a=0.01, y0=0.2)
    runs = synthetic_runs(imp, generations=3, noise=0.0, task_spread=0.0, seeds=3)
    est = estimate_recursion(runs, reps=200)
    gens = est.treatment.generations
    assert [round(g.utility.value, 12) for g in gens] == [0.2, 0.21, 0.23, 0.27]
    assert gens[1].gain.value == pytest.approx(0.01)
    assert gens[2].gain_ratio.value == pytest.approx(2.0)
    assert gens[3].gain_ratio.low == pytest.approx(2.0)
    assert gens[3].gain_ratio.high == pytest.approx(2.0)
    assert est.treatment.mean_gain_ratio.value == pytest.approx(2.0)
    assert math.isnan(gens[0].gain.value) and math.isnan(gens[1].gain_ratio.value)


def test_interval_of_the_mean_gain_ratio_covers_the_truth_in_most_replications() -> None:
    covered = 0
    trials = 40
    for rep in range(trials):
        runs = synthetic_runs(SyntheticImprover(rho=1.3), generations=3, seed=rep, seeds=10)
        est = estimate_recursion(runs, reps=400, seed=rep)
        covered += est.treatment.mean_gain_ratio.contains(1.3)
    assert covered / trials >= 0.85


def test_generation_time_ratio_is_recovered() -> None:
    imp = SyntheticImprover(rho=1.0, time_ratio=0.8)
    est = estimate_recursion(synthetic_runs(imp, generations=3), reps=500)
    assert est.treatment.mean_time_ratio.contains(0.8)
    assert est.treatment.generations[2].time_ratio.value == pytest.approx(0.8, rel=0.05)


def test_compounding_that_does_not_beat_a_control_is_indeterminate_naming_the_control() -> None:
    same = SyntheticImprover(rho=1.5)
    runs = synthetic_runs(same, generations=4, controls={"tpe": same})
    est = estimate_recursion(runs, reps=1000)
    assert est.treatment.mean_gain_ratio.low > 1
    assert est.verdict.verdict == "indeterminate"
    assert any("does not beat control 'tpe'" in r for r in est.verdict.reasons)


def test_compounding_needs_held_out_measurement() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.5), generations=4, controls=CONTROLS)
    est = estimate_recursion(runs, reps=500, held_out=False)
    assert est.verdict.verdict == "indeterminate"
    assert not est.verdict.held_out_confirmed
    assert any("held-out" in r for r in est.verdict.reasons)


def test_compounding_without_controls_is_indeterminate() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.5), generations=4)
    est = estimate_recursion(runs, reps=500)
    assert est.verdict.verdict == "indeterminate"
    assert "no controls were run" in est.verdict.reasons


def test_two_generations_leave_the_gain_ratio_undefined() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.5), generations=1, controls=CONTROLS)
    est = estimate_recursion(runs, reps=200)
    assert math.isnan(est.treatment.mean_gain_ratio.value)
    assert est.verdict.verdict == "indeterminate"
    assert "undefined" in est.verdict.reasons[0]


def test_no_gain_in_the_first_generations_is_indeterminate_not_damped() -> None:
    imp = SyntheticImprover(rho=1.0, a=0.0)
    est = estimate_recursion(synthetic_runs(imp, generations=3, noise=0.0), reps=200)
    assert est.verdict.verdict == "indeterminate"


def test_undefined_replicates_widen_the_interval_on_both_sides() -> None:
    reps = np.array([1.0] * 90 + [np.nan] * 10)
    est = conservative_interval(1.0, reps, n=10, level=0.95, method="m")
    assert est.low == -np.inf and est.high == np.inf
    assert "10 undefined" in est.method


def test_bootstrap_weights_keep_each_task_and_resample_its_seeds() -> None:
    units = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    w = unit_weights(units, reps=50, seed=1)
    assert (w[:, :3].sum(axis=1) == 3).all() and (w[:, 3:].sum(axis=1) == 2).all()


def test_many_tasks_are_resampled_too() -> None:
    units = [(f"t{i}", s) for i in range(6) for s in range(2)]
    w = unit_weights(units, reps=200, seed=1)
    per_task = w.reshape(200, 6, 2).sum(axis=2)
    assert (per_task == 0).any()  # some task left out of some replicate


def test_runs_table_without_required_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks columns: cost"):
        estimate_recursion(pd.DataFrame({"arm": [], "generation": [], "task": [], "seed": [],
                                         "utility": [], "seconds": []}))  # fmt: skip


def test_duplicate_runs_are_refused() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.0), generations=2, seeds=2)
    with pytest.raises(ValueError, match="more than one row"):
        estimate_recursion(pd.concat([runs, runs.iloc[:1]]))


def test_a_gap_in_generations_is_refused() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.0), generations=3, seeds=2)
    with pytest.raises(ValueError, match="without gaps"):
        estimate_recursion(runs[runs["generation"] != 1])


def test_a_table_without_treatment_is_refused() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.0), generations=2, seeds=2)
    runs["arm"] = "tpe"
    with pytest.raises(ValueError, match="no 'treatment' arm"):
        estimate_recursion(runs)


def test_missing_utilities_are_skipped_not_fatal() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=1.5), generations=3, seeds=10, noise=0.0,
                          task_spread=0.0)  # fmt: skip
    runs.loc[runs.index[3], "utility"] = np.nan
    est = estimate_recursion(runs, reps=200)
    assert est.treatment.generations[0].runs == 19
    assert est.treatment.generations[0].utility.value == pytest.approx(0.1)


def test_one_held_out_seed_per_task_gives_no_interval_and_no_verdict() -> None:
    runs = synthetic_runs(SyntheticImprover(rho=0.2), generations=3, seeds=1, controls=CONTROLS)
    est = estimate_recursion(runs, reps=200)
    rho = est.treatment.mean_gain_ratio
    assert math.isfinite(rho.value) and math.isnan(rho.low) and math.isnan(rho.high)
    assert est.verdict.verdict == "indeterminate"
    assert "no interval" in est.verdict.reasons[0]
