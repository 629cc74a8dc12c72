"""Commands of the loop pillar: ``rsimeter loop run | agent | try | show | targets | ingest``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rsimeter.errors import RsimeterError
from rsimeter.options import (
    DEFAULT_STORE,
    DaskOpt,
    JsonOpt,
    StoreOpt,
    UnsafeNoSandboxOpt,
    WorkersOpt,
)
from rsimeter.render import err_console, progress_bar, render

if TYPE_CHECKING:
    from rsimeter.loop.improvers.base import Improver
    from rsimeter.loop.target import Target

app = typer.Typer(
    help="Self-improvement experiments: an improver edits a training pipeline, scored by a "
    "hidden evaluator, in a sandbox.",
    no_args_is_help=True,
)

TargetOpt = Annotated[
    str, typer.Option("--target", help="Built-in target name or a folder with manifest.toml.")
]
SeedsOpt = Annotated[int, typer.Option("--seeds", min=1, max=100, help="Seeds per candidate.")]
ConfirmOpt = Annotated[
    int,
    typer.Option(
        "--confirm-seeds",
        min=0,
        max=100,
        help="Re-run the best candidate and the shipped pipeline on this many fresh seeds; "
        "held-out confirmation is read from them (0: from the experiment's own seeds).",
    ),
]


def register(root: typer.Typer) -> None:
    """Add this pillar's commands (and the recursion commands) to the root app."""
    from rsimeter.loop.recursion.cli import register_recursion

    register_recursion(app)
    root.add_typer(app, name="loop")


@app.command("run")
def run_cmd(
    target: TargetOpt = "digits",
    improver: Annotated[
        str,
        typer.Option(
            "--improver",
            help="random | tpe | local | scripted (with --patch) | llm | a plug-in.",
        ),
    ] = "random",
    cycles: Annotated[int, typer.Option("--cycles", min=0, help="Candidates to propose.")] = 10,
    seeds: SeedsOpt = 1,
    confirm_seeds: ConfirmOpt = 3,
    patch: Annotated[
        list[Path] | None, typer.Option("--patch", help="Patch files for --improver scripted.")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Resume (or name) this experiment.")
    ] = None,
    workers: WorkersOpt = 1,
    dask: DaskOpt = None,
    no_reference: Annotated[
        bool, typer.Option("--no-reference", help="Skip the reference improvement run.")
    ] = False,
    no_ablation: Annotated[
        bool, typer.Option("--no-ablation", help="Skip the gain-by-surface ablation runs.")
    ] = False,
    unsafe_no_sandbox: UnsafeNoSandboxOpt = False,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Run (or resume with --experiment ID) a self-improvement experiment."""
    from rsimeter.loop.improvers.registry import make_improver
    from rsimeter.loop.target import load_target

    tgt = load_target(target)
    imp = make_improver(improver, patches=patch or (), seed=0, unsafe_no_sandbox=unsafe_no_sandbox)
    _run_and_render(
        tgt,
        imp,
        store=store,
        json_=json_,
        cycles=cycles,
        seeds=seeds,
        confirm_seeds=confirm_seeds,
        workers=workers,
        dask_address=dask,
        experiment_id=experiment,
        unsafe_no_sandbox=unsafe_no_sandbox,
        reference=not no_reference,
        ablate=not no_ablation,
    )


def _run_and_render(
    tgt: Target, imp: Improver, *, store: Path, json_: bool, cycles: int, **settings: Any
) -> None:
    """Run the experiment, add PGR where the target has a ladder for it, and render."""
    from rsimeter.loop.experiment import run_experiment
    from rsimeter.loop.pgr_report import attach_pgr
    from rsimeter.loop.render import ExperimentView
    from rsimeter.loop.results import ExperimentResult
    from rsimeter.store import Store

    unsafe = bool(settings.get("unsafe_no_sandbox"))
    _check_sandbox(unsafe)
    with Store.open(store) as s, _progress(cycles) as tick:
        result = run_experiment(tgt, imp, cycles=cycles, store=s, progress=tick, **settings)
        out = attach_pgr(s, tgt, result, unsafe_no_sandbox=unsafe)
    render(ExperimentView(out) if isinstance(out, ExperimentResult) else out, json_)


@app.command("agent")
def agent_cmd(
    cmd: Annotated[
        str, typer.Option("--cmd", help="The agent's shell command, run once per cycle.")
    ],
    target: TargetOpt = "digits",
    cycles: Annotated[int, typer.Option("--cycles", min=0, help="Agent runs.")] = 3,
    seeds: SeedsOpt = 1,
    confirm_seeds: ConfirmOpt = 3,
    agent_network: Annotated[
        bool, typer.Option("--agent-network", help="Let the agent reach the network (its API).")
    ] = False,
    agent_env: Annotated[
        list[str] | None,
        typer.Option("--agent-env", help="An environment variable the agent gets (repeatable)."),
    ] = None,
    agent_timeout: Annotated[
        float, typer.Option("--agent-timeout", min=1, help="Wall seconds per agent run.")
    ] = 1800.0,
    agent_bind: Annotated[
        list[Path] | None,
        typer.Option("--agent-bind", help="A read-only folder the agent needs (its install)."),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Where each cycle's work and home folders stay.")
    ] = Path(".rsimeter/agent-runs"),
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Resume (or name) this experiment.")
    ] = None,
    no_reference: Annotated[
        bool, typer.Option("--no-reference", help="Skip the reference improvement run.")
    ] = False,
    no_ablation: Annotated[
        bool, typer.Option("--no-ablation", help="Skip the gain-by-surface ablation runs.")
    ] = False,
    unsafe_no_sandbox: Annotated[
        bool,
        typer.Option(
            "--unsafe-no-sandbox",
            help="Run the agent and candidates WITHOUT bubblewrap. Trusted code only.",
        ),
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Your own coding agent as the improver: CMD edits a fresh work folder each cycle."""
    from dataclasses import replace

    from rsimeter.loop.agent.improver import AgentImprover, AgentLimits, check_binds
    from rsimeter.loop.agent.improver import agent_env as env_of
    from rsimeter.loop.target import load_target

    tgt = load_target(target)
    imp = AgentImprover(
        cmd,
        runs_dir=runs_dir,
        limits=replace(AgentLimits(), wall_seconds=agent_timeout),
        network=agent_network,
        env=env_of(agent_env or ()),
        binds=check_binds(agent_bind or (), guarded=(store, tgt.root.parent)),
        unsafe_no_sandbox=unsafe_no_sandbox,
    )
    _run_and_render(
        tgt,
        imp,
        store=store,
        json_=json_,
        cycles=cycles,
        seeds=seeds,
        confirm_seeds=confirm_seeds,
        experiment_id=experiment,
        unsafe_no_sandbox=unsafe_no_sandbox,
        reference=not no_reference,
        ablate=not no_ablation,
    )


@app.command("try")
def try_cmd(
    patch: Annotated[Path, typer.Option("--patch", help="Unified diff against the shipped files.")],
    target: TargetOpt = "digits",
    seeds: SeedsOpt = 1,
    unsafe_no_sandbox: UnsafeNoSandboxOpt = False,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Evaluate one patch (how a person or an outside agent submits a candidate)."""
    from rsimeter.loop.experiment import try_patch
    from rsimeter.loop.improvers.scripted import read_patch_file
    from rsimeter.loop.pgr import try_with_pgr
    from rsimeter.loop.target import load_target
    from rsimeter.store import Store

    tgt = load_target(target)
    text = read_patch_file(patch)
    _check_sandbox(unsafe_no_sandbox)
    with Store.open(store) as s:
        result = try_patch(
            tgt, text, seeds=seeds, store=s, unsafe_no_sandbox=unsafe_no_sandbox, label=patch.name
        )
    render(try_with_pgr(tgt, result), json_)


@app.command("show")
def show_cmd(
    experiment: Annotated[
        str | None, typer.Argument(help="Experiment id (default: the latest finished).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Show a stored experiment: σ shipped and best, gains, and every candidate."""
    from rsimeter.loop import record
    from rsimeter.loop.pgr_report import with_stored_pgr
    from rsimeter.loop.render import ExperimentView
    from rsimeter.loop.results import ExperimentResult
    from rsimeter.store import Store

    with Store.open(store, read_only=True) as s:
        exp_id = experiment or record.latest_experiment(s)
        if exp_id is None:
            raise RsimeterError(f"{store}: no finished loop experiment (run `rsimeter loop run`)")
        result = record.load_experiment(s, exp_id)
        shown = with_stored_pgr(s, result)
    render(ExperimentView(shown) if isinstance(shown, ExperimentResult) else shown, json_)


@app.command("targets")
def targets_cmd(json_: JsonOpt = False) -> None:
    """List the built-in targets."""
    from rsimeter.loop.target import builtin_targets, load_target

    rows = []
    for name in builtin_targets():
        t = load_target(name)
        rows.append(
            {
                "name": t.name,
                "metric": t.metric.name,
                "direction": t.metric.direction,
                "surfaces": sorted(t.surfaces),
                "knobs": len(t.knobs),
                "description": t.description,
            }
        )
    render(_Targets(rows), json_)


class _Targets:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def to_dict(self) -> dict[str, Any]:
        return {"targets": self.rows}

    def summary(self) -> str:
        return "\n".join(
            f"{r['name']}: {r['metric']} ({r['direction']}) - {r['description']}" for r in self.rows
        )


def _check_sandbox(unsafe: bool) -> None:
    from rsimeter.loop.sandbox import NO_BWRAP_MESSAGE, UNSAFE_WARNING, bwrap_path

    if unsafe:
        err_console.print(f"[bold red]{UNSAFE_WARNING}[/]", highlight=False)
    elif bwrap_path() is None:
        raise RsimeterError(NO_BWRAP_MESSAGE)


class _progress:
    """A Rich progress bar on stderr, ticked once per recorded candidate."""

    def __init__(self, total: int) -> None:
        self.bar = progress_bar()
        self.task = self.bar.add_task("candidates", total=total)

    def __enter__(self) -> Any:
        self.bar.start()

        def tick(c: Any) -> None:
            if c.role == "candidate":
                self.bar.advance(self.task)
            self.bar.update(self.task, description=f"{c.role} {c.status}")

        return tick

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


@app.command("ingest")
def ingest_cmd(
    path: Annotated[Path, typer.Argument(help="An autoresearch-style results.tsv.")],
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Metric column (default: the first after commit)."),
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="min | max (default: from the metric's name).")
    ] = None,
    uninformative: Annotated[
        float | None, typer.Option("--uninformative", help="σ = 0 anchor (default for bpb: 8).")
    ] = None,
    optimum: Annotated[
        float | None, typer.Option("--optimum", help="σ = 1 anchor (default for bpb: 0.7).")
    ] = None,
    log_scale: Annotated[
        bool | None,
        typer.Option("--log-scale/--linear", help="σ on a log scale (default for bpb)."),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Read an autoresearch-style results.tsv as a self-reported experiment (no hidden scores)."""
    from rsimeter.loop.ingest import ingest_log
    from rsimeter.store import Store

    if direction is not None and direction not in ("min", "max"):
        raise RsimeterError("--direction must be 'min' or 'max'")
    with Store.open(store) as s:
        result = ingest_log(
            path, store=s, metric=metric, direction=direction, uninformative=uninformative,
            optimum=optimum, log_scale=log_scale,
        )  # fmt: skip
    render(result, json_)
