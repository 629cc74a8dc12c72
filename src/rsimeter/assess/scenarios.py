"""Which of three scenarios the evidence fits best, and the signature behind it.

1. ``stall`` — the trend stalls while today's capabilities diffuse: the capability
   trend slows (doubling time growing), loops are damped, yet AI's share of the
   work keeps spreading without AI running the work itself.
2. ``bounded`` — compounding efficiency gains bounded by bottlenecks: the trend
   holds or speeds up, loop gains are real but their ratio is not established
   above 1, and the parts of the work AI does not speed up cap the progress
   multiplier (Amdahl).
3. ``full_rsi`` — full recursive self-improvement: the trend accelerates, the
   verdict is self-amplifying, compounding measures are established above 1, and
   AI runs closed loops on its own lineage.

Each observed signal supports one or more scenarios with a weight; the score of
a scenario is its supporting weight over the weight of all observed signals. The
best score wins; ties go to the more conservative scenario (stall, then bounded).
Signals that could not be observed are listed as such and count for none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rsimeter.assess.verdict import DAMPED, SELF_AMPLIFYING, Verdict
from rsimeter.indicators import Indicator

SCENARIOS: dict[str, tuple[str, str]] = {
    "stall": (
        "Stall and diffusion",
        "the capability trend stalls while today's capabilities diffuse",
    ),
    "bounded": (
        "Bounded compounding",
        "compounding efficiency gains, bounded by bottlenecks",
    ),
    "full_rsi": (
        "Full recursive self-improvement",
        "AI improves AI with gains that compound",
    ),
}
ORDER = ("stall", "bounded", "full_rsi")


@dataclass(frozen=True)
class Signal:
    """One observed feature of the evidence and the scenarios it supports."""

    name: str
    observed: str  # what was seen, in words; "not observed" when missing
    supports: tuple[str, ...]
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.name,
            "observed": self.observed,
            "supports": list(self.supports),
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Scenario:
    """The best-fitting scenario with every scenario's score and the signature."""

    key: str | None
    title: str
    description: str
    scores: dict[str, float]
    signature: list[Signal] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "scores": self.scores,
            "signature": [s.to_dict() for s in self.signature],
        }


def _get(indicators: list[Indicator], key: str) -> Indicator | None:
    return next((i for i in indicators if i.key == key and math.isfinite(i.estimate.value)), None)


def signals(indicators: list[Indicator], verdict: Verdict) -> list[Signal]:
    """The signals read from the indicators and the verdict."""
    out: list[Signal] = []
    trend = _get(indicators, "horizon.doubling_time_ratio")
    if trend is None:
        out.append(Signal("capability trend", "not observed", ()))
    else:
        e = trend.estimate
        if e.high < 1:
            out.append(Signal("capability trend", f"accelerating: doubling-time ratio {e}",
                              ("full_rsi", "bounded"), 1.0))  # fmt: skip
        elif e.low > 1:
            out.append(
                Signal("capability trend", f"slowing: doubling-time ratio {e}", ("stall",), 2.0)
            )
        else:
            out.append(Signal("capability trend", f"steady: doubling-time ratio {e}", ("bounded",)))
    if not verdict.measures:
        out.append(Signal("compounding", "not observed", ()))
    elif verdict.verdict == SELF_AMPLIFYING:
        out.append(Signal("compounding", "self-amplifying verdict", ("full_rsi",), 2.0))
    elif verdict.verdict == DAMPED:
        out.append(Signal("compounding", "damped: an upper bound below 1", ("stall",), 1.0))
    elif any(m.low > 1 for m in verdict.measures):
        out.append(Signal("compounding", "a lower bound above 1, verdict conditions unmet",
                          ("bounded", "full_rsi"), 1.0))  # fmt: skip
    else:
        out.append(Signal("compounding", "ratios around 1, intervals straddle it", ("bounded",)))
    shares = [i for k in ("code.ai_dev_line_share", "code.ai_line_share", "code.ai_change_share")
              if (i := _get(indicators, k))]  # fmt: skip
    frontier = _get(indicators, "autonomy.frontier_share")
    if shares:
        s = max(shares, key=lambda i: i.estimate.value)
        running = frontier is not None and frontier.estimate.low > 0.5
        if s.estimate.value >= 0.5 and not running:
            out.append(Signal("diffusion", f"{s.key} {s.estimate} without AI running the work",
                              ("stall", "bounded"), 1.0))  # fmt: skip
        elif s.estimate.value >= 0.5:
            out.append(Signal("diffusion", f"{s.key} {s.estimate} and L4+ majority", ("full_rsi",)))
        else:
            out.append(
                Signal("diffusion", f"{s.key} {s.estimate}: a minority of the work", ("stall",))
            )
    else:
        out.append(Signal("diffusion", "not observed", ()))
    l5 = _get(indicators, "autonomy.l5_own_lineage_units")
    if l5 is None:
        out.append(Signal("closed loop on own lineage", "not observed", ()))
    elif l5.estimate.value >= 1:
        out.append(
            Signal("closed loop on own lineage", f"{l5.estimate.value:g} units", ("full_rsi",), 1.0)
        )
    else:
        out.append(Signal("closed loop on own lineage", "none seen", ("stall", "bounded"), 0.5))
    amdahl = _get(indicators, "assess.progress_multiplier")
    if amdahl is None:
        out.append(Signal("bottleneck", "not observed", ()))
    else:
        bound = amdahl.evidence.get("amdahl_bound")
        if isinstance(bound, int | float) and math.isfinite(bound):
            out.append(Signal("bottleneck", f"progress multiplier {amdahl.estimate}, Amdahl bound "
                              f"{bound:.3g}", ("bounded",), 1.0))  # fmt: skip
        else:
            out.append(Signal("bottleneck", f"progress multiplier {amdahl.estimate}, no bound "
                              "(every task sped up)", ("full_rsi",), 0.5))  # fmt: skip
    return out


def choose(indicators: list[Indicator], verdict: Verdict) -> Scenario:
    """Score the three scenarios against the signals and pick the best fit."""
    sig = signals(indicators, verdict)
    total = sum(s.weight for s in sig if s.supports)
    if total == 0:
        return Scenario(
            None,
            "No scenario yet",
            "no signal of any scenario could be observed in the evidence",
            dict.fromkeys(ORDER, 0.0),
            sig,
        )
    scores = {k: round(sum(s.weight for s in sig if k in s.supports) / total, 3) for k in ORDER}
    best = max(ORDER, key=lambda k: (scores[k], -ORDER.index(k)))
    title, description = SCENARIOS[best]
    return Scenario(best, title, description, scores, sig)
