"""The assess section of the HTML report: the loaded series, their fits, the run history."""

from __future__ import annotations

import math
from pathlib import Path

import plotly.graph_objects as go

from rsimeter.assess.indicators import indicators
from rsimeter.report.html import Section, figure, fmt_estimate, paragraph, table
from rsimeter.store import Store

SHOWN_ROWS = 50


def _history(store: Store) -> str:
    runs = store.frame(
        "SELECT run_at, state, exit_code, verdict, scenario, indicators FROM assess_runs "
        "ORDER BY run_at"
    )
    if runs.empty:
        return ""
    fig = go.Figure(
        go.Scatter(
            x=runs["run_at"],
            y=runs["exit_code"],
            mode="lines+markers",
            text=runs["verdict"],
            name="exit code",
        )
    )
    fig.update_layout(
        title="Main-job runs: exit code (0 ok, 1 warning, 2 critical, 3 unknown)",
        yaxis={"tickvals": [0, 1, 2, 3], "range": [-0.3, 3.3]},
        height=280,
        template="plotly_white",
        margin={"t": 50, "b": 40},
    )
    last = runs.tail(10).iloc[::-1]
    rows = [
        (str(r.run_at)[:19], r.state, r.exit_code, r.verdict, r.scenario or "-", r.indicators)
        for r in last.itertuples()
    ]
    cols = ["run at (UTC)", "state", "exit", "verdict", "scenario", "indicators"]
    return figure(fig) + table(cols, rows, caption="Last runs")


def _cell(v: object) -> object:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else "n/a"
    return v


def _series_tables(store: Store) -> list[str]:
    blocks = []
    for tbl, cols, caption in (
        ("assess_cycles", "series, cycle, gain, duration, source", "Cycles"),
        ("assess_effort", "series, time, efficiency, research_input, source", "Effort series"),
        ("assess_arms", "series, arm, capability, rate, source", "Treatment and control arms"),
        ("assess_tasks", "series, task, share, speedup, source", "Task speed-ups"),
    ):
        total = store.count_rows(tbl)
        if not total:
            continue
        frame = store.frame(f"SELECT {cols} FROM {tbl} ORDER BY ALL LIMIT {SHOWN_ROWS}")
        frame["source"] = [Path(p).name for p in frame["source"]]
        rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
        more = f" (first {SHOWN_ROWS} of {total} rows)" if total > SHOWN_ROWS else ""
        blocks.append(table(list(frame.columns), rows, caption + more))
    return blocks


def section(store: Store) -> Section | None:
    """The assess section, or None when no series was loaded and no run recorded."""
    inds = indicators(store)
    history = _history(store)
    if not inds and not history:
        return None
    sec = Section("assess", "Compounding models and run history")
    sec.summary = "Fits of the series given to the compounding models, and the main job's runs."
    if inds:
        rows = [(i.key, i.label, fmt_estimate(i.estimate), i.estimate.method) for i in inds]
        sec.add(table(["key", "model", "estimate [interval] (n)", "method"], rows, "Model fits"))
        sec.blocks.extend(_series_tables(store))
    else:
        sec.add(paragraph("No series loaded for the compounding models (see docs/assess.md)."))
    if history:
        sec.add(history)
    return sec
