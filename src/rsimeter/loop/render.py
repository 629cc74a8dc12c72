"""Rich rendering of loop results for people (the JSON shapes live on the results):
experiments and recursion runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from rsimeter.estimate import Estimate
from rsimeter.loop.recursion.estimator import show
from rsimeter.loop.recursion.protocol import RecursionRun
from rsimeter.loop.results import ExperimentResult


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def experiment_table(result: ExperimentResult) -> Group:
    """σ shipped and best, gains, then one row per candidate."""
    head = Table.grid(padding=(0, 2))
    head.add_row("experiment", result.experiment_id)
    head.add_row("target / improver", f"{result.target} / {result.improver}")
    head.add_row("σ shipped", str(result.sigma_shipped))
    head.add_row("σ best", f"{result.sigma_best}  ({result.best_candidate or 'shipped'})")
    head.add_row("σ gain", f"{result.sigma_gain}  held-out confirmed: {result.held_out_confirmed}")
    if result.confirmation is not None:
        seeds = ", ".join(str(s) for s in result.confirm_seeds)
        head.add_row(f"σ gain on fresh seeds {seeds}", str(result.confirmation))
    head.add_row("reference gap recovered", str(result.reference_gap_recovered))
    for surface, est in result.gain_by_surface.items():
        head.add_row(f"gain from {surface}", str(est))
    rows = Table(title="candidates", show_lines=False)
    for col in ("cycle", "role", "status", "σ", "proxy", "surfaces", "change", "integrity"):
        rows.add_column(col)
    for c in result.candidates:
        rows.add_row(
            str(c.cycle),
            c.role,
            c.status,
            str(c.sigma) if c.sigma else "n/a",
            _fmt(c.proxy_score),
            ",".join(c.surfaces),
            ",".join(c.change_kind),
            ",".join(c.integrity)[:60],
        )
    return Group(head, rows)


@dataclass(frozen=True)
class ExperimentView:
    """An experiment as ``rsimeter.render.render`` shows it: Rich tables, or its JSON."""

    result: ExperimentResult

    def to_dict(self) -> dict[str, Any]:
        """The experiment's documented JSON shape."""
        return self.result.to_dict()

    def __rich__(self) -> Group:
        return experiment_table(self.result)


def recursion_table(run: RecursionRun) -> Group:
    """Utility by generation beside the controls, ρ, the AI share and the verdict."""
    est = run.estimate
    arms = [est.treatment, *est.controls]
    t = Table(
        title=f"Recursion on {', '.join(run.tasks)} ({run.config.meta} meta-improver)",
        caption=f"95% intervals; {est.units} held-out units ({est.method})",
    )
    t.add_column("gen", justify="right")
    for a in arms:
        t.add_column(Text(a.arm))
    for name in ("gain Δ_k", "ratio ρ_k", "seconds T_k"):
        t.add_column(Text(name))
    for g in est.treatment.generations:
        k = g.generation
        cells = [
            Text(_cell(a.generations[k].utility)) if k < len(a.generations) else Text("")
            for a in arms
        ]
        t.add_row(
            str(k), *cells, Text(_cell(g.gain)), Text(_cell(g.gain_ratio)), Text(_cell(g.seconds))
        )
    colour = {"compounding": "green", "damped": "yellow"}.get(est.verdict.verdict, "white")
    lines = [
        Text(f"mean gain ratio ρ̄: {show(est.treatment.mean_gain_ratio)}"),
        Text(f"generation-time ratio q: {show(est.treatment.mean_time_ratio)}"),
        Text(f"AI share of the gain: {show(run.ai_gain_share)}"),
        Text(f"verdict: {est.verdict.verdict}", style=f"bold {colour}"),
        *(Text(f"  - {r}") for r in est.verdict.reasons),
    ]
    if run.experiment_id:
        lines.append(Text(f"stored as {run.experiment_id}", style="dim"))
    return Group(t, *lines)


def _cell(est: Estimate) -> str:
    return "–" if math.isnan(est.value) else est.format(n=False)


@dataclass(frozen=True)
class RecursionView:
    """A recursion run as ``rsimeter.render.render`` shows it: Rich tables, or its JSON."""

    run: RecursionRun

    def to_dict(self) -> dict[str, Any]:
        """The recursion run's documented JSON shape."""
        return self.run.to_dict()

    def __rich__(self) -> Group:
        return recursion_table(self.run)
