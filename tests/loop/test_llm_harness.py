"""The LLM improver on a real built-in target: its proxy runs go through the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from rsimeter.loop import sandbox
from rsimeter.loop.llm.improver import make_llm_proposer
from rsimeter.loop.recursion.harness_env import HarnessEnv
from rsimeter.loop.recursion.units import rng_for, run_unit
from rsimeter.loop.recursion.versions import ImproverVersion
from rsimeter.loop.target import load_target

MOCK = "mockllm/model"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_bwrap,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed"),
]


def call(tool: str, **args: object) -> ModelOutput:
    out = ModelOutput.for_tool_call(MOCK, tool, args)
    out.usage = ModelUsage(input_tokens=50, output_tokens=10, total_tokens=60)
    return out


def test_llm_edit_of_digits_is_scored_in_the_sandbox_and_becomes_a_diff(tmp_path: Path) -> None:
    target = load_target("digits")
    env = HarnessEnv(target, cache_dir=tmp_path / "cache")
    outputs = [
        call("read_file", path="train.py"),
        call("replace_in_file", path="train.py", old="lr = 0.01", new="lr = 0.02"),
        call("run_proxy"),
        call("submit", answer="doubled the learning rate"),
    ]
    proposer = make_llm_proposer(
        model=get_model(MOCK, custom_outputs=outputs), log_dir=tmp_path / "logs"
    )
    version = ImproverVersion(kind="llm", proxy_runs=1)
    r = run_unit(version, env, 0, budget=1, rng=rng_for(0), proposer=proposer)
    cand = r.candidates[0]
    assert cand.status == "ok", cand.note
    assert "-lr = 0.01" in cand.patch and "+lr = 0.02" in cand.patch
    assert cand.patch.startswith("--- a/train.py")
    assert cand.transcript is not None and cand.transcript["proxy_runs"] == 1
    assert r.cost > cand.cost > 0  # the proxy run's sandbox CPU counts too
