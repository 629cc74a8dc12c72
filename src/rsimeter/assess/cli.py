"""Commands of the assessment: assess, observe (the main job), watch, serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsimeter.options import DEFAULT_STORE, JsonOpt, StoreOpt
from rsimeter.render import render

app = typer.Typer(help="Assessment: compounding models, the verdict, scenarios.")


def observe(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")] = Path(
        "rsimeter-report"
    ),
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """The main job: ingest the configured sources, assess, alert, and write the report."""
    from rsimeter.report.build import build_report
    from rsimeter.store import Store

    with Store.open(store) as s:
        result = build_report(s, out)
    render(result, json_)


def register(root: typer.Typer) -> None:
    """Add the assessment commands to the root app."""
    root.add_typer(app, name="assess")
    root.command("observe")(observe)
