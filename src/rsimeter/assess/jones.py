"""Returns to research effort r in the Jones law of motion.

Jones (1995) writes the growth of efficiency (ideas, algorithms) A with research
input S as  dA/dt = θ·S^λ·A^(1−β):  λ measures how research input converts into
progress and β how fast ideas get harder to find. Along a path where both grow
exponentially the growth rates satisfy g_A = (λ/β)·g_S, so

    r = λ/β = g_A / g_S,

the number of doublings of efficiency each doubling of research input buys.
r > 1 means efficiency outruns the effort that produces it: if the output is
itself reinvested as research input (AI doing AI research), growth accelerates.
This is the quantity Bloom, Jones, Van Reenen & Webb (2020) measure as research
productivity and that Erdil & Besiroglu (2023) and Eth & Davidson (2025)
estimate for software progress in AI.

Estimate. g_A and g_S are the OLS slopes of log2 A and log2 S against time; r̂ is
their ratio. The interval is a percentile bootstrap over the observations
(time, A, S), refitting both slopes each time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rsimeter.estimate import Estimate, percentile_interval

BOOT_REPS = 2000


def slopes(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slopes of each row of y on the same row of t (NaN where t does not vary)."""
    tc = t - t.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = (tc * tc).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (tc * yc).sum(axis=-1) / den
    return np.where(den > 1e-12 * np.maximum(1.0, (t * t).sum(axis=-1)), out, np.nan)


def _slope(t: np.ndarray, y: np.ndarray) -> float:
    if t.size < 2 or np.ptp(t) == 0:
        return math.nan
    tc = t - t.mean()
    return float((tc * (y - y.mean())).sum() / (tc * tc).sum())


@dataclass(frozen=True)
class JonesFit:
    """r = g_A / g_S with its interval, and the two growth rates (doublings per time unit)."""

    r: Estimate
    efficiency_growth: float
    input_growth: float
    n: int

    def to_dict(self) -> dict[str, object]:
        return {
            "r": self.r.to_dict(),
            "efficiency_growth": self.efficiency_growth,
            "input_growth": self.input_growth,
            "n": self.n,
        }

    def summary(self) -> str:
        return (
            f"Jones r {self.r} (efficiency {self.efficiency_growth:.3g} and input "
            f"{self.input_growth:.3g} doublings per time unit)"
        )


def fit_jones(
    times: Sequence[float],
    efficiency: Sequence[float],
    research_input: Sequence[float],
    *,
    reps: int = BOOT_REPS,
    seed: int = 0,
    level: float = 0.95,
) -> JonesFit:
    """r̂ = g_A/g_S from a series of efficiency and research input over time.

    Rows with a non-positive or non-finite value are left out. Missing (NaN) with
    the reason when fewer than three rows remain or research input does not grow.
    """
    t = np.asarray(times, dtype=float)
    a = np.asarray(efficiency, dtype=float)
    s = np.asarray(research_input, dtype=float)
    if not (t.shape == a.shape == s.shape):
        raise ValueError("times, efficiency and research_input must have the same length")
    ok = np.isfinite(t) & np.isfinite(a) & np.isfinite(s) & (a > 0) & (s > 0)
    t, la, ls = t[ok], np.log2(a[ok]), np.log2(s[ok])
    n = int(t.size)
    if n < 3:
        missing = Estimate.missing("Jones r: fewer than three usable rows", n)
        return JonesFit(missing, math.nan, math.nan, n)
    ga, gs = _slope(t, la), _slope(t, ls)
    if not (math.isfinite(gs) and gs > 0):
        return JonesFit(
            Estimate.missing("Jones r: research input does not grow over the series", n), ga, gs, n
        )
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (reps, n))
    b_s = slopes(t[idx], ls[idx])
    b_a = slopes(t[idx], la[idx])
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = np.where(b_s > 0, b_a / b_s, np.nan)
    est = percentile_interval(
        ga / gs, boots, n=n, level=level, method="Jones r = g_A/g_S, bootstrap"
    )
    return JonesFit(est, ga, gs, n)
