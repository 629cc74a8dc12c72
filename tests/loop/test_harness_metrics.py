"""Experiment metrics on hand-made candidates: selection on proxy, paired σ gains, gaps."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from rsimeter.estimate import Estimate
from rsimeter.loop.harness import CandidateResult, mean_estimate
from rsimeter.loop.metrics import (
    accepted_lineage,
    best_candidate,
    gain_by_surface,
    paired_difference,
    reference_gap_recovered,
    summarise,
)

SEEDS = (0, 1, 2)


def cand(
    cid: str,
    sigmas: tuple[float, ...],
    proxy: float,
    *,
    role: str = "candidate",
    cycle: int = 1,
    status: str = "ok",
    surfaces: tuple[str, ...] = ("code",),
    parent: str | None = None,
    note: str = "",
) -> CandidateResult:
    return CandidateResult(
        candidate_id=cid, parent_id=parent, experiment_id="e", cycle=cycle, patch="",
        surfaces=surfaces, change_kind=(), status=status, proxy_score=proxy,
        hidden_scores=tuple(0.5 + s for s in sigmas), sigma=mean_estimate(sigmas),
        budget_used={}, integrity=(), seconds=1.0, improver="x", note=note, role=role,
        seeds=SEEDS, seed_sigmas=sigmas, proxy_scores=(proxy,) * 3,
    )  # fmt: skip


SHIPPED = cand("s", (0.1, 0.1, 0.1), 0.60, role="shipped", cycle=0)


def test_mean_estimate_uses_a_t_interval_and_none_for_one_seed() -> None:
    e = mean_estimate([1.0, 2.0, 3.0])
    assert e.value == 2.0 and e.n == 3
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert e.low == pytest.approx(2.0 - half) and e.high == pytest.approx(2.0 + half)
    one = mean_estimate([0.4])
    assert one.value == 0.4 and math.isnan(one.low) and one.n == 1


def test_best_is_chosen_on_proxy_not_on_hidden() -> None:
    lucky_hidden = cand("a", (0.9, 0.9, 0.9), 0.61, cycle=1)
    best_proxy = cand("b", (0.3, 0.3, 0.3), 0.70, cycle=2)
    assert best_candidate([SHIPPED, lucky_hidden, best_proxy], "max") is best_proxy
    assert best_candidate([SHIPPED, lucky_hidden, best_proxy], "min") is None


def test_no_candidate_beating_the_shipped_proxy_means_no_best() -> None:
    worse = cand("a", (0.5, 0.5, 0.5), 0.55)
    assert best_candidate([SHIPPED, worse], "max") is None
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, worse], 1.0, "max")
    assert result.best_candidate is None
    assert result.sigma_gain.value == 0.0 and not result.held_out_confirmed


def test_failed_and_violating_candidates_never_count() -> None:
    bad = cand("a", (0.9, 0.9, 0.9), 0.99, status="integrity_violation")
    failed = cand("b", (0.9, 0.9, 0.9), 0.99, status="failed")
    assert best_candidate([SHIPPED, bad, failed], "max") is None


def test_gain_is_paired_by_seed() -> None:
    best = cand("b", (0.2, 0.3, 0.4), 0.7)
    shipped = cand("s", (0.1, 0.2, 0.3), 0.6, role="shipped")
    gain = paired_difference(best, shipped)
    # the per-seed differences are all exactly 0.1: zero spread, a degenerate interval
    assert gain.value == pytest.approx(0.1)
    assert gain.low == pytest.approx(0.1) and gain.high == pytest.approx(0.1)


def test_held_out_confirmed_needs_the_lower_bound_above_zero() -> None:
    best = cand("b", (0.3, 0.35, 0.32), 0.7)
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, best], 1.0, "max")
    assert result.best_candidate == "b"
    assert result.sigma_gain.low > 0 and result.held_out_confirmed
    noisy = cand("n", (0.5, -0.2, 0.1), 0.7)
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, noisy], 1.0, "max")
    assert result.best_candidate == "n" and not result.held_out_confirmed


def fresh(c: CandidateResult) -> CandidateResult:
    return replace(c, seeds=(3, 4, 5))


def test_confirmation_on_fresh_seeds_decides_held_out_confirmation() -> None:
    best = cand("b", (0.3, 0.35, 0.32), 0.7)  # confirmed on its own seeds
    again_ship = fresh(cand("cs", (0.1, 0.1, 0.1), 0.6, role="confirm_shipped", cycle=0))
    gone = fresh(cand("cb", (0.12, 0.05, 0.09), 0.6, role="confirm_best", parent="b", cycle=0))
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, best, again_ship, gone], 1.0, "max")
    assert result.sigma_gain.low > 0  # the selection seeds alone would have said yes
    assert result.confirmation is not None and result.confirm_seeds == (3, 4, 5)
    assert result.confirmation.n == 3 and not result.held_out_confirmed
    assert result.to_dict()["confirmation"]["seeds"] == [3, 4, 5]
    held = fresh(cand("cb", (0.3, 0.28, 0.33), 0.6, role="confirm_best", parent="b", cycle=0))
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, best, again_ship, held], 1.0, "max")
    assert result.confirmation is not None and result.confirmation.low > 0
    assert result.held_out_confirmed


def test_a_confirmation_of_another_candidate_or_a_failed_one_confirms_nothing() -> None:
    best = cand("b", (0.3, 0.35, 0.32), 0.7)
    again_ship = fresh(cand("cs", (0.1, 0.1, 0.1), 0.6, role="confirm_shipped", cycle=0))
    other = fresh(cand("cb", (0.3, 0.3, 0.3), 0.6, role="confirm_best", parent="a", cycle=0))
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, best, again_ship, other], 1.0, "max")
    assert result.confirmation is None and result.held_out_confirmed  # the old rule
    broke = replace(
        fresh(cand("cb", (0.3, 0.3, 0.3), 0.6, role="confirm_best", parent="b", cycle=0)),
        status="failed",
    )
    result = summarise("e", "t", "x", SEEDS, [SHIPPED, best, again_ship, broke], 1.0, "max")
    assert result.confirmation is not None and math.isnan(result.confirmation.value)
    assert not result.held_out_confirmed and "did not run cleanly" in result.confirmation.method


def test_reference_gap_recovered_is_the_ratio_of_mean_gains() -> None:
    best = cand("b", (0.2, 0.2, 0.2), 0.7)
    ref = cand("r", (0.3, 0.3, 0.3), 0.8, role="reference")
    gap = reference_gap_recovered(best, ref, SHIPPED)
    assert gap.value == pytest.approx(0.5)
    assert gap.n == 3


def test_reference_gap_is_missing_when_the_reference_did_not_help() -> None:
    ref = cand("r", (0.05, 0.05, 0.05), 0.8, role="reference")
    assert math.isnan(reference_gap_recovered(None, ref, SHIPPED).value)


def test_gain_by_surface_from_ablations() -> None:
    best = cand("b", (0.5, 0.5, 0.5), 0.9, surfaces=("code", "data"))
    no_code = cand("x", (0.4, 0.4, 0.4), 0.8, role="ablation", parent="b", note="best without code")
    no_data = cand("y", (0.2, 0.2, 0.2), 0.7, role="ablation", parent="b", note="best without data")
    gains = gain_by_surface([SHIPPED, best, no_code, no_data], best, SHIPPED)
    assert gains["code"].value == pytest.approx(0.1)
    assert gains["data"].value == pytest.approx(0.3)
    assert gains["objective"] == Estimate(0.0, 0.0, 0.0, 0.95, 3, "surface not edited")


def test_a_single_surface_gets_the_whole_gain_without_an_extra_run() -> None:
    best = cand("b", (0.4, 0.4, 0.4), 0.9, surfaces=("data",))
    gains = gain_by_surface([SHIPPED, best], best, SHIPPED)
    assert gains["data"].value == pytest.approx(0.3)


def test_lineage_lists_successive_proxy_records_in_cycle_order() -> None:
    a = cand("a", (0.2,) * 3, 0.65, cycle=1)
    b = cand("b", (0.1,) * 3, 0.62, cycle=2)
    c = cand("c", (0.3,) * 3, 0.70, cycle=3)
    assert [x.candidate_id for x in accepted_lineage([SHIPPED, b, a, c], "max")] == ["a", "c"]
