"""Indicators the assess pillar computes from the series loaded into the store.

One indicator per series and model: ``assess.gain_ratio``,
``assess.generation_time_ratio`` (cycles), ``assess.jones_r`` (effort),
``assess.burtsev_r`` and ``assess.burtsev_growth_rate`` (arms),
``assess.progress_multiplier`` (tasks). A series other than the first of its
kind gets its name appended (``assess.jones_r.software``). λ needs α and τ,
kept in the store's meta table by ``set_growth_parameters``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from rsimeter.assess.amdahl import progress_multiplier
from rsimeter.assess.burtsev import fit_burtsev
from rsimeter.assess.compounding import cycle_ratios
from rsimeter.assess.jones import fit_jones
from rsimeter.estimate import Estimate
from rsimeter.indicators import Indicator
from rsimeter.store import Store

META_KEY = "assess.growth_parameters"


def set_growth_parameters(store: Store, alpha: float | None, tau: float | None) -> None:
    """Keep α and τ (from ``[assess]``) with the evidence, so every view computes one λ.

    Both must be given to be stored; otherwise what the store holds is kept.
    """
    if alpha is not None and tau is not None:
        store.set_meta(META_KEY, json.dumps({"alpha": float(alpha), "tau": float(tau)}))


def growth_parameters(store: Store) -> dict[str, float]:
    """The stored α and τ, or an empty dict (then λ is left out)."""
    raw = store.get_meta(META_KEY)
    if not raw:
        return {}
    try:
        params = json.loads(raw)
        return {"alpha": float(params["alpha"]), "tau": float(params["tau"])}
    except (ValueError, KeyError, TypeError):
        return {}


def _key(base: str, series: str, first: str) -> str:
    return base if series == first else f"{base}.{series}"


def _ind(
    key: str,
    label: str,
    est: Estimate,
    table: str,
    series: str,
    extra: dict[str, Any],
    unit: str = "ratio",
) -> Indicator:
    return Indicator(
        key=key,
        label=label,
        estimate=est,
        unit=unit,
        provenance=f"{table} where series = '{series}'",
        evidence={"table": table, "series": series, **extra},
    )


def _by_series(store: Store, table: str, order: str) -> list[tuple[str, str, Any]]:
    frame = store.frame(f"SELECT * FROM {table} ORDER BY series, {order}")
    names = list(dict.fromkeys(frame["series"]))
    return [(name, names[0], frame[frame["series"] == name]) for name in names]


def _cycles(store: Store) -> list[Indicator]:
    out = []
    for name, first, rows in _by_series(store, "assess_cycles", "cycle"):
        durations = rows["duration"].to_numpy(dtype=float)
        res = cycle_ratios(
            rows["gain"].tolist(),
            durations.tolist() if bool(np.isfinite(durations).all()) else None,
        )
        extra = {"cycles": res.cycles, "skipped": res.skipped, "input_controlled": False}
        key = _key("assess.gain_ratio", name, first)
        out.append(
            _ind(key, f"Gain ratio ρ ({name})", res.gain_ratio, "assess_cycles", name, extra)
        )
        if math.isfinite(res.generation_time_ratio.value):
            key = _key("assess.generation_time_ratio", name, first)
            label = f"Generation-time ratio q ({name})"
            est = res.generation_time_ratio
            out.append(_ind(key, label, est, "assess_cycles", name, extra))
    return out


def _effort(store: Store) -> list[Indicator]:
    out = []
    for name, first, rows in _by_series(store, "assess_effort", "time"):
        fit = fit_jones(rows["time"], rows["efficiency"], rows["research_input"])
        extra = {
            "efficiency_doublings_per_unit": fit.efficiency_growth,
            "input_doublings_per_unit": fit.input_growth,
        }
        key = _key("assess.jones_r", name, first)
        label = f"Returns to research effort r ({name})"
        out.append(_ind(key, label, fit.r, "assess_effort", name, extra))
    return out


def _arms(store: Store) -> list[Indicator]:
    out = []
    growth = growth_parameters(store)
    for name, first, rows in _by_series(store, "assess_arms", "arm, point"):
        t, c = rows[rows["arm"] == "treatment"], rows[rows["arm"] == "control"]
        fit = fit_burtsev(
            (t["capability"], t["rate"]),
            (c["capability"], c["rate"]),
            alpha=growth.get("alpha"),
            tau=growth.get("tau"),
        )
        extra = {
            "slope_treatment": fit.slope_treatment,
            "slope_control": fit.slope_control,
            "n_treatment": fit.n_treatment,
            "n_control": fit.n_control,
        }
        key = _key("assess.burtsev_r", name, first)
        label = f"Recursive reproduction number R̂ ({name})"
        out.append(_ind(key, label, fit.r, "assess_arms", name, extra))
        if math.isfinite(fit.growth_rate.value):
            key = _key("assess.burtsev_growth_rate", name, first)
            label = f"Growth rate λ ({name})"
            params = {**extra, **growth}
            out.append(
                _ind(key, label, fit.growth_rate, "assess_arms", name, params, "per time unit")
            )
    return out


def _tasks(store: Store) -> list[Indicator]:
    out = []
    for name, first, rows in _by_series(store, "assess_tasks", "task, point"):
        pm = progress_multiplier(
            rows["task"].tolist(), rows["share"].tolist(), rows["speedup"].tolist()
        )
        extra = {
            "amdahl_bound": pm.bound if math.isfinite(pm.bound) else None,
            "accelerated_share": pm.accelerated_share,
            "tasks": pm.tasks,
        }
        key = _key("assess.progress_multiplier", name, first)
        label = f"Progress multiplier ({name})"
        out.append(_ind(key, label, pm.multiplier, "assess_tasks", name, extra))
    return out


def indicators(store: Store) -> list[Indicator]:
    """The assess indicators computed from the store (empty when no series was loaded)."""
    return [*_cycles(store), *_effort(store), *_arms(store), *_tasks(store)]
