"""Fixtures shared by every pillar's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rsimeter.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
METR_DIR = SHARED / "data" / "metr"
EPOCH_DIR = SHARED / "data" / "epoch"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh evidence store in a temporary folder."""
    with Store.open(tmp_path / "evidence.duckdb") as s:
        yield s


@pytest.fixture
def metr_dir() -> Path:
    """The METR data in ../shared (never shipped); skips with a clear reason when absent."""
    if not METR_DIR.is_dir():
        pytest.skip(f"METR data not found at {METR_DIR} (it lives in ../shared, not the package)")
    return METR_DIR
