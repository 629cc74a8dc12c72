"""The recurse command, what it stores, and the indicators and report built from the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rsimeter.errors import InputError, RsimeterError
from rsimeter.loop.recursion import schema as recursion_schema
from rsimeter.loop.recursion.cli import register_recursion
from rsimeter.loop.recursion.indicators import recursion_indicators
from rsimeter.loop.recursion.report import recursion_section_blocks
from rsimeter.store import Store

ARGS = ["--target", "toy,toy:b", "--generations", "2", "--budget", "3", "--meta-candidates", "2"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _loop() -> None:
        """loop"""

    register_recursion(app)
    return app


def _ensure_tables(path: Path) -> None:
    # The loop pillar's schema appends these migrations; apply them directly when it
    # does not (yet), so these tests depend only on the recursion code.
    with Store.open(path) as s:
        if "loop_recursion_runs" not in s.tables():
            for sql in recursion_schema.MIGRATIONS:
                s.execute(sql)


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "evidence.duckdb"
    _ensure_tables(path)
    yield path


def _recurse(store_path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        _app(), ["recurse", *ARGS, "--store", str(store_path), "--json", *extra]
    )
    assert result.exception is None, result.output
    return json.loads(result.stdout)


def test_recurse_prints_the_documented_json_and_stores_the_experiment(store_path: Path) -> None:
    out = _recurse(store_path)
    assert [g["generation"] for g in out["generations"]] == [0, 1, 2]
    assert out["generations"][2]["gain_ratio"]["n"] == 4
    assert set(out["controls"]) == {"gen0_repeated", "best_of_two", "tpe"}
    assert out["verdict"]["verdict"] in ("compounding", "damped", "indeterminate")
    assert out["verdict"]["reasons"]
    with Store.open(store_path) as s:
        exp = s.frame("SELECT * FROM loop_recursion_experiments")
        assert exp["experiment_id"].tolist() == [out["experiment_id"]]
        runs = s.frame("SELECT * FROM loop_recursion_runs WHERE split = 'heldout'")
        assert len(runs) == 4 * 3 * 4  # arms × generations × units
        versions = s.frame("SELECT * FROM loop_recursion_versions WHERE arm = 'treatment'")
        assert versions["generation"].tolist() == [0, 1, 2]


def test_indicators_and_report_come_from_the_stored_runs(store_path: Path) -> None:
    out = _recurse(store_path, "--meta-improver", "ignition")
    with Store.open(store_path) as s:
        inds = {i.key: i for i in recursion_indicators(s)}
        blocks = recursion_section_blocks(s)
    assert set(inds) == {"loop.gain_ratio", "loop.generation_time_ratio", "loop.ai_gain_share"}
    rho = inds["loop.gain_ratio"]
    assert rho.estimate.to_dict() == out["mean_gain_ratio"]
    assert rho.evidence["verdict"] == out["verdict"]["verdict"]
    assert rho.evidence["reasons"] == out["verdict"]["reasons"]
    assert rho.evidence["held_out_confirmed"] is True
    html = "\n".join(blocks)
    assert f"Verdict: {out['verdict']['verdict']}" in html
    assert "gen0_repeated" in html and "Mean gain ratio" in html


def test_an_empty_store_has_no_recursion_indicators_or_blocks(store_path: Path) -> None:
    with Store.open(store_path) as s:
        assert recursion_indicators(s) == []
        assert recursion_section_blocks(s) == []


def test_people_get_a_table_and_the_verdict(store_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["recurse", *ARGS, "--store", str(store_path)])
    assert result.exception is None
    assert "verdict:" in result.stdout and "Recursion on toy" in result.stdout


def test_a_bad_generation_zero_file_names_the_file(store_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "gen0.json"
    bad.write_text('{"strategy": "psychic"}')
    result = CliRunner().invoke(
        _app(), ["recurse", *ARGS, "--store", str(store_path), "--gen0", str(bad)]
    )
    assert isinstance(result.exception, InputError)
    assert str(bad) in str(result.exception)
    with Store.open(store_path) as s:
        assert s.count_rows("loop_recursion_experiments") == 0


def test_a_generation_zero_file_sets_the_starting_improver(
    store_path: Path, tmp_path: Path
) -> None:
    good = tmp_path / "gen0.json"
    good.write_text('{"strategy": "local", "batch": 2}')
    _recurse(store_path, "--gen0", str(good))
    with Store.open(store_path) as s:
        row = s.frame("SELECT version FROM loop_recursion_versions WHERE generation = 0 LIMIT 1")
    assert json.loads(row["version"][0])["strategy"] == "local"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--meta-improver", "oracle"], "fixed' or 'ignition"),
        (["--controls", "magic"], "unknown control"),
        (["--improver", "human"], "'search' or 'llm'"),
    ],
)
def test_bad_options_are_clear_errors(store_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), ["recurse", *ARGS, "--store", str(store_path), *args])
    assert isinstance(result.exception, RsimeterError)
    assert message in str(result.exception)


def test_controls_can_be_switched_off(store_path: Path) -> None:
    out = _recurse(store_path, "--controls", "none")
    assert out["controls"] == {}
    assert out["verdict"]["verdict"] != "compounding"


def test_ai_gain_share_counts_human_reference_patches_in_harness_lineages(
    store_path: Path,
) -> None:
    out = _recurse(store_path)
    with Store.open(store_path) as s:
        if "loop_candidates" not in s.tables():
            pytest.skip("the harness tables are not in this store")
        rows = [
            # experiment e1: a human reference patch (+0.2), an AI patch on top (+0.1)
            ("h1", "e1", "reference", None, "scripted", 0.3),
            ("a1", "e1", "candidate", "h1", "random", 0.4),
        ]
        for cid, eid, role, parent, imp, sigma in rows:
            s.execute(
                "INSERT INTO loop_candidates (candidate_id, experiment_id, cycle, role, "
                "parent_id, improver, patch, surfaces, change_kind, status, proxy_score, "
                "sigma, budget_used, integrity, seconds, note, created_at) VALUES "
                "(?, ?, 0, ?, ?, ?, '', '[]', '[]', 'ok', 0.5, ?, '{}', '[]', 1.0, '', "
                "now())",
                [cid, eid, role, parent, imp, sigma],
            )
        share = {i.key: i for i in recursion_indicators(s)}["loop.ai_gain_share"].estimate
    recursion_share = out["ai_gain_share"]
    if recursion_share["value"] is None:
        assert share.value == pytest.approx(0.1 / 0.3)
    else:
        assert share.value < 1.0 and share.n == recursion_share["n"] + 1
