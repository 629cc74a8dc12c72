"""The autonomy ladder: five decision slots of a unit of work, and the level they make.

A unit of work (a commit or pull request, an experiment, an agent session) has five
decision slots, each attributed to ``human``, ``ai``, ``mixed`` or ``unknown`` from
observable evidence:

- G goal: who chose the problem
- M method: who chose the approach
- X execution: who produced the artefact
- E evaluation: who judged it
- K keep: who decided to adopt it

``level(unit)`` maps the slots to L0..L5 with a cumulative rule: a unit stands on
the highest rung whose requirement and every lower rung's requirement hold.

====  ===========================================  ====================================
rung  meaning                                      requirement (unknown counts as human)
====  ===========================================  ====================================
L0    human-built                                  none of the five slots is ai or mixed
L1    AI-assisted                                  some slot is ai or mixed
L2    AI executes a specified task                 X = ai
L3    AI sets the approach for a given goal        L2 and M = ai
L4    AI chooses which problems are worth doing    L3 and G = ai
L5    closed loop: AI also evaluates and adopts    L4 and E = ai and K = ai
====  ===========================================  ====================================

Only ``ai`` climbs a rung; ``mixed`` earns L1 at most and ``unknown`` earns nothing
(no autonomy credit without evidence). The qualifiers (evaluation strength, evaluator
independence, keep mode, held-out confirmation, AI-development code, own lineage) are
kept beside the level and never change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

Attribution = Literal["human", "ai", "mixed", "unknown"]
UnitKind = Literal["commit", "pull_request", "experiment", "session"]
EvalStrength = Literal[
    "formal", "execution", "learned_judge", "self_confidence", "human_review", "none"
]
KeepMode = Literal["human_in_loop", "human_on_loop", "none"]

ATTRIBUTIONS: tuple[str, ...] = get_args(Attribution)
UNIT_KINDS: tuple[str, ...] = get_args(UnitKind)
EVAL_STRENGTHS: tuple[str, ...] = get_args(EvalStrength)
KEEP_MODES: tuple[str, ...] = get_args(KeepMode)
SLOTS: tuple[str, ...] = ("goal", "method", "execution", "evaluation", "keep")
LEVELS: tuple[str, ...] = ("L0", "L1", "L2", "L3", "L4", "L5")
FRONTIER = 4  # L4 and above: the AI chooses which problems are worth working on


@dataclass(frozen=True, slots=True)
class Slot:
    """Who made one decision, and the evidence that says so."""

    by: Attribution = "unknown"
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.by not in ATTRIBUTIONS:
            raise ValueError(f"slot attribution must be one of {ATTRIBUTIONS}, not {self.by!r}")

    @property
    def is_ai(self) -> bool:
        """The AI made this decision."""
        return self.by == "ai"

    @property
    def touched_by_ai(self) -> bool:
        """The AI made or shared this decision."""
        return self.by in ("ai", "mixed")


@dataclass(frozen=True, slots=True)
class Qualifiers:
    """What is reported beside the level and never folded into it (None = not known)."""

    evaluation_strength: EvalStrength = "none"
    evaluator_independent: bool | None = None
    keep_mode: KeepMode | None = None
    held_out_confirmed: bool | None = None
    ai_dev: bool | None = None
    own_lineage: bool | None = None

    def __post_init__(self) -> None:
        if self.evaluation_strength not in EVAL_STRENGTHS:
            raise ValueError(f"evaluation strength must be one of {EVAL_STRENGTHS}")
        if self.keep_mode is not None and self.keep_mode not in KEEP_MODES:
            raise ValueError(f"keep mode must be one of {KEEP_MODES}")


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One unit of work with its five decision slots and its qualifiers."""

    kind: UnitKind
    id: str
    source: str
    time: datetime | None = None
    goal: Slot = field(default_factory=Slot)
    method: Slot = field(default_factory=Slot)
    execution: Slot = field(default_factory=Slot)
    evaluation: Slot = field(default_factory=Slot)
    keep: Slot = field(default_factory=Slot)
    qualifiers: Qualifiers = field(default_factory=Qualifiers)

    def __post_init__(self) -> None:
        if self.kind not in UNIT_KINDS:
            raise ValueError(f"unit kind must be one of {UNIT_KINDS}, not {self.kind!r}")

    def slots(self) -> dict[str, Slot]:
        """The five slots by name, in ladder order."""
        return {name: getattr(self, name) for name in SLOTS}

    @property
    def level(self) -> int:
        """The ladder rung (0..5); see ``level``."""
        return level(self)

    @property
    def self_confirming(self) -> bool:
        """The AI judged its own work with an evaluator not independent of it, and kept it."""
        return (
            self.evaluation.is_ai
            and self.keep.is_ai
            and self.qualifiers.evaluator_independent is False
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of a unit: level, slots with evidence, qualifiers."""
        q = self.qualifiers
        return {
            "kind": self.kind,
            "id": self.id,
            "source": self.source,
            "time": self.time.isoformat() if self.time else None,
            "level": LEVELS[self.level],
            "slots": {
                name: {"by": s.by, "evidence": list(s.evidence)} for name, s in self.slots().items()
            },
            "qualifiers": {
                "evaluation_strength": q.evaluation_strength,
                "evaluator_independent": q.evaluator_independent,
                "keep_mode": q.keep_mode,
                "held_out_confirmed": q.held_out_confirmed,
                "ai_dev": q.ai_dev,
                "own_lineage": q.own_lineage,
            },
        }


def level_of(goal: str, method: str, execution: str, evaluation: str, keep: str) -> int:
    """The ladder rung (0..5) of five slot attributions; the rule table is in the module doc."""
    if execution != "ai":
        touched = any(s in ("ai", "mixed") for s in (goal, method, execution, evaluation, keep))
        return 1 if touched else 0
    if method != "ai":
        return 2
    if goal != "ai":
        return 3
    if evaluation == "ai" and keep == "ai":
        return 5
    return 4


def level(unit: WorkUnit) -> int:
    """The ladder rung (0..5) of a unit of work."""
    return level_of(
        unit.goal.by, unit.method.by, unit.execution.by, unit.evaluation.by, unit.keep.by
    )
