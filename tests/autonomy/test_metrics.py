"""Metrics: exact on hand-built sessions and generated corpora, honest intervals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rsimeter.autonomy.ingest import ingest_paths
from rsimeter.autonomy.metrics import (
    ALL,
    bootstrap_ratio,
    compute,
    min_n_for_quantile,
    period_label,
    poisson_count,
    quantile_estimate,
    stretch_frame,
)
from rsimeter.autonomy.synthetic import write_corpus
from rsimeter.render import dumps
from rsimeter.store import Store
from tests.autonomy import builders as b


def test_stretches_of_a_hand_built_session(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [b.claude_session(tmp_path / "s.jsonl")])
    st = stretch_frame(store)
    assert st[["minutes", "tool_calls", "stop"]].to_dict("records") == [
        {"minutes": 2.0, "tool_calls": 2, "stop": "agent_asked"},
        {"minutes": 5.0, "tool_calls": 1, "stop": "human_interrupted"},
        {"minutes": 0.5, "tool_calls": 1, "stop": "human_rejected"},
    ]


def test_session_metrics_of_a_hand_built_session(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [b.claude_session(tmp_path / "s.jsonl")])
    row = compute(store).row(ALL, "claude_code")
    assert row is not None
    s = row.sessions
    assert (s["n"], s["human_turns"], s["tool_calls"], s["stretches"]) == (1, 3, 4, 3)
    assert s["interruption_rate"].value == pytest.approx(1 / 3)
    assert s["rejection_rate"].value == pytest.approx(1 / 4)
    assert s["auto_approve_share"].value == 1.0
    assert s["tool_calls_per_human_turn"].value == pytest.approx(4 / 3)
    assert s["stretch_minutes"]["p50"].value == 2.0
    assert {k: e.value for k, e in s["stops"].items()} == pytest.approx(
        {
            "human_interrupted": 1 / 3,
            "human_rejected": 1 / 3,
            "agent_asked": 1 / 3,
            "agent_finished": 0.0,
        }
    )
    # the agent wrote no plan: method not chosen by the agent on evidence
    assert s["agent_chose_method_share"].value == 0.0


def test_generated_corpus_metrics_equal_the_ground_truth(store: Store, tmp_path: Path) -> None:
    truth = write_corpus(tmp_path / "c", size_mb=1.5, seed=3, result_chars=300)
    ingest_paths(store, [tmp_path / "c"])
    row = compute(store).row(ALL, ALL)
    assert row is not None
    s = row.sessions
    assert s["n"] == truth.sessions
    assert s["human_turns"] == truth.human_turns == s["stretches"]
    assert s["tool_calls"] == truth.tool_calls
    assert s["interruptions"] == truth.interruptions
    assert s["rejections"] == truth.rejections
    assert s["auto_approve_share"].value == pytest.approx(truth.auto_sessions / truth.sessions)
    for reason, count in truth.stops.items():
        assert s["stops"][reason].value == pytest.approx(count / truth.human_turns), reason
        assert s["stops"][reason].n == truth.human_turns


def test_rows_cover_each_period_and_source_and_pool(store: Store, tmp_path: Path) -> None:
    write_corpus(tmp_path / "c", size_mb=0.6, seed=4, result_chars=300)
    b.codex_rollout(tmp_path / "c" / "rollout-x.jsonl")
    ingest_paths(store, [tmp_path / "c"])
    m = compute(store, "quarter")
    keys = {(r.period, r.source) for r in m.rows}
    assert ("2025Q2", "codex") in keys and (ALL, ALL) in keys and (ALL, "codex") in keys
    total = m.row(ALL, ALL)
    assert total is not None
    per_period = [r for r in m.rows if r.source == ALL and r.period != ALL]
    assert sum(r.sessions["n"] for r in per_period) == total.sessions["n"]


def test_json_shape_is_stable(store: Store, tmp_path: Path) -> None:
    import json

    ingest_paths(store, [b.claude_session(tmp_path / "s.jsonl")])
    d = json.loads(dumps(compute(store)))
    assert d["period"] == "month"
    row = d["rows"][-1]
    assert (row["period"], row["source"]) == ("all", "all")
    est = row["sessions"]["interruption_rate"]
    assert set(est) == {"value", "ci", "level", "n", "method"}
    assert set(row["sessions"]["stretch_minutes"]) == {"p50", "p90", "p99", "p99.9"}
    assert set(row["units"]["levels"]) == {"L0", "L1", "L2", "L3", "L4", "L5"}
    assert set(row["units"]["slot_ai_share"]) == {
        "goal",
        "method",
        "execution",
        "evaluation",
        "keep",
    }


def test_empty_store_gives_no_rows(store: Store) -> None:
    assert compute(store).rows == ()


def test_period_labels() -> None:
    import pandas as pd

    assert period_label(pd.Timestamp("2025-11-30 23:59"), "month") == "2025-11"
    assert period_label(pd.Timestamp("2025-11-30"), "quarter") == "2025Q4"
    assert period_label(None, "month") == "undated"
    with pytest.raises(ValueError):
        compute(None, "week")  # type: ignore[arg-type]


# -- intervals ----------------------------------------------------------------
def test_min_n_for_an_order_statistic_interval() -> None:
    assert min_n_for_quantile(0.999) == 3688
    assert min_n_for_quantile(0.99) == 368
    assert min_n_for_quantile(0.5) == 6


def test_p999_with_too_few_stretches_says_so() -> None:
    est = quantile_estimate(np.arange(100.0), 0.999)
    assert est.value == pytest.approx(98.901)
    assert math.isnan(est.high)
    assert "needs n >= 3688" in est.method


def test_quantile_interval_is_exact_order_statistics() -> None:
    est = quantile_estimate(np.arange(1.0, 101.0), 0.5)
    # binomial(100, 0.5): 2.5% and 97.5% quantiles are 40 and 60 -> x(40), x(61)
    assert (est.low, est.high) == (40.0, 61.0)


def test_quantile_interval_covers_the_true_quantile() -> None:
    rng = np.random.default_rng(7)
    true_p90 = -math.log(0.1)
    hits = 0
    reps = 400
    for _ in range(reps):
        est = quantile_estimate(rng.exponential(size=150), 0.9)
        hits += est.contains(true_p90)
    assert hits / reps >= 0.93


def test_poisson_count_interval() -> None:
    zero = poisson_count(0)
    assert (zero.value, zero.low) == (0.0, 0.0) and zero.high == pytest.approx(3.689, abs=1e-3)
    ten = poisson_count(10)
    assert ten.low == pytest.approx(4.795, abs=1e-3) and ten.high == pytest.approx(18.390, abs=1e-3)


def test_bootstrap_ratio_is_the_ratio_of_sums() -> None:
    est = bootstrap_ratio([3, 0, 9], [1, 2, 3])
    assert est.value == 2.0 and est.n == 3 and est.low <= 2.0 <= est.high
    assert math.isnan(bootstrap_ratio([], []).value)
