"""Indicators of the recursion experiments, for the assessment and the alerts."""

from __future__ import annotations

import json
from datetime import date

from rsimeter.estimate import Estimate
from rsimeter.indicators import Indicator
from rsimeter.loop.recursion.estimator import TREATMENT, RecursionEstimate, estimate_recursion
from rsimeter.loop.recursion.record import latest_experiment, load_candidates, load_runs
from rsimeter.loop.recursion.share import ai_gain_share
from rsimeter.store import Store


def stored_estimate(store: Store, experiment_id: str) -> tuple[RecursionEstimate, Estimate] | None:
    """The estimate and AI gain share recomputed from one stored experiment's runs."""
    runs = load_runs(store, experiment_id, "heldout")
    if runs.empty or TREATMENT not in set(runs["arm"]):
        return None
    est = estimate_recursion(runs)
    cands = load_candidates(store, experiment_id)
    k = int(runs.loc[runs["arm"] == TREATMENT, "generation"].max())
    final = cands[(cands["arm"] == TREATMENT) & (cands["generation"] == k)]
    return est, ai_gain_share(final)


def recursion_indicators(store: Store) -> list[Indicator]:
    """``loop.gain_ratio``, ``loop.generation_time_ratio`` and ``loop.ai_gain_share``.

    From the latest recursion experiment in the store (empty when there is none).
    The verdict and its reasons travel in each indicator's evidence.
    """
    exp = latest_experiment(store)
    if exp is None:
        return []
    eid = str(exp["experiment_id"])
    found = stored_estimate(store, eid)
    if found is None:
        return []
    est, share = found
    created = str(exp["created"])[:10]
    as_of = date.fromisoformat(created) if len(created) == 10 else None
    evidence = {
        "verdict": est.verdict.verdict,
        "reasons": list(est.verdict.reasons),
        "held_out_confirmed": bool(est.verdict.held_out_confirmed),
        "experiment_id": eid,
        "tasks": json.loads(str(exp["tasks"])),
        "meta": str(exp["meta"]),
        "generations": int(exp["generations"]),
        "tables": ["loop_recursion_runs", "loop_recursion_candidates"],
    }
    prov = f"recursion experiment {eid}: held-out improver runs, {est.method}"
    return [
        Indicator(
            "loop.gain_ratio",
            "Mean gain ratio ρ̄ of improver generations",
            est.treatment.mean_gain_ratio,
            "ratio",
            as_of,
            prov,
            evidence,
        ),
        Indicator(
            "loop.generation_time_ratio",
            "Generation-time ratio q (geometric mean of T_k+1/T_k)",
            est.treatment.mean_time_ratio,
            "ratio",
            as_of,
            prov,
            evidence,
        ),
        Indicator(
            "loop.ai_gain_share",
            "Share of the σ gain produced by AI-generated patches",
            share,
            "share",
            as_of,
            prov,
            evidence,
        ),
    ]
