"""The loop section of the HTML report: σ over cycles, lineage, gain by surface, integrity."""

from __future__ import annotations

import json
import math
from collections import Counter

from rsimeter.estimate import format_estimate
from rsimeter.loop import record
from rsimeter.loop.ingest import IMPROVER as SELF_REPORTED
from rsimeter.loop.integrity import FLAGS, VIOLATIONS
from rsimeter.loop.metrics import accepted_lineage
from rsimeter.loop.pgr_report import pgr_blocks
from rsimeter.loop.recursion.report import recursion_section_blocks
from rsimeter.loop.results import ExperimentResult
from rsimeter.report.html import Section, figure, fmt_estimate, paragraph, table
from rsimeter.store import Store

MAX_EXPERIMENTS = 10


def section(store: Store) -> Section | None:
    """The loop section, or None when the store holds no loop evidence."""

    if "loop_experiments" not in store.tables():
        return None
    recursion = recursion_section_blocks(store)
    logs = _self_reported(store)
    listed = record.list_experiments(store)
    finished = [
        e for e in listed if e["finished_at"] is not None and str(e["finished_at"]) != "NaT"
    ]
    if not finished:
        if not recursion and not logs:
            return None
        what = "Recursion experiments" if recursion else "Self-reported logs only"
        sec = Section("loop", "Self-improvement experiments", summary=what)
        for block in [*recursion, *logs]:
            sec.add(block)
        return sec
    latest = record.load_experiment(store, str(finished[0]["experiment_id"]))
    sec = Section(
        "loop",
        "Self-improvement experiments",
        summary=(
            f"Latest: {latest.target} with {latest.improver}: σ gain "
            f"{fmt_estimate(latest.sigma_gain)}, held-out confirmed: {latest.held_out_confirmed}"
        ),
    )
    sec.add(paragraph(
        "σ ladder: 0 = uninformative model, 0.1 = the pipeline as shipped, 1 = the metric's "
        "optimum. The best candidate is chosen on the proxy score and reported on hidden data "
        "over the same seeds; held-out confirmation re-runs it and the shipped pipeline on "
        "fresh seeds when the experiment asked for them (otherwise it reads the same seeds, "
        "where the choice favours luck); failed, timed-out, over-budget, rejected and "
        "integrity-violating candidates never count as gains."
    ))  # fmt: skip
    rows = []
    for e in finished[:MAX_EXPERIMENTS]:
        r = record.load_experiment(store, str(e["experiment_id"]))
        rows.append([
            r.experiment_id, r.target, r.improver, len(r.seeds),
            sum(1 for c in r.candidates if c.role == "candidate"),
            fmt_estimate(r.sigma_shipped), fmt_estimate(r.sigma_best), fmt_estimate(r.sigma_gain),
            fmt_estimate(r.reference_gap_recovered), "yes" if r.held_out_confirmed else "no",
        ])  # fmt: skip
    sec.add(table(
        ["experiment", "target", "improver", "seeds", "candidates", "σ shipped", "σ best",
         "σ gain", "reference gap recovered", "held-out confirmed"],
        rows, caption="Experiments (newest first)",
    ))  # fmt: skip
    sec.add(_sigma_figure(latest))
    sec.add(_lineage(latest))
    sec.add(_surfaces(latest))
    sec.add(_integrity(latest))
    for block in pgr_blocks(store):
        sec.add(block)
    for block in [*recursion, *logs]:
        sec.add(block)
    return sec


def _self_reported(store: Store) -> list[str]:
    """The logs ``loop ingest`` read, in a table of their own (never among the measured)."""
    rows = store.execute(
        "SELECT experiment_id, target, result FROM loop_experiments "
        "WHERE improver = ? ORDER BY started_at DESC",
        [SELF_REPORTED],
    ).fetchall()
    if not rows:
        return []
    out = []
    for eid, target, result in rows[:MAX_EXPERIMENTS]:
        d = json.loads(result) if result else {}
        counts = d.get("rows", {})
        metric = d.get("metric", {})
        out.append([
            eid, str(target).removeprefix("log:"),
            f"{metric.get('name', '?')} ({metric.get('direction', '?')})",
            counts.get("cycles", "?"), counts.get("keep", "?"), counts.get("crash", "?"),
            format_estimate(d.get("sigma_best")), format_estimate(d.get("sigma_gain")),
            format_estimate(d.get("gain_ratio")),
        ])  # fmt: skip
    return [
        paragraph(
            "Self-reported logs (rsimeter loop ingest): each row is a cycle an agent ran and "
            "scored itself; nothing was rerun and no hidden evaluator scored anything, so σ "
            "has one run behind it and no interval, and these never count as measured "
            "gains or as held-out confirmed."
        ),
        table(
            ["experiment", "log", "metric", "cycles", "kept", "crashed", "σ best", "σ gain",
             "gain ratio ρ"],
            out, caption="Self-reported improvement logs (newest first)",
        ),
    ]  # fmt: skip


def _sigma_figure(result: ExperimentResult) -> str:
    import plotly.graph_objects as go

    cands = [c for c in result.candidates if c.role == "candidate" and c.sigma is not None]
    sigmas = [c.sigma for c in cands if c.sigma is not None]
    fig = go.Figure()
    if cands:
        x = [c.cycle for c in cands]
        y = [s.value for s in sigmas]
        up = [(s.high - s.value) if math.isfinite(s.high) else 0 for s in sigmas]
        down = [(s.value - s.low) if math.isfinite(s.low) else 0 for s in sigmas]
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", name="candidate σ (hidden)",
            error_y={"type": "data", "array": up, "arrayminus": down},
            text=[f"{c.candidate_id} {c.status} {','.join(c.surfaces)}" for c in cands],
        ))  # fmt: skip
    fig.add_hline(y=result.sigma_shipped.value, line_dash="dash", annotation_text="shipped")
    fig.update_layout(
        title=f"σ over cycles: {result.experiment_id}", xaxis_title="cycle",
        yaxis_title="σ", height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40},
    )  # fmt: skip
    return figure(fig)


def _lineage(result: ExperimentResult) -> str:

    shipped = next((c for c in result.candidates if c.role == "shipped"), None)
    lineage = accepted_lineage(result.candidates, result.direction)
    rows: list[list[object]] = [
        ["shipped", "-", "-", fmt_estimate(shipped.sigma) if shipped else "n/a", "", ""]
    ]
    rows += [
        [c.candidate_id, c.cycle, f"{c.proxy_score:.4g}" if c.proxy_score is not None else "n/a",
         fmt_estimate(c.sigma), ", ".join(c.surfaces), c.note[:80]]
        for c in lineage
    ]  # fmt: skip
    return table(
        ["candidate", "cycle", "proxy", "σ (hidden)", "surfaces", "note"],
        rows,
        caption="Accepted lineage: each candidate set a new best proxy score",
    )


def _surfaces(result: ExperimentResult) -> str:
    rows = [[s, fmt_estimate(e), e.method] for s, e in result.gain_by_surface.items()]
    return table(["surface", "σ gain from it", "how"], rows, caption="Gain by surface (ablation)")


def _integrity(result: ExperimentResult) -> str:

    counts = Counter(f.split(":", 1)[0] for c in result.candidates for f in c.integrity)
    statuses = Counter(c.status for c in result.candidates if c.role == "candidate")
    rows = [
        [flag, n, "yes" if flag in VIOLATIONS else "no", FLAGS.get(flag, "")]
        for flag, n in counts.most_common()
    ]
    status_line = ", ".join(f"{s}: {n}" for s, n in statuses.most_common())
    return paragraph(f"Candidate statuses: {status_line or 'none'}") + table(
        ["flag", "events", "voids the score", "meaning"],
        rows or [["none", 0, "", ""]],
        caption="Integrity events",
    )
