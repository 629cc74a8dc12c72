"""An Inspect AI log written with Inspect's own API (two samples, tool calls, an approval)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path


def inspect_log(path: Path, *, sample_ids: bool = True) -> Path:
    """Sample 1: 2 model turns, 2 tool calls (one rejected by a human approver).
    Sample 2: 1 model turn, no tools."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from inspect_ai.event import ApprovalEvent, ModelEvent, ToolEvent
        from inspect_ai.log import (
            EvalConfig,
            EvalDataset,
            EvalLog,
            EvalSample,
            EvalSpec,
            write_eval_log,
        )
        from inspect_ai.model import GenerateConfig, ModelOutput
        from inspect_ai.tool import ToolCall, ToolCallError

        t0 = datetime(2025, 5, 5, 12, 0, tzinfo=UTC)

        def at(s: int) -> datetime:
            return t0 + timedelta(seconds=s)

        def model(s: int, text: str) -> ModelEvent:
            return ModelEvent(
                timestamp=at(s),
                model="mockllm/model",
                input=[],
                tools=[],
                tool_choice="auto",
                config=GenerateConfig(),
                output=ModelOutput.from_content("mockllm/model", text),
            )

        events_1 = [
            model(0, "I will run the tests."),
            ToolEvent(
                timestamp=at(5),
                id="c1",
                function="bash",
                arguments={"cmd": "pytest -q"},
                result="1 passed",
            ),
            ApprovalEvent(
                timestamp=at(9),
                message="",
                call=ToolCall(id="c2", function="bash", arguments={"cmd": "rm -rf /"}),
                approver="human",
                decision="reject",
            ),
            ToolEvent(
                timestamp=at(10),
                id="c2",
                function="bash",
                arguments={"cmd": "rm -rf /"},
                result="",
                error=ToolCallError("approval", "rejected"),
            ),
            model(20, "Done. Anything else?"),
        ]
        samples = [
            EvalSample(id=1, epoch=1, input="fix the failing test", target="", events=events_1),
            EvalSample(id=2, epoch=1, input="say hi", target="", events=[model(30, "hi")]),
        ]
        log = EvalLog(
            eval=EvalSpec(
                created=t0.isoformat(),
                task="t",
                model="mockllm/model",
                dataset=EvalDataset(samples=2, sample_ids=[1, 2]) if sample_ids else EvalDataset(),
                config=EvalConfig(),
            ),
            samples=samples,
        )
        write_eval_log(log, str(path))
    return path
