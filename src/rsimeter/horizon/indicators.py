"""Indicators the horizon pillar hands to the assessment."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from rsimeter.errors import RsimeterError
from rsimeter.estimate import Estimate
from rsimeter.horizon.acceleration import TrendReport, analyse_trend
from rsimeter.horizon.evidence import default_points
from rsimeter.horizon.trend import day_number, select_points
from rsimeter.indicators import Indicator
from rsimeter.store import Store

SPLIT = date(2024, 1, 1)


def trend_for_store(store: Store, *, split: date = SPLIT, seed: int = 0) -> TrendReport | None:
    """The full-data trend analysis of the store's default points, or None without evidence."""
    try:
        points = default_points(store, seed=seed)
        return analyse_trend(points, split=split, seed=seed)
    except RsimeterError:
        return None


def indicators(store: Store, *, today: date | None = None) -> list[Indicator]:
    """The horizon indicators computed from the store (empty when there is no evidence)."""
    report = trend_for_store(store)
    if report is None:
        return []
    today = today or datetime.now(UTC).date()
    source = report.source
    provenance = f"horizon trend of {source}; METR method (frontier filter, OLS of ln p50)"
    if "Epoch" in source:
        provenance += "; no run data or METR summaries stored, so Epoch AI's copy is used"
    evidence = {"source": source, "models": list(report.main.agents)}
    recent = next((w for w in report.windows if w.window[0] == SPLIT), None)
    kept = select_points(report.points.frame)
    latest = kept.iloc[-1] if len(kept) else None
    out = [
        Indicator(
            "horizon.doubling_days",
            "Doubling time of the frontier 50% time horizon (all data)",
            report.main.doubling_days,
            "days",
            today,
            provenance,
            evidence,
        ),
        Indicator(
            "horizon.doubling_days_recent",
            f"Doubling time of the frontier 50% time horizon (from {SPLIT})",
            recent.doubling_days if recent else Estimate.missing("fewer than two recent models"),
            "days",
            today,
            provenance,
            {"source": source, "models": list(recent.agents) if recent else []},
        ),
        Indicator(
            "horizon.doubling_time_ratio",
            f"Doubling time from {SPLIT} / before (< 1: shrinking)",
            report.ratio,
            "ratio",
            today,
            provenance + "; ratio formed within shared bootstrap rows",
            evidence,
        ),
    ]
    if latest is not None:
        low = float(latest.get("p50_low", math.nan)) if "p50_low" in kept.columns else math.nan
        high = float(latest.get("p50_high", math.nan)) if "p50_high" in kept.columns else math.nan
        out.append(
            Indicator(
                "horizon.frontier_p50_minutes",
                f"50% time horizon of the latest frontier model ({latest['agent']})",
                Estimate(float(latest["p50"]), low, high, 0.95, 1, "as published or fitted"),
                "minutes",
                today,
                provenance,
                {"source": source, "agent": str(latest["agent"])},
            )
        )
    best = report.verdict.best
    workday = next((f for f in report.forecasts if f.model == best and f.minutes == 480.0), None)
    if workday is not None:
        now = day_number(today)
        d = workday.day
        out.append(
            Indicator(
                "horizon.forecast_workday_days",
                f"Days until the frontier 50% horizon reaches 8 hours ({best} model)",
                Estimate(d.value - now, d.low - now, d.high - now, d.level, d.n, d.method),
                "days",
                today,
                provenance + f"; growth model chosen by AICc ({report.verdict.strength})",
                {"source": source, "model": best},
            )
        )
    return out
