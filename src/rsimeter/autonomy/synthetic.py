"""Synthetic Claude Code transcripts with known ground truth (tests, benchmarks, demos).

The records follow the shape Claude Code writes (``type``, ``sessionId``,
``timestamp``, ``message`` with content blocks, streamed assistant responses split
over lines sharing ``message.id``); the text is filler, never real content.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "


@dataclass
class Truth:
    """What a generated set of transcripts contains, by construction."""

    sessions: int = 0
    human_turns: int = 0
    tool_calls: int = 0
    interruptions: int = 0
    rejections: int = 0
    auto_sessions: int = 0
    bytes: int = 0
    stops: Counter[str] = field(default_factory=Counter)


def _filler(rng: random.Random, low: int, high: int) -> str:
    n = rng.randint(low, high)
    return (FILLER * (n // len(FILLER) + 1))[:n]


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def write_session(
    out: IO[str],
    rng: random.Random,
    start: datetime,
    truth: Truth,
    *,
    turns: int = 3,
    mode: str = "default",
    cwd: str = "/home/alice/project",
    result_chars: int = 400,
) -> datetime:
    """Write one session to an open file; returns the time it ended."""
    sid = str(uuid.UUID(int=rng.getrandbits(128)))
    t = start
    parent: str | None = None
    truth.sessions += 1
    truth.auto_sessions += mode == "bypassPermissions"

    def rec(kind: str, message: dict[str, Any], **extra: Any) -> None:
        nonlocal parent
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        line = {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": cwd,
            "sessionId": sid,
            "version": "1.0.80",
            "gitBranch": "main",
            "type": kind,
            "message": message,
            "uuid": uid,
            "timestamp": _ts(t),
            **extra,
        }
        parent = uid
        text = json.dumps(line) + "\n"
        truth.bytes += len(text.encode())
        out.write(text)

    for _ in range(turns):
        rec("user", {"role": "user", "content": FILLER[: rng.randint(20, 70)]}, permissionMode=mode)
        truth.human_turns += 1
        n_tools = rng.choice((0, 1, 2, 3, 5, 8))
        stop = "agent_finished"
        for _ in range(n_tools):
            t += timedelta(seconds=rng.randint(2, 90))
            mid = f"msg_{rng.getrandbits(64):016x}"
            tid = f"toolu_{rng.getrandbits(64):016x}"
            usage = {
                "input_tokens": rng.randint(1, 9),
                "cache_creation_input_tokens": 1200,
                "cache_read_input_tokens": 48000,
                "output_tokens": rng.randint(5, 900),
                "service_tier": "standard",
            }
            # one response streamed over two lines that share the message id
            rec(
                "assistant",
                {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4",
                    "content": [{"type": "text", "text": FILLER[: rng.randint(20, 79)]}],
                    "usage": usage,
                },
                requestId=f"req_{mid[4:]}",
            )
            name = rng.choice(("Read", "Edit", "Bash", "Grep"))
            inp: dict[str, Any] = (
                {"command": "python -m pytest -q"}
                if name == "Bash"
                else {"file_path": f"{cwd}/src/mod{rng.randint(0, 9)}.py"}
            )
            rec(
                "assistant",
                {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4",
                    "content": [{"type": "tool_use", "id": tid, "name": name, "input": inp}],
                    "usage": usage,
                },
                requestId=f"req_{mid[4:]}",
            )
            truth.tool_calls += 1
            t += timedelta(seconds=rng.randint(1, 30))
            rejected = mode == "default" and rng.random() < 0.05
            body = (
                "The user doesn't want to proceed with this tool use. The tool use was "
                "rejected (eg. if it was a file edit, the new_string was NOT written to the "
                "file). STOP what you are doing and wait for the user to tell you how to "
                "proceed."
                if rejected
                else (FILLER * (result_chars // len(FILLER) + 1))[: rng.randint(1, result_chars)]
            )
            rec(
                "user",
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": tid,
                            "content": body,
                            "is_error": rejected,
                        }
                    ],
                },
            )
            if rejected:
                truth.rejections += 1
                stop = "human_rejected"
                break
        if stop == "agent_finished" and rng.random() < 0.08:
            t += timedelta(seconds=rng.randint(1, 20))
            rec(
                "user",
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "[Request interrupted by user]"}],
                },
            )
            truth.interruptions += 1
            stop = "human_interrupted"
        elif stop == "agent_finished":
            t += timedelta(seconds=rng.randint(1, 20))
            asks = rng.random() < 0.3
            rec(
                "assistant",
                {
                    "id": f"msg_{rng.getrandbits(64):016x}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4",
                    "content": [
                        {
                            "type": "text",
                            "text": "Done. Shall I also add tests?" if asks else "Done.",
                        }
                    ],
                },
            )
            stop = "agent_asked" if asks else "agent_finished"
        truth.stops[stop] += 1
        t += timedelta(seconds=rng.randint(30, 600))
    return t


def write_corpus(
    folder: Path,
    *,
    size_mb: float,
    seed: int = 0,
    sessions_per_file: int = 20,
    result_chars: int = 6000,
) -> Truth:
    """Write synthetic Claude Code projects under folder until about size_mb are written."""
    rng = random.Random(seed)
    truth = Truth()
    target = int(size_mb * 2**20)
    t = datetime(2025, 1, 6, 9, 0, 0)
    f = 0
    while truth.bytes < target:
        project = folder / f"-home-alice-proj{f % 7}"
        project.mkdir(parents=True, exist_ok=True)
        with open(project / f"{uuid.UUID(int=rng.getrandbits(128))}.jsonl", "w") as out:
            for _ in range(sessions_per_file):
                mode = "bypassPermissions" if rng.random() < 0.3 else "default"
                t = write_session(
                    out,
                    rng,
                    t,
                    truth,
                    turns=rng.randint(1, 8),
                    mode=mode,
                    result_chars=result_chars,
                )
                t += timedelta(hours=rng.randint(1, 30))
                if truth.bytes >= target:
                    break
        f += 1
    return truth
