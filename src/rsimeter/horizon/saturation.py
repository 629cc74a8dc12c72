"""Benchmark saturation: the frontier score over time, a logistic curve, and 90% of ceiling.

Per benchmark, the frontier is the running best score over release date (a model
enters when it beats every model released before it). A four-parameter logistic

    s(t) = F + (L - F) / (1 + exp(-(t - m) / tau))

is fitted to the frontier by least squares, with the floor ``F`` between 0 and the
lowest frontier score, the ceiling ``L`` between the best score seen and 1, and
``tau`` between 10 and 5,000 days. The date the curve reaches 90% of its ceiling
(``s = 0.9 L``) is ``m - tau * ln((L - F) / (0.9 L - F) - 1)``. Its interval
resamples the benchmark's models with replacement, rebuilds the frontier and refits.
A benchmark whose best score already is at least 90% of the ceiling has
``reached`` it; otherwise ``not reached`` (the date is where the curve puts it).
The ceiling is kept only when the data support it: the four-parameter fit must beat
a fit with the ceiling fixed at the maximum score (1) by more than 2 in AICc.
Otherwise a ceiling below 1 cannot be told from a frontier that is still rising, the
ceiling is fixed at 1 and the result says so (``ceiling_fitted: false``); bootstrap
replicates keep the choice made on the data.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table
from scipy import optimize

from rsimeter.errors import RsimeterError
from rsimeter.estimate import Estimate
from rsimeter.horizon.fit import interval_bounds
from rsimeter.horizon.trend import day_number, from_day_number
from rsimeter.parallel import parallel_map

MIN_FRONTIER = 4
LEVEL = 0.9


def frontier(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows that set a new best score at their release date (ties: the first)."""
    f = scores.sort_values(["release_date", "score"], ascending=[True, False])
    best = -math.inf
    keep = []
    for s in f["score"].to_numpy(float):
        keep.append(s > best)
        best = max(best, s)
    return f[np.array(keep, dtype=bool)].reset_index(drop=True)


def _curve(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    floor, ceil, mid, tau = q
    with np.errstate(over="ignore"):
        return np.asarray(floor + (ceil - floor) / (1.0 + np.exp(-(x - mid) / tau)))


def fit_curve(x: np.ndarray, y: np.ndarray, ceiling: float | None = None) -> np.ndarray | None:
    """Floor, ceiling, midpoint (day) and scale (days) of the logistic through the points.

    ``ceiling`` fixes the ceiling instead of fitting it. Dates are centred and counted
    in years inside the solver (well-scaled), with the analytic Jacobian.
    """
    if len(x) < 3 or np.ptp(x) <= 0:
        return None
    ref = float(np.median(x))
    u = (x - ref) / 365.25
    lo_y, hi_y = float(y.min()), float(y.max())
    top = max(1.0, hi_y)
    lower = [0.0, hi_y, u.min() - 10.0, 10.0 / 365.25]
    upper = [max(lo_y, 1e-9), top + 1e-9, u.max() + 10.0, 5000.0 / 365.25]
    if ceiling is not None:
        lower[1], upper[1] = max(ceiling, hi_y), max(ceiling, hi_y) + 1e-9
    start = [lo_y * 0.9, hi_y * 1.05, 0.0, max(np.ptp(u) / 4.0, 0.05)]
    start = [min(max(v, lo), hi) for v, lo, hi in zip(start, lower, upper, strict=True)]

    def resid(q: np.ndarray) -> np.ndarray:
        return _curve(q, u) - y

    def jac(q: np.ndarray) -> np.ndarray:
        floor, ceil, mid, tau = q
        z = np.clip((u - mid) / tau, -500, 500)
        sig = 1.0 / (1.0 + np.exp(-z))
        dsig = sig * (1.0 - sig)
        span = ceil - floor
        return np.column_stack(
            [1.0 - sig, sig, -span * dsig / tau, -span * dsig * (u - mid) / (tau * tau)]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sol = optimize.least_squares(
                resid, x0=start, jac=jac, bounds=(lower, upper), method="trf"
            )
        except ValueError:
            return None
    floor, ceil, mid, tau = sol.x
    return np.array([floor, ceil, ref + mid * 365.25, tau * 365.25])


def crossing_day(q: np.ndarray, level: float = LEVEL) -> float:
    """Day the fitted curve reaches ``level`` times its ceiling (NaN when it never does)."""
    floor, ceil, mid, tau = q
    target = level * ceil
    if target <= floor:
        return -math.inf
    ratio = (ceil - floor) / (target - floor) - 1.0
    if ratio <= 0:
        return math.nan
    return float(mid - tau * math.log(ratio))


def _aicc(rss: float, n: int, k: int) -> float:
    kk = k + 1  # the error variance
    if n - kk - 1 <= 0:
        return math.inf
    return n * math.log(max(rss, 1e-300) / n) + 2 * kk + 2 * kk * (kk + 1) / (n - kk - 1)


def _ceiling_supported(x: np.ndarray, y: np.ndarray, free: np.ndarray, one: np.ndarray) -> bool:
    """True when a fitted ceiling beats a ceiling at the maximum score by AICc (> 2)."""
    n = len(x)
    rss_free = float(np.sum((_curve(free, x) - y) ** 2))
    rss_one = float(np.sum((_curve(one, x) - y) ** 2))
    return _aicc(rss_free, n, 4) < _aicc(rss_one, n, 3) - 2.0


@dataclass(frozen=True)
class SaturationFit:
    """One benchmark's frontier, fitted curve and 90%-of-ceiling date."""

    benchmark: str
    n_models: int
    frontier: tuple[tuple[date, str, float], ...]
    ceiling: Estimate
    crossing_day: Estimate  # days since 1970-01-01
    status: str  # reached / not reached / too few points / no fit
    params: dict[str, float]
    ceiling_fitted: bool = True  # False: not identified by the data, fixed at the maximum

    def to_dict(self) -> dict[str, Any]:
        d = self.crossing_day
        return {
            "benchmark": self.benchmark,
            "n_models": self.n_models,
            "status": self.status,
            "ceiling_fitted": self.ceiling_fitted,
            "frontier": [
                {"release_date": r.isoformat(), "model": m, "score": s} for r, m, s in self.frontier
            ],
            "ceiling": self.ceiling.to_dict(),
            "cross_90": {
                "date": _iso(d.value),
                "ci": [_iso(d.low), _iso(d.high)],
                "level": d.level,
                "n": d.n,
                "method": d.method,
            },
            "params": self.params,
        }


def _iso(x: float) -> str | None:
    day = from_day_number(x)
    return day.isoformat() if day else None


def fit_saturation(
    scores: pd.DataFrame, benchmark: str, *, reps: int = 200, seed: int = 0
) -> SaturationFit:
    """Saturation of one benchmark from its per-model scores (fractions, release dates)."""
    s = scores[scores["benchmark"] == benchmark]
    front = frontier(s)
    points = tuple(
        (pd.Timestamp(r.release_date).date(), str(r.model), float(r.score))
        for r in front.itertuples()
    )
    n = len(s)
    if len(front) < MIN_FRONTIER:
        missing = Estimate.missing(f"fewer than {MIN_FRONTIER} frontier points", n)
        return SaturationFit(benchmark, n, points, missing, missing, "too few points", {})
    x = np.array([day_number(d) for d in front["release_date"]])
    y = front["score"].to_numpy(float)
    q = fit_curve(x, y)
    if q is None:
        missing = Estimate.missing("curve could not be fitted", n)
        return SaturationFit(benchmark, n, points, missing, missing, "no fit", {})
    fixed: float | None = None
    q_one = fit_curve(x, y, max(1.0, float(y.max())))
    if q_one is not None and not _ceiling_supported(x, y, q, q_one):
        # the data do not tell a ceiling below the maximum score from a frontier that
        # is still rising: saturation is measured against the maximum score instead
        fixed, q = max(1.0, float(y.max())), q_one
    rng = np.random.default_rng(seed)
    all_x = np.array([day_number(d) for d in s["release_date"]])
    all_y = s["score"].to_numpy(float)
    ceilings, crossings = [], []
    for _ in range(reps):
        idx = rng.integers(0, n, size=n)
        bf = frontier(pd.DataFrame({"release_date": all_x[idx], "score": all_y[idx]}))
        if len(bf) < MIN_FRONTIER:
            continue
        qb = fit_curve(bf["release_date"].to_numpy(float), bf["score"].to_numpy(float), fixed)
        if qb is None:
            continue
        ceilings.append(qb[1])
        crossings.append(crossing_day(qb))
    method = f"models resampled, frontier refitted, {len(ceilings)} reps"
    if fixed is not None:
        method += f"; ceiling fixed at {fixed:g} (not identified by the data)"
    c_lo, c_hi = interval_bounds(np.array(ceilings)) if ceilings else (math.nan, math.nan)
    cr = np.array(crossings)
    cr = cr[~np.isnan(cr)]
    x_lo, x_hi = interval_bounds(cr) if cr.size else (math.nan, math.nan)
    status = "reached" if y.max() >= LEVEL * q[1] else "not reached"
    return SaturationFit(
        benchmark,
        n,
        points,
        Estimate(float(q[1]), c_lo, c_hi, 0.95, n, method),
        Estimate(crossing_day(q), x_lo, x_hi, 0.95, n, method),
        status,
        {
            "floor": float(q[0]),
            "ceiling": float(q[1]),
            "midpoint_day": float(q[2]),
            "scale_days": float(q[3]),
        },
        fixed is None,
    )


@dataclass(frozen=True)
class SaturationReport:
    """Saturation of every benchmark with enough frontier points."""

    saturation: tuple[SaturationFit, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "saturation": [s.to_dict() for s in self.saturation]}

    def __rich__(self) -> Table:
        t = Table(
            title=f"Benchmark saturation: date the frontier reaches 90% of its ceiling "
            f"({escape(self.source)})"
        )
        for c in (
            "benchmark",
            "models",
            "best",
            "ceiling [95% CI]",
            "90% of ceiling [95% CI]",
            "status",
        ):
            t.add_column(c)
        for s in self.saturation:
            d = s.to_dict()["cross_90"]
            best = max((p[2] for p in s.frontier), default=math.nan)
            when = f"{d['date']} [{d['ci'][0]}, {d['ci'][1]}]" if d["date"] else "n/a"
            t.add_row(
                escape(s.benchmark),
                str(s.n_models),
                f"{best:.3f}",
                str(s.ceiling) if s.ceiling_fitted else "1 (fixed: not identified)",
                when,
                s.status,
            )
        return t

    def summary(self) -> str:
        return "\n".join(f"{s.benchmark}: {s.status}" for s in self.saturation)


def saturation_all(
    scores: pd.DataFrame,
    benchmarks: list[str] | None = None,
    *,
    reps: int = 200,
    seed: int = 0,
    source: str = "",
    workers: int = 1,
) -> SaturationReport:
    """Fit every benchmark (or the ones named); too-short ones are listed as such."""
    names = benchmarks or sorted(scores["benchmark"].unique())
    known = set(scores["benchmark"])
    unknown = [b for b in names if b not in known]
    if unknown:
        raise RsimeterError(f"no stored scores for benchmark(s): {', '.join(unknown)}")
    jobs = [(scores[scores["benchmark"] == b], b, reps, seed) for b in names]
    fits = tuple(parallel_map(_fit_job, jobs, workers=workers))
    return SaturationReport(fits, source)


def _fit_job(job: tuple[pd.DataFrame, str, int, int]) -> SaturationFit:
    scores, benchmark, reps, seed = job
    return fit_saturation(scores, benchmark, reps=reps, seed=seed)
