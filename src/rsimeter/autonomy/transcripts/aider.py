"""aider chat histories (``.aider.chat.history.md``).

Markdown, appended to by every aider run in a folder:

- ``# aider chat started at 2024-05-01 10:00:00``: a new session (local time; the
  only timestamp the format has, so stretch durations are not measurable here);
- ``#### text``: the human's message (consecutive lines are one message);
- ``> text``: aider's own output: ``> Applied edit to PATH`` (a file edit),
  ``> Commit abc123 ...`` (a commit), ``> Running CMD`` (a command), prompts ending
  ``(Y)es/(N)o ...: answer`` (approval or rejection by the human), ``^C`` (interrupt),
  and on the first lines the command line (``--yes-always`` / ``--yes``: every action
  auto-approved), ``Aider vX`` and ``Model: ...``;
- any other text: the model's reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from rsimeter.autonomy.transcripts.common import (
    Event,
    ReadContext,
    SessionMeta,
    asks_question,
    clean_name,
    clean_path,
    iter_lines,
    runs_tests,
)

SOURCE = "aider"
AUTO_APPROVE_MODES = frozenset({"yes-always"})
_HEADER = re.compile(r"^# aider chat started at (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)")
_APPLIED = re.compile(r"^> Applied edit to (.+?)\s*$")
_COMMIT = re.compile(r"^> Commit [0-9a-f]{6,40}\b")
_RUNNING = re.compile(r"^> Running (.+)$")
_PROMPT = re.compile(r"\(Y\)es/\(N\)o.*?:\s*(\w+)\s*$")
_VERSION = re.compile(r"^> Aider v(\S+)")
_MODEL = re.compile(r"^> (?:Main )?[Mm]odel: (\S+)")

Item = Event | SessionMeta


class _Reader:
    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.session: str | None = None
        self.time: datetime | None = None
        self.mode: str | None = None
        self.human_size = 0
        self.human_line = 0
        self.reply_size = 0
        self.reply_line = 0
        self.reply_asks = False
        self.in_fence = False

    def event(self, key: str, actor: str, kind: str, **kw: object) -> Event:
        assert self.session is not None
        return Event(self.session, key, self.ctx.next_seq(), None, actor, kind, **kw)  # type: ignore[arg-type]

    def flush(self) -> Iterator[Item]:
        if self.session is None:
            return
        if self.human_size:
            yield self.event(
                f"u:{self.human_line}",
                "human",
                "human_message",
                size=self.human_size,
                mode=self.mode,
            )
            self.human_size = 0
        if self.reply_size:
            yield self.event(
                f"m:{self.reply_line}",
                "assistant",
                "assistant_message",
                size=self.reply_size,
                asks=self.reply_asks,
            )
            self.reply_size = 0
            self.reply_asks = False

    def read(self) -> Iterator[Item]:
        for lineno, raw in iter_lines(self.ctx.path):
            if raw is None:
                self.ctx.bad_line(lineno, "line too long, skipped")
                continue
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            header = _HEADER.match(line)
            if header:
                yield from self.flush()
                self.start(lineno, header.group(1))
                yield SessionMeta(self.session or "", SOURCE, time=self.time, sidechain=False)
                continue
            if self.session is None:
                if line.strip():
                    self.ctx.skip(f"{SOURCE}:text before the first session header")
                continue
            if line.startswith("#### "):
                if self.reply_size:
                    yield from self.flush()
                if not self.human_size:
                    self.human_line = lineno
                self.human_size += len(line) - 5
                continue
            if self.human_size:
                yield from self.flush()
            if line.startswith("> ") or line == ">":
                yield from self.tool_line(lineno, line)
                continue
            if line.strip():
                if line.lstrip().startswith("```"):
                    self.in_fence = not self.in_fence
                if not self.reply_size:
                    self.reply_line = lineno
                self.reply_size += len(line)
                if not self.in_fence:
                    self.reply_asks = asks_question(line)
        yield from self.flush()

    def start(self, lineno: int, stamp: str) -> None:
        self.session = clean_path(f"{SOURCE}:{self.ctx.path.parent.name}:{lineno}:{stamp}")
        try:
            self.time = datetime.fromisoformat(stamp)
        except ValueError:
            self.time = None
        self.mode = None
        self.in_fence = False

    def tool_line(self, lineno: int, line: str) -> Iterator[Item]:
        assert self.session is not None
        if self.reply_size:
            yield from self.flush()
        if "aider" in line and re.search(r"\s--yes(?:-always)?(?:\s|$)", line):
            self.mode = "yes-always"
            yield SessionMeta(self.session, SOURCE, mode=self.mode)
        if m := _VERSION.match(line):
            yield SessionMeta(self.session, SOURCE, version=clean_name(m.group(1)))
            return
        if m := _MODEL.match(line):
            yield SessionMeta(self.session, SOURCE, model=clean_name(m.group(1)))
            return
        if m := _APPLIED.match(line):
            path = clean_path(m.group(1))
            yield self.event(
                f"t:{lineno}", "assistant", "tool_call", tool="edit", files=(path,) if path else ()
            )
            return
        if _COMMIT.match(line):
            yield self.event(f"t:{lineno}", "assistant", "tool_call", tool="git_commit")
            return
        if m := _RUNNING.match(line):
            yield self.event(
                f"t:{lineno}",
                "assistant",
                "tool_call",
                tool="shell",
                runs_tests=runs_tests(m.group(1)),
            )
            return
        if "^C" in line or "KeyboardInterrupt" in line:
            yield self.event(f"i:{lineno}", "human", "interruption")
            return
        if m := _PROMPT.search(line):
            answer = m.group(1).lower()
            kind = "approval" if answer.startswith(("y", "a")) else "rejection"
            actor = "policy" if self.mode == "yes-always" else "human"
            yield self.event(f"a:{lineno}", actor, kind)


def read_aider(ctx: ReadContext) -> Iterator[Item]:
    """Events and session metadata of one aider chat history, streamed."""
    yield from _Reader(ctx).read()
