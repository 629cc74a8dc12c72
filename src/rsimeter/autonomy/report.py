"""The autonomy section of the HTML report: metrics over time, levels, slots, tables."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from rsimeter.autonomy.ladder import LEVELS, SLOTS
from rsimeter.autonomy.metrics import ALL, UNDATED, AutonomyMetrics, compute
from rsimeter.estimate import Estimate
from rsimeter.report.html import Section, figure, fmt_estimate, paragraph, table
from rsimeter.store import Store

_OVER_TIME = (
    ("interruption_rate", "interruption rate"),
    ("auto_approve_share", "auto-approve share"),
    ("agent_chose_method_share", "agent chose the approach"),
)


def _trace(name: str, xs: list[str], ests: list[Estimate]) -> go.Scatter:
    def ok(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return go.Scatter(
        x=xs,
        y=[ok(e.value) for e in ests],
        name=name,
        mode="lines+markers",
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [ok(e.high - e.value) for e in ests],
            "arrayminus": [ok(e.value - e.low) for e in ests],
        },
    )


def _over_time(m: AutonomyMetrics) -> str | None:
    rows = [r for r in m.rows if r.source == ALL and r.period not in (ALL, UNDATED)]
    if not rows:
        return None
    fig = go.Figure()
    xs = [r.period for r in rows]
    for key, label in _OVER_TIME:
        ests = [r.sessions.get(key, Estimate.missing()) for r in rows]
        if any(math.isfinite(e.value) for e in ests):
            fig.add_trace(_trace(label, xs, ests))
    ests = [r.units["frontier_share"] for r in rows]
    if any(math.isfinite(e.value) for e in ests):
        fig.add_trace(_trace("frontier share (L4+)", xs, ests))
    fig.update_layout(
        title="Autonomy over time (95% intervals)",
        yaxis_tickformat=".0%",
        height=380,
        margin={"t": 50, "b": 40},
    )
    stretch = go.Figure()
    for name in ("p50", "p90", "p99", "p99.9"):
        e = [
            r.sessions["stretch_minutes"][name] if r.sessions.get("n") else Estimate.missing()
            for r in rows
        ]
        stretch.add_trace(_trace(name, xs, e))
    stretch.update_layout(
        title="Autonomous stretch length (minutes)",
        yaxis_type="log",
        height=340,
        margin={"t": 50, "b": 40},
    )
    return figure(fig) + figure(stretch)


def section(store: Store) -> Section | None:
    """The autonomy section, or None when the store holds no autonomy evidence."""
    m = compute(store)
    overall = m.row(ALL, ALL)
    if overall is None:
        return None
    s, u = overall.sessions, overall.units
    lead = f"{s.get('n', 0)} agent sessions and {u.get('n', 0)} units of work"
    if u.get("n"):
        lead += f"; frontier share (L4+) {fmt_estimate(u['frontier_share'], percent=True)}"
    sec = Section("autonomy", "Autonomy", summary=lead)
    chart = _over_time(m)
    if chart:
        sec.add(chart)
    if u.get("n"):
        bars = go.Figure(go.Bar(x=list(LEVELS), y=[u["levels"][lv]["count"] for lv in LEVELS]))
        bars.update_layout(
            title="Units of work by ladder level", height=300, margin={"t": 50, "b": 40}
        )
        sec.add(figure(bars))
        sec.add(
            table(
                ["slot", "AI share (95% CI)"],
                [[slot, fmt_estimate(u["slot_ai_share"][slot], percent=True)] for slot in SLOTS],
                caption="Who decided: share of units whose slot is attributed to the AI",
            )
        )
        sec.add(
            paragraph(
                f"Self-confirming units (the AI judged its own work with a non-independent "
                f"evaluator and kept it): {u['self_confirming']}. L4+ units on AI-development "
                f"code: {u['l4_ai_dev']}. L5 units on the AI's own lineage: {u['l5_own_lineage']}."
            )
        )
    sess_rows = []
    unit_rows = []
    sources_in: dict[str, set[str]] = {}
    for r in m.rows:
        if r.source != ALL:
            sources_in.setdefault(r.period, set()).add(r.source)
    for r in m.rows:
        if r.source == ALL and len(sources_in.get(r.period, ())) == 1:
            continue  # the same numbers as the period's one source
        x = r.sessions
        if x.get("n"):
            sess_rows.append(
                [
                    r.period,
                    r.source,
                    x["n"],
                    fmt_estimate(x["human_turns_per_session"]),
                    fmt_estimate(x["tool_calls_per_human_turn"]),
                    fmt_estimate(x["stretch_minutes"]["p50"]),
                    fmt_estimate(x["stretch_minutes"]["p99.9"]),
                    fmt_estimate(x["interruption_rate"], percent=True),
                    fmt_estimate(x["rejection_rate"], percent=True),
                    fmt_estimate(x["auto_approve_share"], percent=True),
                    fmt_estimate(x["stops"]["agent_asked"], percent=True),
                    fmt_estimate(x["stops"]["human_interrupted"], percent=True),
                ]
            )
        if r.units.get("n"):
            unit_rows.append(
                [
                    r.period,
                    r.source,
                    r.units["n"],
                    *(r.units["levels"][lv]["count"] for lv in LEVELS),
                    fmt_estimate(r.units["frontier_share"], percent=True),
                ]
            )
    if sess_rows:
        sec.add(
            table(
                [
                    "period",
                    "source",
                    "sessions",
                    "human turns/session",
                    "tool calls/turn",
                    "stretch p50 (min)",
                    "stretch p99.9 (min)",
                    "interruption rate",
                    "rejection rate",
                    "auto-approve",
                    "stops: agent asked",
                    "stops: human interrupted",
                ],
                sess_rows,
                caption="Agent sessions",
            )
        )
    if unit_rows:
        sec.add(
            table(
                ["period", "source", "units", *LEVELS, "frontier (L4+)"],
                unit_rows,
                caption="Units of work by level",
            )
        )
    return sec
