"""Who last changed the lines present at a revision: the AI-signed share of surviving lines.

``--blame``: of the lines at the mined tip (in AI-development files by default),
the share whose last change came from an AI-signed commit. ``--blame --range A..B``:
of the lines at B last changed by commits in A..B, the share from AI-signed
commits. The interval is a bootstrap over commits, since lines cluster by commit.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from rsimeter.code.attribution import AI_SIGNED
from rsimeter.code.classify import load_classifier
from rsimeter.code.content import content_categories
from rsimeter.code.git import GitError, safe_git, stream_git
from rsimeter.code.metrics import share_of_lines
from rsimeter.errors import Problems, RsimeterError
from rsimeter.store import Store

_HEADER = re.compile(rb"^([0-9a-f]{40,64}) \d+ \d+ (\d+)$")
_WORKERS = min(4, os.cpu_count() or 1)
_RANGE = re.compile(r"^[^\s.:~^-][^\s:]*\.\.[^\s:]+$")


@dataclass
class FileBlame:
    """Lines per last-changing commit in one file; boundary commits are outside the range."""

    lines: Counter[str]
    boundary: set[str]


def blame_file(git_dir: str, rev: str, path: str, timeout: float = 120.0) -> FileBlame:
    """Stream ``git blame --incremental`` for one file (textconv off, whitespace as is).

    For a single revision the root commit counts as a commit (``--root``); for a
    range A..B, lines older than A come back under boundary commits.
    """
    root = [] if ".." in rev else ["--root"]
    status, chunks = stream_git(
        ["blame", "--incremental", "--no-textconv", *root, rev, "--", path], git_dir, timeout
    )
    counts: Counter[str] = Counter()
    boundary: set[str] = set()
    current = ""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        for line in parts:
            m = _HEADER.match(line)
            if m:
                current = m.group(1).decode()
                counts[current] += int(m.group(2))
            elif line == b"boundary":
                boundary.add(current)
    if status.error is not None:
        raise GitError(git_dir, f"blame {path}: {status.error}")
    return FileBlame(counts, boundary)


def text_files(git_dir: str, rev: str) -> list[str]:
    """Paths of text files at rev (binary files have no lines to blame)."""
    empty = safe_git(["hash-object", "-t", "tree", "/dev/null"], git_dir, 30).stdout
    out = safe_git(
        [
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            "--no-textconv",
            "--no-ext-diff",
            empty.decode().strip(),
            rev,
            "--",
        ],
        git_dir,
    ).stdout
    files = []
    for tok in out.split(b"\x00"):
        parts = tok.split(b"\t", 2)
        if len(parts) == 3 and parts[0].isdigit() and int(parts[0]) > 0:
            files.append(parts[2].decode("utf-8", "surrogateescape"))
    return files


def blame_share(
    store: Store,
    *,
    rev_range: str | None = None,
    repos: list[str] | None = None,
    all_files: bool = False,
    paths: dict[str, Any] | None = None,
    problems: Problems | None = None,
) -> dict[str, Any]:
    """The AI-signed share of surviving lines, pooled and per repository."""
    if rev_range is not None and not _RANGE.match(rev_range):
        raise RsimeterError(f"--range '{rev_range}': use A..B (two revisions)")
    problems = problems if problems is not None else Problems()
    clf = load_classifier(paths)
    q = "SELECT repo_id, git_dir, tip FROM code_repos WHERE tip IS NOT NULL"
    reps = store.frame(q + " ORDER BY repo_id")
    if repos:
        reps = reps[reps["repo_id"].isin(repos)]
    per_repo: dict[str, Any] = {}
    pooled: list[pd.DataFrame] = []
    for rid, git_dir, tip in reps.itertuples(index=False):
        rev = rev_range or tip
        try:
            tip_rev = rev.split("..", 1)[1] if rev_range else rev
            files = text_files(git_dir, tip_rev)
            if not all_files:
                cats = {f: clf.category(f) for f in files}
                others = [f for f, c in cats.items() if c == "other"]
                cats.update(content_categories(git_dir, tip_rev, clf, others))
                files = [f for f in files if clf.is_ai_dev(cats[f])]
            counts: Counter[str] = Counter()
            boundary: set[str] = set()
            # git does the work in its own processes: a few threads keep several busy.
            with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
                for fb in pool.map(partial(blame_file, git_dir, rev), files):
                    counts.update(fb.lines)
                    boundary |= fb.boundary
        except RsimeterError as e:
            problems.add(str(rid), None, f"blame failed: {e}", "blame")
            continue
        for sha in boundary:
            counts.pop(sha, None)
        by_commit = pd.DataFrame({"sha": list(counts), "lines": list(counts.values())})
        by_commit = _attach(store, str(rid), by_commit)
        per_repo[str(rid)] = _summary(by_commit, len(files), rev)
        pooled.append(by_commit)
    all_rows = pd.concat(pooled, ignore_index=True) if pooled else _attach_empty()
    scope = "all text files" if all_files else "AI-development files"
    return {
        "range": rev_range,
        "scope": scope,
        **_summary(all_rows, sum(r["files"] for r in per_repo.values()), rev_range or "tip"),
        "repos": per_repo,
        "problems": problems.to_dict(),
    }


def _attach_empty() -> pd.DataFrame:
    return pd.DataFrame({"sha": [], "lines": [], "attribution": [], "tool": []})


def _attach(store: Store, repo_id: str, by_commit: pd.DataFrame) -> pd.DataFrame:
    if by_commit.empty:
        return _attach_empty()
    known = store.frame(
        "SELECT sha, attribution, tool FROM code_commits WHERE repo_id = ? "
        "AND sha IN (SELECT unnest(?))",
        [repo_id, list(by_commit["sha"])],
    )
    return by_commit.merge(known, on="sha", how="left")


def _summary(rows: pd.DataFrame, files: int, rev: str) -> dict[str, Any]:
    lines = rows["lines"].to_numpy(dtype=float)
    ai = rows["attribution"].isin(AI_SIGNED).to_numpy()
    unknown = rows["attribution"].isna().to_numpy()
    tools = rows[ai].groupby("tool")["lines"].sum().sort_values(ascending=False)
    return {
        "rev": rev,
        "files": files,
        "lines": int(lines.sum()),
        "ai_lines": int(lines[ai].sum()),
        "commits": len(rows),
        "unmined_commit_lines": int(lines[unknown].sum()),
        "ai_line_share": share_of_lines(
            np.where(ai, lines, 0.0), lines, seed=7, unit="commits"
        ).to_dict(),
        "by_tool": {str(k): int(v) for k, v in tools.items()},
    }
