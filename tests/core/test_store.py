from pathlib import Path

import pandas as pd
import pytest

from rsimeter.errors import RsimeterError
from rsimeter.store import COMPONENTS, Store, component_migrations


def test_new_store_is_migrated_to_every_component_version(tmp_path: Path):
    with Store.open(tmp_path / "e.duckdb") as s:
        assert s.schema_version("core") == 1
        for c in COMPONENTS:
            assert s.schema_version(c) == len(component_migrations(c))
        assert "meta" in s.tables()


def test_reopening_applies_nothing_twice(tmp_path: Path):
    path = tmp_path / "e.duckdb"
    with Store.open(path) as s:
        s.set_meta("k", "v")
    with Store.open(path) as s:
        assert s.get_meta("k") == "v"


def test_a_failed_transaction_leaves_nothing(store: Store):
    store.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ZeroDivisionError), store.transaction():
        store.execute("INSERT INTO t VALUES (1)")
        _ = 1 / 0
    assert store.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_pseudonyms_are_stable_per_store_and_differ_across_stores(tmp_path: Path):
    with Store.open(tmp_path / "a.duckdb") as a:
        p1 = a.pseudonym("Ada@Example.org ", "author")
        assert p1 == a.pseudonym("ada@example.org", "author")
        assert p1.startswith("author-") and "ada" not in p1
    with Store.open(tmp_path / "a.duckdb") as a:
        assert a.pseudonym("ada@example.org", "author") == p1
    with Store.open(tmp_path / "b.duckdb") as b:
        assert b.pseudonym("ada@example.org", "author") != p1


def test_insert_frame_and_export_to_parquet_leaves_the_salt_behind(store: Store, tmp_path: Path):
    store.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR)")
    with store.transaction():
        store.insert_frame("things", pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}))
    store.insert_frame("things", pd.DataFrame({"id": [2], "name": ["B"]}), replace=True)
    _ = store.salt
    files = store.export_parquet(tmp_path / "out")
    names = {f.stem for f in files}
    assert "things" in names and "meta" not in names
    back = pd.read_parquet(tmp_path / "out" / "things.parquet").sort_values("id")
    assert back["name"].tolist() == ["a", "B"]


def test_read_only_open_of_a_missing_store_says_where(tmp_path: Path):
    with pytest.raises(RsimeterError, match="no evidence store"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)


def test_a_store_newer_than_the_code_is_refused(tmp_path: Path):
    path = tmp_path / "e.duckdb"
    with Store.open(path) as s:
        s.execute("UPDATE schema_version SET version = 99 WHERE component = 'core'")
    with pytest.raises(RsimeterError, match="upgrade rsimeter"):
        Store.open(path)
