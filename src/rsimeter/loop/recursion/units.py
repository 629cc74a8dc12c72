"""One improver run on one task and seed at a fixed budget: the unit utility is measured on.

A run lets an improver version propose ``budget`` candidates one after another,
each evaluated by the task's frozen evaluator; the improver sees proxy scores
only. At the end it picks, by proxy score, one candidate (or the shipped
pipeline), and the run's utility is the held-out σ of that pick minus the
held-out σ of the shipped pipeline. Picking by hidden score would select on the
held-out data; picking by proxy keeps the utility honest.

``TaskEnv`` is what a run needs from a task; ``HarnessEnv`` implements it on a
loop ``Target`` and the harness's ``evaluate_patch``; tests use light fakes.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from rsimeter.loop.recursion.search import Point, propose_point
from rsimeter.loop.recursion.versions import ImproverVersion, Param

HUMAN_AUTHORS = frozenset({"human", "reference", "scripted", "manual"})


@dataclass(frozen=True)
class Outcome:
    """One evaluated candidate, as the recursion sees it."""

    candidate_id: str
    parent_id: str | None
    status: str  # "ok" or the harness's failure status
    proxy: float  # higher is better (sign-adjusted); NaN when it failed
    sigma: float  # held-out σ; NaN when it failed
    seconds: float
    cost: float
    author: str  # improver name; see HUMAN_AUTHORS
    note: str = ""
    patch: str = ""
    transcript: dict[str, Any] | None = None  # LLM proposals: Inspect log and usage

    @property
    def ok(self) -> bool:
        return self.status == "ok" and math.isfinite(self.proxy) and math.isfinite(self.sigma)


class TaskEnv(Protocol):
    """What a run needs from a task: its knobs, how to patch them, how to score a patch."""

    name: str

    def space(self, surfaces: tuple[str, ...]) -> tuple[Param, ...]: ...

    def shipped(self) -> Point: ...

    def patch_for(self, point: Point) -> str: ...

    def files(self, patch: str) -> dict[str, str]: ...

    def patch_from_files(self, files: dict[str, str]) -> str: ...

    def evaluate(self, patch: str, seed: int, *, parent_id: str | None, author: str) -> Outcome: ...


@dataclass(frozen=True)
class UnitResult:
    """What one run achieved: utility, what it cost, and the candidates it produced."""

    utility: float
    proxy: float  # proxy score of the pick (how best-of-n chooses between runs)
    seconds: float
    cost: float
    chosen: str | None  # candidate id of the pick (None: shipped)
    candidates: tuple[Outcome, ...]
    shipped_sigma: float


@dataclass(frozen=True)
class Proposed:
    """One proposal: the patch (against shipped), its parent, and what producing it cost."""

    patch: str
    parent_id: str | None
    point: Point | None = None  # knob values, for search proposals
    note: str = ""
    transcript: dict[str, Any] | None = None
    seconds: float = 0.0  # proxy evaluations the improver ran while proposing
    cost: float = 0.0
    rejected: str | None = None  # why the proposal cannot be a patch (not evaluated)


Proposer = Callable[
    [ImproverVersion, TaskEnv, list[Outcome], list[tuple[Point, float]], int, np.random.Generator],
    Proposed,
]


def rng_for(*parts: Any) -> np.random.Generator:
    """A generator seeded from the given parts (stable across processes and runs)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def search_proposer(
    version: ImproverVersion,
    env: TaskEnv,
    outcomes: list[Outcome],
    points: list[tuple[Point, float]],
    seed: int,
    rng: np.random.Generator,
) -> Proposed:
    """A proposal from the version's search strategy over the task's knobs."""
    space = env.space(version.surfaces)
    parent_idx, point = propose_point(space, points, version, env.shipped(), rng)
    parent = outcomes[parent_idx].candidate_id if parent_idx is not None else None
    changed = {k: v for k, v in point.items() if env.shipped().get(k) != v}
    note = f"{version.strategy} {changed}"
    try:
        patch = env.patch_for(changed)
    except ValueError as e:  # a value the target's knob space refuses
        return Proposed("", parent, point, note, rejected=str(e))
    return Proposed(patch, parent, point, note)


def run_unit(
    version: ImproverVersion,
    env: TaskEnv,
    seed: int,
    *,
    budget: int,
    rng: np.random.Generator,
    proposer: Proposer | None = None,
) -> UnitResult:
    """Run one improver version on one task and seed with ``budget`` candidate evaluations."""
    author = f"{version.kind}:{version.digest()}"
    shipped = env.evaluate("", seed, parent_id=None, author="shipped")
    if proposer is None:
        if version.kind == "llm":
            from rsimeter.loop.llm.improver import make_llm_proposer

            proposer = make_llm_proposer()
        else:
            proposer = search_proposer
    outcomes: list[Outcome] = []
    points: list[tuple[Point, float]] = []
    seconds = 0.0  # evaluator seconds as first recorded, plus the improver's own time
    extra_cost = 0.0  # proxy evaluations run while proposing
    for _ in range(budget):
        t0 = time.perf_counter()
        prop = proposer(version, env, outcomes, points, seed, rng)
        seconds += max(time.perf_counter() - t0, prop.seconds)
        extra_cost += prop.cost
        if prop.rejected is not None:
            out = Outcome(
                f"rejected-{len(outcomes)}", prop.parent_id, "rejected", math.nan, math.nan,
                0.0, 0.0, author, note=f"rejected: {prop.rejected}"[:500],
            )  # fmt: skip
        else:
            out = env.evaluate(prop.patch, seed, parent_id=prop.parent_id, author=author)
            out = replace(out, note=prop.note[:500], patch=prop.patch, transcript=prop.transcript)
        outcomes.append(out)
        seconds += out.seconds
        if prop.point is not None:
            points.append((prop.point, out.proxy if out.ok else -math.inf))
    best = max((o for o in outcomes if o.ok), key=lambda o: o.proxy, default=None)
    base_proxy = shipped.proxy if shipped.ok else -math.inf
    pick = best if best is not None and best.proxy > base_proxy else None
    shipped_sigma = shipped.sigma if shipped.ok else 0.1
    utility = (pick.sigma - shipped_sigma) if pick is not None else 0.0
    return UnitResult(
        utility=float(utility),
        proxy=float(pick.proxy if pick is not None else base_proxy),
        seconds=float(seconds),
        cost=float(sum(o.cost for o in outcomes) + extra_cost),
        chosen=pick.candidate_id if pick is not None else None,
        candidates=tuple(outcomes),
        shipped_sigma=float(shipped_sigma),
    )


@dataclass
class CachedEnv:
    """A TaskEnv wrapper that evaluates each (patch, seed) once.

    Evaluations are deterministic given patch and seed (the harness trains with
    a fixed seed), so repeated proposals reuse the first result, which keeps its
    seconds and cost: a run's time and cost do not depend on what was cached.
    """

    inner: TaskEnv
    cache: dict[tuple[str, int], Outcome] = field(default_factory=dict)
    hits: int = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def space(self, surfaces: tuple[str, ...]) -> tuple[Param, ...]:
        return self.inner.space(surfaces)

    def shipped(self) -> Point:
        return self.inner.shipped()

    def patch_for(self, point: Point) -> str:
        return self.inner.patch_for(point)

    def files(self, patch: str) -> dict[str, str]:
        return self.inner.files(patch)

    def patch_from_files(self, files: dict[str, str]) -> str:
        return self.inner.patch_from_files(files)

    def evaluate(self, patch: str, seed: int, *, parent_id: str | None, author: str) -> Outcome:
        key = (patch, seed)
        if key in self.cache:
            self.hits += 1
            return replace(self.cache[key], parent_id=parent_id, author=author, transcript=None)
        out = self.inner.evaluate(patch, seed, parent_id=parent_id, author=author)
        self.cache[key] = out
        return out
