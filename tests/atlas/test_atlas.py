"""The atlas end to end on generated repositories: list, mining, snapshot, stats, CLI."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from rsimeter.atlas.mine import MineJob, mine_atlas, run_tasks
from rsimeter.atlas.repos import CATEGORIES, load_list
from rsimeter.atlas.snapshot import read_snapshot
from rsimeter.atlas.stats import atlas_stats
from rsimeter.cli import app
from rsimeter.code.ingest import mine
from rsimeter.code.metrics import compute_stats
from rsimeter.errors import RsimeterError
from rsimeter.store import Store
from tests.atlas.conftest import ATLAS_YAML, build_adoption_repo
from tests.code.gitrepo import drop_object

runner = CliRunner()


def _atlas(tmp_path: Path) -> Any:
    p = tmp_path / "atlas.yaml"
    p.write_text(ATLAS_YAML)
    return load_list(p)


@pytest.fixture(scope="module")
def mined(tmp_path_factory: pytest.TempPathFactory, clones: Path) -> tuple[Any, Path]:
    tmp = tmp_path_factory.mktemp("atlas")
    atlas = _atlas(tmp)
    out = tmp / "snapshot.json"
    result = mine_atlas(
        atlas.repos, atlas, cache=tmp / "cache", out=out, workers=1, clones=clones, network=False
    )
    return result, out


def test_packaged_list_has_forty_repositories_with_category_and_reason() -> None:
    atlas = load_list()
    assert len(atlas.repos) >= 40
    assert {r.category for r in atlas.repos} == set(CATEGORIES)
    assert all(r.why and "/" in r.slug for r in atlas.repos)
    assert len({r.slug.lower() for r in atlas.repos}) == len(atlas.repos)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "repos:\n  - repo: a/b\n    category: cooking\n    why: x\n",
            r"entry 1 \(a/b\): category",
        ),
        ("repos:\n  - repo: not-a-slug\n    category: data\n    why: x\n", "owner/name"),
        ("repos:\n  - repo: a/b\n    category: data\n", "'why' is missing"),
        ("repos: [\n", "line"),
    ],
)
def test_bad_list_entry_is_one_error_naming_the_file(
    tmp_path: Path, body: str, message: str
) -> None:
    p = tmp_path / "list.yaml"
    p.write_text(body)
    with pytest.raises(RsimeterError, match=message) as e:
        load_list(p)
    assert str(p) in str(e.value)


def test_a_missing_repository_fails_alone_and_the_others_are_mined(mined: Any) -> None:
    result, _ = mined
    status = {r.repo: r.status for r in result.repos}
    assert status == {"acme/trainer": "mined", "acme/evals": "mined", "acme/missing": "failed"}
    missing = next(r for r in result.repos if r.repo == "acme/missing")
    assert "no local clone" in missing.message
    trainer = next(r for r in result.repos if r.repo == "acme/trainer")
    assert trainer.changes == 96 and len(trainer.commit or "") == 40
    assert trainer.commit_date == "2024-08-18"


def test_snapshot_holds_counts_only(mined: Any) -> None:
    _, out = mined
    text = out.read_text()
    for secret in ("dev0@example.org", "Dev 0", "src/f0_", "change 1", "acme+trainer.git"):
        assert secret not in text
    snap = read_snapshot(out)
    assert snap.list_version == 3
    t = snap.cells[snap.cells["repo"] == "acme/trainer"]
    assert int(t["changes"].sum()) == 96
    april = t[t["month"] == "2024-04"]
    assert april.set_index("class")["changes"].to_dict() == {"ai_coauthored": 2, "human": 10}
    assert april.set_index("class")["engineers"].to_dict() == {"ai_coauthored": 1, "human": 5}
    eng = snap.engineers[(snap.engineers["repo"] == "acme/trainer")].set_index("period")
    assert eng.loc["2024-04", "engineers"] == 6 and eng.loc["2024", "engineers"] == 6
    assert set(snap.uplift) == {"lines", "changes"}


def test_stats_from_the_snapshot_match_code_stats_on_the_same_history(
    mined: Any, clones: Path, tmp_path: Path
) -> None:
    _, out = mined
    got = atlas_stats(
        read_snapshot(out), repos=["acme/trainer"], atlas=_atlas(tmp_path), by=("repo",)
    )
    with Store.open(tmp_path / "e.duckdb") as s:
        mine(s, [str(clones / "acme+trainer.git")])
        want = compute_stats(s, period="month").to_dict()
    g = got.to_dict()
    assert set(want) <= set(g) and "categories" in g and "snapshot" in g
    assert g["changes"] == want["changes"] == 96
    for gp, wp in zip(g["periods"], want["periods"], strict=True):
        assert set(gp) == set(wp)
        for key in ("period", "changes", "ai_changes", "lines_added", "ai_lines_added"):
            assert gp[key] == wp[key]
        assert gp["ai_change_share"] == wp["ai_change_share"]  # Wilson on the same counts
    assert set(g["per_engineer"]) == set(want["per_engineer"])
    gpe = {r["period"]: r for r in g["per_engineer"]["periods"]}
    for r in want["per_engineer"]["periods"]:
        assert gpe[r["period"]]["engineers"] == r["engineers"]
        assert gpe[r["period"]]["mean"]["value"] == pytest.approx(r["mean"]["value"])
    assert [t["tool"] for t in g["tools"]] == [t["tool"] for t in want["tools"]]
    assert g["repos"]["acme/trainer"]["category"] == "pretraining"
    assert g["repos"]["acme/trainer"]["periods"] == g["periods"]
    assert atlas_stats(read_snapshot(out)).to_dict()["repos"]["acme/trainer"] == {
        "category": "pretraining",
        "status": "mined",
        "commit": g["repos"]["acme/trainer"]["commit"],
        "commit_date": "2024-08-18",
        "changes": 96,
        "lines_unknown": 0,
    }


def test_a_partial_history_keeps_its_unknown_lines_in_the_snapshot_and_stats(
    tmp_path: Path,
) -> None:
    # a snapshot or partial clone lacking two blobs: one human change in January, one
    # AI-co-authored change in April (engineer 0's first); training code, so both
    # are AI-development files too
    clones = tmp_path / "clones"
    repo = build_adoption_repo(clones / "acme+partial", months=5, bare=False, folder="training")
    dropped = []
    for path in ("training/f3_4.py", "training/f0_37.py"):
        dropped.append(
            subprocess.check_output(
                ["git", "-C", str(repo), "rev-parse", f"HEAD:{path}"], text=True
            ).strip()
        )
        drop_object(repo, dropped[-1])
    listing = tmp_path / "atlas.yaml"
    listing.write_text("version: 1\nrepos:\n  - {repo: acme/partial, category: data, why: x}\n")
    atlas = load_list(listing)
    out = tmp_path / "snapshot.json"
    result = mine_atlas(
        atlas.repos,
        atlas,
        cache=tmp_path / "cache",
        out=out,
        workers=1,
        clones=clones,
        network=False,
    )
    assert [r.status for r in result.repos] == ["mined"] and result.repos[0].changes == 60
    assert all(sha in result.repos[0].message for sha in dropped)
    # the run says so per repository too (`atlas mine --json`)
    mined = result.repos[0].to_dict()
    assert mined["lines_unknown"] == 2 and mined["changes_lines_unknown"] == 2
    snap = read_snapshot(out)
    c = snap.cells.set_index(["month", "class"])
    assert c.loc[("2024-01", "human"), ["lines_unknown", "changes_lines_unknown"]].tolist() == [
        1,
        1,
    ]
    assert c.loc[("2024-04", "ai_coauthored"), "lines_unknown"] == 1
    assert int(snap.cells["lines_unknown"].sum()) == 2
    got = atlas_stats(snap, period="month", atlas=atlas, by=("repo",)).to_dict()
    with Store.open(tmp_path / "e.duckdb") as s:
        mine(s, [str(repo)])
        want = compute_stats(s, period="month").to_dict()
    assert got["lines_unknown"] == want["lines_unknown"] == 2
    assert got["repos"]["acme/partial"]["lines_unknown"] == 2
    for gp, wp in zip(got["periods"], want["periods"], strict=True):
        assert set(gp) == set(wp) and set(gp["ai_dev"]) == set(wp["ai_dev"])
        for key in ("changes", "lines_added", "lines_unknown", "changes_lines_unknown"):
            assert gp[key] == wp[key] and gp["ai_dev"][key] == wp["ai_dev"][key]
    assert [p["lines_unknown"] for p in got["periods"]] == [1, 0, 0, 1, 0]
    assert "2 file change(s) have unknown line counts" in atlas_stats(snap, atlas=atlas).summary()
    with Store.open(tmp_path / "e.duckdb") as s:
        want_dev = compute_stats(s, period="month", ai_dev_only=True).to_dict()
    got_dev = atlas_stats(snap, period="month", atlas=atlas, ai_dev_only=True).to_dict()
    assert got_dev["lines_unknown"] == want_dev["lines_unknown"] == 2
    assert [p["lines_unknown"] for p in got_dev["periods"]] == [
        p["lines_unknown"] for p in want_dev["periods"]
    ]


def test_a_version_1_snapshot_is_refused_with_how_to_rebuild_it(mined: Any, tmp_path: Path) -> None:
    _, out = mined
    doc = json.loads(out.read_text())
    doc["version"] = 1  # written before the unknown-line counts existed
    p = tmp_path / "old.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(RsimeterError, match="version 1 has no unknown-line counts") as e:
        read_snapshot(p)
    assert str(p) in str(e.value) and "atlas mine" in str(e.value)


def test_stats_per_category_and_bad_selections(mined: Any, tmp_path: Path) -> None:
    _, out = mined
    snap = read_snapshot(out)
    s = atlas_stats(snap, category="evaluation", atlas=_atlas(tmp_path), by=("category",)).to_dict()
    assert list(s["repos"]) == ["acme/evals"] and list(s["categories"]) == ["evaluation"]
    assert s["changes"] == 72
    with pytest.raises(RsimeterError, match="--repo nope/nope: not in the snapshot"):
        atlas_stats(snap, repos=["nope/nope"])
    with pytest.raises(RsimeterError, match="--category must be one of"):
        atlas_stats(snap, category="cooking")
    with pytest.raises(RsimeterError, match="from the snapshot use a year"):
        atlas_stats(snap, baseline="2024-01-01..2024-02-01")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "line 1: not a JSON atlas snapshot"),
        ('{"format": "other"}', "not an atlas snapshot"),
        ('{"format": "rsimeter-atlas-snapshot", "version": 9}', "version 9"),
    ],
)
def test_bad_snapshot_is_one_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "snap.json"
    p.write_text(text)
    with pytest.raises(RsimeterError, match=message) as e:
        read_snapshot(p)
    assert str(p) in str(e.value)


def test_negative_count_in_snapshot_names_the_row(mined: Any, tmp_path: Path) -> None:
    _, out = mined
    doc = json.loads(out.read_text())
    doc["cells"]["rows"][2][4] = -5
    p = tmp_path / "snap.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(RsimeterError, match="cells row 3: 'changes' is not a count"):
        read_snapshot(p)


def test_cli_stats_uplift_and_releases_answer_from_a_snapshot(mined: Any) -> None:
    _, out = mined
    res = runner.invoke(
        app, ["atlas", "stats", "--snapshot", str(out), "--period", "quarter", "--json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert [p["period"] for p in d["periods"]] == ["2024Q1", "2024Q2", "2024Q3"]
    assert d["snapshot"]["mined"] == 2
    res = runner.invoke(app, ["atlas", "uplift", "--snapshot", str(out), "--json"])
    assert res.exit_code == 0, res.output
    u = json.loads(res.output)
    assert {"att", "event_study", "pre_trend", "naive_ratio", "engineers", "treated"} <= set(u)
    assert u["treated"] == 4 and u["engineers"] == 12  # two adopters in each repository
    res = runner.invoke(app, ["atlas", "releases", "--snapshot", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert "p_value" in json.loads(res.output)


def test_code_uplift_command_on_a_mined_store(clones: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "e.duckdb")
    runner.invoke(app, ["code", "mine", str(clones / "acme+trainer.git"), "--store", db])
    res = runner.invoke(app, ["code", "uplift", "--store", db, "--reps", "99", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["engineers"] == 6 and d["treated"] == 2 and d["controls"] == 4
    assert d["att"]["value"] > 1  # adopters' commits are 10 lines longer
    assert d["event_study"][0]["event_month"] <= -1
    bad = runner.invoke(app, ["code", "uplift", "--store", db, "--outcome", "words"])
    assert bad.exit_code != 0


def test_two_dask_workers_mine_what_one_process_mines(clones: Path, tmp_path: Path) -> None:
    atlas = _atlas(tmp_path)
    jobs = [MineJob(r, tmp_path / "c", clones, network=False) for r in atlas.repos]
    serial = run_tasks(jobs, workers=1)
    jobs2 = [MineJob(r, tmp_path / "d", clones, network=False) for r in atlas.repos]
    dask = run_tasks(jobs2, workers=2)
    assert [(r.repo, r.status, r.changes) for r in dask] == [
        (r.repo, r.status, r.changes) for r in serial
    ]
    pd.testing.assert_frame_equal(dask[0].cells, serial[0].cells)


def test_report_section_draws_shares_tools_event_study_and_releases(mined: Any) -> None:
    from rsimeter.atlas.report import atlas_section

    _, out = mined
    sec = atlas_section(read_snapshot(out))
    assert sec is not None and sec.key == "atlas"
    page = sec.html()
    assert "AI-signed share of changes per month" in page
    assert "AI-signed changes per month by tool" in page
    assert "Event study" in page
    assert "168 landed changes in 2 public AI-development repositories" in sec.summary


def test_observe_default_uses_the_atlas_when_the_folder_has_no_ai_evidence(
    mined: Any, tmp_path: Path
) -> None:
    from rsimeter.atlas import indicators as atlas_ind
    from rsimeter.atlas.report import section
    from tests.code.gitrepo import RepoBuilder, lines

    _, out = mined
    b = RepoBuilder()
    b.commit("human work", files={"a.py": lines(5)})
    here = b.build(tmp_path / "here")
    with Store.open(tmp_path / "e.duckdb") as s:
        result = atlas_ind.code_default(s, here, snapshot=out)
        assert result.atlas and "uses the atlas snapshot" in result.headline()
        found = {i.key: i for i in atlas_ind.indicators(s, today=date(2025, 1, 1))}
        assert set(found) == {"code.ai_change_share", "code.ai_line_share"}
        share = found["code.ai_change_share"]
        # the histories end on 2024-08-18, so July is the latest complete month
        assert share.evidence["period"] == "2024-07" and share.estimate.n == 12
        assert share.evidence["lines_unknown"] == 0
        assert share.estimate.value == pytest.approx(4 / 12)
        assert "atlas snapshot" in share.provenance
        sec = section(s)
        assert sec is not None and sec.key == "atlas"


def test_observe_default_keeps_a_folder_with_ai_evidence(clones: Path, tmp_path: Path) -> None:
    from rsimeter.atlas import indicators as atlas_ind
    from rsimeter.atlas.report import section

    here = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(clones / "acme+trainer.git"), str(here)], check=True)
    with Store.open(tmp_path / "e.duckdb") as s:
        result = atlas_ind.code_default(s, here)
        assert not result.atlas
        own = atlas_ind.indicators(s)
        assert own and all("atlas" not in i.provenance for i in own)
        assert {i.key for i in own} >= {"code.ai_change_share"}
        assert section(s) is None


def test_packaged_snapshot_reads_and_covers_the_list() -> None:
    snap = read_snapshot()
    listed = {r.slug for r in load_list().repos}
    assert {r["repo"] for r in snap.repos} <= listed
    assert sum(r["status"] in ("mined", "up to date") for r in snap.repos) >= 40
    assert not snap.cells.empty and (snap.cells["changes"] > 0).all()


def test_clone_is_bare_and_filtered_then_fetched_and_mined_incrementally(tmp_path: Path) -> None:
    from rsimeter.atlas.mine import mine_one
    from rsimeter.atlas.repos import AtlasRepo
    from tests.atlas.conftest import build_adoption_repo
    from tests.code.gitrepo import git

    remote = build_adoption_repo(tmp_path / "remote" / "acme" / "lab.git", months=3)
    git(remote, "config", "uploadpack.allowFilter", "true")
    job = MineJob(
        AtlasRepo("acme/lab", "data", "x"),
        tmp_path / "cache",
        remote_base=f"file://{tmp_path / 'remote'}/",
    )
    first = mine_one(job)
    assert first.status == "mined" and first.changes == 36, first.message
    clone = tmp_path / "cache" / "clones" / "acme+lab.git"
    assert git(clone, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(clone, "config", "remote.origin.partialclonefilter").strip() == "blob:limit=1048576"
    # the remote moves on: a re-run fetches and mines only what is new
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "new.py").write_text("x = 1\n")
    git(work, "add", "new.py")
    git(work, "commit", "-q", "-m", "later")
    git(work, "push", "-q", "origin", "HEAD:main")
    second = mine_one(job)
    assert second.status == "mined" and second.changes == 37
    assert second.commit == git(remote, "rev-parse", "main").strip()
    third = mine_one(job)  # nothing new: counts still come back whole
    assert third.status == "up to date" and third.changes == 37
    assert int(third.cells["changes"].sum()) == 37


def _dies_on_evals(job: MineJob) -> Any:
    """A task whose worker process dies under one repository (as when killed for memory)."""
    import os

    from rsimeter.atlas.mine import mine_one

    if job.repo.slug == "acme/evals":
        os._exit(9)
    return mine_one(job)


def test_largest_clone_is_mined_first_and_results_keep_the_list_order(
    clones: Path, tmp_path: Path
) -> None:
    from rsimeter.atlas.mine import RepoMined, clone_bytes

    atlas = _atlas(tmp_path)  # trainer, evals (half the months), missing (no clone)
    jobs = [MineJob(r, tmp_path / "c", clones, network=False) for r in reversed(atlas.repos)]
    sizes = [clone_bytes(j) for j in jobs]
    assert sizes[0] == 0 and 0 < sizes[1] < sizes[2]
    started: list[str] = []

    def record(job: MineJob) -> RepoMined:
        started.append(job.repo.slug)
        return RepoMined(job.repo.slug, job.repo.category, "mined")

    got = run_tasks(jobs, workers=1, task=record)
    assert started == ["acme/trainer", "acme/evals", "acme/missing"]  # longest first
    assert [r.repo for r in got] == [j.repo.slug for j in jobs]  # returned as listed


def test_a_worker_dying_under_one_repository_fails_that_one_only(
    clones: Path, tmp_path: Path
) -> None:
    atlas = _atlas(tmp_path)
    jobs = [MineJob(r, tmp_path / "c", clones, network=False) for r in atlas.repos]
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # no retries
        got = run_tasks(jobs, workers=2, task=_dies_on_evals)
    status = {r.repo: r.status for r in got}
    assert status == {"acme/trainer": "mined", "acme/evals": "failed", "acme/missing": "failed"}
    assert "worker was lost" in got[1].message
