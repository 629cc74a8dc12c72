"""The one evaluation path: materialise → train → predict → score.

Experiments, ``loop try``, recursion runs and the tests all evaluate a candidate
here. For each seed a candidate gets a fresh copy of the pipeline with its patch
applied, its training pool and proxy split, and one training run in the sandbox
(driver ``train``). Predictions on the proxy inputs and on the hidden inputs are
made in a second sandbox that sees the trained folder read-only and the inputs
alone; labels never enter a sandbox, and only the harness scores. Nothing carries
over between candidates or seeds.

``run_candidate`` runs a candidate's seeds (picklable, so local processes and Dask
workers can run it); ``score_candidate`` places the runs on the σ ladder of the
shipped pipeline; ``evaluate_patch`` does both.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rsimeter.errors import RsimeterError
from rsimeter.estimate import Estimate
from rsimeter.loop import integrity
from rsimeter.loop.edits import change_kinds_of_patch, surfaces_of_patch
from rsimeter.loop.patches import PatchRejected, against_shipped, materialize
from rsimeter.loop.results import Baseline, CandidateResult, SeedRun, mean_estimate, new_id
from rsimeter.loop.sandbox import (
    REPORT_FD,
    WORKDIR_IN_SANDBOX,
    DriverRun,
    SandboxResult,
    candidate_folder,
    run_driver,
    trusted_code,
)
from rsimeter.loop.target import Target

DRIVER_IN_SANDBOX = "/harness/driver.py"
EXIT_OVER_BUDGET = 3


def driver_path() -> Path:
    """The harness-owned training driver (the one harness file a sandbox sees)."""
    return Path(__file__).with_name("driver.py")


# -- what to evaluate, and its seed runs before σ ------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One candidate to evaluate: its patch (after its lineage's), seeds and how it is recorded."""

    patch: str
    seeds: tuple[int, ...]
    candidate_id: str
    parent_id: str | None = None
    parent_patches: tuple[str, ...] = ()  # the parent's lineage, applied first
    experiment_id: str = ""
    cycle: int = 0
    improver: str = "manual"
    note: str = ""
    role: str = "candidate"  # one of results.ROLES
    unsafe_no_sandbox: bool = False
    improver_run: dict[str, Any] | None = None  # what producing it took (the improver's report)


@dataclass(frozen=True)
class SeedRuns:
    """A candidate's seed runs (σ is placed later, once the shipped baseline is known)."""

    candidate: Candidate
    runs: tuple[SeedRun, ...]
    surfaces: tuple[str, ...]
    kinds: tuple[str, ...]
    seconds: float
    rejected: str | None = None  # why the patch was refused before running


def run_candidate(target: Target, cand: Candidate) -> SeedRuns:
    """Materialise, train, predict and score a candidate on each seed (no σ yet).

    Top-level and picklable, so local processes and Dask workers can run it. Never
    raises for anything the candidate does: a refused patch is returned as ``rejected``.
    """
    started = time.monotonic()
    try:
        parent = materialize(target, cand.parent_patches)
        files = materialize(target, [*cand.parent_patches, cand.patch])
        if cand.role == "reference":  # a set of patches: describe everything it changes
            surfaces, kinds = describe_patch(target, against_shipped(target, files))
        else:
            surfaces, kinds = describe_patch(target, cand.patch, parent)
    except PatchRejected as e:
        return SeedRuns(cand, (), (), (), time.monotonic() - started, rejected=str(e))
    runs = tuple(
        run_seed(target, files, s, unsafe_no_sandbox=cand.unsafe_no_sandbox) for s in cand.seeds
    )
    return SeedRuns(cand, runs, surfaces, kinds, time.monotonic() - started)


def score_candidate(target: Target, done: SeedRuns, baseline: Baseline | None) -> CandidateResult:
    """The candidate's record from its seed runs: status, scores, σ and integrity flags."""
    c = done.candidate
    base = dict(
        candidate_id=c.candidate_id, parent_id=c.parent_id, experiment_id=c.experiment_id,
        cycle=c.cycle, patch=c.patch, improver=c.improver, role=c.role, seeds=c.seeds,
        improver_run=c.improver_run,
    )  # fmt: skip
    if done.rejected is not None:
        return CandidateResult(
            **base,  # type: ignore[arg-type]
            surfaces=(),
            change_kind=(),
            status="rejected",
            proxy_score=None,
            hidden_scores=(),
            sigma=None,
            budget_used={},
            integrity=("rejected_patch",),
            seconds=done.seconds,
            note=_join(c.note, f"rejected: {done.rejected}"),
        )
    return assemble(
        base, done.runs, target, baseline, done.surfaces, done.kinds, c.note, done.seconds
    )


def evaluate_patch(
    target: Target,
    patch: str,
    *,
    seeds: Sequence[int],
    parent_id: str | None = None,
    unsafe_no_sandbox: bool = False,
    baseline: Baseline | None = None,
    parent_patches: Sequence[str] = (),
    experiment_id: str = "",
    cycle: int = 0,
    improver: str = "manual",
    note: str = "",
    role: str = "candidate",
    candidate_id: str | None = None,
) -> CandidateResult:
    """Validate, apply and evaluate one patch from scratch on every seed.

    ``parent_patches`` are the patches of the parent's lineage (applied first). Without
    a ``baseline`` the shipped pipeline is evaluated first on the same seeds, so σ can be
    placed on the ladder. Never raises for anything the candidate does: it is recorded.
    """
    cand = Candidate(
        patch=patch,
        seeds=tuple(int(s) for s in seeds),
        candidate_id=candidate_id or new_id("cand"),
        parent_id=parent_id,
        parent_patches=tuple(parent_patches),
        experiment_id=experiment_id,
        cycle=cycle,
        improver=improver,
        note=note,
        role=role,
        unsafe_no_sandbox=unsafe_no_sandbox,
    )
    if not cand.seeds:
        raise RsimeterError("at least one seed is needed")
    done = run_candidate(target, cand)
    if baseline is None and role != "shipped" and done.rejected is None:
        baseline = evaluate_baseline(target, cand.seeds, unsafe_no_sandbox=unsafe_no_sandbox)
    return score_candidate(target, done, baseline)


def evaluate_baseline(
    target: Target, seeds: Sequence[int], *, unsafe_no_sandbox: bool = False
) -> Baseline:
    """Run the shipped pipeline on the seeds; raises when it does not run (nothing to compare)."""
    files = materialize(target, [])
    runs = [run_seed(target, files, s, unsafe_no_sandbox=unsafe_no_sandbox) for s in seeds]
    return baseline_of(target, runs)


def baseline_of(target: Target, runs: Sequence[SeedRun]) -> Baseline:
    """The baseline from the shipped pipeline's seed runs; raises unless every seed scored."""
    bad = [r for r in runs if r.status != "ok" or r.hidden is None or r.proxy is None]
    if bad:
        raise RsimeterError(
            f"the shipped {target.name} pipeline did not run cleanly "
            f"(seed {bad[0].seed}: {bad[0].status}; {bad[0].note or 'no detail'}); "
            "σ needs it as the 0.1 anchor"
        )
    try:
        for r in runs:
            target.sigma(float(r.hidden or 0.0), float(r.hidden or 0.0))
    except ValueError as e:
        raise RsimeterError(f"{target.name}: the σ ladder cannot be built: {e}") from e
    return Baseline(
        tuple(r.seed for r in runs),
        tuple(float(r.hidden) for r in runs if r.hidden is not None),
        tuple(float(r.proxy) for r in runs if r.proxy is not None),
    )


def describe_patch(
    target: Target, patch: str, base: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(surfaces, change kinds) a patch touches, read where its hunks land in ``base`` (the
    parent's editable texts; default shipped); empty for the empty patch."""
    if not patch.strip():
        return (), ()
    return surfaces_of_patch(target, patch, base), change_kinds_of_patch(target, patch, base)


def assemble(
    base: dict[str, Any],
    runs: Sequence[SeedRun],
    target: Target,
    baseline: Baseline | None,
    surfaces: tuple[str, ...],
    kinds: tuple[str, ...],
    note: str,
    seconds: float,
) -> CandidateResult:
    """The candidate's record from its seed runs: status, scores, σ and integrity flags."""
    flags: list[str] = [f for r in runs for f in r.integrity]
    status = next((r.status for r in runs if r.status != "ok"), "ok")
    hidden = tuple(float(r.hidden) for r in runs if r.hidden is not None)
    proxies = [r.proxy for r in runs if r.proxy is not None]
    proxy = float(np.mean(proxies)) if proxies else None
    sigma: Estimate | None = None
    seed_sigmas: tuple[float, ...] = ()
    if status == "ok" and len(hidden) == len(runs):
        # each seed is placed on the ladder of the shipped pipeline run with the same seed,
        # so the shipped pipeline is at exactly 0.1 on every seed and σ differences are paired
        anchors = dict(zip(baseline.seeds, baseline.hidden, strict=False)) if baseline else {}
        fallback = baseline.anchor if baseline is not None else float(np.mean(hidden))
        seed_sigmas = tuple(
            target.sigma(h, anchors.get(r.seed, fallback))
            for h, r in zip(hidden, runs, strict=True)
        )
        sigma = mean_estimate(seed_sigmas, what="σ")
        if baseline is not None and base.get("role") not in ("shipped", "confirm_shipped"):
            flags += integrity.score_flags(target, runs, baseline, seed_sigmas)
    if integrity.is_violation(flags):
        status = "integrity_violation"
    budget = _sum_budgets([r.budget_used for r in runs])
    notes = [r.note for r in runs if r.note]
    return CandidateResult(
        **base,
        surfaces=surfaces,
        change_kind=kinds,
        status=status,
        proxy_score=proxy,
        hidden_scores=hidden,
        sigma=sigma,
        budget_used=budget,
        integrity=tuple(dict.fromkeys(flags)),
        seconds=seconds,
        note=_join(note, *dict.fromkeys(notes)),
        seed_sigmas=seed_sigmas,
        proxy_scores=tuple(float(p) for p in proxies),
    )


def _sum_budgets(budgets: Sequence[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in budgets:
        for k, v in b.items():
            if k == "max_rss_mb":
                out[k] = max(out.get(k, 0.0), v)
            else:
                out[k] = out.get(k, 0.0) + v
    return {k: round(v, 3) for k, v in out.items()}


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# -- one seed ------------------------------------------------------------------------------


def run_seed(
    target: Target,
    files: dict[str, str],
    seed: int,
    *,
    unsafe_no_sandbox: bool = False,
    folder: Path | None = None,
) -> SeedRun:
    """Train the pipeline (files: editable texts) once from scratch and score it.

    The run happens in a fresh candidate folder, removed afterwards; ``folder`` (an
    empty or new folder) keeps it for inspection instead.
    """
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return _run_seed_in(folder, target, files, seed, unsafe_no_sandbox)
    with candidate_folder() as tmp:
        return _run_seed_in(tmp, target, files, seed, unsafe_no_sandbox)


def _run_seed_in(
    tmp: Path, target: Target, files: dict[str, str], seed: int, unsafe: bool
) -> SeedRun:
    work = tmp / "work"
    shutil.copytree(target.root, work, symlinks=False)
    for rel, text in files.items():
        (work / rel).write_text(text, encoding="utf-8")
    target.write_inputs(work, seed)
    before = integrity.snapshot(work)
    splits = {"proxy": target.proxy_split(seed), "hidden": target.hidden_split(seed)}
    # one sandbox: train, then predict the splits' inputs (sent only after training);
    # the labels stay here
    done = run_driver(
        [
            _python(), DRIVER_IN_SANDBOX, "run",
            "--workdir", WORKDIR_IN_SANDBOX,
            "--seed", str(seed),
            "--budget", repr(float(target.budget.compute)),
            "--report-fd", str(REPORT_FD),
            "--entry", target.entry,
        ],
        {name: inputs for name, (inputs, _) in splits.items()},
        workdir=work,
        readonly_binds={driver_path(): DRIVER_IN_SANDBOX},
        budget=target.budget,
        unsafe_no_sandbox=unsafe,
        hidden_paths=_protected(target),
    )  # fmt: skip
    flags = integrity.workdir_flags(before, integrity.snapshot(work), files)
    return _seed_from_driver(target, seed, splits, done, flags)


def _seed_from_driver(
    target: Target,
    seed: int,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    done: DriverRun,
    flags: list[str],
) -> SeedRun:
    """A seed's outcome from the driver's run: its record and predictions arrive over the
    sandbox launcher's relay (from the driver's own process), never from a file."""
    used = _usage(done.sandbox)
    flags = [*integrity.sandbox_flags(done.sandbox), *flags, *integrity.driver_flags(done.record)]
    record = done.record
    kept = dict(record) if isinstance(record, dict) else {}  # the driver's record
    if isinstance(record, dict) and isinstance(record.get("compute"), int | float):
        used["compute"] = float(record["compute"])
    status, note = _train_status(done.sandbox, record)
    if status == "ok" and done.predictions is None:
        status, note = "failed", done.problem
    scores: dict[str, float] = {}
    if status == "ok" and done.predictions is not None:
        try:
            scores = {
                name: float(target.score(done.predictions[name], labels))
                for name, (_, labels) in splits.items()
            }
        except (KeyError, ValueError) as e:
            status, note = "failed", f"malformed predictions: {e}"
    if status != "ok":
        if status == "failed" and integrity.is_violation(flags):
            status = "integrity_violation"
        return SeedRun(
            seed, status, budget_used=used, integrity=tuple(flags), note=note, train=kept
        )
    return SeedRun(
        seed, "ok", scores["proxy"], scores["hidden"], used, tuple(dict.fromkeys(flags)), "", kept
    )


def _protected(target: Target) -> tuple[Path, ...]:
    paths = getattr(target, "protected_paths", None)
    return tuple(paths()) if callable(paths) else ()


def _python() -> str:
    return sys.executable


def _usage(run: SandboxResult) -> dict[str, float]:
    return {
        "cpu_seconds": round(run.cpu_seconds, 3),
        "wall_seconds": round(run.wall_seconds, 3),
        "max_rss_mb": round(run.max_rss_mb, 1),
    }


def _train_status(run: SandboxResult, record: Any) -> tuple[str, str]:
    if run.timed_out or run.killed_reason == "cpu_limit":
        return "timeout", f"training stopped: {run.killed_reason} (safety cap)"
    if run.returncode == EXIT_OVER_BUDGET:
        planned = record.get("planned_compute") if isinstance(record, dict) else None
        return "over_budget", f"planned compute {planned} exceeds the budget"
    if run.killed_reason is not None:
        return "failed", f"training stopped: {run.killed_reason}"
    if run.returncode != 0:
        detail = record.get("error", "") if isinstance(record, dict) else ""
        tail = str(detail or run.stderr_tail).strip().splitlines()[-1:] or [""]
        return "failed", f"training exited with {run.returncode}: {tail[0][:300]}"
    if not isinstance(record, dict) or record.get("status") != "ok":
        return "failed", "training sent no usable record"
    return "ok", ""


# -- the project's own pipelines -------------------------------------------------------------


def run_trusted(
    target: Target,
    seed: int,
    workdir: Path,
    *,
    files: dict[str, str] | None = None,
    budget: float | None = None,
) -> SeedRun:
    """Train and score ``target`` on the same path as candidates, with NO sandbox.

    Only for pipelines the project wrote itself (the shipped targets and their reference
    patches, in tests, calibration and benchmarks): candidate code goes through the
    sandbox. ``files`` replaces editable files (relative path -> new text); ``budget``
    replaces the counted compute budget; ``workdir`` keeps the run's folder.
    """
    if budget is not None:
        target = replace(target, budget=replace(target.budget, compute=float(budget)))
    texts = {**materialize(target, []), **(files or {})}
    with trusted_code():
        return run_seed(target, texts, seed, unsafe_no_sandbox=True, folder=Path(workdir))
