"""Synthetic run data with known horizons, shared by the horizon tests."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import METR_DIR


@pytest.fixture
def metr_dir() -> Path:
    """METR data from ../shared, or from $RSIMETER_METR_DIR; skips when neither exists."""
    override = os.environ.get("RSIMETER_METR_DIR")
    folder = Path(override) if override else METR_DIR
    if not folder.is_dir():
        pytest.skip(f"METR data not found at {folder} (it lives in ../shared, not the package)")
    return folder


def make_runs(
    p50s: dict[str, float],
    *,
    slope: float = -0.7,
    n_families: int = 30,
    tasks_per_family: Sequence[int] = (1, 2, 3),
    runs_per_task: int = 8,
    seed: int = 0,
    minutes_range: tuple[float, float] = (0.05, 2000.0),
) -> pd.DataFrame:
    """Runs drawn from ``sigmoid(slope * (log2 m - log2 p50))`` for each agent.

    Families get 1..3 tasks in turn; task lengths are log-uniform in minutes_range.
    """
    rng = np.random.default_rng(seed)
    tasks = []
    for f in range(n_families):
        for t in range(tasks_per_family[f % len(tasks_per_family)]):
            lo, hi = (math.log2(v) for v in minutes_range)
            tasks.append((f"fam{f}", f"fam{f}/task{t}", 2.0 ** rng.uniform(lo, hi)))
    rows = []
    for agent, p50 in p50s.items():
        for fam, task, minutes in tasks:
            p = 1.0 / (1.0 + math.exp(-slope * (math.log2(minutes) - math.log2(p50))))
            for r in range(runs_per_task):
                rows.append(
                    {
                        "run_id": f"{agent}|{task}|{r}",
                        "agent": agent,
                        "task_id": task,
                        "task_family": fam,
                        "success": float(rng.random() < p),
                        "human_minutes": minutes,
                    }
                )
    return pd.DataFrame(rows)
