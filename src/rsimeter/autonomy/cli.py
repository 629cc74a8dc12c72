"""Commands of the autonomy pillar."""

from __future__ import annotations

import typer

app = typer.Typer(help="autonomy pillar.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add this pillar's commands to the root app."""
    root.add_typer(app, name="autonomy")
