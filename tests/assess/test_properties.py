"""Properties of the verdict and the alerts over random indicator sets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rsimeter.assess.alerts import RANK, evaluate
from rsimeter.assess.scenarios import ORDER, choose
from rsimeter.assess.verdict import decide
from tests.assess.synthetic import ind

KEYS = [
    "loop.gain_ratio",
    "loop.generation_time_ratio",
    "assess.burtsev_r",
    "assess.jones_r",
    "horizon.doubling_time_ratio",
    "code.ai_dev_line_share",
    "loop.ai_gain_share",
    "autonomy.frontier_share",
    "autonomy.l5_own_lineage_units",
    "loop.integrity_events",
    "autonomy.self_confirming_units",
]


@st.composite
def indicator_sets(draw):
    out = []
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS))):
        a, b, c = sorted(draw(st.floats(0.01, 3.0)) for _ in range(3))
        held = draw(st.sampled_from([None, True, False]))
        out.append(ind(key, b, a, c, evidence={} if held is None else {"held_out_confirmed": held}))
    return out


@settings(max_examples=300, deadline=None)
@given(indicator_sets())
def test_verdict_follows_its_rules(indicators):
    v = decide(indicators)
    if v.verdict == "self_amplifying":
        assert all(c.met is True for c in v.conditions)
        assert any(m.low > 1 and m.input_controlled for m in v.measures)
    elif v.verdict == "damped":
        assert not any(m.low > 1 for m in v.measures)
        assert any(m.high < 1 for m in v.measures)
    else:
        assert v.reasons
    sc = choose(indicators, v)
    assert sc.key is None or sc.key in ORDER
    assert all(0 <= x <= 1 for x in sc.scores.values())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["code.ai_line_share", "horizon.frontier_p50_minutes", "assess.jones_r",
                     "code.output_per_engineer_ratio"]),
    st.floats(0, 20000),
    st.floats(0, 20000),
)  # fmt: skip
def test_a_larger_value_never_lowers_an_above_alert(key, x, y):
    lo, hi = sorted((x, y))

    def level(v: float) -> int:
        alerts = evaluate([ind(key, v, v * 0.9, v * 1.1)])
        return RANK[alerts[0].level] if alerts else 0

    assert level(lo) <= level(hi)
