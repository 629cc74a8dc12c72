"""Experiment metrics: σ of the shipped and best pipelines, gain by surface, reference gap.

Selection is on the PROXY score (what the improver sees) and the reported σ is on
the HIDDEN data, so picking the best candidate cannot inflate its own score: the
best candidate is the scored, clean candidate with the best mean proxy score,
and the shipped pipeline itself when none beats it. Every σ difference is paired
by seed (the same seeds run every candidate).

- σ gain = mean over seeds of σ_best(s) − σ_shipped(s), Student-t interval.
- Gain by surface (ablation): for each surface, the best pipeline is re-run with that
  surface's changes reverted; gain(surface) = σ_best − σ_without(surface), paired by seed.
- Reference gap recovered = mean(σ_best − σ_shipped) / mean(σ_ref − σ_shipped), with
  a bootstrap interval over seeds (none from fewer than two seeds).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from rsimeter.estimate import Estimate, percentile_interval
from rsimeter.loop.edits import surfaces_of_patch
from rsimeter.loop.patches import against_shipped, diff_files, materialize
from rsimeter.loop.results import CandidateResult, ExperimentResult, lineage_patches, mean_estimate

if TYPE_CHECKING:
    from rsimeter.loop.target import Target

SURFACES = ("code", "data", "objective")


def clean(c: CandidateResult) -> bool:
    """Scored, on every seed, with no voiding integrity flag."""
    return c.status == "ok" and c.sigma is not None and len(c.seed_sigmas) == len(c.seeds)


def _sign(direction: str) -> float:
    return 1.0 if direction == "max" else -1.0


def best_candidate(history: Sequence[CandidateResult], direction: str) -> CandidateResult | None:
    """The clean candidate with the best proxy score, if it beats the shipped proxy.

    ``direction`` is the metric's ("max" or "min").
    """
    shipped = next((c for c in history if c.role == "shipped"), None)
    pool = [c for c in history if c.role == "candidate" and clean(c) and c.proxy_score is not None]
    if shipped is None or shipped.proxy_score is None or not pool:
        return None
    sign = _sign(direction)
    best = max(pool, key=lambda c: (sign * (c.proxy_score or 0.0), -c.cycle))
    if sign * ((best.proxy_score or 0.0) - shipped.proxy_score) <= 0:
        return None
    return best


def accepted_lineage(history: Sequence[CandidateResult], direction: str) -> list[CandidateResult]:
    """Candidates that, in cycle order, set a new best proxy score among clean candidates."""
    sign = _sign(direction)
    shipped = next((c for c in history if c.role == "shipped"), None)
    best = shipped.proxy_score if shipped is not None else None
    out = []
    for c in sorted((c for c in history if c.role == "candidate"), key=lambda c: c.cycle):
        if not clean(c) or c.proxy_score is None:
            continue
        if best is None or sign * (c.proxy_score - best) > 0:
            best = c.proxy_score
            out.append(c)
    return out


def paired_difference(a: CandidateResult, b: CandidateResult) -> Estimate:
    """σ(a) − σ(b), paired by seed, with a t interval."""
    sa = dict(zip(a.seeds, a.seed_sigmas, strict=False))
    sb = dict(zip(b.seeds, b.seed_sigmas, strict=False))
    common = [s for s in sa if s in sb]
    if not common:
        return Estimate.missing("no common seeds")
    return mean_estimate([sa[s] - sb[s] for s in common], what="σ difference")


# -- ablation by surface --------------------------------------------------------------------


def ablation_patches(
    target: Target, history: Sequence[CandidateResult], best: CandidateResult
) -> dict[str, str]:
    """For each surface the best candidate touches (when it touches two or more), the patch
    against shipped that keeps every change of the best pipeline except that surface's.

    A best candidate on one surface needs no run: without it, it is the shipped pipeline.
    """
    if len(best.surfaces) < 2:
        return {}
    shipped = materialize(target, [])
    full = materialize(target, [*lineage_patches(history, best.parent_id or ""), best.patch])
    blocks = _change_blocks(target, shipped, full)
    out = {}
    for surface in best.surfaces:
        kept = [b for b in blocks if b[3] != surface]
        out[surface] = diff_files(shipped, _apply_blocks(shipped, kept))
    return out


def full_patch(target: Target, history: Sequence[CandidateResult], best: CandidateResult) -> str:
    """The candidate's pipeline as one patch against the shipped files (its lineage's
    patches and its own, folded together)."""
    lineage = lineage_patches(history, best.parent_id) if best.parent_id else ()
    if not lineage:
        return best.patch
    return against_shipped(target, materialize(target, [*lineage, best.patch]))


Block = tuple[str, tuple[int, int], tuple[str, ...], str]  # file, old span, new lines, surface


def _change_blocks(target: Target, old: dict[str, str], new: dict[str, str]) -> list[Block]:
    blocks: list[Block] = []
    for path in sorted(set(old) | set(new)):
        a = old.get(path, "").splitlines(keepends=True)
        b = new.get(path, "").splitlines(keepends=True)
        ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in ops:
            if tag == "equal":
                continue
            # a line-for-line replacement is split so neighbouring knobs keep their surfaces
            spans = (
                [((i1 + k, i1 + k + 1), (j1 + k, j1 + k + 1)) for k in range(i2 - i1)]
                if tag == "replace" and i2 - i1 == j2 - j1
                else [((i1, i2), (j1, j2))]
            )
            for (o1, o2), (n1, n2) in spans:
                single = a[:o1] + b[n1:n2] + a[o2:]
                patch = diff_files({path: "".join(a)}, {path: "".join(single)})
                try:
                    found = surfaces_of_patch(target, patch) if patch else ()
                except ValueError:
                    found = ()
                surface = found[0] if found else "code"
                blocks.append((path, (o1, o2), tuple(b[n1:n2]), surface))
    return blocks


def _apply_blocks(old: dict[str, str], blocks: Sequence[Block]) -> dict[str, str]:
    out = dict(old)
    for path in {b[0] for b in blocks}:
        lines = old.get(path, "").splitlines(keepends=True)
        for _, (o1, o2), new_lines, _ in sorted(
            (b for b in blocks if b[0] == path), key=lambda b: b[1][0], reverse=True
        ):
            lines[o1:o2] = list(new_lines)
        out[path] = "".join(lines)
    return out


def gain_by_surface(
    history: Sequence[CandidateResult], best: CandidateResult | None, shipped: CandidateResult
) -> dict[str, Estimate]:
    """σ_best − σ_best-without-surface for each surface (0 for surfaces not edited)."""
    out: dict[str, Estimate] = {}
    for surface in SURFACES:
        if best is None or surface not in best.surfaces:
            out[surface] = Estimate(0.0, 0.0, 0.0, 0.95, len(shipped.seeds), "surface not edited")
            continue
        if len(best.surfaces) == 1:
            out[surface] = _named(paired_difference(best, shipped), "ablation = shipped")
            continue
        ablated = next(
            (
                c
                for c in history
                if c.role == "ablation"
                and c.parent_id == best.candidate_id
                and c.note.endswith(f"without {surface}")
            ),
            None,
        )
        if ablated is None or not clean(ablated):
            out[surface] = Estimate.missing("ablation run missing or not clean")
        else:
            out[surface] = _named(paired_difference(best, ablated), "ablation")
    return out


def _named(e: Estimate, what: str) -> Estimate:
    return Estimate(e.value, e.low, e.high, e.level, e.n, f"{what}; {e.method}")


# -- reference gap --------------------------------------------------------------------------


def reference_gap_recovered(
    best: CandidateResult | None, reference: CandidateResult | None, shipped: CandidateResult
) -> Estimate:
    """Fraction of the reference improvement's σ gain that the best candidate recovers."""
    if reference is None or not clean(reference):
        return Estimate.missing("reference not run or not clean")
    ref = dict(zip(reference.seeds, reference.seed_sigmas, strict=False))
    base = dict(zip(shipped.seeds, shipped.seed_sigmas, strict=False))
    top = dict(zip(best.seeds, best.seed_sigmas, strict=False)) if best is not None else base
    seeds = [s for s in base if s in ref and s in top]
    if not seeds:
        return Estimate.missing("no common seeds")
    d_best = np.array([top[s] - base[s] for s in seeds])
    d_ref = np.array([ref[s] - base[s] for s in seeds])
    if d_ref.mean() <= 0:
        return Estimate.missing("the reference did not beat the shipped pipeline")
    value = float(d_best.mean() / d_ref.mean())
    n = len(seeds)
    if n < 2:
        return Estimate(value, math.nan, math.nan, 0.95, n, "1 seed: no interval")
    rng = np.random.default_rng(0)
    idx = rng.integers(0, n, size=(2000, n))
    den = d_ref[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.where(den > 0, d_best[idx].mean(axis=1) / den, np.nan)
    return percentile_interval(value, reps, n=n, method="bootstrap over seeds")


# -- the experiment summary -----------------------------------------------------------------


def summarise(
    experiment_id: str,
    target: str,
    improver: str,
    seeds: tuple[int, ...],
    history: Sequence[CandidateResult],
    seconds: float,
    direction: str,
) -> ExperimentResult:
    """The experiment result from its candidates (stored or fresh); direction: "max"/"min"."""
    shipped = next((c for c in history if c.role == "shipped"), None)
    if shipped is None or shipped.sigma is None:
        missing = Estimate.missing("the shipped pipeline was not scored")
        return ExperimentResult(
            experiment_id,
            target,
            improver,
            seeds,
            missing,
            missing,
            missing,
            None,
            missing,
            {},
            tuple(history),
            seconds,
            direction=direction,
        )
    best = best_candidate(history, direction)
    top = best or shipped
    gain = paired_difference(top, shipped) if best is not None else _zero(shipped)
    reference = next((c for c in history if c.role == "reference"), None)
    confirmation, confirm_seeds = _confirmation(history, best)
    if confirmation is not None:
        confirmed = math.isfinite(confirmation.low) and confirmation.low > 0
    else:
        confirmed = best is not None and math.isfinite(gain.low) and gain.low > 0
    return ExperimentResult(
        experiment_id=experiment_id,
        target=target,
        improver=improver,
        seeds=seeds,
        sigma_shipped=shipped.sigma,
        sigma_best=top.sigma or Estimate.missing(),
        sigma_gain=gain,
        best_candidate=best.candidate_id if best is not None else None,
        reference_gap_recovered=reference_gap_recovered(best, reference, shipped),
        gain_by_surface=gain_by_surface(history, best, shipped),
        candidates=tuple(history),
        seconds=seconds,
        held_out_confirmed=bool(confirmed),
        direction=direction,
        confirmation=confirmation,
        confirm_seeds=confirm_seeds,
    )


def _confirmation(
    history: Sequence[CandidateResult], best: CandidateResult | None
) -> tuple[Estimate | None, tuple[int, ...]]:
    """σ(best) − σ(shipped) on the confirmation seeds, when the experiment confirmed this
    best candidate (None otherwise), and those seeds."""
    if best is None:
        return None, ()
    again = next(
        (c for c in history if c.role == "confirm_best" and c.parent_id == best.candidate_id),
        None,
    )
    shipped = next((c for c in history if c.role == "confirm_shipped"), None)
    if again is None or shipped is None:
        return None, ()
    if not clean(again) or not clean(shipped):
        why = "the best candidate" if not clean(again) else "the shipped pipeline"
        return Estimate.missing(f"{why} did not run cleanly on the confirmation seeds"), again.seeds
    return _named(paired_difference(again, shipped), "fresh seeds"), again.seeds


def _zero(shipped: CandidateResult) -> Estimate:
    n = len(shipped.seeds)
    return Estimate(0.0, 0.0, 0.0, 0.95, n, "no candidate beat the shipped proxy score")
