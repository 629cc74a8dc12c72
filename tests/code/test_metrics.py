"""Stats on the ground-truth repository (exact) and on constructed frames (exact or coverage)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from rsimeter.code.blame import blame_share
from rsimeter.code.ingest import mine
from rsimeter.code.metrics import changepoints, compute_stats, per_engineer, share_of_lines
from rsimeter.errors import RsimeterError
from rsimeter.store import Store
from tests.code.conftest import Truth
from tests.code.gitrepo import git


def _p(stats: dict, key: str) -> dict:
    return {p["period"]: p for p in stats["periods"]}[key]


def test_monthly_shares_on_truth_repo_are_exact(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    s = compute_stats(store, period="month").to_dict()
    got = {
        p["period"]: (
            p["changes"],
            p["ai_changes"],
            p["lines_added"],
            p["ai_lines_added"],
            p["ai_dev"]["changes"],
            p["ai_dev"]["ai_changes"],
            p["ai_dev"]["lines_added"],
            p["ai_dev"]["ai_lines_added"],
            p["ai_review_applied"],
        )
        for p in s["periods"]
    }
    assert got == {
        "2024-01": (4, 2, 39, 24, 3, 2, 34, 24, 0),
        "2024-02": (2, 1, 9, 6, 1, 1, 6, 6, 1),
        "2024-03": (6, 1, 13, 7, 2, 1, 8, 7, 0),
    }
    jan = _p(s, "2024-01")
    assert jan["ai_change_share"]["value"] == 0.5
    assert jan["ai_line_share"]["value"] == pytest.approx(24 / 39)
    lo, hi = jan["ai_line_share"]["ci"]
    assert lo <= 24 / 39 <= hi
    assert jan["ai_change_share"]["method"] == "Wilson"


def test_quarter_pools_the_months_and_tools_are_counted(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    s = compute_stats(store, period="quarter").to_dict()
    (q,) = s["periods"]
    assert (q["period"], q["changes"], q["ai_changes"], q["lines_added"], q["ai_lines_added"]) == (
        "2024Q1",
        12,
        4,
        61,
        37,
    )
    assert q["ai_line_share"]["value"] == pytest.approx(37 / 61)
    tools = {(t["tool"], t["class"]): t["changes"] for t in s["tools"]}
    assert tools == {
        ("claude-code", "ai_coauthored"): 1,
        ("copilot-agent", "agent_authored"): 1,
        ("cursor", "ai_coauthored"): 1,
        ("amp", "ai_coauthored"): 1,
        ("coderabbit", "ai_review_applied"): 1,
    }
    assert set(s["repos"]) == {"truth"}
    assert s["repos"]["truth"]["periods"] == s["periods"]


def test_ai_dev_only_restricts_the_headline(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    (q,) = compute_stats(store, ai_dev_only=True).to_dict()["periods"]
    assert (q["changes"], q["ai_changes"], q["lines_added"], q["ai_lines_added"]) == (6, 4, 48, 37)


def test_since_drops_earlier_changes(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    s = compute_stats(store, period="month", since=date(2024, 3, 1)).to_dict()
    assert [p["period"] for p in s["periods"]] == ["2024-03"]


def test_blame_at_tip_counts_surviving_ai_lines(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    b = blame_share(store)
    assert (b["files"], b["lines"], b["ai_lines"]) == (5, 48, 37)
    assert b["ai_line_share"]["value"] == pytest.approx(37 / 48)
    assert b["by_tool"] == {"claude-code": 20, "amp": 7, "cursor": 6, "copilot-agent": 4}
    assert b["unmined_commit_lines"] == 0


def test_blame_range_counts_only_lines_changed_in_range(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    c7 = git(truth.path, "log", "--format=%H", "--grep=Run script").strip()
    b = blame_share(store, rev_range=f"{c7}..HEAD")
    assert (b["lines"], b["ai_lines"]) == (8, 7)
    everything = blame_share(store, rev_range=f"{c7}..HEAD", all_files=True)
    assert (everything["lines"], everything["ai_lines"]) == (12, 7)  # + guide 2, util 2


def test_blame_range_rejects_option_injection(store: Store) -> None:
    with pytest.raises(RsimeterError, match=r"use A\.\.B"):
        blame_share(store, rev_range="--output=/tmp/x..HEAD")


def _frame(rows: list[tuple[str, str, int, bool]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["author", "landed_at", "lines_added", "author_is_agent"])
    df["landed_at"] = pd.to_datetime(df["landed_at"])
    df["committer"] = df["author"]
    df["committer_is_bot"] = df["author_is_agent"]
    return df


def test_output_per_engineer_ratio_is_exact() -> None:
    # 2024 (366 days covered): two engineers, 366 and 732 lines -> 1.5 lines/eng/day mean.
    # 2025Q1 (90 days): same two engineers, 270 and 540 lines, plus 90 uncredited agent
    # lines -> mean (810 + 90) / 2 / 90 = 5.0, ratio 5.0 / 1.5.
    df = _frame(
        [
            ("a", "2024-01-01", 366, False),
            ("b", "2024-12-31", 732, False),
            ("a", "2025-01-01", 270, False),
            ("b", "2025-03-31", 540, False),
            ("bot", "2025-02-01", 90, True),
        ]
    )
    pe = per_engineer(df, "quarter", "2024")
    assert pe["baseline_mean"]["value"] == pytest.approx(1.5)
    q = {r["period"]: r for r in pe["periods"]}["2025Q1"]
    assert (q["engineers"], q["days"]) == (2, 90)
    assert q["mean"]["value"] == pytest.approx(5.0)
    assert q["ratio_mean"]["value"] == pytest.approx(5.0 / 1.5)
    assert q["median"]["value"] == pytest.approx(4.5)
    assert q["ratio_median"]["value"] == pytest.approx(4.5 / 1.5)


def test_output_ratio_without_baseline_data_says_why() -> None:
    df = _frame([("a", "2025-01-10", 10, False)])
    (row,) = per_engineer(df, "quarter", "2024")["periods"]
    assert row["ratio_mean"]["value"] is None
    assert "no engineers in baseline 2024" in row["ratio_mean"]["method"]


def test_changepoint_found_at_the_step_and_none_in_flat_series() -> None:
    rng = np.random.default_rng(1)
    step = np.r_[np.full(12, 0.05), np.full(12, 0.6)] + rng.normal(0, 0.02, 24)
    assert changepoints(step) == [12]
    assert changepoints(np.full(24, 0.3) + rng.normal(0, 0.02, 24)) == []


def test_inflection_reported_with_its_size(store: Store, tmp_path) -> None:
    from tests.code.conftest import ts
    from tests.code.gitrepo import RepoBuilder, lines

    b = RepoBuilder()
    for month in range(1, 13):
        for k in range(4):
            ai = month >= 7 and k < 3  # 0% AI in H1, 75% in H2
            msg = "x\n\nCo-authored-by: C <noreply@anthropic.com>" if ai else "x"
            b.commit(
                msg, files={f"f{month}_{k}.py": lines(10)}, when=ts(f"2024-{month:02d}-{k + 1:02d}")
            )
    mine(store, [str(b.build(tmp_path / "step"))])
    s = compute_stats(store, period="month").to_dict()
    inf = [f for f in s["inflections"] if f["metric"] == "ai_line_share"]
    assert [(f["period"], f["before"], f["after"]) for f in inf] == [("2024-07", 0.0, 0.75)]
    assert inf[0]["change"]["value"] == pytest.approx(0.75)


def test_line_share_interval_covers_the_truth() -> None:
    # Commits with lognormal sizes, AI with probability 0.3: the bootstrap interval
    # over commits should cover the population share about 95% of the time.
    rng = np.random.default_rng(0)
    sizes = rng.lognormal(3, 1.2, 200_000)
    ai = rng.random(sizes.size) < 0.3
    truth = sizes[ai].sum() / sizes.sum()
    hits = 0
    for _ in range(120):
        idx = rng.integers(0, sizes.size, 300)
        est = share_of_lines(np.where(ai[idx], sizes[idx], 0.0), sizes[idx], seed=int(idx[0]))
        hits += est.contains(truth)
    assert 0.88 <= hits / 120 <= 0.99


def test_bad_options_are_clear_errors(store: Store) -> None:
    with pytest.raises(RsimeterError, match="month or quarter"):
        compute_stats(store, period="week")
    with pytest.raises(RsimeterError, match="not a period"):
        compute_stats(store, baseline="last year")


def test_empty_store_gives_empty_stats(store: Store) -> None:
    s = compute_stats(store).to_dict()
    assert (s["changes"], s["periods"], s["tools"], s["inflections"]) == (0, [], [], [])


def test_pooled_stats_count_a_commit_shared_by_two_repositories_once(tmp_path) -> None:
    from tests.code.conftest import build_truth

    a = build_truth(tmp_path / "upstream").path
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "-q", str(a), str(fork))
    with Store.open(tmp_path / "e.duckdb") as s:
        mine(s, [str(a), str(fork)])
        st = compute_stats(s).to_dict()
    assert st["changes"] == 12
    assert st["repos"]["upstream"]["changes"] == st["repos"]["fork"]["changes"] == 12


def test_blame_of_a_bad_range_is_reported_not_raised(store: Store, truth: Truth) -> None:
    mine(store, [str(truth.path)])
    b = blame_share(store, rev_range="nosuchrev..HEAD")
    assert b["lines"] == 0 and b["repos"] == {}
    assert b["problems"]["by_kind"] == {"blame": 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_history_shares_match_a_direct_count(tmp_path, seed: int) -> None:
    import random

    from tests.code.conftest import ts
    from tests.code.gitrepo import RepoBuilder, lines

    rng = random.Random(seed)
    b = RepoBuilder()
    truth: dict[str, list[int]] = {}  # month -> [changes, ai, lines, ai lines]
    day = 0
    for i in range(60):
        day += rng.randint(1, 9)
        when = ts("2024-01-01") + day * 86400
        month = pd.Timestamp(when, unit="s").strftime("%Y-%m")
        ai = rng.random() < 0.4
        n = rng.randint(0, 25)
        msg = f"c{i}\n\nCo-authored-by: Claude <noreply@anthropic.com>" if ai else f"c{i}"
        b.commit(msg, files={f"f{i}.py": lines(n)} if n else {f"f{i}.bin": b"\x00\x01"}, when=when)
        t = truth.setdefault(month, [0, 0, 0, 0])
        t[0] += 1
        t[1] += ai
        t[2] += n
        t[3] += n if ai else 0
    with Store.open(tmp_path / "e.duckdb") as s:
        mine(s, [str(b.build(tmp_path / "rand"))])
        got = {
            p["period"]: [p["changes"], p["ai_changes"], p["lines_added"], p["ai_lines_added"]]
            for p in compute_stats(s, period="month").to_dict()["periods"]
        }
    assert got == truth


def test_agent_authored_lines_are_credited_to_a_human_committer() -> None:
    df = _frame([("a", "2024-01-01", 10, False), ("agent", "2024-01-02", 20, True)])
    df.loc[1, "committer"] = "a"
    df.loc[1, "committer_is_bot"] = False
    pe = per_engineer(df, "quarter", "2024")
    (row,) = pe["periods"]
    assert (row["engineers"], row["days"]) == (1, 2)
    assert row["median"]["value"] == pytest.approx(15.0)  # (10 + 20) / 2 days, all to "a"
