"""Commands of the horizon pillar: ingest, fetch, fit, trend, saturation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from rsimeter.config import load_config, section
from rsimeter.options import (
    DEFAULT_STORE,
    ConfigOpt,
    JsonOpt,
    SinceOpt,
    SplitOpt,
    StoreOpt,
    UntilOpt,
    WorkersOpt,
    day,
)
from rsimeter.render import err_console, render, working

if TYPE_CHECKING:
    from rsimeter.horizon.config import HorizonConfig

app = typer.Typer(
    help="Capability trends: time horizons, doubling times, acceleration, saturation.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Add this pillar's commands to the root app."""
    root.add_typer(app, name="horizon")


def _settings(config: Path | None) -> HorizonConfig:
    from rsimeter.horizon.config import horizon_config

    return horizon_config(section(load_config(config), "horizon"), str(config or "rsimeter.toml"))


@app.command()
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Run files (.jsonl, .csv, .eval), release-date or results YAML, "
            "logistic fits / bootstrap CSVs, Epoch CSVs, or folders of them."
        ),
    ],
    suite: Annotated[
        str | None,
        typer.Option(help="Name for summaries/bootstrap rows (default: file stem or folder)."),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Store horizon evidence; re-ingesting a file replaces its rows (idempotent)."""
    from rsimeter.horizon.ingest import ingest_paths
    from rsimeter.store import Store

    with Store.open(store) as s:
        result = ingest_paths(s, files, suite=suite)
    render(result, json_)


@app.command()
def fetch(
    what: Annotated[str, typer.Argument(help="What to download: 'metr' (METR's run file).")],
    url: Annotated[str | None, typer.Option(help="Override the download URL.")] = None,
    md5: Annotated[str | None, typer.Option(help="Expected md5 of the file.")] = None,
    do_ingest: Annotated[
        bool, typer.Option("--ingest/--no-ingest", help="Store the runs after download.")
    ] = True,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Download METR's public run file (checksum verified) into the store's folder."""
    from rsimeter.errors import RsimeterError
    from rsimeter.horizon.fetch import fetch_file
    from rsimeter.horizon.ingest import ingest_paths
    from rsimeter.store import Store

    if what != "metr":
        raise RsimeterError(f"unknown source {what!r}: only 'metr' can be fetched")
    cfg = _settings(config)
    with Store.open(store) as s:
        result = fetch_file(url or cfg.metr_url, md5 or cfg.metr_md5, s.folder / "metr")
        err_console.print(escape(result.summary()))
        out = {"fetch": result.to_dict()}
        if do_ingest:
            out["ingest"] = ingest_paths(s, [result.path], suite="metr").to_dict()
    render(out, json_)
    if not json_:
        err_console.print("Add release dates with 'rsimeter horizon ingest release_dates.yaml'.")


@app.command()
def fit(
    regularization: Annotated[
        float | None, typer.Option(help="L2 penalty on the slope (METR: 1e-5; 0.1 earlier).")
    ] = None,
    weighting: Annotated[str | None, typer.Option(help="invsqrt (METR), equal or none.")] = None,
    bootstrap: Annotated[
        int | None, typer.Option("--bootstrap", help="Bootstrap replicates.", min=0)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="Fit only these agents (repeatable).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Per-agent 50% and 80% time horizons from the stored runs, with bootstrap intervals."""
    from rsimeter.errors import RsimeterError
    from rsimeter.horizon.evidence import implausible_fits, runs_frame
    from rsimeter.horizon.fit import fit_horizons
    from rsimeter.store import Store

    cfg = _settings(config)
    with Store.open_for_reading(store) as s:  # reads only: a read-only store will do
        runs = runs_frame(s)
        if runs.empty:
            raise RsimeterError("no runs in the store: 'rsimeter horizon ingest runs.jsonl' first")
        with working("fitting horizons and bootstrap replicates"):
            result = fit_horizons(
                runs,
                regularization=cfg.regularization if regularization is None else regularization,
                weighting=weighting or cfg.weighting,
                n_bootstrap=cfg.n_bootstrap if bootstrap is None else bootstrap,
                seed=cfg.seed if seed is None else seed,
                agents=agent or None,
            )
        warnings = [*result.warnings, *implausible_fits(s, result)]
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    render(result, json_)


@app.command()
def trend(
    since: SinceOpt = None,
    until: UntilOpt = None,
    suite: Annotated[
        str | None,
        typer.Option(help="Points from this stored suite ('runs': fit the stored runs)."),
    ] = None,
    sota: Annotated[
        str, typer.Option(help="Frontier filter: window (METR), flag (the file's is_sota), none.")
    ] = "window",
    split: SplitOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Doubling time of the frontier 50% horizon, acceleration tests and forecasts."""
    from rsimeter.horizon.acceleration import analyse_trend
    from rsimeter.horizon.evidence import default_points
    from rsimeter.store import Store

    cfg = _settings(config)
    with Store.open_for_reading(store) as s, working("fitting trends and forecasts"):
        points = default_points(
            s,
            suite or cfg.suite,
            regularization=cfg.regularization,
            weighting=cfg.weighting,
            n_bootstrap=cfg.n_bootstrap,
            seed=cfg.seed,
        )
        result = analyse_trend(
            points,
            day(since),
            day(until),
            split=day(split) or cfg.split,
            sota=sota,
            seed=cfg.seed,
        )
    for w in points.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    render(result, json_)


@app.command()
def saturation(
    benchmark: Annotated[
        list[str] | None, typer.Option("--benchmark", help="Only these benchmarks (repeatable).")
    ] = None,
    reps: Annotated[int, typer.Option(help="Bootstrap replicates per benchmark.", min=0)] = 200,
    workers: WorkersOpt = 1,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Per benchmark: frontier score over time, saturation curve, date of 90% of ceiling.

    With no scores stored, the Epoch AI data shipped with rsimeter is ingested first.
    """
    from rsimeter.horizon.evidence import scores_frame
    from rsimeter.horizon.ingest import ingest_default
    from rsimeter.horizon.saturation import saturation_all
    from rsimeter.store import Store

    with Store.open(store) as s:
        if s.count_rows("horizon_scores") == 0:
            ingest_default(s)
        scores = scores_frame(s)
    with working("fitting saturation curves"):
        result = saturation_all(
            scores,
            benchmark or None,
            reps=reps,
            workers=workers,
            source="stored benchmark scores (default: Epoch AI data, MIT)",
        )
    render(result, json_)
