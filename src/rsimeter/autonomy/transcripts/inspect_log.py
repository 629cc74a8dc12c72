"""Inspect AI evaluation logs (``.eval`` archives and ``.json`` logs).

Read with ``inspect_ai.log.read_eval_log_samples``, one sample at a time (an
``.eval`` archive is read sample by sample; a ``.json`` log is parsed by Inspect; a
log written without sample ids is read whole).
Each sample is one session. Its input is the one human message (the task author's
prompt); ``model`` events are assistant messages, ``tool`` events a tool call and
its result, ``approval`` events an approval or a rejection (by a human approver or
a policy). Other event types hold nothing this pillar measures and are not counted.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from rsimeter.autonomy.transcripts.common import (
    ASK_TOOLS,
    Event,
    ReadContext,
    SessionMeta,
    asks_question,
    clean_name,
    clean_path,
    files_from_input,
    files_from_patch,
    runs_tests,
    text_size,
)

SOURCE = "inspect"
AUTO_APPROVE_MODES: frozenset[str] = frozenset()

Item = Event | SessionMeta


def _read_samples(ctx: ReadContext) -> Iterator[tuple[str, Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from inspect_ai.log import read_eval_log, read_eval_log_samples

        try:
            header = read_eval_log(str(ctx.path), header_only=True)
            eval_id = str(getattr(header.eval, "eval_id", "") or ctx.path.stem)
            model = str(getattr(header.eval, "model", "") or "")
        except Exception as e:  # a foreign or broken file: Inspect raises many kinds
            ctx.bad_line(0, f"not an Inspect log: {type(e).__name__}: {str(e)[:200]}")
            return
        ident = f"{eval_id}|{model}"
        has_ids = bool(getattr(header.eval.dataset, "sample_ids", None))
        try:
            if has_ids:
                for sample in read_eval_log_samples(str(ctx.path), all_samples_required=False):
                    yield ident, sample
            else:  # logs written without sample ids cannot be streamed: read them whole
                for sample in read_eval_log(str(ctx.path)).samples or []:
                    yield ident, sample
        except Exception as e:
            ctx.bad_line(0, f"Inspect log unreadable: {type(e).__name__}: {str(e)[:200]}")


def read_inspect(ctx: ReadContext) -> Iterator[Item]:
    """Events and session metadata of the samples of one Inspect AI log."""
    for ident, sample in _read_samples(ctx):
        eval_id, _, model = ident.partition("|")
        session = clean_path(f"{SOURCE}:{eval_id}:{sample.id}:{sample.epoch}") or SOURCE
        events = list(getattr(sample, "events", []) or [])
        start = _naive_utc(events[0].timestamp) if events else None
        yield SessionMeta(
            session, SOURCE, time=start, sidechain=False, model=clean_name(model), mode="eval"
        )
        yield Event(
            session,
            "u:input",
            ctx.next_seq(),
            start,
            "human",
            "human_message",
            size=max(1, text_size(_input_text(sample.input))),
            mode="eval",
        )
        for i, ev in enumerate(events):
            yield from _event(ctx, session, i, ev)


def _naive_utc(ts: Any) -> datetime | None:
    if not isinstance(ts, datetime):
        return None
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _input_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [getattr(m, "text", "") for m in value]
    return ""


def _event(ctx: ReadContext, session: str, i: int, ev: Any) -> Iterator[Item]:
    kind = getattr(ev, "event", None)
    ts = getattr(ev, "timestamp", None)
    time = _naive_utc(ts)
    if kind == "model":
        output = getattr(ev, "output", None)
        text = ""
        try:
            text = output.message.text if output is not None and output.choices else ""
        except (AttributeError, IndexError):
            text = ""
        if text:
            yield Event(
                session,
                f"m:{i}",
                ctx.next_seq(),
                time,
                "assistant",
                "assistant_message",
                size=len(text),
                asks=asks_question(text),
            )
    elif kind == "tool":
        name = clean_name(getattr(ev, "function", None)) or "(unnamed)"
        args = getattr(ev, "arguments", None) or {}
        files = files_from_input(args)
        if not files and isinstance(args, dict):
            for v in args.values():
                if isinstance(v, str) and "*** " in v:
                    files = files_from_patch(v)
        cmd = args.get("cmd", args.get("command")) if isinstance(args, dict) else None
        yield Event(
            session,
            f"t:{i}",
            ctx.next_seq(),
            time,
            "assistant",
            "tool_call",
            tool=name,
            files=files,
            asks=name in ASK_TOOLS,
            runs_tests=runs_tests(cmd),
        )
        error = getattr(ev, "error", None)
        if error is None or getattr(error, "type", "") != "approval":  # rejections: see below
            result = getattr(ev, "result", "")
            size = len(result) if isinstance(result, str) else len(json.dumps(result, default=str))
            yield Event(
                session, f"r:{i}", ctx.next_seq(), time, "tool", "tool_result", tool=name, size=size
            )
    elif kind == "approval":
        decision = str(getattr(ev, "decision", ""))
        approver = str(getattr(ev, "approver", ""))
        actor = "human" if "human" in approver.lower() else "policy"
        if decision == "approve":
            yield Event(session, f"a:{i}", ctx.next_seq(), time, actor, "approval")
        elif decision in ("reject", "terminate"):
            yield Event(session, f"a:{i}", ctx.next_seq(), time, actor, "rejection")
