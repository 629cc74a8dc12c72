"""Do the search improvers improve? σ gain, held-out confirmation and reference gap per seed.

Aim (per target, per improver): with 16 candidates x 2 seeds, σ gain > 0 with held-out
confirmation in at least 4 of 5 improver seeds, and a median reference gap recovered
of at least 50%. Each improver seed is its own experiment (a fixed id, so the same
seed proposes the same candidates); the reference is run once per target and its
per-seed σ reused for every experiment (the shipped runs are checked to be identical).
Held-out confirmation re-runs the chosen candidate and the shipped pipeline on
``--confirm-seeds`` fresh seeds (2, 3, 4 by default), which played no part in the
choice; the interval over the two search seeds is printed too.
Budget-aware improvers refuse points before training, so the "over budget" column
counts the candidates the driver still refused (aim: 0) and "checks" the planned-
compute checks that cost no cycle.

    python benchmarks/loop_improvers.py [--target digits charlm] [--improver tpe local]
        [--improver-seeds 5] [--cycles 16] [--seeds 2] [--confirm-seeds 3] [--json]

Runs can be split: ``--first-seed 2 --improver-seeds 3`` runs improver seeds 2, 3, 4.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from rsimeter.loop import metrics
from rsimeter.loop.edits import knob_values
from rsimeter.loop.experiment import run_experiment
from rsimeter.loop.improvers.knobs import knob_point
from rsimeter.loop.improvers.registry import make_improver
from rsimeter.loop.results import CandidateResult, ExperimentResult
from rsimeter.loop.target import Target, load_target


def _reference(target: Target, seeds: int) -> tuple[CandidateResult, CandidateResult | None]:
    """The shipped and reference runs of a target (an experiment of zero cycles; no
    reference run when the target has none)."""
    result = run_experiment(target, make_improver("random"), cycles=0, seeds=seeds, ablate=False)
    shipped = next(c for c in result.candidates if c.role == "shipped")
    ref = next((c for c in result.candidates if c.role == "reference"), None)
    return shipped, ref


def _row(
    target: Target, name: str, seed: int, result: ExperimentResult, ref: CandidateResult | None,
    ref_shipped: CandidateResult, seconds: float,
) -> dict[str, Any]:  # fmt: skip
    shipped = next(c for c in result.candidates if c.role == "shipped")
    best = next((c for c in result.candidates if c.candidate_id == result.best_candidate), None)
    gap = metrics.reference_gap_recovered(best, ref, shipped)
    cands = [c for c in result.candidates if c.role == "candidate"]
    notes = " ".join(c.note for c in cands)
    return {
        "target": target.name,
        "improver": name,
        "improver_seed": seed,
        "sigma_gain": result.sigma_gain.to_dict(),
        "held_out_confirmed": result.held_out_confirmed,
        "confirmation": result.confirmation.to_dict() if result.confirmation else None,
        "reference_gap_recovered": gap.to_dict(),
        "best_changes": _changes(target, best),
        "seed_gains": [
            round(b - s, 4) for b, s in zip(best.seed_sigmas, shipped.seed_sigmas, strict=False)
        ]
        if best is not None
        else [],
        "statuses": {s: sum(c.status == s for c in cands) for s in {c.status for c in cands}},
        "steps_cut_to_fit": notes.count("steps cut from"),
        "shipped_matches_reference_run": shipped.hidden_scores == ref_shipped.hidden_scores,
        "seconds": round(seconds, 1),
    }


def _changes(target: Target, best: CandidateResult | None) -> dict[str, Any]:
    """The best candidate's knob values that differ from the shipped pipeline's."""
    if best is None:
        return {}
    shipped = knob_values(target)
    point = knob_point(target, best.patch) or {}
    return {k: v for k, v in point.items() if shipped.get(k) != v}


def _fmt(e: dict[str, Any]) -> str:
    v, ci = e.get("value"), e.get("ci") or [None, None]
    if v is None:
        return "n/a"
    lo, hi = ci
    bounds = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else ""
    return f"{v:+.3f}{bounds}"


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | improver | seeds | σ gain > 0 and confirmed | median gap recovered "
        "| over budget | goal met |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["improver"]), []).append(r)
    for (tname, name), rs in groups.items():
        confirmed = sum(
            1 for r in rs if r["held_out_confirmed"] and (r["sigma_gain"]["value"] or 0) > 0
        )
        gaps = [r["reference_gap_recovered"]["value"] for r in rs]
        median = statistics.median(g if g is not None else 0.0 for g in gaps)
        over = sum(r["statuses"].get("over_budget", 0) for r in rs)
        need = 4 if len(rs) == 5 else None
        goal = (
            "yes" if need and confirmed >= need and median >= 0.5
            else "no" if need else f"n/a ({len(rs)} of 5 seeds)"
        )  # fmt: skip
        lines.append(
            f"| {tname} | {name} | {len(rs)} | {confirmed} of {len(rs)} | {median:.0%} "
            f"| {over} | {goal} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", nargs="+", default=["digits", "charlm"])
    parser.add_argument("--improver", nargs="+", default=["tpe", "local"])
    parser.add_argument("--improver-seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cycles", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--confirm-seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON at the end")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for tname in args.target:
        target = load_target(tname)
        t0 = time.perf_counter()
        ref_shipped, ref = _reference(target, args.seeds)
        print(f"{tname}: shipped and reference runs {time.perf_counter() - t0:.0f}s", flush=True)
        for seed in range(args.first_seed, args.first_seed + args.improver_seeds):
            for name in args.improver:
                t0 = time.perf_counter()
                result = run_experiment(
                    target, make_improver(name, seed=seed), cycles=args.cycles,
                    seeds=args.seeds, experiment_id=f"exp-bench-{tname}-{name}-{seed}",
                    reference=False, ablate=False, confirm_seeds=args.confirm_seeds,
                )  # fmt: skip
                row = _row(target, name, seed, result, ref, ref_shipped, time.perf_counter() - t0)
                rows.append(row)
                print(
                    f"| {tname} | {name} | {seed} | {_fmt(row['sigma_gain'])} "
                    f"| {_fmt(row['confirmation'] or {})} | {row['held_out_confirmed']} "
                    f"| {_fmt(row['reference_gap_recovered'])} "
                    f"| {row['seed_gains']} | {row['statuses']} | {row['steps_cut_to_fit']} "
                    f"| {row['seconds']}s | {json.dumps(row['best_changes'])} |",
                    flush=True,
                )
    print("\n".join(_summary(rows)))
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
