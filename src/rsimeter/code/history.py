"""One streamed pass over a git history: commit rows with attribution and file categories.

This module knows git's output format and nothing about the store, so the same
pass runs in this process or on a Dask worker. Identities come out raw; the
caller pseudonymises them before anything is written.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rsimeter.code.attribution import AGENT_AUTHORED, attribute
from rsimeter.code.classify import Classifier, load_classifier
from rsimeter.code.git import DEFAULT_TIMEOUT, stream_git
from rsimeter.code.signatures import Registry, load_signatures

BATCH = 2000

COMMIT_COLUMNS = (
    "sha",
    "author_name",
    "author_email",
    "committer_email",
    "authored_at",
    "committed_at",
    "parents",
    "is_merge",
    "mainline",
    "attribution",
    "tool",
    "evidence",
    "author_is_agent",
    "committer_is_bot",
    "files",
    "binary_files",
    "lines_added",
    "lines_deleted",
    "ai_dev_files",
    "ai_dev_lines_added",
    "message_utf8",
)
FILE_COLUMNS = (
    "sha",
    "path",
    "old_path",
    "category",
    "ai_dev",
    "lines_added",
    "lines_deleted",
    "is_binary",
)


@dataclass(frozen=True)
class PassSpec:
    """What one pass mines: a git dir, the tip, and the tip already mined (exclusive)."""

    git_dir: str
    tip: str
    since: str | None = None
    signatures: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Any] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    batch: int = BATCH


@dataclass
class Batch:
    """Rows for up to ``PassSpec.batch`` commits: commits and their changed files."""

    commits: pd.DataFrame
    files: pd.DataFrame


@dataclass
class HistoryPass:
    """Streams a history in batches; after ``batches()`` is exhausted, holds the graph facts.

    ``merged_by`` maps each merged-in commit to the mainline merge that brought it in;
    ``errors`` says what git could not read (the rows before it are still yielded).
    """

    spec: PassSpec
    merged_by: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    commits: int = 0
    non_utf8: int = 0
    mainline_count: int = 0

    def batches(self) -> Iterator[Batch]:
        """Yield batches of rows; one ``git rev-list`` and one ``git log`` process."""
        spec = self.spec
        registry = load_signatures(spec.signatures)
        classifier = load_classifier(spec.paths)
        rng = [spec.tip, *([f"^{spec.since}"] if spec.since else [])]
        order = self._mainline(rng)
        mainline = set(order)
        self.mainline_count = len(order)
        side_parents: dict[str, list[str]] = {}
        merges: dict[str, list[str]] = {}

        nonce = secrets.token_hex(8).encode()
        start, end = b"\x1e" + nonce, b"\x1f" + nonce + b"\x1f"
        tag = nonce.decode()
        fields = "%H%x00%P%x00%an%x00%ae%x00%ce%x00%at%x00%ct%x00%B"
        fmt = f"%x1e{tag}{fields}%x1f{tag}%x1f"
        args = [
            "log",
            "-z",
            "--numstat",
            "--no-color",
            "--no-textconv",
            "--no-ext-diff",
            "--no-mailmap",
            "--no-show-signature",
            "--encoding=UTF-8",
            f"--format={fmt}",
            "--end-of-options",
            *rng,
        ]
        status, chunks = stream_git(args, spec.git_dir, spec.timeout)
        rows: list[tuple[Any, ...]] = []
        files: list[tuple[Any, ...]] = []
        buf = b""
        for chunk in chunks:
            buf += chunk
            parts = buf.split(start)
            buf = parts.pop()
            for rec in parts:
                if rec:
                    self._record(
                        rec, end, mainline, registry, classifier, rows, files, side_parents, merges
                    )
                if len(rows) >= spec.batch:
                    yield _batch(rows, files)
                    rows, files = [], []
        if status.error is None and buf:
            self._record(
                buf, end, mainline, registry, classifier, rows, files, side_parents, merges
            )
        elif status.error is not None:
            self.errors.append(f"history read stopped early: {status.error}")
        if rows:
            yield _batch(rows, files)
        oldest_first = [(m, merges[m]) for m in reversed(order) if m in merges]
        self.merged_by = _assign_merges(oldest_first, side_parents)

    def _mainline(self, rng: list[str]) -> list[str]:
        """First-parent history, newest first (a list, to keep mainline order)."""
        status, chunks = stream_git(
            ["rev-list", "--first-parent", "--end-of-options", *rng],
            self.spec.git_dir,
            self.spec.timeout,
        )
        data = b"".join(chunks)
        if status.error is not None:
            self.errors.append(f"first-parent history incomplete: {status.error}")
        return data.decode("ascii", "replace").split()

    def _record(
        self,
        rec: bytes,
        end: bytes,
        mainline: set[str],
        registry: Registry,
        classifier: Classifier,
        rows: list[tuple[Any, ...]],
        files: list[tuple[Any, ...]],
        side_parents: dict[str, list[str]],
        merges: dict[str, list[str]],
    ) -> None:
        cut = rec.rfind(end)
        if cut < 0:
            self.errors.append("a commit record was cut short; skipped")
            return
        meta, stats = rec[:cut], rec[cut + len(end) :]
        fields = meta.split(b"\x00", 7)
        if len(fields) != 8:
            self.errors.append("a commit record had unexpected fields; skipped")
            return
        sha_b, parents_b, an, ae, ce, at, ct, body_b = fields
        sha = sha_b.decode("ascii", "replace")
        parents = parents_b.decode("ascii", "replace").split()
        try:
            body = body_b.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            body = body_b.decode("utf-8", "replace")
            utf8 = False
            self.non_utf8 += 1
        author_email = ae.decode("utf-8", "replace")
        committer_email = ce.decode("utf-8", "replace")
        attr = attribute(registry, author_email, committer_email, body)
        is_main = sha in mainline
        is_merge = len(parents) > 1
        if is_main and is_merge:
            merges[sha] = parents[1:]
        elif not is_main:
            side_parents[sha] = parents
        n_files = n_bin = added = deleted = dev_files = dev_added = 0
        if not is_merge:
            for path, old, a, d in _numstat(stats):
                cat = classifier.category(path)
                dev = classifier.is_ai_dev(cat)
                n_files += 1
                if a is None:
                    n_bin += 1
                else:
                    added += a
                    deleted += d or 0
                if dev:
                    dev_files += 1
                    dev_added += a or 0
                files.append((sha, path, old, cat, dev, a, d, a is None))
        self.commits += 1
        rows.append(
            (
                sha,
                an.decode("utf-8", "replace"),
                author_email,
                committer_email,
                _ts(at),
                _ts(ct),
                len(parents),
                is_merge,
                is_main,
                attr.cls,
                attr.tool,
                attr.evidence or None,
                attr.cls == AGENT_AUTHORED,
                registry.tool_of_email(committer_email) is not None or _is_bot(committer_email),
                n_files,
                n_bin,
                added,
                deleted,
                dev_files,
                dev_added,
                utf8,
            )
        )


def _numstat(stats: bytes) -> Iterator[tuple[str, str | None, int | None, int | None]]:
    """(path, old path for renames, added, deleted) per file; None counts for binary files."""
    toks = stats.split(b"\x00")
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i].lstrip(b"\n")
        i += 1
        if not tok:
            continue
        parts = tok.split(b"\t", 2)
        if len(parts) != 3:
            continue
        a, d, path = parts
        old: bytes | None = None
        if not path:  # rename or copy: old and new path follow as their own tokens
            if i + 1 >= n:
                break
            old, path = toks[i], toks[i + 1]
            i += 2
        yield (
            path.decode("utf-8", "replace"),
            old.decode("utf-8", "replace") if old is not None else None,
            int(a) if a.isdigit() else None,
            int(d) if d.isdigit() else None,
        )


def _ts(raw: bytes) -> int:
    try:
        value = int(raw)
    except ValueError:
        return 0
    return value if -(2**40) < value < 2**40 else 0


def _is_bot(email: str) -> bool:
    e = email.lower()
    return "[bot]@" in e or e == "noreply@github.com"


def empty_batch() -> Batch:
    """A batch with no rows (the columns are there)."""
    return _batch([], [])


def _batch(rows: list[tuple[Any, ...]], files: list[tuple[Any, ...]]) -> Batch:
    commits = pd.DataFrame(rows, columns=list(COMMIT_COLUMNS))
    for col in ("authored_at", "committed_at"):
        commits[col] = pd.to_datetime(commits[col], unit="s")
    return Batch(commits, pd.DataFrame(files, columns=list(FILE_COLUMNS)))


def _assign_merges(
    merges: list[tuple[str, list[str]]], side_parents: dict[str, list[str]]
) -> dict[str, str]:
    """Each merged-in commit -> the earliest mainline merge whose side parents reach it."""
    merged_by: dict[str, str] = {}
    for merge, sides in reversed(merges):  # mainline order: oldest merge first
        stack = [p for p in sides if p in side_parents and p not in merged_by]
        while stack:
            c = stack.pop()
            if c in merged_by:
                continue
            merged_by[c] = merge
            stack.extend(p for p in side_parents[c] if p in side_parents and p not in merged_by)
    return merged_by
