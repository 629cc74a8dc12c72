"""Any improver version as an experiment's improver: a recursion proposer on a target.

A recursion run asks a version's ``Proposer`` for proposals on a ``TaskEnv``; an
experiment asks an ``Improver`` on a ``Target``. ``VersionImprover`` is the one bridge:
it shows the proposer the experiment's history as ``Outcome`` rows (proxy scores,
never hidden ones) with the knob values each candidate ran with, so the search
strategies and the LLM agent of the recursion level run in ``rsimeter loop run`` too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rsimeter.loop.improvers.base import NoCandidate, Point, Proposal, Proposer, outcomes_of
from rsimeter.loop.improvers.knobs import knob_point
from rsimeter.loop.recursion.harness_env import HarnessEnv
from rsimeter.loop.recursion.versions import ImproverVersion
from rsimeter.loop.results import CandidateResult
from rsimeter.loop.target import Target


class VersionImprover:
    """An improver version and its proposer, behind the experiment's ``Improver`` interface.

    Proposals are always against the shipped pipeline (the proposer's parent choice
    shapes the patch but is not recorded as a lineage the harness would apply first).
    """

    def __init__(
        self, version: ImproverVersion, proposer: Proposer, *, unsafe_no_sandbox: bool = False
    ) -> None:
        self.version = version
        self.proposer = proposer
        self.name = f"{version.kind}:{version.digest()}"
        self.adaptive = True
        self._unsafe = unsafe_no_sandbox

    def propose(
        self,
        target: Target,
        history: Sequence[CandidateResult],
        *,
        rng: np.random.Generator,
        budget_left: int,
    ) -> Proposal:
        """The next candidate patch (against the shipped pipeline) from the proposer."""
        env = HarnessEnv(target, unsafe_no_sandbox=self._unsafe)
        shown = [c for c in history if c.parent_id is None]
        outcomes = outcomes_of(shown, target.metric.direction)
        points: list[tuple[Point, float]] = []
        for c, o in zip(shown, outcomes, strict=True):
            point = knob_point(target, c.patch)
            if point is not None:
                points.append((point, o.proxy if math.isfinite(o.proxy) else -math.inf))
        seed = int(rng.integers(0, 2**31 - 1))
        prop = self.proposer(self.version, env, outcomes, points, seed, rng)
        log = (prop.transcript or {}).get("log_path", "")
        note = f"{prop.note}; transcript {log}" if log else prop.note
        if prop.rejected is None and not prop.patch.strip():
            # nothing to run: the shipped pipeline again is no attempt (an episode that
            # ended in an error, or made no usable edit)
            raise NoCandidate(f"no change proposed ({note})", improver_run=prop.transcript)
        return replace(prop, parent_id=None, note=note)
