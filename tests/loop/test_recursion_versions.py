"""Improver versions as values, and the search engine they parameterise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsimeter.errors import RsimeterError
from rsimeter.loop.recursion.search import choose_parent, completed, propose_point
from rsimeter.loop.recursion.versions import (
    SEARCH_SURFACE,
    ImproverVersion,
    Param,
    improver_surface,
)


def test_digest_is_stable_and_changes_with_any_field() -> None:
    a, b = ImproverVersion(), ImproverVersion()
    assert a.digest() == b.digest() and len(a.digest()) == 16
    assert a.patched({"batch": 2}).digest() != a.digest()


def test_patch_by_fields_and_by_json_patch_agree() -> None:
    v = ImproverVersion()
    by_fields = v.patched({"strategy": "tpe", "tpe_gamma": 0.3})
    by_ops = v.patched(
        [{"op": "replace", "path": "/strategy", "value": "tpe"},
         {"op": "replace", "path": "/tpe_gamma", "value": 0.3}]
    )  # fmt: skip
    assert by_fields == by_ops
    assert v.diff(by_fields) == {"strategy": ("random", "tpe"), "tpe_gamma": (0.25, 0.3)}


def test_invalid_edits_name_the_field() -> None:
    v = ImproverVersion()
    with pytest.raises(RsimeterError, match="'batch'"):
        v.patched({"batch": 0})
    with pytest.raises(RsimeterError, match="no field"):
        v.patched({"temperature": 1})
    with pytest.raises(RsimeterError, match="unsupported"):
        v.patched([{"op": "remove", "path": "/batch"}])


def test_version_round_trips_through_its_stored_json() -> None:
    v = ImproverVersion(kind="llm", prompt="be careful", proxy_runs=3)
    assert ImproverVersion.from_json(v.canonical()) == v
    with pytest.raises(RsimeterError, match="not a valid improver version"):
        ImproverVersion.from_json('{"batch": "many"}')


def test_versions_are_immutable() -> None:
    with pytest.raises(Exception, match="frozen"):
        ImproverVersion().batch = 3  # type: ignore[misc]


def test_llm_and_search_versions_expose_different_surfaces() -> None:
    assert improver_surface(ImproverVersion()) == SEARCH_SURFACE
    names = {p.name for p in improver_surface(ImproverVersion(kind="llm"))}
    assert "proxy_runs" in names and "strategy" not in names


def test_param_unit_mapping_round_trips_on_log_and_int_scales() -> None:
    p = Param("lr", "float", 1e-4, 1e-1, log=True)
    assert p.to_unit(1e-4) == 0 and p.to_unit(1e-1) == 1
    assert p.from_unit(p.to_unit(3e-3)) == pytest.approx(3e-3)
    assert Param("n", "int", 1, 4).from_unit(0.5) in (2, 3)
    assert p.from_unit(7.0) == pytest.approx(1e-1)  # clipped


def test_every_surface_value_a_meta_improver_draws_is_a_valid_version() -> None:
    rng = np.random.default_rng(0)
    v = ImproverVersion()
    for _ in range(50):
        point = {p.name: p.sample(rng) for p in SEARCH_SURFACE}
        assert v.patched(point).values(SEARCH_SURFACE) == point


def test_only_whole_batches_are_visible_to_the_next_proposal() -> None:
    hist = [({"x": i}, float(i)) for i in range(5)]
    assert len(completed(hist, 2)) == 4 and len(completed(hist, 5)) == 5
    assert completed(hist, 3) == hist[:3]


def test_parent_rules() -> None:
    rng = np.random.default_rng(0)
    hist = [({"x": 0.1}, 1.0), ({"x": 0.9}, 3.0), ({"x": 0.5}, -math.inf)]
    assert choose_parent(hist, {"x": 0.2}, "shipped", rng) == (None, {"x": 0.2})
    assert choose_parent(hist, {"x": 0.2}, "best", rng) == (1, {"x": 0.9})
    idx, _ = choose_parent(hist, {"x": 0.2}, "tournament", rng)
    assert idx in (0, 1)  # failures are never parents


@pytest.mark.parametrize("strategy", ["random", "local", "tpe"])
def test_every_strategy_proposes_points_inside_the_space(strategy: str) -> None:
    space = (
        Param("a", "float", 0.0, 1.0),
        Param("b", "int", 1, 9, log=True),
        Param("c", "categorical", choices=("x", "y", "z")),
        Param("d", "bool"),
    )
    v = ImproverVersion(strategy=strategy, parent_rule="best", tpe_n_startup=2, knobs_per_patch=4)
    rng = np.random.default_rng(3)
    hist: list[tuple[dict[str, object], float]] = []
    base = {"a": 0.5, "b": 3, "c": "x", "d": False}
    for i in range(12):
        _, point = propose_point(space, hist, v, base, rng)
        assert 0 <= point["a"] <= 1 and 1 <= point["b"] <= 9  # type: ignore[operator]
        assert point["c"] in ("x", "y", "z") and point["d"] in (False, True)
        hist.append((point, -abs(float(point["a"]) - 0.8) + 0.01 * i))  # type: ignore[arg-type]


def test_same_generator_state_gives_the_same_proposal() -> None:
    space = (Param("a", "float", 0.0, 1.0), Param("b", "float", 0.0, 1.0))
    v = ImproverVersion(strategy="local")
    one = propose_point(space, [], v, {"a": 0.2, "b": 0.2}, np.random.default_rng(5))
    two = propose_point(space, [], v, {"a": 0.2, "b": 0.2}, np.random.default_rng(5))
    assert one == two


def test_log_scale_values_never_leave_the_declared_range_by_round_off() -> None:
    p = Param("lr", "float", 1e-4, 0.1, log=True)
    rng = np.random.default_rng(0)
    for u in [0.0, 1.0, *rng.random(2000)]:
        assert 1e-4 <= p.from_unit(float(u)) <= 0.1
    assert p.from_unit(1.0) == 0.1
