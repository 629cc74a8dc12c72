"""Indicators of the recursion experiments, for the assessment and the alerts."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

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


def harness_lineages(store: Store) -> pd.DataFrame:
    """Candidates of the harness's loop experiments, shaped for ``lineage_gains``.

    Each experiment is one unit; its picked candidate is its best finished one by
    σ (the gain being attributed), and the shipped pipeline is σ = 0.1 by the ladder.
    Reference patches (role ``reference``) count as human-supplied.
    """
    if "loop_candidates" not in store.tables():
        return pd.DataFrame()
    df = store.frame(
        "SELECT experiment_id, candidate_id, parent_id, improver, role, status, sigma "
        "FROM loop_candidates WHERE role IN ('candidate', 'reference')"
    )
    if df.empty:
        return df
    df["author"] = [
        "reference" if role == "reference" else str(imp)
        for role, imp in zip(df["role"], df["improver"], strict=True)
    ]
    ok = df[(df["status"] == "ok") & df["sigma"].notna()]
    best = ok.sort_values("sigma", ascending=False).drop_duplicates("experiment_id")
    df["chosen"] = df["candidate_id"].isin(set(best["candidate_id"]))
    return pd.DataFrame(
        {
            "arm": "harness",
            "generation": 0,
            "task": df["experiment_id"].astype(str),
            "seed": 0,
            "candidate_id": df["candidate_id"],
            "parent_id": df["parent_id"],
            "author": df["author"],
            "sigma": df["sigma"],
            "chosen": df["chosen"],
            "shipped_sigma": 0.1,
        }
    )


def recursion_indicators(store: Store) -> list[Indicator]:
    """``loop.gain_ratio``, ``loop.generation_time_ratio`` and ``loop.ai_gain_share``.

    From the latest recursion experiment in the store (empty when there is none).
    The AI gain share pools that experiment's last-generation held-out runs with
    the harness's loop experiments (each one unit), where human-supplied
    reference and scripted patches can enter a lineage. The verdict and its
    reasons travel in each indicator's evidence.
    """
    exp = latest_experiment(store)
    if exp is None:
        return []
    eid = str(exp["experiment_id"])
    found = stored_estimate(store, eid)
    if found is None:
        return []
    est, share = found
    harness = harness_lineages(store)
    if len(harness):
        cands = load_candidates(store, eid)
        k = int(cands.loc[cands["arm"] == TREATMENT, "generation"].max()) if len(cands) else 0
        final = cands[(cands["arm"] == TREATMENT) & (cands["generation"] == k)]
        share = ai_gain_share(pd.concat([final, harness], ignore_index=True))
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
