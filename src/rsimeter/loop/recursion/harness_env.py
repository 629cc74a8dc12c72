"""A recursion task on a real loop target, scored by the harness's frozen evaluator."""

from __future__ import annotations

import math
import time
from typing import Any

from rsimeter.loop.recursion.units import Outcome
from rsimeter.loop.recursion.versions import Param


class HarnessEnv:
    """TaskEnv over a loop ``Target``: knobs from its manifest, ``evaluate_patch`` for scores.

    The shipped pipeline is evaluated once per seed (the σ = 0.1 anchor). The
    proxy score is sign-adjusted so higher is better whatever the metric's
    direction. A candidate's cost is the CPU seconds its training and prediction
    used in the sandbox.
    """

    def __init__(self, target: Any, *, unsafe_no_sandbox: bool = False) -> None:
        self.target = target
        self.name = str(target.name)
        self.unsafe_no_sandbox = unsafe_no_sandbox
        self._baselines: dict[int, Any] = {}
        self._shipped: dict[str, Any] | None = None
        self._sign = -1.0 if target.metric.direction == "min" else 1.0

    def space(self, surfaces: tuple[str, ...]) -> tuple[Param, ...]:
        return tuple(Param.from_knob(k) for k in self.target.knobs if k.surface in surfaces)

    def shipped(self) -> dict[str, Any]:
        if self._shipped is None:
            from rsimeter.loop.edits import knob_values

            self._shipped = knob_values(self.target)
        return dict(self._shipped)

    def patch_for(self, point: dict[str, Any]) -> str:
        from rsimeter.loop.edits import knob_patch

        return knob_patch(self.target, point) if point else ""

    def files(self, patch: str) -> dict[str, str]:
        """The editable files after applying patch to the shipped ones (validated)."""
        from rsimeter.loop.harness import materialize

        return materialize(self.target, [patch] if patch.strip() else [])

    def patch_from_files(self, files: dict[str, str]) -> str:
        """The unified diff from the shipped editable files to these."""
        from rsimeter.loop.llm.workspace import unified_diff

        return unified_diff(self.files(""), files)

    def baseline(self, seed: int) -> Any:
        """The shipped pipeline's scores on one seed (evaluated once)."""
        if seed not in self._baselines:
            from rsimeter.loop.harness import evaluate_baseline

            self._baselines[seed] = evaluate_baseline(
                self.target, (seed,), unsafe_no_sandbox=self.unsafe_no_sandbox
            )
        return self._baselines[seed]

    def evaluate(self, patch: str, seed: int, *, parent_id: str | None, author: str) -> Outcome:
        start = time.monotonic()
        base = self.baseline(seed)
        if not patch.strip():
            return Outcome(
                candidate_id=f"shipped:{self.name}:{seed}",
                parent_id=None,
                status="ok",
                proxy=self._sign * float(base.proxy[0]),
                sigma=float(self.target.sigma(base.hidden[0], base.anchor)),
                seconds=time.monotonic() - start,
                cost=0.0,
                author="shipped",
                patch="",
            )
        from rsimeter.loop.harness import evaluate_patch

        res = evaluate_patch(
            self.target,
            patch,
            seeds=(seed,),
            baseline=base,
            unsafe_no_sandbox=self.unsafe_no_sandbox,
            improver=author,
            parent_id=parent_id,
        )
        proxy, sigma = res.proxy_score, res.sigma
        ok = res.status == "ok" and sigma is not None and proxy is not None
        used = res.budget_used or {}
        return Outcome(
            candidate_id=res.candidate_id,
            parent_id=parent_id,
            status=res.status,
            proxy=self._sign * float(proxy) if ok and proxy is not None else math.nan,
            sigma=float(sigma.value) if ok and sigma is not None else math.nan,
            seconds=float(res.seconds),
            cost=float(used.get("cpu_seconds", 0.0)),
            author=author,
            note=res.note[:200],
            patch=patch,
        )
