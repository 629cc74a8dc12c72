"""Result types of the loop, at the bottom of its layers: nothing here imports another loop module.

``SeedRun`` (one training run and its scores), ``Baseline`` (the shipped pipeline's
scores, the σ ladder's 0.1 anchor), ``CandidateResult`` (everything recorded about
one candidate), ``ExperimentResult`` and ``TryResult``; plus the small helpers that
build them (ids, the mean over seeds with its interval).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import stats

from rsimeter.estimate import Estimate

STATUSES = ("ok", "failed", "timeout", "over_budget", "rejected", "integrity_violation")
ROLES = (
    "candidate", "shipped", "reference", "ablation", "confirm_shipped", "confirm_best"
)  # fmt: skip


@dataclass(frozen=True)
class SeedRun:
    """One seed of one candidate: train, proxy score, hidden score."""

    seed: int
    status: str
    proxy: float | None = None
    hidden: float | None = None
    budget_used: dict[str, float] = field(default_factory=dict)
    integrity: tuple[str, ...] = ()
    note: str = ""
    train: dict[str, Any] = field(default_factory=dict)  # the driver's training record


@dataclass(frozen=True)
class Baseline:
    """The shipped pipeline's scores per seed: the σ ladder's 0.1 anchor, and integrity checks."""

    seeds: tuple[int, ...]
    hidden: tuple[float, ...]
    proxy: tuple[float, ...]

    @property
    def anchor(self) -> float:
        return float(np.mean(self.hidden))


@dataclass(frozen=True)
class CandidateResult:
    """Everything recorded about one candidate."""

    candidate_id: str
    parent_id: str | None
    experiment_id: str
    cycle: int
    patch: str
    surfaces: tuple[str, ...]
    change_kind: tuple[str, ...]
    status: str  # ok | failed | timeout | over_budget | rejected | integrity_violation
    proxy_score: float | None
    hidden_scores: tuple[float, ...]
    sigma: Estimate | None
    budget_used: dict[str, Any]
    integrity: tuple[str, ...]
    seconds: float
    improver: str
    note: str
    role: str = "candidate"  # candidate | shipped | reference | ablation
    seeds: tuple[int, ...] = ()
    seed_sigmas: tuple[float, ...] = ()  # σ per seed (paired with seeds), empty when none
    proxy_scores: tuple[float, ...] = ()  # proxy score per seed
    # what producing it took, as the improver reported it (an agent's wall time, exit
    # code, tokens, cost, transcript path and session); None when it reported nothing
    improver_run: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of one candidate."""
        return {
            "candidate": self.candidate_id,
            "parent": self.parent_id,
            "experiment": self.experiment_id,
            "cycle": self.cycle,
            "role": self.role,
            "improver": self.improver,
            "status": self.status,
            "sigma": self.sigma.to_dict() if self.sigma is not None else None,
            "proxy_score": self.proxy_score,
            "hidden_scores": list(self.hidden_scores),
            "seeds": list(self.seeds),
            "surfaces": list(self.surfaces),
            "change_kind": list(self.change_kind),
            "integrity": list(self.integrity),
            "budget_used": self.budget_used,
            "seconds": round(self.seconds, 3),
            "note": self.note,
            "patch": self.patch,
            "improver_run": self.improver_run,
        }

    def summary(self) -> str:
        sigma = str(self.sigma) if self.sigma is not None else "n/a"
        flags = ", ".join(self.integrity) or "none"
        lines = [
            f"candidate {self.candidate_id} ({self.role}, {self.improver}): {self.status}",
            f"  σ {sigma}   proxy {_fmt(self.proxy_score)}   "
            f"hidden {', '.join(_fmt(h) for h in self.hidden_scores) or 'n/a'}",
            f"  surfaces {', '.join(self.surfaces) or '-'}"
            f"   change {', '.join(self.change_kind) or '-'}",
            f"  integrity: {flags}",
        ]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def new_id(prefix: str) -> str:
    """A fresh identifier: prefix, UTC time, and random hex."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def mean_estimate(values: Sequence[float], *, what: str = "value") -> Estimate:
    """Mean over seeds with a Student-t interval (no interval from a single seed)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return Estimate.missing(f"no {what} values")
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 0.95, 1, "1 seed: no interval")
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Estimate(mean, mean - half, mean + half, 0.95, n, f"mean over {n} seeds, t interval")


@dataclass(frozen=True)
class ExperimentResult:
    """An experiment's outcome: σ shipped and best with intervals, gains, every candidate."""

    experiment_id: str
    target: str
    improver: str
    seeds: tuple[int, ...]
    sigma_shipped: Estimate
    sigma_best: Estimate
    sigma_gain: Estimate
    best_candidate: str | None
    reference_gap_recovered: Estimate
    gain_by_surface: dict[str, Estimate]
    candidates: tuple[CandidateResult, ...]
    seconds: float
    held_out_confirmed: bool = False
    direction: str = "max"  # the metric's: which proxy scores are better
    #: σ(best) − σ(shipped) re-run on fresh seeds that played no part in choosing the best
    #: (None: the experiment ran no confirmation)
    confirmation: Estimate | None = None
    confirm_seeds: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of ``rsimeter loop run`` and ``loop show``."""
        return {
            "experiment": self.experiment_id,
            "target": self.target,
            "improver": self.improver,
            "seeds": list(self.seeds),
            "sigma_shipped": self.sigma_shipped.to_dict(),
            "sigma_best": self.sigma_best.to_dict(),
            "sigma_gain": self.sigma_gain.to_dict(),
            "best_candidate": self.best_candidate,
            "reference_gap_recovered": self.reference_gap_recovered.to_dict(),
            "gain_by_surface": {k: v.to_dict() for k, v in self.gain_by_surface.items()},
            "held_out_confirmed": self.held_out_confirmed,
            "confirmation": (
                {"seeds": list(self.confirm_seeds), "sigma_gain": self.confirmation.to_dict()}
                if self.confirmation is not None
                else None
            ),
            "integrity_events": sum(len(c.integrity) for c in self.candidates),
            "seconds": round(self.seconds, 3),
            "candidates": [_candidate_brief(c) for c in self.candidates],
        }

    def headline(self) -> str:
        """One line: target, improver, candidates and the σ gain with its interval."""
        return (
            f"{self.experiment_id}: {self.target} with {self.improver}, "
            f"{len(self.candidates)} runs, σ gain {self.sigma_gain}"
        )

    def summary(self) -> str:
        """Plain text: the headline, σ shipped and best, then one line per candidate."""
        lines = [
            self.headline(),
            f"  σ shipped {self.sigma_shipped}   σ best {self.sigma_best} "
            f"({self.best_candidate or 'shipped'})   held-out confirmed: {self.held_out_confirmed}",
        ]
        lines += [f"  {c.cycle:>3} {c.role:<9} {c.status:<19} σ {c.sigma}" for c in self.candidates]
        return "\n".join(lines)


def _candidate_brief(c: CandidateResult) -> dict[str, Any]:
    d = c.to_dict()
    d.pop("experiment")
    return d


@dataclass(frozen=True)
class TryResult:
    """One submitted patch, scored against the shipped pipeline on the same seeds."""

    candidate: CandidateResult
    sigma_shipped: Estimate
    sigma_gain: Estimate  # σ(candidate) − σ(shipped), paired by seed
    shipped: CandidateResult | None = None  # the shipped run on the same seeds
    #: on a target with a PGR ladder: ``pgr``, ``pgr_shipped``, ``pgr_gain``, ``pgr_anchors``
    pgr: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of ``rsimeter loop try``."""
        return {
            **self.candidate.to_dict(),
            "sigma_shipped": self.sigma_shipped.to_dict(),
            "sigma_gain": self.sigma_gain.to_dict(),
            **(self.pgr or {}),
        }

    def summary(self) -> str:
        """The candidate's lines, then σ shipped and the paired gain (and PGR, if any)."""
        text = (
            f"{self.candidate.summary()}\n  σ shipped {self.sigma_shipped}   "
            f"σ gain {self.sigma_gain}"
        )
        if self.pgr:
            text += (
                f"\n  PGR {self.pgr['pgr']}   PGR shipped {self.pgr['pgr_shipped']}   "
                f"PGR gain {self.pgr['pgr_gain']}   (published: humans 0.23, "
                "automated researchers 0.97)"
            )
        return text


def lineage_patches(history: Sequence[CandidateResult], parent_id: str) -> tuple[str, ...]:
    """The patches from the shipped pipeline down to ``parent_id``, oldest first."""
    by_id = {c.candidate_id: c for c in history}
    chain: list[str] = []
    node = by_id.get(parent_id)
    while node is not None and len(chain) < 1000:
        chain.append(node.patch)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return tuple(reversed(chain))
