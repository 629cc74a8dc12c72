"""Indicators, the report section and the commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rsimeter.autonomy.indicators import indicators
from rsimeter.autonomy.ingest import ingest_paths
from rsimeter.autonomy.report import section
from rsimeter.cli import app
from rsimeter.store import Store
from tests.autonomy import builders as b
from tests.autonomy.test_units import make_commits, make_experiments

KEYS = {
    "autonomy.frontier_share",
    "autonomy.l4_ai_dev_units",
    "autonomy.l5_own_lineage_units",
    "autonomy.self_confirming_units",
    "autonomy.auto_approve_share",
    "autonomy.stretch_p999_minutes",
    "autonomy.interruption_rate",
}


def test_no_evidence_no_indicators_no_section(store: Store) -> None:
    assert indicators(store) == []
    assert section(store) is None


def test_every_indicator_with_estimate_and_provenance(store: Store, tmp_path: Path) -> None:
    make_commits(store)
    make_experiments(store)
    ingest_paths(store, [b.claude_session(tmp_path / "s.jsonl")])
    found = {i.key: i for i in indicators(store)}
    assert set(found) == KEYS
    for ind in found.values():
        assert ind.provenance and ind.estimate.n >= 0 and ind.as_of is not None
        d = ind.to_dict()
        assert {"value", "ci", "n", "method", "key"} <= set(d)
    assert found["autonomy.interruption_rate"].estimate.value == pytest.approx(1 / 3)
    assert found["autonomy.frontier_share"].estimate.n == 7
    count = found["autonomy.self_confirming_units"].estimate
    assert count.method == "exact Poisson" and count.low <= count.value <= count.high
    p999 = found["autonomy.stretch_p999_minutes"].estimate
    assert math.isnan(p999.high) and "too small" in p999.method


def test_report_section_has_charts_and_tables(store: Store, tmp_path: Path) -> None:
    make_commits(store)
    ingest_paths(
        store,
        [b.claude_session(tmp_path / "s.jsonl"), b.codex_rollout(tmp_path / "rollout-1.jsonl")],
    )
    sec = section(store)
    assert sec is not None and sec.key == "autonomy"
    html = sec.html()
    assert "Autonomy over time" in html and "ladder level" in html
    assert "Agent sessions" in html and "Units of work by level" in html
    assert b.PRIVATE_TEXT not in html


def test_full_report_builds_with_the_autonomy_section(tmp_path: Path) -> None:
    from rsimeter.report.build import build_report

    with Store.open(tmp_path / "full.duckdb") as full:  # every pillar's real tables
        ingest_paths(full, [b.claude_session(tmp_path / "s.jsonl")])
        result = build_report(full, tmp_path / "report")
    assert "autonomy" in result.sections
    assert (tmp_path / "report" / "index.html").read_text().count('id="autonomy"') == 1


def test_cli_ingest_and_autonomy_json(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "e.duckdb")
    path = b.claude_session(tmp_path / "t" / "s.jsonl")
    res = runner.invoke(app, ["sessions", "ingest", str(path.parent), "--store", db, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert (d["files"], d["sessions"], d["human_turns"], d["malformed_lines"]) == (1, 1, 3, 1)
    res = runner.invoke(app, ["autonomy", "--store", db, "--period", "quarter", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["period"] == "quarter"
    assert out["rows"][0]["period"] == "2025Q1"
    res = runner.invoke(app, ["autonomy", "--store", db])
    assert res.exit_code == 0 and "Agent sessions per month" in res.stdout


def test_cli_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rsimeter.cli",
            "sessions",
            "ingest",
            str(tmp_path / "nope"),
            "--store",
            str(tmp_path / "e.duckdb"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.returncode == 2
    assert "no such file or folder" in proc.stderr and "Traceback" not in proc.stderr
