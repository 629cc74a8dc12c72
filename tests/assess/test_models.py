"""Compounding models: exact values where the truth is known, coverage where random."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsimeter.assess.amdahl import amdahl_bound, multiplier, progress_multiplier
from rsimeter.assess.burtsev import fit_burtsev, growth_rate, log_rate_slope
from rsimeter.assess.compounding import consecutive_ratios, cycle_ratios, cycles_from_levels
from rsimeter.assess.jones import fit_jones


@pytest.mark.parametrize(("r", "expected"), [(0.8, -0.03701), (1.0, 0.0), (1.2, 0.03575)])
def test_growth_rate_matches_the_published_roots(r: float, expected: float):
    assert growth_rate(r, 0.2, 0.5) == pytest.approx(expected, abs=5e-6)


def test_growth_rate_solves_its_equation_and_has_the_sign_of_r_minus_one():
    for r in (0.1, 0.5, 0.99, 1.01, 2.0, 10.0):
        for alpha, tau in ((0.2, 0.5), (1.0, 3.0), (0.05, 0.0)):
            lam = growth_rate(r, alpha, tau)
            assert lam == pytest.approx(alpha * (r * math.exp(-lam * tau) - 1), abs=1e-10)
            assert math.copysign(1, lam) == math.copysign(1, r - 1)


def test_growth_rate_rejects_meaningless_parameters():
    with pytest.raises(ValueError):
        growth_rate(-1.0, 0.2, 0.5)
    with pytest.raises(ValueError):
        growth_rate(1.0, 0.0, 0.5)


def _arm(slope: float, n: int, rng: np.random.Generator, noise: float = 0.0):
    c = np.linspace(0, 10, n)
    return c, np.exp(1.0 + slope * c + rng.normal(0, noise, n))


def test_burtsev_r_recovers_g_over_sigma_exactly_without_noise():
    rng = np.random.default_rng(1)
    sigma, g = 0.3, 0.45
    fit = fit_burtsev(_arm(g - sigma, 12, rng), _arm(-sigma, 12, rng), alpha=0.2, tau=0.5, reps=200)
    assert fit.r.value == pytest.approx(g / sigma)
    assert fit.slope_control == pytest.approx(-sigma)
    assert fit.growth_rate.value == pytest.approx(growth_rate(1.5, 0.2, 0.5))
    assert fit.growth_rate.low <= fit.growth_rate.value <= fit.growth_rate.high


def test_burtsev_interval_covers_the_true_r_in_most_noisy_replications():
    sigma, g, hits, trials = 0.2, 0.24, 0, 60
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        fit = fit_burtsev(
            _arm(g - sigma, 30, rng, 0.3), _arm(-sigma, 30, rng, 0.3), reps=300, seed=seed
        )
        hits += fit.r.contains(g / sigma)
    assert hits / trials >= 0.85


def test_burtsev_without_a_harder_control_arm_is_missing_with_the_reason():
    rng = np.random.default_rng(0)
    fit = fit_burtsev(_arm(0.1, 5, rng), _arm(0.05, 5, rng))
    assert math.isnan(fit.r.value)
    assert "control slope not negative" in fit.r.method


def test_log_rate_slope_ignores_nonpositive_rates():
    assert log_rate_slope([0, 1, 2, 3], [1, math.e, -5, math.e**3]) == pytest.approx(1.0)


def test_consecutive_ratios_skip_nonpositive_gains():
    ratios, skipped = consecutive_ratios([1.0, 2.0, 0.0, 4.0, 8.0])
    assert ratios.tolist() == [2.0, 2.0]
    assert skipped == 2


def test_cycle_ratios_of_a_geometric_sequence_are_exact():
    res = cycle_ratios([1, 1.5, 2.25, 3.375, 5.0625], [10, 8, 6.4, 5.12, 4.096], reps=200)
    assert res.gain_ratio.value == pytest.approx(1.5)
    assert res.gain_ratio.low == pytest.approx(1.5) and res.gain_ratio.high == pytest.approx(1.5)
    assert res.generation_time_ratio.value == pytest.approx(0.8)
    assert res.cycles == 5 and res.skipped == 0


def test_cycle_ratio_interval_covers_the_true_ratio():
    hits, trials = 0, 80
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        gains = 1.2 ** np.arange(25) * np.exp(rng.normal(0, 0.1, 25))
        res = cycle_ratios(gains.tolist(), reps=400, seed=seed)
        hits += res.gain_ratio.contains(1.2)
    assert hits / trials >= 0.85


def test_cycles_from_levels_orders_points_by_time():
    gains, durations = cycles_from_levels([3.0, 1.0, 6.0], [20.0, 0.0, 50.0])
    assert gains == [2.0, 3.0]
    assert durations == [20.0, 30.0]


def test_jones_r_is_the_ratio_of_growth_rates():
    t = np.arange(10.0)
    fit = fit_jones(t, 2 ** (1.5 * t), 2 ** (0.5 * t) * 100, reps=200)
    assert fit.r.value == pytest.approx(3.0)
    assert fit.efficiency_growth == pytest.approx(1.5)
    assert fit.input_growth == pytest.approx(0.5)


def test_jones_interval_covers_the_true_r():
    hits, trials = 0, 60
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        t = np.arange(20.0)
        a = 2 ** (0.8 * t + rng.normal(0, 0.3, 20))
        s = 2 ** (t + rng.normal(0, 0.3, 20))
        hits += fit_jones(t, a, s, reps=300, seed=seed).r.contains(0.8)
    assert hits / trials >= 0.85


def test_jones_without_growing_input_is_missing():
    fit = fit_jones([0, 1, 2, 3], [1, 2, 4, 8], [5, 5, 5, 5])
    assert math.isnan(fit.r.value)
    assert "does not grow" in fit.r.method


def test_amdahl_multiplier_and_bound_by_hand():
    # Half the work 4x faster, half untouched: M = 1/(0.5/4 + 0.5) = 1.6, bound 2.
    assert multiplier([0.5, 0.5], [4, 1]) == pytest.approx(1.6)
    assert amdahl_bound([0.5, 0.5], [4, 1]) == pytest.approx(2.0)
    assert amdahl_bound([1, 1], [2, 3]) == math.inf


def test_progress_multiplier_averages_time_fractions_and_bootstraps_within_tasks():
    res = progress_multiplier(
        ["code", "code", "review", "meet"], [2, 2, 1, 1], [2, 8, 1.0, 1.0], reps=300
    )
    # code: mean of 1/2 and 1/8 = 0.3125; M = 1/(0.5*0.3125 + 0.25 + 0.25)
    assert res.multiplier.value == pytest.approx(1 / (0.5 * 0.3125 + 0.5))
    assert res.bound == pytest.approx(2.0)
    assert res.accelerated_share == pytest.approx(0.5)
    assert res.multiplier.low < res.multiplier.value < res.multiplier.high
    assert res.multiplier.high <= res.bound
