"""One agent episode on Inspect AI: read the pipeline, edit it, check the proxy, submit.

The agent is Inspect's ReAct agent with rsimeter's own tools. File tools work
in a confined ``Workspace``; ``run_proxy`` scores the current edit through the
harness (whose training and prediction run in the rsimeter sandbox) and shows
the proxy score only; ``run_command`` (when enabled) runs a shell command in the
rsimeter sandbox, never on the host and never in Inspect's ``local`` sandbox.
Messages and tokens are capped (Inspect's limits); a money cap becomes a token
cap at the declared price. The Inspect log of the episode is kept on disk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsimeter.errors import RsimeterError
from rsimeter.loop.llm.workspace import Workspace, WorkspaceError
from rsimeter.loop.recursion.versions import ImproverVersion

ProxyFn = Callable[[dict[str, str]], float]  # edited files -> proxy score (higher is better)
CommandFn = Callable[[str, Path], str]  # command, workspace folder -> output


@dataclass(frozen=True)
class LLMLimits:
    """Token and money caps of one proposal, and the price used to count money."""

    token_limit: int = 200_000
    usd_limit: float | None = None
    usd_per_mtok_input: float = 0.0
    usd_per_mtok_output: float = 0.0

    def effective_token_limit(self) -> int:
        """The token cap, lowered so the money cap cannot be passed at the declared price."""
        price = max(self.usd_per_mtok_input, self.usd_per_mtok_output)
        if self.usd_limit is None or price <= 0:
            return self.token_limit
        return max(1, min(self.token_limit, math.floor(self.usd_limit / price * 1e6)))

    def usd(self, input_tokens: int, output_tokens: int) -> float | None:
        """Money spent at the declared price (None when no price was declared)."""
        if self.usd_per_mtok_input <= 0 and self.usd_per_mtok_output <= 0:
            return None
        return (
            input_tokens * self.usd_per_mtok_input + output_tokens * self.usd_per_mtok_output
        ) / 1e6


@dataclass(frozen=True)
class AgentRun:
    """What one episode produced and used."""

    patch: str
    log_path: str
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    usd: float | None
    messages: int
    stop_reason: str
    proxy_runs: int
    tool_errors: int
    extra: dict[str, Any] = field(default_factory=dict)

    def transcript(self) -> dict[str, Any]:
        """The record that links a candidate to this episode (no message text)."""
        return {
            "log_path": self.log_path,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "usd": self.usd,
            "messages": self.messages,
            "stop_reason": self.stop_reason,
            "proxy_runs": self.proxy_runs,
        }


def _tools(
    ws: Workspace,
    version: ImproverVersion,
    proxy: ProxyFn | None,
    command: CommandFn | None,
    counters: dict[str, int],
) -> list[Any]:
    from inspect_ai.tool import ToolDef, ToolError

    def guard(fn: Callable[..., str]) -> Callable[..., Any]:
        @functools.wraps(fn)  # keeps the parameters Inspect shows the model
        async def run(**kwargs: Any) -> str:
            try:
                return fn(**kwargs)
            except (WorkspaceError, ValueError) as e:
                counters["tool_errors"] += 1
                raise ToolError(str(e)) from e

        return run

    def list_files() -> str:
        return "\n".join(ws.list_files())

    def read_file(path: str) -> str:
        return ws.read(path)

    def write_file(path: str, content: str) -> str:
        ws.write(path, content)
        return f"wrote {path}"

    def replace_in_file(path: str, old: str, new: str) -> str:
        ws.replace(path, old, new)
        return f"edited {path}"

    def show_diff() -> str:
        return ws.diff() or "(no changes)"

    def run_proxy() -> str:
        if proxy is None:
            raise WorkspaceError("no proxy evaluation is available")
        if counters["proxy_runs"] >= version.proxy_runs:
            raise WorkspaceError(f"proxy budget spent ({version.proxy_runs} runs)")
        counters["proxy_runs"] += 1
        score = proxy(ws.files())
        left = version.proxy_runs - counters["proxy_runs"]
        shown = f"{score:.6g}" if math.isfinite(score) else "failed (the edit did not run)"
        return f"proxy score: {shown} (higher is better); {left} proxy runs left"

    def run_command(command_line: str) -> str:
        assert command is not None
        return command(command_line, ws.root)

    defs = [
        ToolDef(guard(list_files), "list_files", "List the editable pipeline files.", {}),
        ToolDef(guard(read_file), "read_file", "Read one editable file.",
                {"path": "File path as listed by list_files."}),
        ToolDef(guard(write_file), "write_file", "Replace an editable file's whole text.",
                {"path": "File path.", "content": "New text of the file."}),
        ToolDef(guard(replace_in_file), "replace_in_file",
                "Replace one exact, unique piece of text in an editable file.",
                {"path": "File path.", "old": "Exact text to replace (must occur once).",
                 "new": "Replacement text."}),
        ToolDef(guard(show_diff), "show_diff", "Show the current edit as a unified diff.", {}),
        ToolDef(guard(run_proxy), "run_proxy",
                "Train the edited pipeline in the sandbox and return its proxy score.", {}),
    ]  # fmt: skip
    if command is not None:
        defs.append(
            ToolDef(
                guard(run_command),
                "run_command",
                "Run a shell command in the sandboxed copy of the pipeline (no network).",
                {"command_line": "The command (bash)."},
            )
        )
    return defs


def run_agent(
    *,
    brief: str,
    workspace: Workspace,
    version: ImproverVersion,
    model: Any,
    limits: LLMLimits,
    log_dir: Path,
    proxy: ProxyFn | None = None,
    command: CommandFn | None = None,
) -> AgentRun:
    """Run one Inspect episode; the patch is the workspace's diff when the episode ends.

    ``model`` is an Inspect model string (keys come from the environment) or a
    ``Model`` (tests pass ``get_model("mockllm/model", custom_outputs=...)``).
    """
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.agent import react
    from inspect_ai.dataset import Sample

    counters = {"proxy_runs": 0, "tool_errors": 0}
    tools = _tools(workspace, version, proxy, command, counters)
    task = Task(
        dataset=[Sample(input=brief)],
        solver=react(prompt=version.prompt, tools=tools),
        name="rsimeter-improve",
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        logs = inspect_eval(
            task,
            model=model,
            log_dir=str(log_dir),
            display="none",
            log_level="error",
            message_limit=version.max_messages,
            token_limit=limits.effective_token_limit(),
            score=False,
            fail_on_error=False,
        )
    except Exception as e:  # a provider or configuration error, not the candidate's
        raise RsimeterError(f"the LLM improver could not run: {e}") from e
    log = logs[0]
    usage = list(log.stats.model_usage.values()) if log.stats else []
    inp = sum(u.input_tokens + (u.input_tokens_cache_read or 0) for u in usage)
    out = sum(u.output_tokens for u in usage)
    total = sum(u.total_tokens for u in usage)
    reported = [u.total_cost for u in usage if u.total_cost is not None]
    sample = log.samples[0] if log.samples else None
    stop = str(log.status)
    if sample is not None and sample.limit is not None:
        stop = f"{sample.limit.type} limit"
    elif sample is not None and sample.error is not None:
        stop = "error"
    usd = float(sum(reported)) if reported else limits.usd(inp, out)
    model_name = str(log.eval.model)
    return AgentRun(
        patch=workspace.diff(),
        log_path=str(log.location),
        model=model_name,
        input_tokens=int(inp),
        output_tokens=int(out),
        total_tokens=int(total),
        usd=usd,
        messages=len(sample.messages) if sample is not None else 0,
        stop_reason=stop,
        proxy_runs=counters["proxy_runs"],
        tool_errors=counters["tool_errors"],
    )
