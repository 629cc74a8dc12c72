"""Per-agent logistic fits and the vectorised hierarchical bootstrap."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from rsimeter.errors import RsimeterError
from rsimeter.horizon.fit import (
    _run_counts,
    _task_counts,
    fit_horizons,
    fit_logistic_batch,
    horizon_minutes,
    run_weights,
)

from .conftest import make_runs


def sklearn_p50(x: np.ndarray, y: np.ndarray, w: np.ndarray, reg: float) -> float:
    m = LogisticRegression(C=1 / reg, tol=1e-12, max_iter=100_000)
    m.fit(x[:, None], y, sample_weight=w)
    return float(2 ** (-m.intercept_[0] / m.coef_[0, 0]))


@pytest.mark.parametrize("reg", [1e-5, 0.1, 1.0])
def test_batched_newton_matches_sklearn_objective(reg: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 10, 400)
    y = (rng.random(400) < 1 / (1 + np.exp(0.8 * (x - 4)))).astype(float)
    w = rng.uniform(0.1, 2, 400)
    w /= w.sum()
    a, b, conv = fit_logistic_batch(x, y, w[None, :], reg)
    assert conv[0]
    m = LogisticRegression(C=1 / reg, tol=1e-12, max_iter=100_000).fit(
        x[:, None], y, sample_weight=w
    )
    assert a[0] == pytest.approx(m.intercept_[0], rel=1e-5, abs=1e-6)
    assert b[0] == pytest.approx(m.coef_[0, 0], rel=1e-5, abs=1e-6)


def test_fractional_success_equals_metr_split_rows() -> None:
    # METR splits a score y into a success row weighted y and a failure row weighted 1-y
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 0.7, 0.5, 0.2, 0.0])
    w = np.full(5, 0.2)
    a, b, _ = fit_logistic_batch(x, y, w[None, :], 0.1)
    xs = np.concatenate([x, x])
    ys = np.concatenate([np.ones(5), np.zeros(5)])
    ws = np.concatenate([y * w, (1 - y) * w])
    a2, b2, _ = fit_logistic_batch(xs, ys, ws[None, :], 0.1)
    assert a[0] == pytest.approx(a2[0], rel=1e-8)
    assert b[0] == pytest.approx(b2[0], rel=1e-8)


def test_horizons_are_read_off_the_curve() -> None:
    # logit(p) = 2 - 0.5 x: p50 at x = 4 -> 16 minutes; p80 at x = (2 - ln 4) / 0.5
    assert horizon_minutes(np.array([2.0]), np.array([-0.5]), 0.5)[0] == pytest.approx(16.0)
    x80 = (2 - math.log(4)) / 0.5
    assert horizon_minutes(np.array([2.0]), np.array([-0.5]), 0.8)[0] == pytest.approx(2**x80)


def test_weights_follow_metr_invsqrt_rule() -> None:
    runs = pd.DataFrame(
        {
            "agent": ["a"] * 5,
            "task_id": ["f1/t1", "f1/t1", "f1/t2", "f2/t1", "f2/t1"],
            "task_family": ["f1", "f1", "f1", "f2", "f2"],
        }
    )
    w = run_weights(runs, "invsqrt")
    raw = np.array([1 / 2 / math.sqrt(2), 1 / 2 / math.sqrt(2), 1 / math.sqrt(2), 0.5, 0.5])
    np.testing.assert_allclose(w, raw / raw.sum())
    np.testing.assert_allclose(run_weights(runs, "equal"), np.array([0.5, 0.5, 1, 0.5, 0.5]) / 3)
    with pytest.raises(RsimeterError, match="unknown weighting"):
        run_weights(runs, "bogus")


def test_recovers_known_p50_on_large_synthetic_data() -> None:
    runs = make_runs({"strong": 60.0, "weak": 2.0}, n_families=60, runs_per_task=30, seed=3)
    fit = fit_horizons(runs, n_bootstrap=200, seed=1)
    by = {a.agent: a for a in fit.agents}
    assert by["strong"].p50.value == pytest.approx(60.0, rel=0.25)
    assert by["weak"].p50.value == pytest.approx(2.0, rel=0.25)
    assert by["strong"].p50.contains(60.0)
    assert by["weak"].p50.contains(2.0)
    assert by["strong"].p80.value < by["strong"].p50.value


def test_point_fits_agree_with_sklearn_on_synthetic_runs() -> None:
    runs = make_runs({"a": 30.0, "b": 5.0, "c": 0.5}, seed=5)
    fit = fit_horizons(runs, n_bootstrap=0, regularization=0.1)
    w = run_weights(runs, "invsqrt")
    for agent in fit.agents:
        mask = (runs["agent"] == agent.agent).to_numpy()
        ref = sklearn_p50(
            np.log2(runs.loc[mask, "human_minutes"].to_numpy()),
            runs.loc[mask, "success"].to_numpy(),
            w[mask],
            0.1,
        )
        assert agent.p50.value == pytest.approx(ref, rel=1e-4)


def test_metr_early_runs_agree_with_sklearn_within_one_percent(metr_dir: Path) -> None:
    runs = pd.read_json(metr_dir / "runs_early_2025-01" / "all_runs.jsonl", lines=True)
    runs = runs.rename(columns={"alias": "agent", "score_binarized": "success"})
    for reg in (1e-5, 0.1):
        fit = fit_horizons(runs, regularization=reg, n_bootstrap=0)
        checked = 0
        for agent in fit.agents:
            d = runs[runs["agent"] == agent.agent]
            if d["success"].nunique() < 2:
                assert agent.p50.value == 0.0 and agent.warnings
                continue
            # the file's own METR weights, fitted by plain scikit-learn
            ref = sklearn_p50(
                np.log2(d["human_minutes"].to_numpy()),
                d["success"].to_numpy(),
                d["invsqrt_task_weight"].to_numpy(),
                reg,
            )
            assert agent.p50.value == pytest.approx(ref, rel=0.01), agent.agent
            checked += 1
        assert checked == 9


def test_metr_file_weights_equal_recomputed_weights(metr_dir: Path) -> None:
    runs = pd.read_json(metr_dir / "runs_early_2025-01" / "all_runs.jsonl", lines=True)
    runs = runs[runs["alias"] != "human"].rename(columns={"alias": "agent"}).reset_index()
    np.testing.assert_allclose(run_weights(runs), runs["invsqrt_task_weight"], atol=1e-9)


def test_task_counts_draw_whole_families() -> None:
    rng = np.random.default_rng(0)
    fam = np.array(["f1", "f2", "f2", "f3", "f3", "f3"])
    counts = _task_counts(fam, 500, rng)
    per_family = np.stack(
        [counts[:, fam == f].sum(axis=1) / (fam == f).sum() for f in ("f1", "f2", "f3")],
        axis=1,
    )
    # tasks drawn per family = family draws x tasks in family; families drawn sum to 3
    assert np.allclose(per_family, per_family.round())
    assert (per_family.sum(axis=1) == 3).all()


def test_run_counts_resample_within_each_drawn_task() -> None:
    rng = np.random.default_rng(0)
    task_counts = np.array([[2, 0], [1, 1], [0, 3]])
    task_index = np.array([0, 0, 0, 1, 1])  # task 0 has 3 runs, task 1 has 2
    counts = _run_counts(task_index, task_counts, rng)
    assert counts[:, :3].sum(axis=1).tolist() == [6, 3, 0]
    assert counts[:, 3:].sum(axis=1).tolist() == [0, 2, 6]


def test_vectorised_bootstrap_matches_naive_resampling_in_distribution() -> None:
    runs = make_runs({"a": 20.0}, n_families=12, runs_per_task=4, seed=9)
    fit = fit_horizons(runs, n_bootstrap=600, seed=2)
    # naive: resample families, tasks within families, runs within tasks, as rows
    rng = np.random.default_rng(7)
    w_all = run_weights(runs)
    fams = runs["task_family"].unique()
    naive = []
    for _ in range(600):
        parts = []
        for f in rng.choice(fams, len(fams)):
            ftasks = runs.loc[runs["task_family"] == f, "task_id"].unique()
            for t in rng.choice(ftasks, len(ftasks)):
                idx = np.flatnonzero((runs["task_id"] == t).to_numpy())
                parts.append(rng.choice(idx, len(idx)))
        idx = np.concatenate(parts)
        a, b, _ = fit_logistic_batch(
            np.log2(runs["human_minutes"].to_numpy()[idx]),
            runs["success"].to_numpy()[idx],
            w_all[idx][None, :],
            1e-5,
        )
        naive.append(horizon_minutes(a, b, 0.5)[0])
    vec = np.log(fit.p50_replicates[:, 0])
    nv = np.log(np.array(naive))
    assert np.median(vec) == pytest.approx(np.median(nv), abs=0.1)
    assert np.std(vec) == pytest.approx(np.std(nv), rel=0.2)


def test_interval_coverage_on_simulated_suites() -> None:
    covered = 0
    trials = 20
    for seed in range(trials):
        runs = make_runs({"a": 15.0}, n_families=25, runs_per_task=6, seed=100 + seed)
        fit = fit_horizons(runs, n_bootstrap=200, seed=seed)
        covered += fit.agents[0].p50.contains(15.0)
    assert covered >= 16  # nominal 95%; at least 80% of 20 (binomial slack)


def test_degenerate_agents_get_warnings_and_defined_results() -> None:
    runs = make_runs({"ok": 10.0}, n_families=6, runs_per_task=3, seed=1)
    all_win = runs.assign(agent="always", success=1.0, run_id=runs["run_id"] + "w")
    all_lose = runs.assign(agent="never", success=0.0, run_id=runs["run_id"] + "l")
    sep = runs.assign(
        agent="separated",
        success=(runs["human_minutes"] < 10).astype(float),
        run_id=runs["run_id"] + "s",
    )
    one_family = runs.assign(agent="onefam", task_family="only", run_id=runs["run_id"] + "f")
    nan_time = runs.iloc[:5].assign(agent="ok", human_minutes=np.nan, run_id="nan" + runs["run_id"])
    data = pd.concat([runs, all_win, all_lose, sep, one_family, nan_time], ignore_index=True)
    fit = fit_horizons(data, n_bootstrap=50)
    by = {a.agent: a for a in fit.agents}
    assert math.isinf(by["always"].p50.value) and "no failures" in by["always"].warnings[0]
    assert by["never"].p50.value == 0.0 and "no successes" in by["never"].warnings[0]
    assert any("perfect separation" in w for w in by["separated"].warnings)
    assert 1.0 < by["separated"].p50.value < 100.0
    assert any("single task family" in w for w in by["onefam"].warnings)
    assert any("without a usable human time" in w for w in fit.warnings)
    assert by["ok"].n_runs == len(runs)


def test_no_usable_runs_is_a_clear_error() -> None:
    runs = pd.DataFrame(
        {
            "agent": ["a"],
            "task_id": ["t"],
            "task_family": ["f"],
            "success": [1.0],
            "human_minutes": [np.nan],
        }
    )
    with pytest.raises(RsimeterError, match="no runs with human times"):
        fit_horizons(runs)
    with pytest.raises(RsimeterError, match="lack columns"):
        fit_horizons(runs.drop(columns="success"))


def test_an_agents_interval_does_not_depend_on_the_other_agents() -> None:
    runs = make_runs({"a": 20.0, "b": 3.0, "c": 0.5}, n_families=10, runs_per_task=4, seed=8)
    runs = runs[~((runs["agent"] == "a") & (runs["task_family"] == "fam3"))]  # unequal task sets
    together = {a.agent: a.p50 for a in fit_horizons(runs, n_bootstrap=100).agents}
    alone = fit_horizons(runs, n_bootstrap=100, agents=["b"]).agents[0].p50
    assert alone == together["b"]


def test_agent_names_with_rich_markup_print_literally() -> None:
    from rich.console import Console

    runs = make_runs({"[/oops]": 10.0, "[bold]x": 2.0}, n_families=4, runs_per_task=2, seed=3)
    console = Console(width=200, record=True)
    console.print(fit_horizons(runs, n_bootstrap=10))
    text = console.export_text()
    assert "[/oops]" in text and "[bold]x" in text
