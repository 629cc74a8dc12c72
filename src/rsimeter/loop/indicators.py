"""Indicators the loop pillar hands to the assessment (from the latest finished experiment)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from rsimeter.estimate import Estimate
from rsimeter.indicators import Indicator
from rsimeter.loop import record
from rsimeter.loop.integrity import VIOLATIONS
from rsimeter.loop.recursion.indicators import recursion_indicators
from rsimeter.store import Store


def indicators(store: Store) -> list[Indicator]:
    """The loop indicators computed from the store (empty when there is no evidence).

    From the recursion level: ``loop.gain_ratio``, ``loop.generation_time_ratio`` and
    ``loop.ai_gain_share`` (the verdict and its reasons travel in their evidence).

    - ``loop.sigma_gain``: σ(best) − σ(shipped) of the latest finished experiment, paired
      by seed, best chosen on the proxy score and scored on hidden data.
    - ``loop.sigma_gain_confirmed``: the same gain re-run on fresh seeds that played no
      part in choosing the best (held-out confirmation; only when the experiment ran it).
    - ``loop.reference_gap_recovered``: share of the reference improvement's σ gain recovered.
    - ``loop.integrity_events``: integrity flags raised in that experiment (exact count).
    """
    return _experiment_indicators(store) + recursion_indicators(store)


def _experiment_indicators(store: Store) -> list[Indicator]:
    exp_id = record.latest_experiment(store)
    if exp_id is None:
        return []
    result = record.load_experiment(store, exp_id)
    finished = record.load_experiment_meta(store, exp_id)["finished_at"]
    as_of = finished.date() if hasattr(finished, "date") else date.today()
    flags = Counter(f.split(":", 1)[0] for c in result.candidates for f in c.integrity)
    violations = sum(n for f, n in flags.items() if f in VIOLATIONS)
    evidence = {
        "experiment": exp_id,
        "target": result.target,
        "improver": result.improver,
        "seeds": list(result.seeds),
        "candidates": sum(1 for c in result.candidates if c.role == "candidate"),
        "best_candidate": result.best_candidate,
        "held_out_confirmed": result.held_out_confirmed,
        "tables": ["loop_experiments", "loop_candidates", "loop_scores", "loop_integrity_events"],
    }
    total = float(sum(flags.values()))
    n_cands = len(result.candidates)
    confirmed = []
    if result.confirmation is not None:
        confirmed.append(
            Indicator(
                "loop.sigma_gain_confirmed",
                "Improvement confirmed: σ(best) − σ(shipped) on fresh seeds, hidden data",
                result.confirmation,
                unit="σ",
                as_of=as_of,
                provenance=f"loop experiment {exp_id}, seeds "
                + ", ".join(str(x) for x in result.confirm_seeds),
                evidence={**evidence, "confirm_seeds": list(result.confirm_seeds)},
            )
        )
    return [
        Indicator(
            "loop.sigma_gain",
            "Improvement generated: σ(best) − σ(shipped) on hidden data",
            result.sigma_gain,
            unit="σ",
            as_of=as_of,
            provenance=f"loop experiment {exp_id} ({result.target}, {result.improver})",
            evidence=evidence,
        ),
        *confirmed,
        Indicator(
            "loop.reference_gap_recovered",
            "Share of the reference improvement recovered",
            result.reference_gap_recovered,
            unit="fraction",
            as_of=as_of,
            provenance=f"loop experiment {exp_id}",
            evidence=evidence,
        ),
        Indicator(
            "loop.integrity_events",
            "Integrity flags raised by candidates",
            Estimate(total, total, total, 0.95, n_cands, "exact count"),
            unit="events",
            as_of=as_of,
            provenance=f"loop experiment {exp_id}",
            evidence={**evidence, "by_flag": dict(flags), "violations": violations},
        ),
    ]
