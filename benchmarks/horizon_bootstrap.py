"""Speed of the vectorised hierarchical bootstrap against the naive scikit-learn loop.

A generated data set of METR's size (170 tasks in 80 families, 30 agents, 8 runs
each: 40,800 runs) is fitted with 1,000 bootstrap replicates by
``rsimeter.horizon.fit.fit_horizons`` and by the naive method: for every replicate,
resample families, tasks and runs as rows, then fit one scikit-learn
``LogisticRegression`` per agent. The naive loop is timed on a subset of
replicates and extrapolated to 1,000 (printed as such).

Agreement is checked two ways: point p50s against scikit-learn, and replicate p50s
against scikit-learn fitted to the very same resampled runs (the replicate's run
counts as weights). Run: ``python benchmarks/horizon_bootstrap.py [naive_reps]``.
"""

from __future__ import annotations

import os

# one thread for both methods: a like-for-like comparison, and CPU time is not inflated
# by BLAS threads spinning on a shared machine
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from rsimeter.horizon.fit import (  # noqa: E402
    _run_counts,
    _task_counts,
    agent_rng,
    fit_horizons,
    run_weights,
)

N_TASKS, N_FAMILIES, N_AGENTS, RUNS, REPS, REG = 170, 80, 30, 8, 1000, 1e-5


def generate(seed: int = 0) -> pd.DataFrame:
    """Runs with METR's shape: task lengths 1 s to 30 h, agents p50 0.05 to 300 minutes."""
    rng = np.random.default_rng(seed)
    family = np.sort(rng.integers(0, N_FAMILIES, N_TASKS))
    minutes = 2.0 ** rng.uniform(math.log2(1 / 60), math.log2(1800), N_TASKS)
    p50s = 2.0 ** np.linspace(math.log2(0.05), math.log2(300), N_AGENTS)
    rows = []
    for a, p50 in enumerate(p50s):
        slope = rng.uniform(-0.9, -0.4)
        p = 1 / (1 + np.exp(-slope * (np.log2(minutes) - math.log2(p50))))
        succ = rng.random((RUNS, N_TASKS)) < p[None, :]
        for t in range(N_TASKS):
            for r in range(RUNS):
                rows.append(
                    (
                        f"agent{a:02d}",
                        f"f{family[t]}/t{t}",
                        f"f{family[t]}",
                        float(succ[r, t]),
                        minutes[t],
                    )
                )
    return pd.DataFrame(
        rows, columns=["agent", "task_id", "task_family", "success", "human_minutes"]
    )


def sk_p50(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    if w.sum() <= 0 or len(np.unique(y[w > 0])) < 2:
        return math.nan
    m = LogisticRegression(C=1 / REG, max_iter=1000).fit(x[:, None], y, sample_weight=w)
    return float(2 ** (-m.intercept_[0] / m.coef_[0, 0]))


def naive_bootstrap(runs: pd.DataFrame, reps: int, seed: int = 1) -> np.ndarray:
    """METR-style: resample rows (families, tasks, runs) then one sklearn fit per agent."""
    rng = np.random.default_rng(seed)
    runs = runs.assign(w=run_weights(runs))
    by_family = {f: d for f, d in runs.groupby("task_family")}
    families = list(by_family)
    out = np.full((reps, N_AGENTS), np.nan)
    for b in range(reps):
        parts = []
        for f in rng.choice(families, len(families)):
            d = by_family[f]
            tasks = d["task_id"].unique()
            for t in rng.choice(tasks, len(tasks)):
                parts.append(d[d["task_id"] == t])
        sample = pd.concat(parts)
        resampled = []
        for _, g in sample.groupby(["task_id", "agent"], sort=False):
            resampled.append(g.iloc[rng.integers(0, len(g), len(g))])
        sample = pd.concat(resampled)
        for j, (_, g) in enumerate(sample.groupby("agent")):
            out[b, j] = sk_p50(
                np.log2(g["human_minutes"].to_numpy()), g["success"].to_numpy(), g["w"].to_numpy()
            )
    return out


def same_replicates_check(
    runs: pd.DataFrame, fit_p50: np.ndarray, check: int
) -> tuple[float, float]:
    """Max relative gap between our replicate p50s and sklearn on the same resampled runs,
    and the CPU seconds the sklearn fits alone took per replicate (all agents)."""
    rng = np.random.default_rng(0)  # the task draws of fit_horizons(seed=0)
    data = runs.assign(_w=run_weights(runs))
    tasks_table = data.drop_duplicates("task_id")[["task_id", "task_family"]]
    pos = {t: i for i, t in enumerate(tasks_table["task_id"])}
    task_counts = _task_counts(tasks_table["task_family"].to_numpy(), REPS, rng)
    worst, fit_cpu = 0.0, 0.0
    for j, name in enumerate(sorted(data["agent"].unique())):
        d = data[data["agent"] == name]
        counts = _run_counts(
            np.array([pos[t] for t in d["task_id"]]), task_counts, agent_rng(0, str(name))
        )
        x = np.log2(d["human_minutes"].to_numpy())
        for b in range(check):
            w = counts[b] * d["_w"].to_numpy()
            c0 = time.process_time()
            ref = sk_p50(x, d["success"].to_numpy(), w)
            fit_cpu += time.process_time() - c0
            if math.isfinite(ref) and ref > 1e-3:
                worst = max(worst, abs(fit_p50[b, j] / ref - 1))
    return worst, fit_cpu / check


def main() -> None:
    naive_reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    runs = generate()
    print(
        f"data: {len(runs):,} runs, {N_TASKS} tasks, {runs['task_family'].nunique()} "
        f"families, {N_AGENTS} agents, {RUNS} runs each"
    )

    # CPU time (all threads of this process) is the measure: the machine may be shared
    t0, c0 = time.perf_counter(), time.process_time()
    fit = fit_horizons(runs, regularization=REG, n_bootstrap=REPS, seed=0)
    vec, vec_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"vectorised: {REPS} replicates in {vec_cpu:.2f} s CPU ({vec:.2f} s wall)")

    t0, c0 = time.perf_counter(), time.process_time()
    naive_bootstrap(runs, naive_reps)
    naive, naive_cpu = time.perf_counter() - t0, time.process_time() - c0
    scale = REPS / naive_reps
    print(
        f"naive sklearn loop: {naive_reps} replicates in {naive_cpu:.2f} s CPU "
        f"({naive:.2f} s wall) -> {naive_cpu * scale:.0f} s CPU for {REPS} (extrapolated)"
    )
    speedup = naive_cpu * scale / vec_cpu
    print(f"speed-up: {speedup:.1f}x CPU ({naive * scale / vec:.1f}x wall)")

    point_gap = 0.0
    for j, a in enumerate(fit.agents):
        d = runs[runs["agent"] == a.agent]
        ref = sk_p50(
            np.log2(d["human_minutes"].to_numpy()), d["success"].to_numpy(), run_weights(d)
        )
        point_gap = max(point_gap, abs(a.p50.value / ref - 1))
        assert fit.names[j] == a.agent
    print(f"point p50s vs sklearn: max relative difference {point_gap:.2e}")
    rep_gap, per_rep = same_replicates_check(runs, fit.p50_replicates, check=5)
    print(
        f"replicate p50s vs sklearn on the same resampled runs (5 x {N_AGENTS}): "
        f"max relative difference {rep_gap:.2e}"
    )
    print(
        f"sklearn fits alone (no resampling): {per_rep:.3f} s CPU per replicate -> "
        f"{per_rep * REPS:.0f} s for {REPS} (extrapolated), {per_rep * REPS / vec_cpu:.1f}x"
    )
    ok = speedup >= 10 and point_gap < 0.005 and rep_gap < 0.005
    print("target (>= 10x, p50s within 0.5%):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
