"""Experiments: the orchestration above the one evaluation path.

An experiment evaluates the shipped pipeline, asks an improver for ``cycles``
candidates (``workers`` at a time), evaluates each through ``evaluate`` (in local
processes or on a Dask cluster), then the project's reference improvement and the
ablations of the best candidate, and summarises the σ gains. Each candidate is
written to the store as soon as it is scored, so a killed experiment loses no
finished candidate and the same id resumes it.

``ExperimentSpec`` is one experiment as ``[observe] experiments`` names it; its id
is derived from the target's files and the settings, so running the same spec again
reuses the stored experiment instead of starting a new one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rsimeter import __version__
from rsimeter.errors import RsimeterError
from rsimeter.estimate import Estimate
from rsimeter.loop import metrics, record
from rsimeter.loop.evaluate import Candidate, SeedRuns, baseline_of, run_candidate, score_candidate
from rsimeter.loop.improvers.base import Improver, NoCandidate
from rsimeter.loop.improvers.registry import make_improver
from rsimeter.loop.improvers.scripted import ScriptedImprover, read_patch_file
from rsimeter.loop.results import (
    Baseline,
    CandidateResult,
    ExperimentResult,
    TryResult,
    lineage_patches,
    new_id,
)
from rsimeter.loop.target import Target, builtin_targets, load_target
from rsimeter.parallel import parallel_map
from rsimeter.store import Store


def run_experiment(
    target: Target,
    improver: Improver,
    *,
    cycles: int,
    seeds: int | Sequence[int],
    store: Store | None = None,
    workers: int = 1,
    dask_address: str | None = None,
    experiment_id: str | None = None,
    progress: Callable[[CandidateResult], None] | None = None,
    unsafe_no_sandbox: bool = False,
    reference: bool = True,
    ablate: bool = True,
    confirm_seeds: int = 0,
) -> ExperimentResult:
    """Run (or resume) an experiment: shipped baseline, ``cycles`` candidates, then metrics.

    With a store, each candidate is written as soon as it is scored, so a killed
    experiment loses no finished candidate; the same ``experiment_id`` resumes it.
    ``workers`` candidates are proposed from the same history and evaluated at once.
    ``confirm_seeds`` > 0 re-runs the best candidate and the shipped pipeline on that
    many fresh seeds (after the experiment's own), which played no part in choosing the
    best: held-out confirmation is then read from those runs alone.
    """
    started = time.monotonic()
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seed_list or cycles < 0 or workers < 1 or confirm_seeds < 0:
        raise RsimeterError(
            "need at least one seed, cycles >= 0, workers >= 1 and confirm_seeds >= 0"
        )
    history: list[CandidateResult] = []
    if store is not None:
        record.mark_abandoned_aborted(store)
    if store is not None and experiment_id and record.experiment_exists(store, experiment_id):
        meta = record.load_experiment_meta(store, experiment_id)
        if meta["target"] != target.name or meta["improver"] != improver.name:
            raise RsimeterError(
                f"experiment {experiment_id} is {meta['target']} with {meta['improver']}, "
                f"not {target.name} with {improver.name}"
            )
        seed_list = tuple(meta["seeds"])
        history = list(record.load_candidates(store, experiment_id))
    exp_id = experiment_id or new_id("exp")
    if store is not None:
        record.save_experiment(store, exp_id, target, improver.name, seed_list, cycles)

    def keep(c: CandidateResult) -> CandidateResult:
        if store is not None:
            record.save_candidate(store, c)
        history.append(c)
        if progress is not None:
            progress(c)
        return c

    def candidate(
        patch: str,
        *,
        cycle: int,
        role: str,
        note: str = "",
        name: str = "",
        seeds: tuple[int, ...] = (),
    ) -> Candidate:
        return Candidate(
            patch=patch,
            seeds=seeds or seed_list,
            candidate_id=new_id("cand"),
            experiment_id=exp_id,
            cycle=cycle,
            improver=name or improver.name,
            note=note,
            role=role,
            unsafe_no_sandbox=unsafe_no_sandbox,
        )

    def evaluate(batch: Sequence[Candidate]) -> Iterator[SeedRuns]:
        # results arrive in order, each kept (stored) as soon as it is scored
        jobs = [(target, c) for c in batch]
        return parallel_map(_run_job, jobs, workers=workers, dask_address=dask_address)

    shipped = next((c for c in history if c.role == "shipped"), None)
    baseline: Baseline | None = None
    pending_shipped: Candidate | None = None
    if shipped is None:
        pending_shipped = candidate(
            "", cycle=0, role="shipped", note="the pipeline as shipped", name="shipped"
        )
    else:
        baseline = Baseline(seed_list, shipped.hidden_scores, shipped.proxy_scores)
    # improvers that do not learn from the history get all their proposals at once, so
    # workers never wait for a round's slowest candidate
    per_round = workers if improver.adaptive else max(1, cycles)
    cycle = max([c.cycle for c in history if c.role == "candidate"], default=0)
    while cycle < cycles or pending_shipped is not None:
        batch: list[Candidate] = [pending_shipped] if pending_shipped is not None else []
        failed: list[CandidateResult] = []
        room = per_round - len(batch) if per_round == workers else per_round
        for _ in range(max(0, min(room, cycles - cycle))):
            cycle += 1
            rng = np.random.default_rng([_seed_of(exp_id), cycle])
            # the improver sees the candidates and the shipped run (its proxy is the bar)
            visible = [c for c in history if c.role in ("shipped", "candidate")]
            try:
                proposal = improver.propose(
                    target, visible, rng=rng, budget_left=cycles - cycle + 1
                )
            except RsimeterError:
                raise
            except NoCandidate as e:  # recorded with what the cycle took, never run
                failed.append(
                    _no_candidate(target, candidate("", cycle=cycle, role="candidate"), e)
                )
                continue
            except Exception as e:  # a broken improver is recorded, never fatal
                failed.append(_improver_failure(candidate("", cycle=cycle, role="candidate"), e))
                continue
            c = candidate(proposal.patch, cycle=cycle, role="candidate", note=proposal.note)
            c = replace(c, improver_run=proposal.transcript)
            if proposal.rejected is not None:  # refused by the improver's own checks: not run
                refused = NoCandidate(
                    proposal.rejected,
                    status="rejected",
                    patch=proposal.patch,
                    improver_run=proposal.transcript,
                )
                failed.append(_no_candidate(target, c, refused))
                continue
            if proposal.parent_id:
                parents = lineage_patches(history, proposal.parent_id)
                c = replace(c, parent_id=proposal.parent_id, parent_patches=parents)
            batch.append(c)
        pending_shipped = None
        for done in evaluate(batch):
            if done.candidate.role == "shipped":  # first in its batch: the baseline for the rest
                baseline = baseline_of(target, done.runs)
                keep(score_candidate(target, done, baseline))
                for broken in failed:
                    keep(broken)
                failed = []
                continue
            assert baseline is not None
            keep(score_candidate(target, done, baseline))
        for broken in failed:
            keep(broken)
    extra: list[Candidate] = []
    if reference and target.reference_patches and not any(c.role == "reference" for c in history):
        ref = [read_patch_file(p) for p in target.reference_patches]
        c = candidate(
            ref[-1], cycle=0, role="reference", note="the project's reference", name="reference"
        )
        extra.append(replace(c, parent_patches=tuple(ref[:-1])))
    best = metrics.best_candidate(history, target.metric.direction)
    if ablate and best is not None and not any(c.role == "ablation" for c in history):
        for surface, patch in metrics.ablation_patches(target, history, best).items():
            c = candidate(patch, cycle=0, role="ablation", note=f"best without {surface}")
            extra.append(replace(c, improver="ablation", parent_id=best.candidate_id))
    assert baseline is not None
    for done in evaluate(extra):
        keep(score_candidate(target, done, baseline))
    if confirm_seeds and best is not None and not any(c.role == "confirm_best" for c in history):
        fresh = tuple(range(max(seed_list) + 1, max(seed_list) + 1 + confirm_seeds))
        again = metrics.full_patch(target, history, best)
        pair = [
            candidate("", cycle=0, role="confirm_shipped", note="the pipeline as shipped, "
                      "on the confirmation seeds", name="shipped", seeds=fresh),
            replace(
                candidate(again, cycle=0, role="confirm_best", seeds=fresh,
                          note=f"{best.candidate_id} on the confirmation seeds"),
                improver="confirmation", parent_id=best.candidate_id,
            ),
        ]  # fmt: skip
        fresh_baseline: Baseline | None = None
        for done in evaluate(pair):  # in order: the shipped runs first, the baseline
            if done.candidate.role == "confirm_shipped":
                try:
                    fresh_baseline = baseline_of(target, done.runs)
                except RsimeterError:  # recorded; the confirmation says it is missing
                    fresh_baseline = None
            keep(score_candidate(target, done, fresh_baseline))
    result = metrics.summarise(
        exp_id,
        target.name,
        improver.name,
        seed_list,
        history,
        time.monotonic() - started,
        target.metric.direction,
    )
    if store is not None:
        record.finish_experiment(store, result)
    return result


def _run_job(job: tuple[Target, Candidate]) -> SeedRuns:
    """Top-level (picklable) so local processes and Dask workers can run it."""
    return run_candidate(*job)


def _no_candidate(target: Target, c: Candidate, stop: NoCandidate) -> CandidateResult:
    """A cycle that produced nothing to run: ``failed`` or ``rejected``, with its record."""
    c = replace(c, patch=stop.patch, improver_run=stop.improver_run)
    if stop.status == "rejected":
        return score_candidate(target, SeedRuns(c, (), (), (), 0.0, rejected=str(stop)), None)
    return replace(_improver_failure(c, stop), note=f"improver failed: {stop}")


def _improver_failure(c: Candidate, error: Exception) -> CandidateResult:
    return CandidateResult(
        candidate_id=c.candidate_id,
        parent_id=None,
        experiment_id=c.experiment_id,
        cycle=c.cycle,
        patch=c.patch,
        surfaces=(),
        change_kind=(),
        status="failed",
        proxy_score=None,
        hidden_scores=(),
        sigma=None,
        budget_used={},
        integrity=(),
        seconds=0.0,
        improver=c.improver,
        note=f"improver failed: {type(error).__name__}: {error}",
        seeds=c.seeds,
        improver_run=c.improver_run,
    )


def _seed_of(experiment_id: str) -> int:
    return int(hashlib.sha256(experiment_id.encode()).hexdigest()[:8], 16)


# -- one patch ------------------------------------------------------------------------------


def try_patch(
    target: Target,
    patch: str,
    *,
    seeds: int | Sequence[int] = 1,
    store: Store | None = None,
    unsafe_no_sandbox: bool = False,
    label: str = "patch",
) -> TryResult:
    """Evaluate one patch (and the shipped pipeline on the same seeds), recorded as a
    one-candidate experiment of the ``manual`` improver."""
    improver = ScriptedImprover([patch], [label], name="manual")
    result = run_experiment(
        target,
        improver,
        cycles=1,
        seeds=seeds,
        store=store,
        unsafe_no_sandbox=unsafe_no_sandbox,
        reference=False,
        ablate=False,
    )
    shipped = next(c for c in result.candidates if c.role == "shipped")
    cand = next(c for c in result.candidates if c.role == "candidate")
    gain = (
        metrics.paired_difference(cand, shipped)
        if cand.seed_sigmas
        else Estimate.missing(f"candidate not scored ({cand.status})")
    )
    return TryResult(cand, result.sigma_shipped, gain, shipped=shipped)


# -- experiments the main job runs ------------------------------------------------------------


class ExperimentSpec(BaseModel):
    """One experiment of ``[observe] experiments``: ``{ target = "digits", improver = "tpe",
    cycles = 4, seeds = 2 }``. ``target`` is a built-in name or a target folder;
    ``confirm_seeds`` fresh seeds re-run the best candidate for held-out confirmation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = "digits"
    improver: Literal["random", "tpe", "local"] = "random"
    cycles: int = Field(default=3, ge=0, le=1000)
    seeds: int = Field(default=2, ge=1, le=100)
    confirm_seeds: int = Field(default=3, ge=0, le=100)
    reference: bool = True
    ablate: bool = False

    def label(self) -> str:
        """A short description for progress lines: ``digits, tpe, 4 cycles, 2 seeds``."""
        name = Path(self.target).name or self.target
        return f"{name}, {self.improver}, {self.cycles} cycles, {self.seeds} seeds"

    def relative_to(self, base: Path) -> ExperimentSpec:
        """This spec with a relative target folder made absolute under ``base``."""
        if self.target in builtin_targets():
            return self
        path = Path(self.target).expanduser()
        return self.model_copy(update={"target": str(path if path.is_absolute() else base / path)})


#: the main job's built-in experiment: short, on CPU, two seeds so σ has an interval
DEFAULT_EXPERIMENT = ExperimentSpec()


def experiment_id_for(spec: ExperimentSpec, target: Target) -> str:
    """A stable id for a spec: the same target files and settings give the same id."""
    h = hashlib.sha256()
    h.update(target.digest().encode())
    h.update(json.dumps(spec.model_dump(exclude={"target"}), sort_keys=True).encode())
    h.update(__version__.encode())
    return f"exp-{target.name}-{spec.improver}-{h.hexdigest()[:12]}"


def run_configured(store: Store, spec: ExperimentSpec) -> ExperimentResult:
    """Run one configured experiment, or reuse it when the store already holds it.

    The experiment id is derived from the target's files and the settings, so a later
    run with the same target, improver and settings returns the stored result (the same
    σ) instead of starting again; an unfinished one resumes.
    """
    target = load_target(spec.target)
    exp_id = experiment_id_for(spec, target)
    if record.experiment_finished(store, exp_id):
        return record.load_experiment(store, exp_id)
    return run_experiment(
        target,
        make_improver(spec.improver, seed=0),
        cycles=spec.cycles,
        seeds=spec.seeds,
        confirm_seeds=spec.confirm_seeds,
        store=store,
        experiment_id=exp_id,
        reference=spec.reference,
        ablate=spec.ablate,
    )


def run_default_experiment(store: Store) -> ExperimentResult:
    """The main job's built-in experiment (digits, random improver, 3 cycles, 2 seeds, with
    the reference improvement; no ablation), reused while nothing about it changed.

    Needs bubblewrap: without it, raises RsimeterError with the install hint (the
    sandbox is never skipped silently). Takes about a minute on a laptop CPU.
    """
    return run_configured(store, DEFAULT_EXPERIMENT)
