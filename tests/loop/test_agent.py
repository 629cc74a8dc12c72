"""``rsimeter loop agent``: a command as the improver, with scripted fake agents (shell scripts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rsimeter.autonomy.units import session_units
from rsimeter.errors import RsimeterError
from rsimeter.loop import evaluate, sandbox
from rsimeter.loop.agent.folder import changes, diff_summary, program_text, write_folder
from rsimeter.loop.agent.improver import AgentImprover, AgentLimits, agent_env, check_binds
from rsimeter.loop.agent.usage import agent_usage
from rsimeter.loop.experiment import run_experiment
from rsimeter.loop.results import CandidateResult
from rsimeter.loop.target import Target, load_target
from rsimeter.store import Store

try:
    from tests.loop.fake_target import write_fake_target
except ImportError:  # collected as a package
    from tests.loop.fake_target import write_fake_target

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed")

CLAUDE_RESULT = {
    "type": "result", "subtype": "success", "is_error": False, "num_turns": 3,
    "result": "done", "session_id": "0b1c2d3e-aaaa-bbbb-cccc-000000000001",
    "total_cost_usd": 0.0421,
    "usage": {"input_tokens": 10, "cache_creation_input_tokens": 200,
              "cache_read_input_tokens": 1000, "output_tokens": 55},
}  # fmt: skip

TRANSCRIPT_LINE = {
    "type": "user", "sessionId": "0b1c2d3e-aaaa-bbbb-cccc-000000000001", "uuid": "u-1",
    "timestamp": "2026-01-01T00:00:00Z", "cwd": "/candidate", "permissionMode": "acceptEdits",
    "message": {"role": "user", "content": "read program.md"},
}  # fmt: skip

EDITOR = f"""#!/bin/sh
# a fake agent: turns one knob of train.py and reports like Claude Code's --output-format json
sed -i 's/^drop_noisy = False/drop_noisy = True/' train.py
mkdir -p "$HOME/.claude/projects/-candidate"
echo '{json.dumps(TRANSCRIPT_LINE)}' \\
  > "$HOME/.claude/projects/-candidate/0b1c2d3e-aaaa-bbbb-cccc-000000000001.jsonl"
echo '{json.dumps(CLAUDE_RESULT)}'
"""

FAILER = """#!/bin/sh
sed -i 's/^lr = 0.05/lr = 0.2/' train.py
echo "model API unreachable" >&2
exit 3
"""

# tries the held-out data, the evaluator (rsimeter), the store, the user's home, and
# writes outside the editable files; prints what it saw
SNOOP = """#!/bin/sh
echo "SECRET=$(cat {secret} 2>/dev/null | wc -c) $(ls {secret_dir} 2>/dev/null | wc -l)"
echo "STORE=$(cat {store} 2>/dev/null | wc -c)"
echo "USERHOME=$(find {home} -type f 2>/dev/null | grep -v '^{python}' | wc -l)"
echo "TARGET=$(find {target} -type f 2>/dev/null | wc -l)"
echo "EVALUATOR=$(cat {evaluator} {driver} 2>/dev/null | wc -c)"
python -c "import rsimeter" 2>/dev/null && echo "RSIMETER=visible" || echo "RSIMETER=absent"
echo "OUTSIDE=$(echo x > {outside} 2>/dev/null && echo written || echo refused)"
echo "PASSED=$PASSED NOT_PASSED=${{NOT_PASSED:-absent}}"
sed -i 's/^steps = 30/steps = 40/' train.py
echo "notes" > notes.txt
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Target:
    target = load_target(str(write_fake_target(tmp_path_factory.mktemp("tiny"))))
    target.hidden_split(0)  # writes the protected copy of the held-out data
    return target


def script(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def candidate(
    patch: str, cycle: int, proxy: float | None, hidden: tuple[float, ...]
) -> CandidateResult:
    return CandidateResult(
        candidate_id=f"cand-{cycle}", parent_id=None, experiment_id="exp", cycle=cycle,
        patch=patch, surfaces=(), change_kind=(), status="ok" if proxy else "failed",
        proxy_score=proxy, hidden_scores=hidden, sigma=None, budget_used={}, integrity=(),
        seconds=1.0, improver="agent", note="",
    )  # fmt: skip


# -- what the agent is shown and what it left ------------------------------------------


def test_program_shows_surfaces_budget_rules_and_proxy_feedback_never_hidden_scores(
    tiny: Target,
) -> None:
    patch = "--- a/train.py\n+++ b/train.py\n@@ -3 +3 @@\n-lr = 0.05\n+lr = 0.2\n"
    history = [candidate(patch, 1, 0.81234, (0.98765,)), candidate("", 2, None, ())]
    text = program_text(tiny, history, wall_seconds=600, cycles_left=3)
    assert "- code: train.py" in text and "FLOPs" in text and "600 s" in text
    assert "attempt 1 (ok, proxy 0.8123): train.py +1 -1: `lr = 0.2`" in text
    assert "attempt 2 (failed, failed): no change" in text
    assert "0.9876" not in text and "0.98765" not in text


def test_diff_summary_counts_lines_and_quotes_the_first_added() -> None:
    patch = "--- a/t.py\n+++ b/t.py\n@@ -1,2 +1,3 @@\n-a = 1\n+a = 2\n+b = 3\n c\n"
    assert diff_summary(patch) == "t.py +2 -1: `a = 2`; `b = 3`"
    assert diff_summary("not a diff at all") in ("an unreadable diff", "no change")


def test_changes_split_the_editable_diff_from_everything_else(tmp_path: Path) -> None:
    start = write_folder(tmp_path, {"train.py": "lr = 1\n", "model.py": "w = 2\n"}, "task\n")
    (tmp_path / "train.py").write_text("lr = 3\n")
    (tmp_path / "program.md").write_text("task, edited\n")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.py").unlink()
    (tmp_path / "model.py").symlink_to("/etc/hostname")
    (tmp_path / "blob.py").write_bytes(b"\xff\xfe")
    found = changes(tmp_path, start, ["train.py", "model.py"])
    assert found.files == {"train.py": "lr = 3\n"}
    assert set(found.outside) == {
        "program.md (changed)", "scratch/ (added folder)", "scratch/notes.txt (added)",
        "empty/ (added folder)", "model.py (link)", "blob.py (added)",
    }  # fmt: skip
    assert "+lr = 3" in found.patch(start) and "model.py" not in found.patch(start)


def test_usage_from_claude_codex_and_aider_output() -> None:
    claude = agent_usage(json.dumps(CLAUDE_RESULT))
    assert claude == {
        "cost_usd": 0.0421, "session": "claude_code:0b1c2d3e-aaaa-bbbb-cccc-000000000001",
        "input_tokens": 1210, "output_tokens": 55, "total_tokens": 1265,
    }  # fmt: skip
    codex_lines = "\n".join(
        json.dumps(e)
        for e in [
            {"type": "thread.started", "thread_id": "th-9"},
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 100, "cached_input_tokens": 90, "output_tokens": 7},
            },
            {"type": "item.completed", "item": {"type": "agent_message", "text": "hi"}},
            {"type": "turn.completed", "usage": {"input_tokens": 50, "output_tokens": 3}},
        ]
    )
    assert agent_usage(codex_lines) == {
        "session": "codex:th-9", "input_tokens": 150, "output_tokens": 10, "total_tokens": 160,
    }  # fmt: skip
    aider = "Tokens: 2.3k sent, 150 received. Cost: $0.01 message, $0.02 session.\n" * 2
    got = agent_usage(aider)
    assert (got["input_tokens"], got["output_tokens"], got["cost_usd"]) == (4600, 300, 0.02)
    assert agent_usage("plain words {not json") == {}


def test_usage_from_aider_lines_as_its_versions_print_them() -> None:
    """Lines as in aider's own chat-history fixture: comma thousands, cache segments between
    sent and received ("cache write", "cache hit", "cached"), "request" in older versions'
    cost line."""
    lines = (
        "> Tokens: 797 sent, 74 received. Cost: $0.0013 request, $0.0013 session.  \n"
        "> Tokens: 21,523 sent, 13,952 cache hit, 9 received. Cost: $0.0030 message, "
        "$0.0030 session.  \n"
        "> Tokens: 194 sent, 9,474 cache write, 7 received. Cost: $0.0000088 message, "
        "$0.0043 session.  \n"
        "Tokens: 12k sent, 1.2k received.\n"
        "> Tokens: 492 sent, 1,278 cached, 72 received. Cost: $0.0026 message, $0.0026 session.\n"
    )
    got = agent_usage(lines)
    assert got["input_tokens"] == 797 + 21_523 + 194 + 12_000 + 492
    assert got["output_tokens"] == 74 + 9 + 7 + 1_200 + 72
    assert got["cost_usd"] == 0.0026  # the last line's session total


def test_agent_env_names_only_and_a_missing_one_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PASSED", "yes")
    assert agent_env(["PASSED"]) == {"PASSED": "yes"}
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(RsimeterError, match="--agent-env NOT_SET_ANYWHERE: not set"):
        agent_env(["NOT_SET_ANYWHERE"])


def test_binds_that_would_show_home_store_or_target_are_refused(tmp_path: Path) -> None:
    store = tmp_path / "s" / "rsimeter.duckdb"
    store.parent.mkdir()
    with pytest.raises(RsimeterError, match="would show the agent"):
        check_binds([tmp_path], guarded=(store,))
    with pytest.raises(RsimeterError, match="would show the agent"):
        check_binds([Path("/")], guarded=())
    with pytest.raises(RsimeterError, match="no such path"):
        check_binds([tmp_path / "absent"], guarded=())
    (tmp_path / "tools").mkdir()
    assert check_binds([tmp_path / "tools"], guarded=(store,)) == ((tmp_path / "tools").resolve(),)


# -- end to end, sandboxed ----------------------------------------------------------------


def rsimeter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rsimeter.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@needs_bwrap
def test_loop_agent_json_an_editing_agent_is_evaluated_and_its_run_recorded(
    tiny: Target, tmp_path: Path
) -> None:
    agent = script(tmp_path / "agents", "edit.sh", EDITOR)
    store = tmp_path / "store" / "rsimeter.duckdb"
    proc = rsimeter(
        "loop", "agent", "--target", str(tiny.manifest.parent if tiny.manifest else ""),
        "--cmd", f"sh {agent}", "--agent-bind", str(agent.parent), "--cycles", "1",
        "--seeds", "1", "--no-reference", "--no-ablation", "--store", str(store),
        "--runs-dir", str(tmp_path / "runs"), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["improver"] == "agent" and {"sigma_gain", "sigma_best", "candidates"} <= set(out)
    cand = next(c for c in out["candidates"] if c["role"] == "candidate")
    assert cand["improver"] == "agent" and cand["status"] == "ok", cand["note"]
    assert "+drop_noisy = True" in cand["patch"] and cand["surfaces"] == ["data"]
    assert cand["sigma"]["value"] > 0.1  # dropping the marked noisy rows helps on held-out data
    run = cand["improver_run"]
    assert run["exit_code"] == 0 and run["wall_seconds"] > 0 and run["outside_editable"] == []
    assert run["cost_usd"] == 0.0421 and run["total_tokens"] == 1265
    assert run["session"] == "claude_code:0b1c2d3e-aaaa-bbbb-cccc-000000000001"
    assert Path(run["transcript"]).is_file() and run["transcript"].endswith(".jsonl")
    shipped = next(c for c in out["candidates"] if c["role"] == "shipped")
    assert shipped["improver_run"] is None
    # the store keeps the run with the candidate: `loop show` gives the same record
    show = rsimeter("loop", "show", "--store", str(store), "--json", cwd=tmp_path)
    again = next(c for c in json.loads(show.stdout)["candidates"] if c["role"] == "candidate")
    assert again["improver_run"] == run
    # `sessions ingest` of the transcript stores the session under the same key
    ingest = rsimeter("sessions", "ingest", run["transcript"], "--store", str(store), cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    with Store.open(store, read_only=True) as s:
        keys = [r[0] for r in s.execute("SELECT session FROM autonomy_sessions").fetchall()]
        (unit,) = [u for u in session_units(s) if u.id == run["session"]]
    assert keys == [run["session"]]
    # the ladder sees the session through its loop candidate: a person chose the target,
    # the hidden evaluator scored the attempt, the loop's rule kept it
    assert cand["candidate"] in unit.evaluation.evidence[0]
    assert (unit.goal.by, unit.evaluation.by, unit.keep.by) == ("human", "ai", "ai")
    q = unit.qualifiers
    assert q.evaluator_independent is True and q.keep_mode == "none" and q.ai_dev is True
    assert q.held_out_confirmed is out["held_out_confirmed"]  # the best: its experiment's flag
    assert out["best_candidate"] == cand["candidate"]


@needs_bwrap
def test_a_failing_agent_is_recorded_failed_and_never_run(tiny: Target, tmp_path: Path) -> None:
    agent = script(tmp_path / "agents", "fail.sh", FAILER)
    imp = AgentImprover(f"sh {agent}", runs_dir=tmp_path / "runs", binds=(agent.parent,))
    with Store.open(tmp_path / "s.duckdb") as store:
        result = run_experiment(
            tiny, imp, cycles=1, seeds=1, store=store, reference=False, ablate=False
        )
    cand = next(c for c in result.candidates if c.role == "candidate")
    assert cand.status == "failed" and cand.hidden_scores == () and cand.sigma is None
    assert "exited with code 3" in cand.note and "model API unreachable" in cand.note
    assert cand.improver_run is not None and cand.improver_run["exit_code"] == 3
    assert "+lr = 0.2" in cand.patch  # kept for inspection, not run
    assert result.best_candidate is None


@needs_bwrap
def test_a_snooping_agent_sees_nothing_it_should_not_and_its_extra_file_refuses_the_attempt(
    tiny: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tiny.manifest is not None
    secret_dir = tiny.manifest.parent / "secret"
    assert (secret_dir / "hidden.npz").stat().st_size > 0
    store = tmp_path / "store.duckdb"
    outside = tmp_path / "outside.txt"
    text = SNOOP.format(
        secret=secret_dir / "hidden.npz", secret_dir=secret_dir, store=store,
        home=Path.home(), target=tiny.manifest.parent, outside=outside,
        python=Path(sys.base_prefix).resolve(), evaluator=Path(evaluate.__file__).resolve(),
        driver=evaluate.driver_path().resolve(),
    )  # fmt: skip
    agent = script(tmp_path / "agents", "snoop.sh", text)
    monkeypatch.setenv("PASSED", "yes")
    monkeypatch.setenv("NOT_PASSED", "a-secret-token")
    imp = AgentImprover(
        f"sh {agent}", runs_dir=tmp_path / "runs", binds=(agent.parent,),
        env=agent_env(["PASSED"]), limits=AgentLimits(wall_seconds=120),
    )  # fmt: skip
    with Store.open(store) as s:
        result = run_experiment(
            tiny, imp, cycles=1, seeds=1, store=s, reference=False, ablate=False
        )
    cand = next(c for c in result.candidates if c.role == "candidate")
    assert cand.status == "rejected" and cand.sigma is None
    assert "changes outside the editable files: notes.txt (added)" in cand.note
    assert cand.improver_run is not None
    assert cand.improver_run["outside_editable"] == ["notes.txt (added)"]
    seen = Path(cand.improver_run["stdout"]).read_text()
    # the Python installation may live in the user's home; nothing else of it is there
    assert "SECRET=0 0" in seen and "STORE=0" in seen and "USERHOME=0" in seen
    assert (
        "EVALUATOR=0" in seen
        and "TARGET=0" in seen
        and "RSIMETER=absent" in seen
        and "OUTSIDE=refused" in seen
    )
    assert "PASSED=yes NOT_PASSED=absent" in seen
    assert not outside.exists()
    assert "a-secret-token" not in json.dumps(cand.improver_run)
    assert os.environ["NOT_PASSED"] == "a-secret-token"  # the caller's own is untouched


@needs_bwrap
def test_an_agent_past_its_time_is_failed_and_the_resolver_is_bound_only_with_network(
    tiny: Target, tmp_path: Path
) -> None:
    slow = "sed -i 's/^lr = 0.05/lr = 0.1/' train.py; sleep 30"
    imp = AgentImprover(slow, runs_dir=tmp_path / "runs", limits=AgentLimits(wall_seconds=2))
    result = run_experiment(tiny, imp, cycles=1, seeds=1, reference=False, ablate=False)
    cand = next(c for c in result.candidates if c.role == "candidate")
    assert cand.status == "failed" and "ran out of time" in cand.note
    assert cand.improver_run is not None and cand.improver_run["timed_out"] is True
    # /etc/resolv.conf (when the machine has one) is shown only to an agent with network
    probe = "test -e /etc/resolv.conf && echo RESOLVER=yes || echo RESOLVER=no"
    seen = {}
    for network in (False, True):
        work = tmp_path / f"w{network}"
        work.mkdir()
        out = tmp_path / f"out{network}.txt"
        sandbox.run_in_sandbox(
            ["/bin/sh", "-c", probe], workdir=work, readonly_binds={},
            budget=AgentLimits(wall_seconds=30), network=network, workdir_writable=True,
            stdout_file=out,
        )  # fmt: skip
        seen[network] = out.read_text().strip()
    assert seen[False] == "RESOLVER=no"
    assert seen[True] == ("RESOLVER=yes" if Path("/etc/resolv.conf").exists() else "RESOLVER=no")
