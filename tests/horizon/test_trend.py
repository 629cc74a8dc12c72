"""Doubling times (faithful to METR's published numbers), acceleration and forecasts."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rsimeter.errors import RsimeterError
from rsimeter.horizon.acceleration import analyse_trend, compare_models
from rsimeter.horizon.trend import (
    HorizonPoints,
    day_number,
    doubling_ratio,
    fit_trend,
    select_points,
)

PAPER_CUTOFF = date(2025, 2, 25)  # GPT-2 .. Claude 3.7 Sonnet


def th1_0_points(metr_dir: Path) -> HorizonPoints:
    folder = metr_dir / "th1_0_2025-06_aggregates"
    fits = pd.read_csv(folder / "logistic_fits_headline.csv")
    fits = fits[fits["agent"] != "human"]
    boot = pd.read_csv(folder / "bootstrap_headline.csv")
    rows = boot[[c for c in boot.columns if c.endswith("_p50")]]
    rows.columns = [c.removesuffix("_p50") for c in rows.columns]
    return HorizonPoints(fits[["agent", "release_date", "p50"]], rows, "TH1.0 aggregates")


def yaml_points(path: Path) -> pd.DataFrame:
    results = yaml.safe_load(path.read_text())["results"]
    return pd.DataFrame(
        [
            {
                "agent": key,
                "release_date": v["release_date"],
                "p50": v["metrics"]["p50_horizon_length"]["estimate"],
                "p50_low": v["metrics"]["p50_horizon_length"]["ci_low"],
                "p50_high": v["metrics"]["p50_horizon_length"]["ci_high"],
                "is_sota": v["metrics"]["is_sota"],
            }
            for key, v in results.items()
        ]
    )


def test_th1_0_doubling_time_matches_metr_paper(metr_dir: Path) -> None:
    fit = fit_trend(th1_0_points(metr_dir), until=PAPER_CUTOFF)
    assert fit.agents[0] == "GPT-2" and fit.agents[-1] == "Claude 3.7 Sonnet"
    assert len(fit.agents) == 11
    assert fit.doubling_days.value == pytest.approx(213.0, abs=0.05)
    assert fit.doubling_days.low == pytest.approx(172.4, abs=0.05)
    assert fit.doubling_days.high == pytest.approx(247.4, abs=0.05)
    assert fit.doubling_days.n == 11


def test_th1_1_doubling_times_match_the_published_yaml(metr_dir: Path) -> None:
    path = metr_dir / "benchmark_results" / "th1_1_benchmark_results_2026-01-30.yaml"
    published = yaml.safe_load(path.read_text())["doubling_time_in_days"]
    points = yaml_points(path)
    recent = fit_trend(points, since=date(2023, 1, 1))
    assert recent.doubling_days.value == pytest.approx(130.8, abs=0.05)
    assert recent.doubling_days.value == pytest.approx(
        published["from_2023_on"]["point_estimate"], abs=1e-3
    )
    stitched = fit_trend(points, sota="flag")
    assert stitched.doubling_days.value == pytest.approx(196.5, abs=0.05)
    assert stitched.doubling_days.value == pytest.approx(
        published["all_time_stitched"]["point_estimate"], abs=1e-3
    )


def synthetic(doubling: float, n: int = 12, start: date = date(2020, 1, 1)) -> pd.DataFrame:
    dates = [start + timedelta(days=150 * i) for i in range(n)]
    p50 = [0.5 * 2 ** (150 * i / doubling) for i in range(n)]
    return pd.DataFrame({"agent": [f"m{i}" for i in range(n)], "release_date": dates, "p50": p50})


def test_exact_exponential_gives_exact_doubling_time() -> None:
    fit = fit_trend(synthetic(200.0))
    assert fit.doubling_days.value == pytest.approx(200.0, rel=1e-9)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.doubling_days.method == "OLS t interval on the slope"


def test_sota_filter_keeps_models_at_least_as_good_as_all_earlier() -> None:
    frame = pd.DataFrame(
        {
            "agent": ["a", "b", "c", "d", "e"],
            "release_date": ["2023-01-01", "2023-06-01", "2023-06-01", "2024-01-01", "2024-02-01"],
            "p50": [1.0, 4.0, 3.0, 2.0, 8.0],
        }
    )
    assert list(select_points(frame)["agent"]) == ["a", "b", "e"]
    assert list(select_points(frame, since=date(2023, 7, 1))["agent"]) == ["d", "e"]
    assert list(select_points(frame, until=date(2024, 1, 1))["agent"]) == ["a", "b"]


def test_rows_skip_missing_and_tiny_p50s_within_a_row() -> None:
    frame = synthetic(100.0, n=5)
    rows = pd.DataFrame([frame["p50"].to_numpy()] * 3, columns=frame["agent"])
    rows.iloc[1, 0] = np.nan
    rows.iloc[2, 0] = 1e-4
    fit = fit_trend(HorizonPoints(frame, rows))
    assert fit.doubling_days.low == pytest.approx(100.0)
    assert fit.doubling_days.high == pytest.approx(100.0)
    assert "3 rows" in fit.doubling_days.method


def test_parametric_rows_stand_in_when_only_intervals_are_published() -> None:
    frame = synthetic(150.0).assign(p50_low=lambda f: f["p50"] / 2, p50_high=lambda f: f["p50"] * 2)
    fit = fit_trend(frame)
    assert "parametric" in fit.doubling_days.method
    assert fit.doubling_days.low < 150.0 < fit.doubling_days.high


def test_doubling_ratio_uses_shared_rows_and_detects_shrinking() -> None:
    early = synthetic(300.0, n=8)
    late_start = pd.Timestamp(early["release_date"].iloc[-1]).date() + timedelta(days=150)
    late = synthetic(100.0, n=8, start=late_start)
    late["p50"] = late["p50"] * early["p50"].iloc[-1] / 0.5 * 2 ** (150 / 100)
    late["agent"] = [f"n{i}" for i in range(8)]
    frame = pd.concat([early, late], ignore_index=True)
    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        frame["p50"].to_numpy()[None, :] * np.exp(rng.normal(0, 0.1, (300, len(frame)))),
        columns=frame["agent"],
    )
    points = HorizonPoints(frame, rows)
    split = late_start
    ratio = doubling_ratio(fit_trend(points, since=split), fit_trend(points, until=split))
    assert ratio.value == pytest.approx(1 / 3, rel=1e-6)
    assert ratio.high < 1.0
    assert "shared bootstrap rows" in ratio.method


def test_too_few_models_is_a_clear_error() -> None:
    with pytest.raises(RsimeterError, match="fewer than two frontier models"):
        fit_trend(synthetic(100.0, n=3), since=date(2030, 1, 1))


def test_model_comparison_prefers_exponential_on_exponential_data() -> None:
    rng = np.random.default_rng(4)
    frame = synthetic(200.0, n=14)
    x = np.array([day_number(d) for d in frame["release_date"]])
    y = np.log(frame["p50"].to_numpy()) + rng.normal(0, 0.15, len(x))
    fits, _ = compare_models(x, y)
    best = max(fits, key=lambda f: f.akaike_weight)
    assert best.name == "exponential"


def test_model_comparison_finds_a_break_when_growth_speeds_up() -> None:
    rng = np.random.default_rng(5)
    x = np.arange(16) * 120.0 + 18000
    tau = x[8]
    y = 0.002 * (x - x[0]) + 0.008 * np.maximum(0, x - tau) + rng.normal(0, 0.05, 16)
    fits, _ = compare_models(x, y)
    best = max(fits, key=lambda f: f.akaike_weight)
    assert best.name in ("piecewise", "superexponential")
    assert fits[0].name == "exponential" and fits[0].akaike_weight < 0.05
    piece = next(f for f in fits if f.name == "piecewise")
    assert piece.params["doubling_days_after"] == pytest.approx(math.log(2) / 0.01, rel=0.15)


def test_superexponential_recovers_a_shrinking_doubling_time() -> None:
    # each doubling takes 0.8x the time of the one before, starting at 300 days
    d0, r = 300.0, 0.8
    k = np.arange(10)
    t = d0 * (r**k - 1) / math.log(r)  # days after start to reach k doublings
    x = 18000 + t
    y = math.log(2) * k
    fits, _ = compare_models(x, y)
    sup = next(f for f in fits if f.name == "superexponential")
    assert sup.params["ratio_per_doubling"] == pytest.approx(0.8, rel=0.02)
    assert sup.params["doubling_days_at_start"] == pytest.approx(300.0, rel=0.02)
    assert max(fits, key=lambda f: f.akaike_weight).name == "superexponential"


def test_exponential_forecast_dates_are_exact_on_exact_data() -> None:
    frame = synthetic(200.0, n=10)
    report = analyse_trend(HorizonPoints(frame), forecast_reps=50)
    f = next(f for f in report.forecasts if f.model == "exponential" and f.minutes == 480)
    expected = day_number(date(2020, 1, 1)) + 200.0 * math.log2(480 / 0.5)
    assert f.day.value == pytest.approx(expected, abs=1e-6)
    assert f.to_dict()["date"] == (date(1970, 1, 1) + timedelta(days=round(expected))).isoformat()
    averaged = [f for f in report.forecasts if f.model == "averaged"]
    assert len(averaged) == 3


def test_trend_report_json_shape(metr_dir: Path) -> None:
    report = analyse_trend(th1_0_points(metr_dir), until=PAPER_CUTOFF, forecast_reps=60)
    d = report.to_dict()
    assert set(d) >= {"doubling_days", "windows", "models", "forecasts", "verdict", "agents"}
    assert d["doubling_days"]["value"] == pytest.approx(213.0, abs=0.05)
    assert len(d["doubling_days"]["ci"]) == 2
    assert {m["name"] for m in d["models"]} == {"exponential", "piecewise", "superexponential"}
    assert all("aicc" in m and "bic" in m for m in d["models"])
    assert abs(sum(m["akaike_weight"] for m in d["models"]) - 1) < 1e-9
    assert {f["threshold"] for f in d["forecasts"]} == {
        "work-day (8 h)",
        "work-week (40 h)",
        "work-month (167 h)",
    }
    assert d["verdict"]["strength"] in ("strong", "moderate", "weak")


def test_doubling_interval_covers_the_truth_on_simulated_frontiers() -> None:
    # every model's p50 is measured with log-normal error and a published 95% interval
    rng = np.random.default_rng(11)
    covered, trials = 0, 30
    for t in range(trials):
        truth = synthetic(180.0, n=12)
        sd = rng.uniform(0.2, 0.5, len(truth))
        noisy = truth["p50"] * np.exp(rng.normal(0, sd))
        frame = truth.assign(
            p50=noisy, p50_low=noisy * np.exp(-1.96 * sd), p50_high=noisy * np.exp(1.96 * sd)
        )
        fit = fit_trend(frame, sota="none", seed=t, reps=400)
        covered += fit.doubling_days.contains(180.0)
    assert covered >= 24  # nominal 95%; at least 80% of 30
