"""Download against a local server (never the internet), and the commands' JSON shapes."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rsimeter.cli import app
from rsimeter.errors import RsimeterError
from rsimeter.horizon.fetch import fetch_file

from .conftest import make_runs

runner = CliRunner()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def runs_jsonl(path: Path) -> str:
    runs = make_runs(
        {"Agent A": 20.0, "Agent B": 2.0, "Agent C": 6.0, "Agent D": 60.0},
        n_families=8,
        runs_per_task=3,
        seed=2,
    )
    lines = [
        json.dumps(
            {
                "run_id": r.run_id,
                "task_id": r.task_id,
                "task_family": r.task_family,
                "alias": r.agent,
                "score_binarized": r.success,
                "human_minutes": r.human_minutes,
            }
        )
        for r in runs.itertuples()
    ]
    path.write_text("\n".join(lines) + "\n")
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fetch_verifies_checksum_and_skips_when_present(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = server
    md5 = runs_jsonl(root / "runs.jsonl")
    dest = tmp_path / "store"
    first = fetch_file(f"{base}/runs.jsonl", md5, dest)
    assert first.downloaded and first.path.read_bytes() == (root / "runs.jsonl").read_bytes()
    second = fetch_file(f"{base}/runs.jsonl", md5, dest)
    assert not second.downloaded and second.path == first.path


def test_fetch_discards_a_file_with_the_wrong_checksum(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = server
    runs_jsonl(root / "runs.jsonl")
    dest = tmp_path / "store"
    with pytest.raises(RsimeterError, match="checksum mismatch"):
        fetch_file(f"{base}/runs.jsonl", "0" * 32, dest)
    assert list(dest.iterdir()) == []
    with pytest.raises(RsimeterError, match="download failed"):
        fetch_file(f"{base}/missing.jsonl", "0" * 32, dest)
    with pytest.raises(RsimeterError, match="larger than"):
        fetch_file(f"{base}/runs.jsonl", "0" * 32, dest, max_bytes=100)
    with pytest.raises(RsimeterError, match="only http"):
        fetch_file("file:///etc/passwd", "0" * 32, dest)
    with pytest.raises(RsimeterError, match="not an md5"):
        fetch_file(f"{base}/runs.jsonl", "abc", dest)


def test_cli_fetch_ingest_fit_trend(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    md5 = runs_jsonl(root / "runs.jsonl")
    store = tmp_path / "s" / "evidence.duckdb"
    out = runner.invoke(
        app,
        [
            "horizon",
            "fetch",
            "metr",
            "--url",
            f"{base}/runs.jsonl",
            "--md5",
            md5,
            "--store",
            str(store),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["fetch"]["downloaded"] is True
    assert data["ingest"]["rows"] == {"horizon_runs": 15 * 4 * 3}  # 15 tasks, 4 agents

    out = runner.invoke(
        app, ["horizon", "fit", "--store", str(store), "--bootstrap", "50", "--json"]
    )
    assert out.exit_code == 0, out.output
    fit = json.loads(out.stdout)
    assert [a["agent"] for a in fit["agents"]] == ["Agent A", "Agent B", "Agent C", "Agent D"]
    for a in fit["agents"]:
        assert set(a["p50"]) == {"value", "ci", "level", "n", "method"}
        assert len(a["p80"]["ci"]) == 2
    assert fit["regularization"] == 1e-5

    dates = tmp_path / "release_dates.yaml"
    dates.write_text("date:\n  Agent A: 2025-01-01\n  Agent B: 2023-01-01\n")
    assert (
        runner.invoke(app, ["horizon", "ingest", str(dates), "--store", str(store)]).exit_code == 0
    )
    out = runner.invoke(app, ["horizon", "trend", "--store", str(store), "--json"])
    assert isinstance(out.exception, RsimeterError)  # two dated models: no doubling time
    assert "only 2 frontier models" in str(out.exception) and "at least 4" in str(out.exception)

    dates.write_text("date:\n  Agent C: 2023-09-01\n  Agent D: 2025-06-01\n")
    assert (
        runner.invoke(app, ["horizon", "ingest", str(dates), "--store", str(store)]).exit_code == 0
    )
    out = runner.invoke(app, ["horizon", "trend", "--store", str(store), "--json"])
    assert out.exit_code == 0, out.output
    trend = json.loads(out.stdout)
    assert trend["source"] == "stored runs (fitted)"
    assert trend["doubling_days"]["value"] > 0
    assert [a["agent"] for a in trend["agents"]] == ["Agent B", "Agent C", "Agent A", "Agent D"]


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "x.yaml"
    bad.write_text("date: [\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rsimeter.cli",
            "horizon",
            "ingest",
            str(bad),
            "--store",
            str(tmp_path / "e.duckdb"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr


def test_cli_trend_without_evidence_says_what_to_do(tmp_path: Path) -> None:
    out = runner.invoke(app, ["horizon", "trend", "--store", str(tmp_path / "e.duckdb")])
    assert out.exit_code != 0
    assert isinstance(out.exception, RsimeterError)
    assert "horizon ingest" in str(out.exception)
    # fit and trend only read: they never create (or lock for writing) a store
    out = runner.invoke(app, ["horizon", "fit", "--store", str(tmp_path / "e.duckdb")])
    assert isinstance(out.exception, RsimeterError) and "no runs" in str(out.exception)
    assert not (tmp_path / "e.duckdb").exists()


def test_cli_saturation_defaults_to_shipped_epoch_data(tmp_path: Path) -> None:
    out = runner.invoke(
        app,
        [
            "horizon",
            "saturation",
            "--benchmark",
            "SWE-Bench verified",
            "--reps",
            "20",
            "--store",
            str(tmp_path / "e.duckdb"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    (swe,) = data["saturation"]
    assert swe["benchmark"] == "SWE-Bench verified" and swe["n_models"] == 23
    assert set(swe["cross_90"]) == {"date", "ci", "level", "n", "method"}
    assert swe["frontier"][0]["model"] == "claude-3-5-sonnet-20240620"


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "rsimeter.toml"
    cfg.write_text("[horizon]\nweighting = 'random'\n")
    out = runner.invoke(
        app, ["horizon", "fit", "--config", str(cfg), "--store", str(tmp_path / "e.duckdb")]
    )
    assert isinstance(out.exception, RsimeterError)
    assert "[horizon] weighting" in str(out.exception)


def test_cli_fetch_knows_only_metr(tmp_path: Path) -> None:
    out = runner.invoke(
        app, ["horizon", "fetch", "elsewhere", "--store", str(tmp_path / "e.duckdb")]
    )
    assert isinstance(out.exception, RsimeterError)
    assert "only 'metr'" in str(out.exception)


def test_cli_trend_since_2023_on_a_suite_with_two_early_models(tmp_path: Path) -> None:
    # shaped like METR's TH1.1 summaries: two frontier models in 2023, then many
    entry = (
        "  {k}:\n    release_date: {d}\n    metrics:\n      p50_horizon_length:\n"
        "        estimate: {p}\n        ci_low: {lo}\n        ci_high: {hi}\n"
    )
    models = [("gpt_4", "2023-03-14", 3.52), ("gpt_4_1106", "2023-11-06", 3.61)]
    models += [(f"m{i}", f"{2024 + i // 6}-{1 + 2 * (i % 6):02d}-15", 4 * 1.6**i) for i in range(9)]
    text = "results:\n" + "".join(
        entry.format(k=k, d=d, p=p, lo=p / 2, hi=p * 2) for k, d, p in models
    )
    yml = tmp_path / "th1_1_like.yaml"
    yml.write_text(text)
    store = str(tmp_path / "e.duckdb")
    assert runner.invoke(app, ["horizon", "ingest", str(yml), "--store", store]).exit_code == 0
    args = ["horizon", "trend", "--suite", "th1_1_like", "--since", "2023-01-01", "--store", store]
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    windows = [tuple(w["window"]) for w in data["windows"]]
    assert ("2023-01-01", None) not in windows and len(windows) == len(set(windows))
    (early,) = [w for w in data["windows"] if w["window"] == ["2023-01-01", "2024-01-01"]]
    assert early["doubling_days"]["value"] is None and len(early["agents"]) == 2
    assert early["skipped"].startswith("only 2 frontier models between 2023-01-01 and 2024-01-01")
    assert data["doubling_time_ratio"]["value"] is None
    assert data["doubling_time_ratio"]["method"].startswith("no ratio: only 2 frontier models")
    text_out = runner.invoke(app, [*args], env={"COLUMNS": "200"}).output
    assert "a doubling time needs at least 4" in text_out
    assert "Doubling-time ratio (from 2024-01-01 / before): none (no ratio:" in text_out
