"""The progress multiplier from task-level speed-ups, and Amdahl's bound on it.

Research work is split into tasks; task i took a share f_i of the time before AI
help (shares normalised to sum to 1) and is now done s_i times faster. The whole
work then goes at

    M = 1 / Σ_i (f_i / s_i)

times the old speed (Amdahl 1967, applied to research as by Eth & Davidson
2025). However fast the accelerated tasks
become, the tasks that are not sped up (s_i ≤ 1) keep the multiplier below

    M_max = 1 / Σ_{i: s_i ≤ 1} f_i        (∞ when every task is sped up).

Several measurements of one task's speed-up are averaged as time fractions
(mean of 1/s), the average that keeps total time right. The interval of M is a
percentile bootstrap resampling the measurements within each task.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rsimeter.estimate import Estimate, percentile_interval

BOOT_REPS = 2000


@dataclass(frozen=True)
class ProgressMultiplier:
    """M with its interval, Amdahl's bound, and the accelerated share of the work."""

    multiplier: Estimate
    bound: float  # inf when every task is sped up
    accelerated_share: float
    tasks: int

    def to_dict(self) -> dict[str, object]:
        return {
            "multiplier": self.multiplier.to_dict(),
            "amdahl_bound": self.bound if math.isfinite(self.bound) else None,
            "accelerated_share": self.accelerated_share,
            "tasks": self.tasks,
        }

    def summary(self) -> str:
        bound = f"{self.bound:.3g}" if math.isfinite(self.bound) else "none"
        return (
            f"progress multiplier {self.multiplier}; Amdahl bound {bound} "
            f"({self.accelerated_share:.0%} of the work sped up, {self.tasks} tasks)"
        )


def amdahl_bound(
    shares: Sequence[float] | np.ndarray, speedups: Sequence[float] | np.ndarray
) -> float:
    """1 / (share of the work not sped up); inf when all of it is."""
    f = np.asarray(shares, dtype=float)
    s = np.asarray(speedups, dtype=float)
    f = f / f.sum()
    rest = float(f[s <= 1].sum())
    return math.inf if rest <= 0 else 1 / rest


def multiplier(
    shares: Sequence[float] | np.ndarray, speedups: Sequence[float] | np.ndarray
) -> float:
    """M = 1 / Σ f_i/s_i with the shares normalised to sum to 1."""
    f = np.asarray(shares, dtype=float)
    s = np.asarray(speedups, dtype=float)
    return float(1 / ((f / f.sum()) / s).sum())


def progress_multiplier(
    tasks: Sequence[str],
    shares: Sequence[float],
    speedups: Sequence[float],
    *,
    reps: int = BOOT_REPS,
    seed: int = 0,
    level: float = 0.95,
) -> ProgressMultiplier:
    """M and its bound from measurements (task, share of time, speed-up), one row each.

    A task's share is taken from its first row. Rows with a non-positive share or
    speed-up are left out.
    """
    share_of: dict[str, float] = {}
    inv: dict[str, list[float]] = defaultdict(list)
    for task, f, s in zip(tasks, shares, speedups, strict=True):
        if not (math.isfinite(f) and math.isfinite(s) and f > 0 and s > 0):
            continue
        share_of.setdefault(task, f)
        inv[task].append(1 / s)
    if not share_of:
        return ProgressMultiplier(Estimate.missing("no usable task rows"), math.nan, math.nan, 0)
    names = list(share_of)
    raw = np.array([share_of[k] for k in names])
    w = raw / raw.sum()
    samples = [np.array(inv[k]) for k in names]
    time_frac = np.array([x.mean() for x in samples])
    value = float(1 / (w * time_frac).sum())
    bound = amdahl_bound(w, 1 / time_frac)
    accelerated = float(w[1 / time_frac > 1].sum())
    n_rows = sum(x.size for x in samples)
    rng = np.random.default_rng(seed)
    resampled = np.stack([x[rng.integers(0, x.size, (reps, x.size))].mean(axis=1) for x in samples])
    boots = 1 / (w[:, None] * resampled).sum(axis=0)
    if all(x.size == 1 for x in samples):
        est = Estimate(
            value, value, value, level, n_rows, "Amdahl multiplier, one row per task: no spread"
        )
    else:
        est = percentile_interval(
            value, boots, n=n_rows, level=level, method="Amdahl multiplier, bootstrap within tasks"
        )
    return ProgressMultiplier(est, bound, accelerated, len(names))
