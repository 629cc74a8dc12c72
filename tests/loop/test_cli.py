"""The loop commands: documented JSON shapes, clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rsimeter.loop import sandbox
from rsimeter.loop.edits import knob_patch
from rsimeter.loop.target import load_target

try:
    from tests.loop.fake_target import write_fake_target
except ImportError:  # collected as a package
    from tests.loop.fake_target import write_fake_target

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed")

CANDIDATE_KEYS = {"status", "sigma", "surfaces", "change_kind", "integrity"}
ESTIMATE_KEYS = {"value", "ci", "level", "n", "method"}


def rsimeter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rsimeter.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_fake_target(tmp_path_factory.mktemp("tiny"))
    target = load_target(str(folder))
    (folder / "honest.patch").write_text(knob_patch(target, {"drop_noisy": True, "lr": 0.2}))
    return folder


@needs_bwrap
def test_try_prints_the_candidate_with_sigma_and_its_interval(
    tiny_dir: Path, tmp_path: Path
) -> None:
    res = rsimeter(
        "loop", "try", "--target", str(tiny_dir), "--patch", str(tiny_dir / "honest.patch"),
        "--store", "e.duckdb", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) >= CANDIDATE_KEYS
    assert out["status"] == "ok"
    assert set(out["sigma"]) == ESTIMATE_KEYS and out["sigma"]["n"] == 1
    assert out["sigma_shipped"]["value"] == pytest.approx(0.1)
    assert out["surfaces"] == ["code", "data"]
    assert out["integrity"] == []


@needs_bwrap
@pytest.mark.slow
def test_run_then_show_and_report_agree(tiny_dir: Path, tmp_path: Path) -> None:
    res = rsimeter(
        "loop", "run", "--target", str(tiny_dir), "--improver", "scripted",
        "--patch", str(tiny_dir / "honest.patch"), "--cycles", "1", "--seeds", "1",
        "--no-reference", "--no-ablation", "--store", "e.duckdb", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)
    for key in ("experiment", "sigma_shipped", "sigma_best", "reference_gap_recovered"):
        assert key in run
    assert set(run["sigma_best"]) == ESTIMATE_KEYS
    assert set(run["gain_by_surface"]) == {"code", "data", "objective"}
    roles = [c["role"] for c in run["candidates"]]
    assert roles == ["shipped", "candidate", "confirm_shipped", "confirm_best"]
    # held-out confirmation re-runs the best on 3 fresh seeds (the default), never seed 0
    confirm = run["candidates"][3]
    assert confirm["seeds"] == [1, 2, 3] and confirm["patch"] == run["candidates"][1]["patch"]
    assert run["confirmation"]["seeds"] == [1, 2, 3]
    assert run["confirmation"]["sigma_gain"]["n"] == 3
    low = run["confirmation"]["sigma_gain"]["ci"][0]
    assert run["held_out_confirmed"] is (low is not None and low > 0)
    assert all(set(c) >= CANDIDATE_KEYS for c in run["candidates"])
    shown = rsimeter(
        "loop", "show", run["experiment"], "--store", "e.duckdb", "--json", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    again = json.loads(shown.stdout)
    run.pop("seconds"), again.pop("seconds")
    assert again == run
    people = rsimeter("loop", "show", "--store", "e.duckdb", cwd=tmp_path)
    assert run["experiment"] in people.stdout and "σ gain" in people.stdout
    rep = rsimeter("report", "--out", "out", "--store", "e.duckdb", "--json", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert "loop" in json.loads(rep.stdout)["sections"]
    assert "Accepted lineage" in (tmp_path / "out" / "index.html").read_text()


def test_show_on_an_empty_store_is_one_clear_line(tmp_path: Path) -> None:
    rsimeter("store", "export", "--out", "pq", "--store", "e.duckdb", cwd=tmp_path)
    res = rsimeter("loop", "show", "--store", "e.duckdb", cwd=tmp_path)
    assert res.returncode == 2
    assert "no finished loop experiment" in res.stderr and "Traceback" not in res.stderr


def test_try_names_a_missing_patch_file(tmp_path: Path) -> None:
    res = rsimeter("loop", "try", "--patch", "nope.patch", "--store", "e.duckdb", cwd=tmp_path)
    assert res.returncode == 2
    assert "nope.patch" in res.stderr and "no such patch file" in res.stderr


def test_an_unknown_target_is_one_clear_line(tmp_path: Path) -> None:
    res = rsimeter("loop", "run", "--target", "nowhere", "--store", "e.duckdb", cwd=tmp_path)
    assert res.returncode == 2
    assert "no such target" in res.stderr and "Traceback" not in res.stderr


def test_negative_confirmation_seeds_are_refused_before_anything_runs(tmp_path: Path) -> None:
    res = rsimeter("loop", "run", "--confirm-seeds", "-1", "--store", "e.duckdb", cwd=tmp_path)
    assert res.returncode == 2
    assert "--confirm-seeds" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "e.duckdb").exists()


def test_targets_lists_the_built_ins(tmp_path: Path) -> None:
    res = rsimeter("loop", "targets", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    names = {t["name"] for t in json.loads(res.stdout)["targets"]}
    assert {"digits", "charlm"} <= names
