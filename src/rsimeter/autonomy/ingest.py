"""Transcript files -> ``autonomy_events`` and ``autonomy_sessions`` (incremental).

``ingest_paths(store, paths)`` finds transcript files under the paths, picks the
reader for each format, and writes each file's events in one transaction. A file
whose size and modification time are unchanged since it was last read is skipped;
a file that grew is read again and only events with new keys are added, so
re-running adds only what is new and a killed run loses nothing already written.

Nothing of the message text is stored. User names (the home folder of the
session's working directory) are pseudonymised with the store's salt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.progress import Progress

from rsimeter.autonomy.transcripts import aider, claude_code, codex, inspect_log
from rsimeter.autonomy.transcripts.common import Event, ReadContext, SessionMeta, clean_path
from rsimeter.config import section
from rsimeter.errors import InputError, Problems
from rsimeter.render import err_console
from rsimeter.store import Store

Reader = Callable[[ReadContext], Iterator[Event | SessionMeta]]
READERS: dict[str, Reader] = {
    claude_code.SOURCE: claude_code.read_claude_code,
    codex.SOURCE: codex.read_codex,
    aider.SOURCE: aider.read_aider,
    inspect_log.SOURCE: inspect_log.read_inspect,
}
# Modes in which every action runs without asking the human.
AUTO_APPROVE_MODES: frozenset[str] = (
    claude_code.AUTO_APPROVE_MODES | codex.AUTO_APPROVE_MODES | aider.AUTO_APPROVE_MODES
)
DEFAULT_PLACES = (Path("~/.claude/projects"), Path("~/.codex/sessions"))
BATCH = 50_000
_EVENT_COLUMNS = (
    "session",
    "key",
    "seq",
    "time",
    "actor",
    "kind",
    "tool",
    "files",
    "size",
    "mode",
    "asks",
    "runs_tests",
)


@dataclass
class IngestResult:
    """What one ``sessions ingest`` read (counts of this run) and what went wrong."""

    files: int = 0
    files_unchanged: int = 0
    sessions: int = 0
    events: int = 0
    new_events: int = 0
    human_turns: int = 0
    tool_calls: int = 0
    interruptions: int = 0
    rejections: int = 0
    approvals: int = 0
    malformed_lines: int = 0
    skipped_records: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    problems: Problems = field(default_factory=Problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "files_unchanged": self.files_unchanged,
            "sessions": self.sessions,
            "events": self.events,
            "new_events": self.new_events,
            "human_turns": self.human_turns,
            "tool_calls": self.tool_calls,
            "interruptions": self.interruptions,
            "rejections": self.rejections,
            "approvals": self.approvals,
            "malformed_lines": self.malformed_lines,
            "skipped_records": dict(sorted(self.skipped_records.items())),
            "files_by_source": dict(sorted(self.by_source.items())),
            "problems": self.problems.to_dict(),
        }

    def summary(self) -> str:
        lines = [
            f"Read {self.files} transcript files ({self.files_unchanged} unchanged, skipped): "
            f"{self.sessions} sessions, {self.events} events ({self.new_events} new)",
            f"  human turns {self.human_turns}, tool calls {self.tool_calls}, "
            f"interruptions {self.interruptions}, rejections {self.rejections}, "
            f"approvals {self.approvals}",
        ]
        if self.malformed_lines:
            lines.append(f"  malformed lines: {self.malformed_lines} (reported below, skipped)")
        if self.skipped_records:
            skipped = ", ".join(f"{k} {v}" for k, v in self.skipped_records.most_common(8))
            lines.append(f"  unknown records skipped: {skipped}")
        for p in self.problems.items[:10]:
            lines.append(f"  [yellow]{p}[/]")
        if self.problems.count() > 10:
            lines.append(f"  ... and {self.problems.count() - 10} more problems")
        return "\n".join(lines)


# -- finding files -----------------------------------------------------------
def detect_source(path: Path) -> str | None:
    """The transcript format of a file, from its name and first bytes (None: not one)."""
    name = path.name
    if name.endswith(".eval"):
        return inspect_log.SOURCE
    if name.endswith(".md"):
        head = _head(path, 4096)
        return aider.SOURCE if b"# aider chat started at" in head else None
    if name.endswith(".json"):
        head = _head(path, 4096)
        return inspect_log.SOURCE if b'"eval"' in head and b'"version"' in head else None
    if name.endswith(".jsonl"):
        head = _head(path, 65536)
        codex_marks = (b'"session_meta"', b'"response_item"', b'"record_type"', b'"turn_context"')
        if name.startswith("rollout-") or any(m in head for m in codex_marks):
            return codex.SOURCE
        return claude_code.SOURCE
    return None


def _head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def discover(paths: Iterable[Path], problems: Problems) -> list[tuple[Path, str]]:
    """Transcript files under the paths (folders walked without following links), sorted."""
    found: dict[Path, str] = {}
    for root in paths:
        root = Path(os.path.expanduser(str(root)))
        if root.is_file():
            source = detect_source(root)
            if source is None:
                problems.add(root, None, "not a transcript this reader knows", "unknown_file")
            else:
                found[root] = source
            continue
        if not root.is_dir():
            raise InputError(root, "no such file or folder")
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            for fname in sorted(files):
                p = Path(folder) / fname
                if p.is_symlink() or not p.is_file():
                    continue
                source = detect_source(p)
                if source is not None:
                    found[p] = source
    return sorted(found.items())


# -- writing -----------------------------------------------------------------
def _file_key(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]


class _SessionAcc:
    __slots__ = ("human_modes", "meta")

    def __init__(self, meta: SessionMeta) -> None:
        self.meta = meta
        self.human_modes: list[str] = []


def _merge(acc: _SessionAcc, meta: SessionMeta, modes: set[str]) -> None:
    m = acc.meta
    for name in ("user", "project", "time", "sidechain", "model", "version"):
        if getattr(m, name) is None and getattr(meta, name) is not None:
            setattr(m, name, getattr(meta, name))
    if meta.mode:
        modes.add(meta.mode)


def auto_approve(human_modes: Sequence[str], session_modes: Iterable[str]) -> bool | None:
    """Whether a session ran with every action auto-approved.

    True when at least half of its human turns with a known mode ran in an
    auto-approve mode; with no turn-level mode, when every mode the session logged
    is one; None when no mode was logged.
    """
    if human_modes:
        auto = sum(m in AUTO_APPROVE_MODES for m in human_modes)
        return 2 * auto >= len(human_modes)
    modes = [m for m in session_modes if m != "eval"]
    if not modes:
        return None
    return all(m in AUTO_APPROVE_MODES for m in modes)


def ingest_file(
    store: Store, path: Path, source: str, result: IngestResult, *, force: bool = False
) -> None:
    """Read one transcript file into the store in one transaction (skipped if unchanged)."""
    try:
        st = path.stat()
    except OSError as e:
        result.problems.add(path, None, f"cannot read: {e.strerror}", "unreadable")
        return
    key = _file_key(path)
    rows = store.execute(
        "SELECT size, mtime FROM autonomy_files WHERE file_key = ?", [key]
    ).fetchall()
    row = rows[0] if rows else None
    if not force and row is not None and row[0] == st.st_size and row[1] == st.st_mtime:
        result.files_unchanged += 1
        return
    ctx = ReadContext(path, result.problems)
    sessions: dict[str, _SessionAcc] = {}
    modes: dict[str, set[str]] = {}
    cols: dict[str, list[Any]] = {c: [] for c in _EVENT_COLUMNS}
    counts: Counter[str] = Counter()
    new = 0
    with store.transaction():
        try:
            for item in READERS[source](ctx):
                if isinstance(item, SessionMeta):
                    acc = sessions.get(item.session)
                    if acc is None:
                        sessions[item.session] = _SessionAcc(SessionMeta(item.session, item.source))
                        modes[item.session] = set()
                        acc = sessions[item.session]
                    _merge(acc, item, modes[item.session])
                    continue
                _append(cols, item)
                counts[item.kind if item.actor != "agent" else "agent_prompt"] += 1
                if item.session not in sessions:
                    sessions[item.session] = _SessionAcc(SessionMeta(item.session, source))
                    modes[item.session] = set()
                if item.kind == "human_message" and item.actor == "human" and item.mode:
                    sessions[item.session].human_modes.append(item.mode)
                if len(cols["session"]) >= BATCH:
                    new += _write_events(store, cols)
        except OSError as e:
            result.problems.add(path, None, f"cannot read: {e.strerror or e}", "unreadable")
            raise _Abort from e
        new += _write_events(store, cols)
        times = _session_times(store, list(sessions))
        rows = []
        for sid, acc in sessions.items():
            m = acc.meta
            first, last = times.get(sid, (None, None))
            rows.append(
                {
                    "session": sid,
                    "source": source,
                    "file_key": key,
                    "user_id": store.pseudonym(m.user, "user") if m.user else None,
                    "project": m.project,
                    "started_at": m.time if m.time is not None else first,
                    "ended_at": last,
                    "sidechain": m.sidechain,
                    "permission_modes": ",".join(sorted(modes[sid])) or None,
                    "auto_approve": auto_approve(acc.human_modes, modes[sid]),
                    "model": m.model,
                    "version": m.version,
                }
            )
        if rows:
            frame = pd.DataFrame(rows).astype(
                {"started_at": "datetime64[us]", "ended_at": "datetime64[us]"}
            )
            store.insert_frame("autonomy_sessions", frame, replace=True)
        store.execute(
            "INSERT OR REPLACE INTO autonomy_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                clean_path(str(path)) or "",
                source,
                st.st_size,
                st.st_mtime,
                len(sessions),
                sum(counts.values()),
                ctx.malformed,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
    result.files += 1
    result.by_source[source] += 1
    result.sessions += len(sessions)
    result.events += sum(counts.values())
    result.new_events += new
    result.human_turns += counts["human_message"]
    result.tool_calls += counts["tool_call"]
    result.interruptions += counts["interruption"]
    result.rejections += counts["rejection"]
    result.approvals += counts["approval"]
    result.malformed_lines += ctx.malformed
    result.skipped_records.update(ctx.skipped)


class _Abort(Exception):
    """A file could not be read to its end: its transaction is rolled back."""


def _append(cols: dict[str, list[Any]], e: Event) -> None:
    cols["session"].append(e.session)
    cols["key"].append(e.key)
    cols["seq"].append(e.seq)
    cols["time"].append(e.time)
    cols["actor"].append(e.actor)
    cols["kind"].append(e.kind)
    cols["tool"].append(e.tool)
    cols["files"].append(list(e.files) if e.files else None)
    cols["size"].append(e.size)
    cols["mode"].append(e.mode)
    cols["asks"].append(e.asks)
    cols["runs_tests"].append(e.runs_tests)


def _write_events(store: Store, cols: dict[str, list[Any]]) -> int:
    """Insert buffered events (keys already stored are left alone); empties the buffer."""
    n = len(cols["session"])
    if n == 0:
        return 0
    import pyarrow as pa

    table = pa.table(
        {
            "session": pa.array(cols["session"], pa.string()),
            "key": pa.array(cols["key"], pa.string()),
            "seq": pa.array(cols["seq"], pa.int64()),
            "time": pa.array(cols["time"], pa.timestamp("us")),
            "actor": pa.array(cols["actor"], pa.string()),
            "kind": pa.array(cols["kind"], pa.string()),
            "tool": pa.array(cols["tool"], pa.string()),
            "files": pa.array(cols["files"], pa.list_(pa.string())),
            "size": pa.array(cols["size"], pa.int64()),
            "mode": pa.array(cols["mode"], pa.string()),
            "asks": pa.array(cols["asks"], pa.bool_()),
            "runs_tests": pa.array(cols["runs_tests"], pa.bool_()),
        }
    )
    for c in cols.values():
        c.clear()
    before = _event_count(store)
    store.con.register("_autonomy_batch", table)
    try:
        # Duplicate keys inside one batch (a record copied twice) keep the first.
        store.execute(
            "INSERT OR IGNORE INTO autonomy_events SELECT * EXCLUDE (rn) FROM ("
            " SELECT *, row_number() OVER (PARTITION BY session, key ORDER BY seq) AS rn"
            " FROM _autonomy_batch) WHERE rn = 1"
        )
    finally:
        store.con.unregister("_autonomy_batch")
    return _event_count(store) - before


def _event_count(store: Store) -> int:
    return int(store.execute("SELECT count(*) FROM autonomy_events").fetchall()[0][0])


def _session_times(store: Store, sessions: list[str]) -> dict[str, tuple[Any, Any]]:
    if not sessions:
        return {}
    frame = store.frame(
        "SELECT session, min(time) AS first, max(time) AS last FROM autonomy_events "
        "WHERE session IN (SELECT unnest(?)) GROUP BY session",
        [sessions],
    )
    return {
        r.session: (None if pd.isna(r.first) else r.first, None if pd.isna(r.last) else r.last)
        for r in frame.itertuples()
    }


def ingest_paths(
    store: Store, paths: Iterable[Path | str], *, progress: bool = False, force: bool = False
) -> IngestResult:
    """Ingest every transcript file under the paths; returns what was read."""
    result = IngestResult()
    files = discover([Path(p) for p in paths], result.problems)
    total = sum(_size(p) for p, _ in files)
    with Progress(console=err_console, transient=True, disable=not progress) as bar:
        task = bar.add_task("reading transcripts", total=total or None)
        for path, source in files:
            with contextlib.suppress(_Abort):
                ingest_file(store, path, source, result, force=force)
            bar.advance(task, _size(path))
    return result


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class AutonomyConfig(BaseModel):
    """The ``[autonomy]`` table of rsimeter.toml."""

    model_config = ConfigDict(extra="forbid")

    transcripts: list[str] = []  # folders or files to ingest; "default" = the usual places


def ingest_default(
    store: Store,
    paths: Iterable[Path | str] | None = None,
    *,
    config: dict[str, Any] | None = None,
) -> IngestResult | None:
    """Ingest the transcripts a user asked for, else nothing (transcripts are private).

    ``paths`` (or ``[autonomy] transcripts = [...]`` in the config) name folders or
    files; the word ``"default"`` stands for ``~/.claude/projects`` and
    ``~/.codex/sessions``. With neither, nothing is read and None is returned.
    """
    if paths is None:
        try:
            cfg = AutonomyConfig.model_validate(section(config or {}, "autonomy"))
        except ValidationError as e:
            raise InputError("rsimeter.toml", f"[autonomy]: {e.errors()[0]['msg']}") from e
        paths = cfg.transcripts
    wanted: list[Path] = []
    for p in paths:
        if str(p) == "default":
            wanted.extend(q.expanduser() for q in DEFAULT_PLACES if q.expanduser().is_dir())
        else:
            wanted.append(Path(p).expanduser())
    if not wanted:
        return None
    return ingest_paths(store, wanted)
