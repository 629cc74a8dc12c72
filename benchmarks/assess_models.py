"""Speed of the assessment: bootstrap fits and a full assessment over many indicators.

    python benchmarks/assess_models.py

Prints the time of each model fit relative to the time of one reference
``bootstrap_mean`` over the same number of points in the same process, so the
ratios hold across machines.
"""

from __future__ import annotations

import time

import numpy as np

from rsimeter.assess.amdahl import progress_multiplier
from rsimeter.assess.assessment import assess
from rsimeter.assess.burtsev import fit_burtsev
from rsimeter.assess.compounding import cycle_ratios
from rsimeter.assess.jones import fit_jones
from rsimeter.estimate import Estimate, bootstrap_mean
from rsimeter.indicators import Indicator


def timed(func, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(size=n)
    ref = timed(lambda: bootstrap_mean(x))
    c = np.linspace(0, 10, n)
    arms = (
        (c, np.exp(0.1 * c + rng.normal(0, 0.2, n))),
        (c, np.exp(-0.3 * c + rng.normal(0, 0.2, n))),
    )
    t = np.arange(n, dtype=float)
    cases = {
        "cycle ratios (200 cycles)": lambda: cycle_ratios(
            np.exp(rng.normal(size=n)).tolist(), (1 + t).tolist()
        ),
        "Jones r (200 rows)": lambda: fit_jones(t, 2 ** (0.8 * t / 50), 2 ** (t / 50)),
        "Burtsev R̂ (2 x 200 points)": lambda: fit_burtsev(*arms),
        "Amdahl multiplier (200 rows)": lambda: progress_multiplier(
            [f"t{i % 20}" for i in range(n)], [1.0] * n, list(1 + rng.random(n) * 3)
        ),
    }
    inds = [
        Indicator(f"code.ai_x{i}_share", "x", Estimate(0.6, 0.5, 0.7, n=10)) for i in range(500)
    ]
    cases["assessment of 500 indicators"] = lambda: assess(None, indicators=inds)  # type: ignore[arg-type]
    print(f"reference: bootstrap_mean of {n} values, 2000 reps: {ref * 1e3:.1f} ms")
    for name, func in cases.items():
        s = timed(func)
        print(f"{name:34s} {s * 1e3:8.1f} ms  {s / ref:6.1f}x reference")


if __name__ == "__main__":
    main()
