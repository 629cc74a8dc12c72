"""Gain ratio and generation-time ratio over a sequence of cycles.

A cycle is one step of a process that may feed on itself: an experiment
generation, a model release, one point of a capability trend. Cycle i brings a
gain Δ_i (improvement of the measured level) and takes a time T_i. The gain ratio
ρ_i = Δ_{i+1}/Δ_i and the generation-time ratio q_i = T_{i+1}/T_i say whether each
cycle buys more than the last (ρ > 1) and comes sooner (q < 1). The summary of a
sequence is the geometric mean of the ratios (the mean of log ratios,
exponentiated), so that a halving and a doubling cancel; its interval is a
percentile bootstrap over the ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rsimeter.estimate import Estimate, percentile_interval

BOOT_REPS = 2000


@dataclass(frozen=True)
class CycleRatios:
    """Gain ratio ρ and generation-time ratio q of one sequence of cycles."""

    gain_ratio: Estimate
    generation_time_ratio: Estimate
    cycles: int
    skipped: int  # ratios left out because a gain or a time was not positive

    def to_dict(self) -> dict[str, object]:
        return {
            "gain_ratio": self.gain_ratio.to_dict(),
            "generation_time_ratio": self.generation_time_ratio.to_dict(),
            "cycles": self.cycles,
            "skipped": self.skipped,
        }

    def summary(self) -> str:
        return (
            f"gain ratio ρ {self.gain_ratio}; generation-time ratio q "
            f"{self.generation_time_ratio} over {self.cycles} cycles"
        )


def consecutive_ratios(values: Sequence[float]) -> tuple[np.ndarray, int]:
    """x_{i+1}/x_i for each consecutive pair with both terms positive and finite.

    Returns the ratios and how many pairs were left out (a ratio of a zero or
    negative gain has no meaning on the log scale the summary uses).
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return np.empty(0), 0
    a, b = x[:-1], x[1:]
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    return b[ok] / a[ok], int((~ok).sum())


def geometric_mean_ratio(
    ratios: Sequence[float] | np.ndarray,
    *,
    reps: int = BOOT_REPS,
    seed: int = 0,
    level: float = 0.95,
    label: str = "ratio",
) -> Estimate:
    """Geometric mean of ratios with a percentile bootstrap interval over the ratios."""
    r = np.asarray(ratios, dtype=float)
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return Estimate.missing(f"geometric mean {label}: fewer than two positive cycles")
    logs = np.log(r)
    value = math.exp(float(logs.mean()))
    if r.size == 1:
        return Estimate(value, math.nan, math.nan, level, 1, f"{label} of one pair, no interval")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r.size, size=(reps, r.size))
    boots = np.exp(logs[idx].mean(axis=1))
    return percentile_interval(
        value, boots, n=int(r.size), level=level, method=f"geometric mean {label}, bootstrap"
    )


def cycle_ratios(
    gains: Sequence[float],
    durations: Sequence[float] | None = None,
    *,
    reps: int = BOOT_REPS,
    seed: int = 0,
) -> CycleRatios:
    """ρ and q of a sequence of per-cycle gains and (optionally) per-cycle durations."""
    rho, skipped = consecutive_ratios(gains)
    gain = geometric_mean_ratio(rho, reps=reps, seed=seed, label="gain ratio")
    if durations is not None:
        q, skipped_q = consecutive_ratios(durations)
        skipped += skipped_q
        gen = geometric_mean_ratio(q, reps=reps, seed=seed + 1, label="generation-time ratio")
    else:
        gen = Estimate.missing("no cycle durations given")
    return CycleRatios(gain, gen, len(gains), skipped)


def cycles_from_levels(
    levels: Sequence[float], times: Sequence[float] | None = None
) -> tuple[list[float], list[float] | None]:
    """Per-cycle gains and durations from a series of levels reached at given times.

    Gains are the successive differences of the levels (pass log levels for a
    quantity that grows multiplicatively, such as a time horizon); durations are
    the successive differences of the times. Points are taken in time order.
    """
    lv = np.asarray(levels, dtype=float)
    if times is None:
        return np.diff(lv).tolist(), None
    t = np.asarray(times, dtype=float)
    if t.shape != lv.shape:
        raise ValueError("levels and times must have the same length")
    order = np.argsort(t, kind="stable")
    return np.diff(lv[order]).tolist(), np.diff(t[order]).tolist()
