"""The harness on the tiny test target: statuses, record, resume, ablation, Dask, digits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rsimeter.errors import RsimeterError
from rsimeter.loop import record, sandbox
from rsimeter.loop.edits import knob_patch
from rsimeter.loop.harness import (
    evaluate_baseline,
    evaluate_patch,
    run_default_experiment,
    run_experiment,
)
from rsimeter.loop.improvers.base import Proposal
from rsimeter.loop.improvers.registry import make_improver
from rsimeter.loop.improvers.scripted import ScriptedImprover
from rsimeter.loop.patches import diff_files
from rsimeter.loop.target import Target, load_target
from rsimeter.store import Store

try:
    from tests.loop.fake_target import write_fake_target
except ImportError:  # collected as a package
    from tests.loop.fake_target import write_fake_target

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Target:
    # compute 1e5 FLOPs: the shipped 30 steps fit (61,440), 100 steps do not
    return load_target(str(write_fake_target(tmp_path_factory.mktemp("tiny"), compute=1e5)))


def honest(t: Target) -> str:
    return knob_patch(t, {"drop_noisy": True, "lr": 0.2})


def test_a_patch_to_a_file_on_no_surface_is_rejected_without_running(tiny: Target) -> None:
    patch = diff_files({"provider.py": "a\n"}, {"provider.py": "b\n"})
    c = evaluate_patch(tiny, patch, seeds=[0])
    assert c.status == "rejected"
    assert "not in any editable surface" in c.note
    assert c.sigma is None and c.hidden_scores == () and c.budget_used == {}


@needs_bwrap
def test_over_budget_is_refused_before_training(tiny: Target) -> None:
    base = evaluate_baseline(tiny, [0])
    c = evaluate_patch(tiny, knob_patch(tiny, {"steps": 100}), seeds=[0], baseline=base)
    assert c.status == "over_budget"
    assert c.budget_used["compute"] == 204_800  # planned: 100 steps x 2,048 FLOPs
    assert c.sigma is None


@needs_bwrap
def test_candidates_are_deterministic_and_scored_on_every_seed(tiny: Target) -> None:
    base = evaluate_baseline(tiny, [0, 1])
    a = evaluate_patch(tiny, honest(tiny), seeds=[0, 1], baseline=base)
    b = evaluate_patch(tiny, honest(tiny), seeds=[0, 1], baseline=base)
    assert a.status == "ok" and a.integrity == ()
    assert len(a.hidden_scores) == 2 and a.hidden_scores == b.hidden_scores
    assert a.seed_sigmas == b.seed_sigmas
    assert a.sigma is not None and a.sigma.n == 2 and a.sigma.low <= a.sigma.value <= a.sigma.high
    assert a.surfaces == ("code", "data")
    assert set(a.change_kind) == {"data", "hyperparameters"}
    # each seed is on the ladder of the shipped run with the same seed
    assert a.seed_sigmas == tuple(
        tiny.sigma(h, s) for h, s in zip(a.hidden_scores, base.hidden, strict=True)
    )


class _Killed(BaseException):
    pass


class _DiesAtCycle(ScriptedImprover):
    """Replays patches but dies (like a killed process) when asked for one cycle."""

    def __init__(self, patches: Sequence[str], die_at: int) -> None:
        super().__init__(list(patches))
        self.die_at = die_at
        self.adaptive = True  # one proposal per round, so cycle 1 is scored before the kill

    def propose(self, target, history, *, rng, budget_left) -> Proposal:  # type: ignore[no-untyped-def]
        if len([c for c in history if c.role == "candidate"]) + 1 == self.die_at:
            raise _Killed
        return super().propose(target, history, rng=rng, budget_left=budget_left)


@needs_bwrap
def test_a_killed_experiment_resumes_without_losing_or_redoing_candidates(
    tiny: Target, tmp_path: Path
) -> None:
    patches = [knob_patch(tiny, {"lr": 0.1}), honest(tiny)]
    db = tmp_path / "evidence.duckdb"
    with Store.open(db) as store, pytest.raises(_Killed):
        run_experiment(
            tiny, _DiesAtCycle(patches, die_at=2), cycles=2, seeds=1, store=store,
            experiment_id="exp-resume", reference=False, ablate=False,
        )  # fmt: skip
    with Store.open(db) as store:
        kept = record.load_candidates(store, "exp-resume")
        assert [c.role for c in kept] == ["shipped", "candidate"]
        assert record.latest_experiment(store) is None  # not finished
        result = run_experiment(
            tiny, ScriptedImprover(patches), cycles=2, seeds=1, store=store,
            experiment_id="exp-resume", reference=False, ablate=True,
        )  # fmt: skip
        assert record.latest_experiment(store) == "exp-resume"
        again = record.load_experiment(store, "exp-resume")
    roles = [c.role for c in result.candidates]
    assert roles.count("shipped") == 1 and roles.count("candidate") == 2
    assert result.candidates[1].candidate_id == kept[1].candidate_id  # not re-run
    second = result.candidates[2]
    assert second.note == "scripted: patch 2" and second.status == "ok"
    # the honest patch touches code and data: both are ablated
    ablations = [c for c in result.candidates if c.role == "ablation"]
    assert sorted(c.note for c in ablations) == ["best without code", "best without data"]
    assert set(result.gain_by_surface) == {"code", "data", "objective"}
    assert result.gain_by_surface["objective"].value == 0.0
    assert again.to_dict()["candidates"] == result.to_dict()["candidates"]
    assert again.sigma_gain == result.sigma_gain


@needs_bwrap
@pytest.mark.slow
def test_dask_cluster_gives_the_same_results_as_local_runs(tiny: Target) -> None:
    from distributed import LocalCluster

    patches = [honest(tiny), knob_patch(tiny, {"smoothing": 0.1})]
    local = run_experiment(
        tiny, ScriptedImprover(patches), cycles=2, seeds=1, reference=False, ablate=False,
        experiment_id="exp-same",
    )  # fmt: skip
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        remote = run_experiment(
            tiny, ScriptedImprover(patches), cycles=2, seeds=1, reference=False, ablate=False,
            dask_address=cluster.scheduler_address, experiment_id="exp-same",
        )  # fmt: skip

    def scores(r) -> list[tuple[str, tuple[float, ...]]]:  # type: ignore[no-untyped-def]
        return [(c.status, c.hidden_scores) for c in r.candidates]

    assert scores(local) == scores(remote)


def test_improver_errors_are_recorded_and_the_experiment_goes_on(tiny: Target) -> None:
    class Broken:
        name = "broken"
        adaptive = True

        def propose(self, *a: object, **k: object) -> Proposal:
            raise ValueError("no idea")

    result = run_experiment(
        tiny, Broken(), cycles=2, seeds=1, reference=False, ablate=False, unsafe_no_sandbox=True
    )
    shipped = [c for c in result.candidates if c.role == "shipped"]
    failed = [c for c in result.candidates if c.role == "candidate"]
    assert [c.status for c in shipped] == ["ok"]
    assert [c.status for c in failed] == ["failed", "failed"]
    assert all("improver failed: ValueError: no idea" in c.note for c in failed)


def test_negative_confirmation_seeds_are_one_clear_error(tiny: Target) -> None:
    with pytest.raises(RsimeterError, match="confirm_seeds >= 0"):
        run_experiment(tiny, make_improver("random"), cycles=1, seeds=1, confirm_seeds=-1)


def test_a_proposal_the_improver_rejected_is_recorded_and_never_run(tiny: Target) -> None:
    class Refusing:
        name = "refusing"
        adaptive = True

        def propose(self, *a: object, **k: object) -> Proposal:
            return Proposal("", None, "no point fits", rejected="every point was over budget")

    result = run_experiment(
        tiny, Refusing(), cycles=1, seeds=1, reference=False, ablate=False, unsafe_no_sandbox=True
    )
    (cand,) = [c for c in result.candidates if c.role == "candidate"]
    # an empty patch run as a candidate would be the shipped pipeline scored as an attempt
    assert cand.status == "rejected" and cand.hidden_scores == () and cand.sigma is None
    assert "every point was over budget" in cand.note
    assert result.best_candidate is None


@needs_bwrap
@pytest.mark.slow
def test_default_experiment_on_digits_runs_end_to_end(tmp_path: Path) -> None:
    with Store.open(tmp_path / "evidence.duckdb") as store:
        result = run_default_experiment(store)
        from rsimeter.loop.indicators import indicators

        found = {i.key: i for i in indicators(store)}
    d = result.to_dict()
    assert d["target"] == "digits" and d["improver"] == "random"
    assert d["sigma_shipped"]["value"] == pytest.approx(0.1)
    roles = [c["role"] for c in d["candidates"]]
    assert roles.count("candidate") == 3 and roles.count("reference") == 1
    assert all(c["status"] in ("ok", "failed", "timeout", "over_budget") for c in d["candidates"])
    ref = next(c for c in d["candidates"] if c["role"] == "reference")
    assert ref["status"] == "ok" and ref["sigma"]["value"] > 0.1
    confirmed = {"loop.sigma_gain_confirmed"} if d["confirmation"] is not None else set()
    assert set(found) == {
        "loop.sigma_gain",
        "loop.reference_gap_recovered",
        "loop.integrity_events",
        *confirmed,
    }
    if confirmed:  # the best re-run on 3 fresh seeds after the experiment's 2
        assert found["loop.sigma_gain_confirmed"].estimate.n == 3
        assert d["confirmation"]["seeds"] == [2, 3, 4]
    assert d["seeds"] == [0, 1]  # two seeds: σ has an interval
    assert found["loop.sigma_gain"].estimate.n == 2
    with Store.open(tmp_path / "evidence.duckdb") as store:
        again = run_default_experiment(store)
    assert again.experiment_id == result.experiment_id  # reused while nothing changed
    assert again.sigma_gain == result.sigma_gain


def test_unsafe_mode_scores_like_the_sandbox(tiny: Target) -> None:
    """Without bubblewrap (trusted code only) the same pipeline gets the same scores."""
    from rsimeter.loop.harness import materialize, run_seed

    run = run_seed(tiny, materialize(tiny, [honest(tiny)]), 0, unsafe_no_sandbox=True)
    assert run.status == "ok", run.note
    if sandbox.bwrap_path() is not None:
        boxed = run_seed(tiny, materialize(tiny, [honest(tiny)]), 0)
        assert (boxed.proxy, boxed.hidden) == (run.proxy, run.hidden)


def test_a_recursion_search_version_runs_as_an_experiment_improver(tiny: Target) -> None:
    """The registry's ``search`` improver is the recursion's proposer behind the harness."""
    improver = make_improver("search", unsafe_no_sandbox=True)
    result = run_experiment(
        tiny, improver, cycles=2, seeds=1, reference=False, ablate=False, unsafe_no_sandbox=True
    )
    cands = [c for c in result.candidates if c.role == "candidate"]
    assert [c.improver for c in cands] == [improver.name] * 2
    assert improver.name.startswith("search:")
    # the search draws knobs at random (seeded by the experiment id): a draw may plan
    # more compute than the budget allows, and is then refused before training
    assert all(c.patch and c.status in ("ok", "over_budget") for c in cands), [
        c.note for c in cands
    ]
    assert all(set(c.surfaces) <= {"code", "data", "objective"} and c.surfaces for c in cands)
