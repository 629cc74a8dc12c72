"""Which points a trend uses by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsimeter.errors import RsimeterError
from rsimeter.horizon.evidence import default_points
from rsimeter.horizon.ingest import ingest_default, ingest_paths
from rsimeter.store import Store

from .conftest import make_runs


def write_runs(path: Path) -> None:
    runs = make_runs({"A": 20.0, "B": 2.0}, n_families=6, runs_per_task=2, seed=1)
    runs.rename(columns={"agent": "alias", "success": "score_binarized"}).to_csv(path, index=False)


def write_suite(path: Path, latest: str) -> None:
    entry = "    release_date: {d}\n    metrics:\n      p50_horizon_length: {{estimate: {p}}}\n"
    path.write_text(
        "results:\n  old:\n"
        + entry.format(d="2022-01-01", p=1)
        + "  new:\n"
        + entry.format(d=latest, p=100)
    )


def test_newest_evidence_wins(store: Store, tmp_path: Path) -> None:
    write_runs(tmp_path / "runs.csv")
    (tmp_path / "dates.yaml").write_text("A: 2025-01-01\nB: 2023-01-01\n")
    ingest_paths(store, [tmp_path / "runs.csv", tmp_path / "dates.yaml"])
    ingest_default(store)  # Epoch's copy never outranks stored evidence
    assert default_points(store, n_bootstrap=20).source == "stored runs (fitted)"
    write_suite(tmp_path / "older.yaml", "2024-06-01")
    ingest_paths(store, [tmp_path / "older.yaml"])
    assert default_points(store, n_bootstrap=20).source == "stored runs (fitted)"
    write_suite(tmp_path / "newer.yaml", "2026-01-01")
    ingest_paths(store, [tmp_path / "newer.yaml"])
    assert default_points(store, n_bootstrap=20).source == "suite newer"
    assert default_points(store, "runs", n_bootstrap=20).source == "stored runs (fitted)"
    assert default_points(store, "older").source == "suite older"


def test_epoch_copy_is_the_last_resort(store: Store) -> None:
    with pytest.raises(RsimeterError, match="no horizon evidence"):
        default_points(store)
    ingest_default(store)
    assert "Epoch" in default_points(store).source
    with pytest.raises(RsimeterError, match="fewer than two"):
        default_points(store, "runs")
