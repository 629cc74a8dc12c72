"""Light content rules: a category for files whose path says nothing (``other``).

One ``git grep -E`` per content rule on the tree at the mined tip (binary files
skipped, textconv off); a file keeps the first matching category. The category
then applies to every stored change of that path.
"""

from __future__ import annotations

from collections.abc import Iterable

from rsimeter.code.classify import Classifier
from rsimeter.code.git import safe_git


def content_categories(
    git_dir: str, rev: str, classifier: Classifier, candidates: Iterable[str]
) -> dict[str, str]:
    """Path -> category for those candidate paths whose content at rev matches a rule."""
    todo = set(candidates)
    found: dict[str, str] = {}
    if not todo:
        return found
    prefix = f"{rev}:".encode()
    for category, rx in classifier.content:
        proc = safe_git(
            ["grep", "-l", "-z", "-I", "-E", "--no-textconv", "-e", rx, rev, "--"],
            git_dir,
            check=False,
        )
        if proc.returncode not in (0, 1):  # 1: nothing matched
            continue
        for raw in proc.stdout.split(b"\x00"):
            path = raw[len(prefix) :] if raw.startswith(prefix) else raw
            name = path.decode("utf-8", "replace")
            if name in todo and name not in found:
                found[name] = category
    return found
