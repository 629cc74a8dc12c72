"""Fixtures for the autonomy tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rsimeter.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store without the code and loop pillars' tables.

    The unit adapters read those tables defensively; these tests write their own
    versions (other column names, missing columns) to check that.
    """
    with Store.open(tmp_path / "evidence.duckdb") as s:
        for table in s.tables():
            if table.startswith(("code_", "loop_")):
                s.execute(f'DROP TABLE "{table}" CASCADE')
        yield s
