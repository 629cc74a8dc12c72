"""Units of work from every pillar's tables (read defensively) and from sessions."""

from __future__ import annotations

from pathlib import Path

from rsimeter.autonomy.ingest import ingest_paths
from rsimeter.autonomy.metrics import ALL, compute
from rsimeter.autonomy.units import (
    all_units,
    commit_units,
    experiment_units,
    session_unit,
    session_units,
    table_columns,
)
from rsimeter.store import Store
from tests.autonomy import builders as b


def make_commits(store: Store) -> None:
    store.execute(
        "CREATE TABLE IF NOT EXISTS code_commits (repo VARCHAR, sha VARCHAR, "
        "committed_at TIMESTAMP, attribution VARCHAR, tool VARCHAR, ai_dev BOOLEAN)"
    )
    store.execute(
        "INSERT INTO code_commits VALUES "
        "('r', 'a1', '2025-01-05', 'agent_authored', 'claude-code', true),"
        "('r', 'a2', '2025-01-06', 'ai_coauthored', 'claude-code', false),"
        "('r', 'a3', '2025-02-01', 'ai_review_applied', 'coderabbit', NULL),"
        "('r', 'a4', '2025-02-02', 'human', NULL, false),"
        "('r', 'a5', '2025-02-03', 'something-new', NULL, false)"
    )


def make_experiments(store: Store) -> None:
    store.execute(
        "CREATE TABLE IF NOT EXISTS loop_experiments (experiment_id VARCHAR, target VARCHAR, "
        "improver VARCHAR, started_at TIMESTAMP, held_out_confirmed BOOLEAN)"
    )
    store.execute(
        "INSERT INTO loop_experiments VALUES ('e1', 'digits', 'tpe', '2025-03-01', true),"
        "('e2', 'charlm', 'llm', '2025-03-02', NULL)"
    )


def test_absent_tables_give_no_units(store: Store) -> None:
    assert table_columns(store, "code_commits") == set()
    assert commit_units(store) == [] and experiment_units(store) == []
    assert all_units(store) == []


def test_commit_classes_map_to_the_documented_levels(store: Store) -> None:
    make_commits(store)
    units = {u.id: u for u in commit_units(store)}
    assert set(units) == {"r@a1", "r@a2", "r@a3", "r@a4"}  # unknown class skipped
    assert {k: u.level for k, u in units.items()} == {"r@a1": 2, "r@a2": 1, "r@a3": 1, "r@a4": 0}
    assert units["r@a1"].qualifiers.ai_dev is True
    assert units["r@a3"].qualifiers.evaluation_strength == "learned_judge"
    assert units["r@a3"].qualifiers.evaluator_independent is True
    assert "claude-code" in units["r@a1"].execution.evidence[0]
    assert units["r@a1"].time is not None and units["r@a1"].time.month == 1


def test_commit_table_with_other_column_names_is_still_read(store: Store) -> None:
    store.execute("CREATE TABLE code_commits (hash VARCHAR, ai_class VARCHAR, time VARCHAR)")
    store.execute("INSERT INTO code_commits VALUES ('x', 'agent_authored', 'not a date')")
    [u] = commit_units(store)
    assert (u.id, u.level, u.time) == ("x", 2, None)


def test_commit_table_without_attribution_is_skipped(store: Store) -> None:
    store.execute("CREATE TABLE code_commits (sha VARCHAR)")
    assert commit_units(store) == []


def test_experiments_know_every_slot(store: Store) -> None:
    make_experiments(store)
    units = {u.id: u for u in experiment_units(store)}
    e1 = units["e1"]
    assert {n: s.by for n, s in e1.slots().items()} == {
        "goal": "human",
        "method": "ai",
        "execution": "ai",
        "evaluation": "ai",
        "keep": "ai",
    }
    assert e1.level == 3
    q = e1.qualifiers
    assert (q.evaluation_strength, q.evaluator_independent, q.keep_mode) == (
        "execution",
        True,
        "none",
    )
    assert (q.held_out_confirmed, q.ai_dev, q.own_lineage) == (True, True, False)
    assert units["e2"].qualifiers.held_out_confirmed is None
    assert not e1.self_confirming  # independent evaluator


def test_session_slot_rules() -> None:
    base = {
        "session": "s",
        "source": "claude_code",
        "started_at": None,
        "human_turns": 1,
        "tool_calls": 4,
        "replies": 2,
        "plans": 0,
        "ran_tests": False,
        "plan_mode_turns": 0,
        "auto_approve": None,
        "sidechain": False,
    }
    u = session_unit(base)
    assert (u.goal.by, u.method.by, u.execution.by, u.evaluation.by, u.keep.by) == (
        "human",
        "unknown",
        "ai",
        "unknown",
        "unknown",
    )
    assert u.level == 2
    planned = session_unit({**base, "plans": 2})
    assert planned.method.by == "ai" and planned.level == 3
    assert session_unit({**base, "plans": 1, "plan_mode_turns": 1}).method.by == "mixed"
    chat = session_unit({**base, "tool_calls": 0})
    assert chat.execution.by == "mixed" and chat.level == 1
    yolo = session_unit(
        {**base, "plans": 1, "ran_tests": True, "auto_approve": True, "sidechain": True}
    )
    assert yolo.level == 5 and yolo.self_confirming
    assert yolo.qualifiers.keep_mode == "none"
    on_loop = session_unit({**base, "auto_approve": True, "human_turns": 3})
    assert (on_loop.keep.by, on_loop.qualifiers.keep_mode) == ("mixed", "human_on_loop")
    manual = session_unit({**base, "auto_approve": False})
    assert (manual.keep.by, manual.qualifiers.keep_mode) == ("human", "human_in_loop")


def test_session_units_from_ingested_transcripts(store: Store, tmp_path: Path) -> None:
    path = b.jsonl(
        tmp_path / "agent.jsonl",
        [
            b.user("2025-03-01T10:00:00Z", "sub task", isSidechain=True, sid="sub"),
            b.assistant(
                "2025-03-01T10:00:01Z",
                "m1",
                [b.tool_use("t1", "TodoWrite", todos=[])],
                isSidechain=True,
                sid="sub",
            ),
            b.assistant(
                "2025-03-01T10:00:02Z",
                "m2",
                [b.tool_use("t2", "Bash", command="pytest")],
                isSidechain=True,
                sid="sub",
            ),
        ],
    )
    ingest_paths(store, [path, b.claude_session(tmp_path / "s.jsonl")])
    units = {u.id: u for u in session_units(store)}
    sub = units["claude_code:sub"]
    assert (sub.goal.by, sub.method.by, sub.execution.by, sub.evaluation.by) == (
        "ai",
        "ai",
        "ai",
        "ai",
    )
    assert sub.level == 4  # keep unknown: no approval mode was logged
    main = units["claude_code:s-1"]
    assert main.level == 2 and main.evaluation.by == "ai" and main.keep.by == "mixed"


def test_unit_metrics_pool_every_source(store: Store, tmp_path: Path) -> None:
    make_commits(store)
    make_experiments(store)
    ingest_paths(store, [b.claude_session(tmp_path / "s.jsonl")])
    m = compute(store)
    total = m.row(ALL, ALL)
    assert total is not None
    u = total.units
    assert u["n"] == 4 + 2 + 1
    assert {k: v["count"] for k, v in u["levels"].items()} == {
        "L0": 1,
        "L1": 2,
        "L2": 2,
        "L3": 2,
        "L4": 0,
        "L5": 0,
    }
    assert u["frontier_share"].value == 0.0 and u["frontier_share"].n == 7
    assert u["slot_ai_share"]["keep"].value == 2 / 7
    assert u["l4_ai_dev"] == 0 and u["l5_own_lineage"] == 0
    loop = m.row(ALL, "loop")
    assert loop is not None and loop.units["n"] == 2 and loop.sessions == {"n": 0}


def test_code_pillar_schema_is_read(store: Store) -> None:
    store.execute(
        "CREATE TABLE code_commits (repo_id VARCHAR, sha VARCHAR, authored_at TIMESTAMP, "
        "committed_at TIMESTAMP, is_merge BOOLEAN, attribution VARCHAR, tool VARCHAR, "
        "ai_dev_files INTEGER)"
    )
    store.execute(
        "INSERT INTO code_commits VALUES "
        "('rid', 's1', '2025-01-01', '2025-01-02', false, 'agent_authored', 'codex', 2),"
        "('rid', 's2', '2025-01-01', '2025-01-02', false, 'human', NULL, 0),"
        "('rid', 's3', '2025-01-01', '2025-01-02', true, 'human', NULL, 0)"
    )
    units = {u.id: u for u in commit_units(store)}
    assert set(units) == {"rid@s1", "rid@s2"}  # the merge commit is not a unit
    assert units["rid@s1"].qualifiers.ai_dev is True
    assert units["rid@s2"].qualifiers.ai_dev is False


def test_loop_pillar_schema_is_read_with_its_result_json(store: Store) -> None:
    store.execute(
        "CREATE TABLE loop_experiments (experiment_id VARCHAR, target VARCHAR, improver VARCHAR,"
        " started_at TIMESTAMP, finished_at TIMESTAMP, result VARCHAR)"
    )
    store.execute(
        "INSERT INTO loop_experiments VALUES "
        "('x1', 'digits', 'random', '2025-06-01', NULL, '{\"held_out_confirmed\": true}'),"
        "('x2', 'charlm', 'tpe', '2025-06-02', NULL, 'not json'),"
        "('x3', 'charlm', 'tpe', '2025-06-03', NULL, NULL)"
    )
    units = {u.id: u for u in experiment_units(store)}
    assert units["x1"].qualifiers.held_out_confirmed is True
    assert units["x2"].qualifiers.held_out_confirmed is None
    assert units["x3"].level == 3 and units["x3"].time is not None
