"""The recursion part of the loop report: utility by generation, gain ratio, verdict."""

from __future__ import annotations

import math

from rsimeter.estimate import Estimate
from rsimeter.loop.recursion.estimator import ArmStats, RecursionEstimate
from rsimeter.loop.recursion.indicators import stored_estimate
from rsimeter.loop.recursion.record import latest_experiment
from rsimeter.report.html import esc, figure, fmt_estimate, paragraph, table
from rsimeter.store import Store


def recursion_section_blocks(store: Store) -> list[str]:
    """HTML blocks for the latest recursion experiment (empty when there is none)."""
    exp = latest_experiment(store)
    if exp is None:
        return []
    found = stored_estimate(store, str(exp["experiment_id"]))
    if found is None:
        return []
    est, share = found
    return estimate_blocks(est, share, title=f"Recursion experiment {exp['experiment_id']}")


def estimate_blocks(est: RecursionEstimate, share: Estimate, *, title: str) -> list[str]:
    """The blocks for one estimate (kept separate so they can be built without a store)."""
    arms = [est.treatment, *est.controls]
    n_gen = max(len(a.generations) for a in arms)
    rows = []
    for k in range(n_gen):
        rows.append(
            [k]
            + [
                fmt_estimate(a.generations[k].utility) if k < len(a.generations) else ""
                for a in arms
            ]
            + [
                fmt_estimate(est.treatment.generations[k].gain_ratio)
                if k < len(est.treatment.generations)
                else ""
            ]
        )
    blocks = [
        f"<h3>{esc(title)}</h3>",
        paragraph(
            "Utility is the mean σ gain an improver version achieves at a fixed budget on "
            "held-out tasks and seeds; generation k+1 is produced by a meta-improver editing "
            "generation k. Controls ran on the same held-out units."
        ),
        table(
            ["generation", *(a.arm for a in arms), "gain ratio ρ_k (treatment)"],
            rows,
            caption="Utility by generation (95% bootstrap intervals)",
        ),
        _figure(arms),
        paragraph(
            f"Mean gain ratio ρ̄ = {fmt_estimate(est.treatment.mean_gain_ratio)}; "
            f"generation-time ratio q = {fmt_estimate(est.treatment.mean_time_ratio)}; "
            f"AI share of the gain = {fmt_estimate(share, percent=True)}."
        ),
        f"<p><strong>Verdict: {esc(est.verdict.verdict)}</strong></p>"
        + "<ul>"
        + "".join(f"<li>{esc(r)}</li>" for r in est.verdict.reasons)
        + "</ul>",
    ]
    return blocks


def _figure(arms: list[ArmStats]) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    for a in arms:
        ks = [g.generation for g in a.generations]
        ys = [g.utility.value for g in a.generations]
        up = [_dist(g.utility.high, g.utility.value) for g in a.generations]
        down = [_dist(g.utility.value, g.utility.low) for g in a.generations]
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=ys,
                name=a.arm,
                mode="lines+markers",
                error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
            )
        )
    fig.update_layout(
        xaxis_title="generation",
        yaxis_title="utility (mean σ gain, held-out)",
        height=360,
        margin={"l": 50, "r": 20, "t": 20, "b": 40},
    )
    return figure(fig)


def _dist(a: float, b: float) -> float | None:
    d = a - b
    return d if math.isfinite(d) else None
