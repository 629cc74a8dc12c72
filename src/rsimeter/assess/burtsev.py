"""Burtsev's recursive reproduction number R and the growth rate it implies.

Model. Capability C advances at the progress rate P = dC/dt. Progress gets harder
as capability rises, at rate σ (d log P / dC = −σ without feedback), and the
system's own capability feeds back into its progress with gain g. With both,
d log P / dC = g − σ. The recursive reproduction number is R = g/σ: the feedback
each unit of capability returns, over what it costs. A perturbation of the
progress rate grows or decays as e^(λt), with λ the real root of

    λ = α (R e^(−λτ) − 1),     α = v σ,

for a feedback delay τ. λ has the sign of R − 1 for any α > 0, τ ≥ 0.

Estimate. A treatment arm runs with the feedback on and a control arm with the
feedback frozen (the system improving is not the one doing the improving). The
slope of log progress rate against capability is b_t = g − σ in the treatment
arm and b_c = −σ in the control arm, so R̂ = 1 − b_t/b_c. Its interval is a
percentile bootstrap resampling each arm's points independently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import lambertw

from rsimeter.assess.jones import slopes
from rsimeter.estimate import Estimate, percentile_interval

BOOT_REPS = 2000


def growth_rate(r: float, alpha: float, tau: float) -> float:
    """The real root λ of λ = α(R·e^(−λτ) − 1) (R > 0, α > 0, τ ≥ 0).

    With u = τ(λ + α) the equation becomes u·e^u = ατR·e^(ατ), so
    λ = W₀(ατR·e^(ατ))/τ − α (principal Lambert W; the argument is positive so
    the real root is unique). τ = 0 gives λ = α(R − 1). The Lambert-W value is
    polished with Brent's method on the original equation.
    """
    if not (r > 0 and alpha > 0 and tau >= 0) or not all(map(math.isfinite, (r, alpha, tau))):
        raise ValueError("growth_rate needs R > 0, α > 0 and τ ≥ 0, all finite")
    if tau == 0:
        return alpha * (r - 1)
    arg = alpha * tau * r * math.exp(alpha * tau)
    lam = float(lambertw(arg, 0).real) / tau - alpha

    def f(x: float) -> float:
        return x - alpha * (r * math.exp(-x * tau) - 1)

    # f is increasing; the root lies between −α (f<0 there) and α(R−1) side bounds.
    lo, hi = -alpha, max(alpha * (r - 1), 0.0) + 1e-12
    if f(lo) < 0 < f(hi):
        lam = float(brentq(f, lo, hi, xtol=1e-14))
    return lam


def log_rate_slope(
    capability: Sequence[float] | np.ndarray, rate: Sequence[float] | np.ndarray
) -> float:
    """OLS slope of log progress rate against capability (points with rate > 0)."""
    c = np.asarray(capability, dtype=float)
    p = np.asarray(rate, dtype=float)
    ok = np.isfinite(c) & np.isfinite(p) & (p > 0)
    c, y = c[ok], np.log(p[ok])
    if c.size < 2 or np.ptp(c) == 0:
        return math.nan
    cc = c - c.mean()
    return float((cc * (y - y.mean())).sum() / (cc * cc).sum())


@dataclass(frozen=True)
class BurtsevFit:
    """R̂ from a treatment and a frozen-feedback control arm, and the implied λ."""

    r: Estimate
    slope_treatment: float
    slope_control: float
    growth_rate: Estimate  # λ, when α and τ are known; missing otherwise
    n_treatment: int
    n_control: int

    def to_dict(self) -> dict[str, object]:
        return {
            "r": self.r.to_dict(),
            "slope_treatment": self.slope_treatment,
            "slope_control": self.slope_control,
            "growth_rate": self.growth_rate.to_dict(),
            "n_treatment": self.n_treatment,
            "n_control": self.n_control,
        }

    def summary(self) -> str:
        return f"Burtsev R̂ {self.r} (b_t={self.slope_treatment:.4g}, b_c={self.slope_control:.4g})"


def fit_burtsev(
    treatment: tuple[Sequence[float], Sequence[float]],
    control: tuple[Sequence[float], Sequence[float]],
    *,
    alpha: float | None = None,
    tau: float | None = None,
    reps: int = BOOT_REPS,
    seed: int = 0,
    level: float = 0.95,
) -> BurtsevFit:
    """R̂ = 1 − b_t/b_c from (capability, progress rate) points of the two arms.

    The control slope must be negative (progress getting harder); otherwise R is
    not defined and the estimate is missing with that reason.
    """
    ct, pt = (np.asarray(a, dtype=float) for a in treatment)
    cc, pc = (np.asarray(a, dtype=float) for a in control)
    okt = np.isfinite(ct) & np.isfinite(pt) & (pt > 0)  # log rate needs a positive rate
    okc = np.isfinite(cc) & np.isfinite(pc) & (pc > 0)
    ct, pt, cc, pc = ct[okt], pt[okt], cc[okc], pc[okc]
    bt, bc = log_rate_slope(ct, pt), log_rate_slope(cc, pc)
    n = int(ct.size + cc.size)
    if not (math.isfinite(bt) and math.isfinite(bc)):
        est = Estimate.missing("Burtsev R̂: each arm needs two points at distinct capabilities", n)
        return BurtsevFit(est, bt, bc, Estimate.missing("no R̂"), int(ct.size), int(cc.size))
    if bc >= 0:
        est = Estimate.missing("Burtsev R̂: control slope not negative (progress not harder)", n)
        return BurtsevFit(est, bt, bc, Estimate.missing("no R̂"), int(ct.size), int(cc.size))
    value = 1 - bt / bc
    rng = np.random.default_rng(seed)
    lt, lc = np.log(pt), np.log(pc)
    it = rng.integers(0, ct.size, (reps, ct.size))
    ic = rng.integers(0, cc.size, (reps, cc.size))
    b_t, b_c = slopes(ct[it], lt[it]), slopes(cc[ic], lc[ic])
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = np.where(b_c < 0, 1 - b_t / b_c, np.nan)
    est = percentile_interval(value, boots, n=n, level=level, method="Burtsev R̂, bootstrap arms")
    lam = Estimate.missing("λ needs α and τ")
    if alpha is not None and tau is not None and value > 0:
        bounds = [growth_rate(x, alpha, tau) if x > 0 else math.nan for x in (est.low, est.high)]
        lam = Estimate(
            growth_rate(value, alpha, tau),
            bounds[0],
            bounds[1],
            level,
            n,
            f"λ from R̂ bounds (α={alpha:g}, τ={tau:g}); λ is increasing in R",
        )
    return BurtsevFit(est, bt, bc, lam, int(ct.size), int(cc.size))
