"""Units of work for the ladder, from every pillar's evidence tables.

The other pillars' tables are read defensively: a table or column that is absent
is skipped, never an error, and each source has one small documented mapping from
its evidence to the five slots.

Commits (``code_commits``, attribution class per commit; merge commits skipped):

=====================  ======  ======  ======  ===============  ======  =====
class                  G       M       X       E                K       level
=====================  ======  ======  ======  ===============  ======  =====
``agent_authored``     unknown unknown ai      unknown          unknown L2
``ai_coauthored``      unknown unknown mixed   unknown          unknown L1
``ai_review_applied``  unknown unknown human   ai (judge)       unknown L1
``human``              human   human   human   unknown          unknown L0
=====================  ======  ======  ======  ===============  ======  =====

Experiments (``loop_experiments``): the target and its objective are chosen by a
person (G human); the improver chooses each change (M ai) and makes it (X ai);
the harness scores it with a hidden evaluator the improver cannot see (E ai,
strength execution, independent); the improver's acceptance rule keeps it (K ai,
keep mode none). Level L3. AI-development code: yes (a training pipeline).

Sessions (``autonomy_sessions`` and ``autonomy_events``):

- G: ai for a sub-agent session (its task came from the parent agent); human when
  a human wrote the first message; else unknown.
- M: ai when the agent wrote its own plan (a plan tool such as ``TodoWrite`` or
  ``update_plan``) outside plan mode; mixed when the plan was made in plan mode
  (the human approves it); else unknown.
- X: ai when the agent called tools; mixed when it only answered (the human
  executes); else unknown.
- E: ai (strength execution, not independent) when the agent ran a test suite
  itself; else unknown.
- K: with every action auto-approved, ai and keep mode none when no human spoke
  after the first message, mixed and keep mode human_on_loop otherwise; with
  approvals asked, human and keep mode human_in_loop; else unknown.

A session that ``rsimeter loop agent`` ran as an improver (a ``loop_candidates`` row
whose ``improver_run`` names the session) is linked to its loop candidate: G human
(the target and its objective were chosen by a person; the loop wrote the task), E ai
(the harness scored the attempt with a hidden evaluator the agent cannot see: strength
execution, independent), K ai (the loop's acceptance rule decided, keep mode none);
AI-development work; held-out confirmed as its experiment when the candidate was the
experiment's best. M and X stay what the transcript shows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from rsimeter.autonomy.ladder import Qualifiers, Slot, WorkUnit
from rsimeter.autonomy.transcripts.common import PLAN_TOOLS
from rsimeter.store import Store

COMMIT_CLASSES = ("agent_authored", "ai_coauthored", "ai_review_applied", "human")


def table_columns(store: Store, table: str) -> set[str]:
    """Column names of a table in the store (empty when the table is absent)."""
    rows = store.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ?",
        [table],
    ).fetchall()
    return {str(r[0]) for r in rows}


def _pick(columns: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _time(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _flag(value: Any) -> bool | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "t")
    return bool(value)


# -- commits -----------------------------------------------------------------
def commit_unit(
    uid: str,
    attribution: str,
    *,
    time: datetime | None = None,
    tool: str | None = None,
    ai_dev: bool | None = None,
    own_lineage: bool | None = None,
    kind: str = "commit",
) -> WorkUnit:
    """The work unit of one commit (or pull request) from its attribution class."""
    via = f" ({tool})" if tool else ""
    unknown = Slot("unknown", ("no evidence in the commit",))
    execution = unknown
    evaluation = unknown
    goal = method = unknown
    strength = "none"
    independent: bool | None = None
    if attribution == "agent_authored":
        execution = Slot("ai", (f"commit authored by an AI agent{via}",))
    elif attribution == "ai_coauthored":
        execution = Slot("mixed", (f"AI co-author trailer{via}",))
    elif attribution == "ai_review_applied":
        execution = Slot("human", ("human-authored commit",))
        evaluation = Slot("ai", (f"AI review applied{via}",))
        strength, independent = "learned_judge", True
    else:
        goal = method = execution = Slot("human", ("no AI signature on the commit",))
    return WorkUnit(
        kind="pull_request" if kind == "pull_request" else "commit",
        id=uid,
        source="code",
        time=time,
        goal=goal,
        method=method,
        execution=execution,
        evaluation=evaluation,
        keep=unknown,
        qualifiers=Qualifiers(
            evaluation_strength=strength,  # type: ignore[arg-type]
            evaluator_independent=independent,
            keep_mode=None,
            ai_dev=ai_dev,
            own_lineage=own_lineage,
        ),
    )


def commit_units(store: Store) -> list[WorkUnit]:
    """Units from ``code_commits`` (empty when the code pillar has written none).

    Merge commits (``is_merge``) are not units of work of their own: the commits
    they bring in are. ``ai_dev`` is read from a boolean column, or from a count of
    AI-development files changed (``ai_dev_files`` > 0).
    """
    cols = table_columns(store, "code_commits")
    cls = _pick(cols, "attribution", "ai_class", "class", "attribution_class")
    sha = _pick(cols, "sha", "commit", "hash", "id")
    if not cls or not sha:
        return []
    fields = {
        "repo": _pick(cols, "repo_id", "repo", "repository"),
        "t": _pick(cols, "committed_at", "authored_at", "time", "date"),
        "tool": _pick(cols, "tool", "ai_tool"),
        "ai_dev": _pick(cols, "ai_dev", "is_ai_dev", "touches_ai_dev"),
        "ai_dev_files": _pick(cols, "ai_dev_files"),
        "lineage": _pick(cols, "own_lineage"),
        "merge": _pick(cols, "is_merge"),
    }
    select = [f'"{sha}" AS sha', f'"{cls}" AS cls'] + [
        f'"{col}" AS {alias}' if col else f"NULL AS {alias}" for alias, col in fields.items()
    ]
    frame = store.frame(f"SELECT {', '.join(select)} FROM code_commits")
    units = []
    for r in frame.itertuples(index=False):
        attribution = str(r.cls)
        if attribution not in COMMIT_CLASSES or _flag(r.merge):
            continue
        uid = f"{r.repo}@{r.sha}" if _present(r.repo) else str(r.sha)
        ai_dev = _flag(r.ai_dev)
        if ai_dev is None and _present(r.ai_dev_files):
            ai_dev = float(r.ai_dev_files) > 0
        units.append(
            commit_unit(
                uid,
                attribution,
                time=_time(r.t),
                tool=str(r.tool) if _present(r.tool) else None,
                ai_dev=ai_dev,
                own_lineage=_flag(r.lineage),
            )
        )
    return units


def _present(value: Any) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value))


# -- experiments -------------------------------------------------------------
def experiment_unit(
    uid: str,
    *,
    improver: str | None = None,
    target: str | None = None,
    time: datetime | None = None,
    held_out_confirmed: bool | None = None,
    own_lineage: bool | None = None,
) -> WorkUnit:
    """The work unit of one self-improvement experiment (every slot known exactly)."""
    who = f"improver {improver}" if improver else "the improver"
    return WorkUnit(
        kind="experiment",
        id=uid,
        source="loop",
        time=time,
        goal=Slot("human", (f"target {target or '?'} and its objective chosen by a person",)),
        method=Slot("ai", (f"{who} chose each change",)),
        execution=Slot("ai", (f"{who} made each change",)),
        evaluation=Slot("ai", ("harness scored candidates with a hidden evaluator",)),
        keep=Slot("ai", (f"{who}'s acceptance rule kept the best candidate",)),
        qualifiers=Qualifiers(
            evaluation_strength="execution",
            evaluator_independent=True,
            keep_mode="none",
            held_out_confirmed=held_out_confirmed,
            ai_dev=True,
            own_lineage=own_lineage if own_lineage is not None else False,
        ),
    )


def experiment_units(store: Store) -> list[WorkUnit]:
    """Units from ``loop_experiments`` (empty when the loop pillar has written none).

    ``held_out_confirmed`` and ``own_lineage`` come from columns of those names or,
    failing that, from the same keys in the experiment's ``result`` JSON.
    """
    cols = table_columns(store, "loop_experiments")
    eid = _pick(cols, "experiment_id", "experiment", "id")
    if not eid:
        return []
    fields = {
        "improver": _pick(cols, "improver", "improver_name"),
        "target": _pick(cols, "target", "target_name"),
        "t": _pick(cols, "started_at", "created_at", "time", "finished_at"),
        "held": _pick(cols, "held_out_confirmed", "hidden_confirmed"),
        "lineage": _pick(cols, "own_lineage"),
        "result": _pick(cols, "result"),
    }
    select = [f'"{eid}" AS eid'] + [
        f'"{col}" AS {alias}' if col else f"NULL AS {alias}" for alias, col in fields.items()
    ]
    frame = store.frame(f"SELECT {', '.join(select)} FROM loop_experiments")
    units = []
    for r in frame.itertuples(index=False):
        summary = _json_object(r.result)
        held = _flag(r.held)
        lineage = _flag(r.lineage)
        units.append(
            experiment_unit(
                str(r.eid),
                improver=str(r.improver) if _present(r.improver) else None,
                target=str(r.target) if _present(r.target) else None,
                time=_time(r.t),
                held_out_confirmed=held
                if held is not None
                else _flag(summary.get("held_out_confirmed")),
                own_lineage=lineage if lineage is not None else _flag(summary.get("own_lineage")),
            )
        )
    return units


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip().startswith("{"):
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# -- sessions ----------------------------------------------------------------
_SESSION_FACTS = f"""
SELECT s.session, s.source, s.started_at, s.sidechain, s.auto_approve, s.permission_modes,
       count(*) FILTER (WHERE e.kind = 'human_message' AND e.actor = 'human') AS human_turns,
       count(*) FILTER (WHERE e.kind = 'tool_call') AS tool_calls,
       count(*) FILTER (WHERE e.kind = 'assistant_message') AS replies,
       count(*) FILTER (WHERE e.kind = 'tool_call'
                        AND e.tool IN ({", ".join(f"'{t}'" for t in sorted(PLAN_TOOLS))})) AS plans,
       bool_or(coalesce(e.runs_tests, false)) AS ran_tests,
       count(*) FILTER (WHERE e.kind = 'human_message' AND e.mode = 'plan') AS plan_mode_turns
FROM autonomy_sessions s LEFT JOIN autonomy_events e USING (session)
GROUP BY ALL
"""


def session_unit(facts: dict[str, Any]) -> WorkUnit:
    """The work unit of one agent session from its aggregated facts (see module doc)."""
    human_turns = int(facts.get("human_turns") or 0)
    tool_calls = int(facts.get("tool_calls") or 0)
    replies = int(facts.get("replies") or 0)
    auto = _flag(facts.get("auto_approve"))
    if _flag(facts.get("sidechain")):
        goal = Slot("ai", ("sub-agent session: task given by the parent agent",))
    elif human_turns:
        goal = Slot("human", ("goal given in a human message",))
    else:
        goal = Slot("unknown", ("no human message",))
    if int(facts.get("plans") or 0) and int(facts.get("plan_mode_turns") or 0):
        method = Slot("mixed", ("plan written in plan mode, approved by the human",))
    elif int(facts.get("plans") or 0):
        method = Slot("ai", (f"agent wrote its own plan ({facts['plans']} plan tool calls)",))
    else:
        method = Slot("unknown", ("no plan recorded",))
    if tool_calls:
        execution = Slot("ai", (f"{tool_calls} tool calls by the agent",))
    elif replies:
        execution = Slot("mixed", ("agent answered only; the human executes",))
    else:
        execution = Slot("unknown", ("no agent action",))
    if _flag(facts.get("ran_tests")):
        evaluation = Slot("ai", ("agent ran the test suite itself",))
        strength, independent = "execution", False
    else:
        evaluation = Slot("unknown", ("no evaluation recorded",))
        strength, independent = "none", None
    keep_mode: str | None
    if auto is True and human_turns <= 1:
        keep = Slot("ai", ("every action auto-approved; no human turn after the first",))
        keep_mode = "none"
    elif auto is True:
        keep = Slot("mixed", (f"every action auto-approved; {human_turns} human turns",))
        keep_mode = "human_on_loop"
    elif auto is False:
        keep = Slot("human", ("actions needed the human's approval",))
        keep_mode = "human_in_loop"
    else:
        keep = Slot("unknown", ("approval mode not recorded",))
        keep_mode = None
    return WorkUnit(
        kind="session",
        id=str(facts["session"]),
        source=str(facts.get("source") or "session"),
        time=_time(facts.get("started_at")),
        goal=goal,
        method=method,
        execution=execution,
        evaluation=evaluation,
        keep=keep,
        qualifiers=Qualifiers(
            evaluation_strength=strength,  # type: ignore[arg-type]
            evaluator_independent=independent,
            keep_mode=keep_mode,  # type: ignore[arg-type]
        ),
    )


def session_units(store: Store) -> list[WorkUnit]:
    """Units from the ingested agent sessions (linked to their loop candidate, if any)."""
    frame = store.frame(_SESSION_FACTS)
    links = loop_links(store)
    units = [session_unit(r) for r in frame.to_dict("records")]
    return [loop_session(u, links[u.id]) if u.id in links else u for u in units]


def loop_links(store: Store) -> dict[str, dict[str, Any]]:
    """Session key → the loop candidate a ``loop agent`` cycle ran it for: ``candidate``,
    ``experiment``, ``status``, ``best`` (it was the experiment's best) and
    ``held_out_confirmed`` (the experiment's). Empty without the loop tables."""
    if "improver_run" not in table_columns(store, "loop_candidates"):
        return {}
    has_result = "result" in table_columns(store, "loop_experiments")
    result = "e.result" if has_result else "NULL"
    join = "LEFT JOIN loop_experiments e USING (experiment_id)" if has_result else ""
    rows = store.execute(
        "SELECT json_extract_string(c.improver_run, '$.session') AS session, c.candidate_id, "
        f"c.experiment_id, c.status, {result} FROM loop_candidates c {join} "
        "WHERE c.improver_run IS NOT NULL AND json_valid(c.improver_run) "
        "AND json_extract_string(c.improver_run, '$.session') IS NOT NULL "
        "ORDER BY c.experiment_id, c.cycle"
    ).fetchall()
    links: dict[str, dict[str, Any]] = {}
    for session, cand, exp, status, summary in rows:
        facts = _json_object(summary)
        best = facts.get("best_candidate") == cand
        links[str(session)] = {
            "candidate": str(cand),
            "experiment": str(exp),
            "status": str(status),
            "best": best,
            "held_out_confirmed": _flag(facts.get("held_out_confirmed")) if best else None,
        }
    return links


def loop_session(unit: WorkUnit, link: dict[str, Any]) -> WorkUnit:
    """A session unit seen through its loop candidate (see the module doc)."""
    where = f"loop candidate {link['candidate']} of {link['experiment']} ({link['status']})"
    kept = "kept as the experiment's best" if link["best"] else "not kept"
    return replace(
        unit,
        goal=Slot("human", (f"{where}: target and objective chosen by a person",)),
        evaluation=Slot("ai", (f"{where}: scored by the harness's hidden evaluator",)),
        keep=Slot("ai", (f"{where}: the loop's acceptance rule decided ({kept})",)),
        qualifiers=replace(
            unit.qualifiers,
            evaluation_strength="execution",
            evaluator_independent=True,
            keep_mode="none",
            held_out_confirmed=link["held_out_confirmed"],
            ai_dev=True,
        ),
    )


def all_units(store: Store) -> list[WorkUnit]:
    """Every unit the store has evidence for: commits, experiments, sessions."""
    return commit_units(store) + experiment_units(store) + session_units(store)
