"""The ladder's rule table, checked exhaustively against its written definition."""

from __future__ import annotations

import itertools

import pytest

from rsimeter.autonomy.ladder import (
    ATTRIBUTIONS,
    LEVELS,
    Qualifiers,
    Slot,
    WorkUnit,
    level,
    level_of,
)


def spec_level(g: str, m: str, x: str, e: str, k: str) -> int:
    """The table in the module doc, written independently: highest rung whose
    requirement and every lower rung's requirement hold."""
    rung = 0
    if any(s in ("ai", "mixed") for s in (g, m, x, e, k)):
        rung = 1
    if x == "ai":
        rung = 2
        if m == "ai":
            rung = 3
            if g == "ai":
                rung = 4
                if e == "ai" and k == "ai":
                    rung = 5
    return rung


@pytest.mark.parametrize("combo", list(itertools.product(ATTRIBUTIONS, repeat=5)))
def test_every_slot_combination_gets_the_documented_level(combo: tuple[str, ...]) -> None:
    assert level_of(*combo) == spec_level(*combo)


def test_all_1024_combinations_cover_every_level() -> None:
    seen = {level_of(*c) for c in itertools.product(ATTRIBUTIONS, repeat=5)}
    assert seen == set(range(6))


def unit(**slots: str) -> WorkUnit:
    return WorkUnit(kind="session", id="u", source="test", **{k: Slot(v) for k, v in slots.items()})  # type: ignore[arg-type]


def test_unknown_counts_as_human_no_credit_without_evidence() -> None:
    assert level(unit()) == 0
    assert level(unit(goal="unknown", method="unknown", execution="ai")) == 2
    assert level(unit(goal="human", method="human", execution="ai")) == 2


def test_ladder_examples_from_the_rungs() -> None:
    assert level(unit(execution="mixed")) == 1  # AI-assisted
    assert level(unit(evaluation="ai")) == 1  # AI reviewer only
    assert level(unit(goal="human", method="human", execution="ai")) == 2  # fix this bug
    assert level(unit(goal="human", method="ai", execution="ai")) == 3  # investigate why
    assert level(unit(goal="ai", method="ai", execution="ai")) == 4  # what to build next
    assert level(unit(goal="ai", method="ai", execution="ai", evaluation="ai", keep="ai")) == 5


def test_mixed_never_climbs_above_l1() -> None:
    assert (
        level(
            unit(goal="mixed", method="mixed", execution="mixed", evaluation="mixed", keep="mixed")
        )
        == 1
    )
    assert level(unit(goal="ai", method="mixed", execution="ai", evaluation="ai", keep="ai")) == 2


def test_closed_loop_without_ai_goal_is_not_l5() -> None:
    assert level(unit(goal="human", method="ai", execution="ai", evaluation="ai", keep="ai")) == 3


def test_qualifiers_never_change_the_level() -> None:
    base = unit(goal="human", method="ai", execution="ai")
    for q in (
        Qualifiers("formal", True, "none", True, True, True),
        Qualifiers("self_confidence", False, "human_in_loop", False, False, False),
    ):
        assert (
            level(
                WorkUnit(
                    "session",
                    "u",
                    "t",
                    method=base.method,
                    execution=base.execution,
                    goal=base.goal,
                    qualifiers=q,
                )
            )
            == 3
        )


def test_self_confirming_needs_ai_judge_not_independent_and_ai_keep() -> None:
    def u(indep: bool | None, keep: str) -> WorkUnit:
        return WorkUnit(
            "session",
            "u",
            "t",
            evaluation=Slot("ai"),
            keep=Slot(keep),  # type: ignore[arg-type]
            qualifiers=Qualifiers("execution", indep),
        )

    assert u(False, "ai").self_confirming
    assert not u(True, "ai").self_confirming
    assert not u(None, "ai").self_confirming
    assert not u(False, "human").self_confirming


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError):
        Slot("robot")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WorkUnit("meeting", "u", "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Qualifiers("vibes")  # type: ignore[arg-type]


def test_unit_to_dict_reports_level_slots_and_qualifiers() -> None:
    d = unit(goal="human", method="ai", execution="ai").to_dict()
    assert d["level"] == LEVELS[3]
    assert d["slots"]["method"]["by"] == "ai"
    assert set(d["qualifiers"]) == {
        "evaluation_strength",
        "evaluator_independent",
        "keep_mode",
        "held_out_confirmed",
        "ai_dev",
        "own_lineage",
    }
