"""Loading series for the compounding models: bad rows, bad files, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsimeter.assess.indicators import growth_parameters, indicators, set_growth_parameters
from rsimeter.assess.series import load_series
from rsimeter.errors import InputError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_is_kept(store, tmp_path):
    f = write(
        tmp_path / "eff.csv",
        "time,efficiency,research_input\n0,1,1\n1,x,2\n2,4,4\n3,8,inf\n4,16,16\n",
    )
    res = load_series(store, f, "effort")
    assert res.rows == 3
    lines = sorted(p.line for p in res.problems.items)
    assert lines == [3, 5]
    assert all(p.path == str(f) for p in res.problems.items)
    assert store.count_rows("assess_effort") == 3


def test_missing_columns_are_one_clear_error_naming_the_file(store, tmp_path):
    f = write(tmp_path / "arms.csv", "arm,capability\ntreatment,1\n")
    with pytest.raises(InputError) as info:
        load_series(store, f, "arms")
    assert str(f) in str(info.value) and "rate" in str(info.value)


def test_unknown_kind_and_binary_file_are_clear_errors(store, tmp_path):
    f = write(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(InputError, match="unknown series kind"):
        load_series(store, f, "vibes")
    b = tmp_path / "bin.csv"
    b.write_bytes(b"\xff\xfe\x00gain\n")
    with pytest.raises(InputError, match="UTF-8"):
        load_series(store, b, "cycles")


def test_bad_arm_name_is_skipped_not_fatal(store, tmp_path):
    f = write(
        tmp_path / "arms.csv", "arm,capability,rate\ntreatment,0,1\nplacebo,1,1\ncontrol,0,1\n"
    )
    res = load_series(store, f, "arms")
    assert res.rows == 2 and res.problems.items[0].line == 3


def test_loading_again_replaces_the_series_instead_of_duplicating(store, tmp_path):
    f = write(tmp_path / "rel.csv", "gain,duration\n1,10\n2,8\n4,6.4\n")
    load_series(store, f, "cycles")
    load_series(store, f, "cycles")
    assert store.count_rows("assess_cycles") == 3
    write(f, "gain,duration\n1,10\n2,8\n")
    load_series(store, f, "cycles")
    assert store.count_rows("assess_cycles") == 2


def test_cycles_from_time_and_level_become_gains_and_durations(store, tmp_path):
    f = write(tmp_path / "lv.csv", "time,level\n10,3\n0,0\n20,9\n30,21\n")
    load_series(store, f, "cycles", "horizon")
    frame = store.frame("SELECT gain, duration FROM assess_cycles ORDER BY cycle")
    assert frame["gain"].tolist() == [3, 6, 12]
    assert frame["duration"].tolist() == [10, 10, 10]
    (rho,) = [i for i in indicators(store) if i.key == "assess.gain_ratio"]
    assert rho.estimate.value == pytest.approx(2.0)
    assert rho.evidence["series"] == "horizon"


def test_each_kind_yields_its_indicator_with_provenance(store, tmp_path):
    set_growth_parameters(store, 0.2, 0.5)
    rows = "".join(f"{t},{2 ** (2 * t)},{2**t}\n" for t in range(6))
    effort = write(tmp_path / "e.csv", "time,efficiency,research_input\n" + rows)
    load_series(store, effort, "effort")
    arms = "arm,capability,rate\n" + "".join(
        f"treatment,{c},{2.718281828 ** (0.1 * c)}\ncontrol,{c},{2.718281828 ** (-0.5 * c)}\n"
        for c in range(6)
    )
    load_series(store, write(tmp_path / "a.csv", arms), "arms")
    load_series(
        store, write(tmp_path / "t.csv", "task,share,speedup\nc,1,4\nc,1,4\nm,1,1\n"), "tasks"
    )
    found = {i.key: i for i in indicators(store)}
    assert found["assess.jones_r"].estimate.value == pytest.approx(2.0)
    assert found["assess.burtsev_r"].estimate.value == pytest.approx(1.2, rel=1e-6)
    assert found["assess.burtsev_growth_rate"].estimate.value == pytest.approx(0.03575, abs=1e-5)
    assert found["assess.progress_multiplier"].estimate.value == pytest.approx(1.6)
    assert found["assess.progress_multiplier"].evidence["amdahl_bound"] == pytest.approx(2.0)
    assert found["assess.jones_r"].provenance == "assess_effort where series = 'e'"


def test_growth_parameters_live_in_the_store_and_bad_ones_are_ignored(store):
    assert growth_parameters(store) == {}
    set_growth_parameters(store, 0.3, 1.0)
    set_growth_parameters(store, None, 2.0)  # incomplete: the stored pair is kept
    assert growth_parameters(store) == {"alpha": 0.3, "tau": 1.0}
    store.set_meta("assess.growth_parameters", "{not json")
    assert growth_parameters(store) == {}


def test_second_series_of_a_kind_gets_its_name_in_the_key(store, tmp_path):
    body = "gain\n1\n2\n4\n"
    load_series(store, write(tmp_path / "a.csv", body), "cycles")
    load_series(store, write(tmp_path / "b.csv", body), "cycles")
    keys = sorted(i.key for i in indicators(store))
    assert keys == ["assess.gain_ratio", "assess.gain_ratio.b"]


def test_a_byte_order_mark_does_not_hide_the_first_column(store, tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffgain,duration\n1,10\n2,8\n".encode())
    assert load_series(store, f, "cycles").rows == 2


def test_an_empty_file_is_one_clear_error(store, tmp_path):
    with pytest.raises(InputError, match="no rows"):
        load_series(store, write(tmp_path / "empty.csv", ""), "tasks")
