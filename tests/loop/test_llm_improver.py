"""The LLM improver on Inspect AI, driven by the mock model (no key, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inspect_ai.model import ModelOutput, ModelUsage, get_model

from rsimeter.loop.llm.agent import LLMLimits
from rsimeter.loop.llm.improver import make_llm_proposer
from rsimeter.loop.llm.workspace import Workspace, WorkspaceError
from rsimeter.loop.recursion.record import transcript_rows
from rsimeter.loop.recursion.synthetic import ToyEnv
from rsimeter.loop.recursion.units import CachedEnv, rng_for, run_unit
from rsimeter.loop.recursion.versions import ImproverVersion

MOCK = "mockllm/model"
USAGE = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}


def call(tool: str, **args: Any) -> ModelOutput:
    out = ModelOutput.for_tool_call(MOCK, tool, args)
    out.usage = ModelUsage(**USAGE)  # set on every output: nothing counts tokens itself
    return out


def knobs_with(env: ToyEnv, **values: float) -> str:
    knobs = json.loads(env.files("")["knobs.json"])
    knobs.update(values)
    return json.dumps(knobs)


def run_script(
    outputs: list[ModelOutput], tmp_path: Path, version: ImproverVersion | None = None,
    limits: LLMLimits | None = None,
) -> Any:  # fmt: skip
    env = CachedEnv(ToyEnv())
    proposer = make_llm_proposer(
        model=get_model(MOCK, custom_outputs=outputs), limits=limits, log_dir=tmp_path / "logs"
    )
    return run_unit(
        version or ImproverVersion(kind="llm", proxy_runs=1),
        env,
        0,
        budget=1,
        rng=rng_for(0),
        proposer=proposer,
    )


def test_agent_reads_edits_checks_the_proxy_and_submits_a_patch(tmp_path: Path) -> None:
    env = ToyEnv()
    outputs = [
        call("list_files"),
        call("read_file", path="knobs.json"),
        call("write_file", path="knobs.json", content=knobs_with(env, x0=0.8)),
        call("run_proxy"),
        call("submit", answer="raised x0"),
    ]
    r = run_script(outputs, tmp_path)
    cand = r.candidates[0]
    assert cand.patch == '{"x0": 0.8}'
    assert r.utility == pytest.approx(env.sigma_of({"x0": 0.8}) - 0.1)
    t = cand.transcript
    assert t["total_tokens"] == 5 * 120 and t["input_tokens"] == 500 and t["output_tokens"] == 100
    assert t["proxy_runs"] == 1 and t["stop_reason"] == "success"
    assert Path(t["log_path"]).is_file()
    assert r.cost == 2.0  # the proxy evaluation and the candidate's


def test_tools_refuse_files_outside_the_editable_ones_and_the_episode_goes_on(
    tmp_path: Path,
) -> None:
    outputs = [
        call("read_file", path="../../etc/passwd"),
        call("read_file", path="/etc/passwd"),
        call("write_file", path="driver.py", content="import os"),
        call("submit", answer="nothing"),
    ]
    r = run_script(outputs, tmp_path)
    assert r.candidates[0].patch == ""
    assert r.candidates[0].transcript["stop_reason"] == "success"
    assert r.utility == 0.0


def test_the_proxy_budget_is_enforced(tmp_path: Path) -> None:
    env = ToyEnv()
    outputs = [
        call("write_file", path="knobs.json", content=knobs_with(env, x1=0.7)),
        call("run_proxy"),
        call("run_proxy"),
        call("submit", answer="done"),
    ]
    r = run_script(outputs, tmp_path)
    assert r.candidates[0].transcript["proxy_runs"] == 1
    assert r.cost == 2.0


def test_the_token_cap_stops_the_episode_and_its_edits_still_count(tmp_path: Path) -> None:
    env = ToyEnv()
    outputs = [
        call("write_file", path="knobs.json", content=knobs_with(env, x2=0.9)),
        call("read_file", path="knobs.json"),
        call("read_file", path="knobs.json"),
        call("submit", answer="done"),
    ]
    r = run_script(outputs, tmp_path, limits=LLMLimits(token_limit=200))
    t = r.candidates[0].transcript
    assert t["stop_reason"] == "token limit"
    assert t["total_tokens"] <= 240
    assert r.candidates[0].patch == '{"x2": 0.9}'


def test_a_malformed_edit_is_no_candidate_rather_than_a_crash(tmp_path: Path) -> None:
    outputs = [
        call("write_file", path="knobs.json", content="{not json"),
        call("submit", answer="done"),
    ]
    r = run_script(outputs, tmp_path)
    assert r.candidates[0].patch == "" and "not usable" in r.candidates[0].note


def test_money_cap_becomes_a_token_cap_at_the_declared_price() -> None:
    lim = LLMLimits(
        token_limit=10_000, usd_limit=0.002, usd_per_mtok_input=5, usd_per_mtok_output=20
    )
    assert lim.effective_token_limit() == 100
    assert lim.usd(1_000_000, 0) == pytest.approx(5.0)
    assert LLMLimits().usd(10, 10) is None
    assert LLMLimits().effective_token_limit() == 200_000


def test_transcripts_are_linked_to_the_candidates_they_produced() -> None:
    cands = pd.DataFrame(
        [
            {"candidate_id": "c1", "transcript": {"log_path": "/l/a.eval", "model": MOCK,
             "input_tokens": 5, "output_tokens": 2, "total_tokens": 7, "usd": None,
             "messages": 4, "stop_reason": "success"}},
            {"candidate_id": "c2", "transcript": None},
        ]
    )  # fmt: skip
    rows = transcript_rows(cands)
    assert rows["candidate_id"].tolist() == ["c1"]
    assert rows.loc[0, "log_path"] == "/l/a.eval" and rows.loc[0, "total_tokens"] == 7


def test_workspace_confines_edits_and_diffs_against_the_shipped_files() -> None:
    shipped = {"train.py": "lr = 0.1\nsteps = 10\n"}
    with Workspace(shipped, shipped) as ws:
        ws.replace("train.py", "lr = 0.1", "lr = 0.05")
        assert ws.diff().startswith("--- a/train.py\n+++ b/train.py\n")
        assert "+lr = 0.05" in ws.diff()
        for bad in ("../x", "/etc/passwd", "other.py", "./../train.py"):
            with pytest.raises(WorkspaceError):
                ws.read(bad)
        with pytest.raises(WorkspaceError, match="exactly once"):
            ws.replace("train.py", "missing", "x")
        with pytest.raises(WorkspaceError, match="too large"):
            ws.write("train.py", "x" * (300 * 1024))
        root = ws.root
    assert not root.exists()


def test_llm_improver_speaks_the_harness_improver_protocol(tmp_path: Path) -> None:
    import numpy as np

    from rsimeter.loop.improvers.base import Improver
    from rsimeter.loop.improvers.version import VersionImprover
    from rsimeter.loop.llm.improver import make_llm_proposer
    from rsimeter.loop.target import load_target

    outputs = [
        call("replace_in_file", path="train.py", old="lr = 0.01", new="lr = 0.03"),
        call("submit", answer="raised the learning rate"),
    ]
    proposer = make_llm_proposer(
        model=get_model(MOCK, custom_outputs=outputs), log_dir=tmp_path / "logs"
    )
    improver = VersionImprover(ImproverVersion(kind="llm", proxy_runs=0), proposer)
    assert isinstance(improver, Improver) and improver.name.startswith("llm:")
    prop = improver.propose(load_target("digits"), [], rng=np.random.default_rng(0), budget_left=1)
    assert prop.parent_id is None
    assert "-lr = 0.01" in prop.patch and "+lr = 0.03" in prop.patch
    assert prop.transcript is not None and prop.transcript["total_tokens"] == 240
    log = prop.transcript["log_path"]
    assert log in prop.note and Path(log).is_file()


def test_an_llm_episode_that_changes_nothing_is_recorded_failed_and_never_run(
    tmp_path: Path,
) -> None:
    from rsimeter.loop.experiment import run_experiment
    from rsimeter.loop.improvers.version import VersionImprover
    from rsimeter.loop.target import load_target

    outputs = [call("list_files"), call("submit", answer="it is fine as it is")]
    proposer = make_llm_proposer(
        model=get_model(MOCK, custom_outputs=outputs), log_dir=tmp_path / "logs"
    )
    improver = VersionImprover(ImproverVersion(kind="llm", proxy_runs=0), proposer)
    result = run_experiment(
        load_target("digits"), improver, cycles=1, seeds=1, reference=False, ablate=False,
        unsafe_no_sandbox=True,
    )  # fmt: skip
    (cand,) = [c for c in result.candidates if c.role == "candidate"]
    # the shipped pipeline scored again would pose as an attempt
    assert cand.status == "failed" and cand.hidden_scores == () and cand.sigma is None
    assert "no change proposed" in cand.note
    assert cand.improver_run is not None and cand.improver_run["total_tokens"] == 240
