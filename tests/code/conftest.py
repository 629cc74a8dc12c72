"""Synthetic repositories with known ground truth for the code pillar's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.code.gitrepo import RepoBuilder, lines

ALICE = ("Alice Example", "alice@example.org")
BOB = ("Bob Example", "bob@example.org")
CAROL = ("Carol Example", "carol@example.org")
CLAUDE_HUMAN = ("Claude", "claude@example.org")
COPILOT = ("Copilot", "198982749+Copilot@users.noreply.github.com")
GITHUB = ("GitHub", "noreply@github.com")


def ts(day: str) -> int:
    """Unix time of an ISO date at noon UTC."""
    return int(datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Truth:
    """The truth repository and the marks of its commits."""

    path: Path
    marks: dict[str, int]


def build_truth(path: Path, *, bare: bool = False) -> Truth:
    """A history exercising every case, with exact expected counts (see test_mining).

    Main (landed in month): Jan c1-c4, Feb c5-c6, Mar c7, merge m1 (brings f1, f2),
    c8 (rename), c9 (binary), c10 (non-UTF-8 message).
    """
    b = RepoBuilder()
    m = {}
    m["c1"] = b.commit(
        "Add training loop",
        files={"train/train.py": lines(10, "t")},
        author=ALICE,
        when=ts("2024-01-05"),
    )
    m["c2"] = b.commit(
        "Add model\n\nCo-authored-by: Claude <noreply@anthropic.com>\n",
        files={"models/gpt.py": lines(20, "m")},
        author=ALICE,
        when=ts("2024-01-10"),
    )
    m["c3"] = b.commit(
        "Docs\n\nCo-authored-by: Claude Monet <claude.monet@example.org>\n",
        files={"README.md": lines(5, "r")},
        author=CLAUDE_HUMAN,
        when=ts("2024-01-15"),
    )
    m["c4"] = b.commit(
        "Add eval",
        files={"evals/e.py": lines(4, "e")},
        author=COPILOT,
        committer=GITHUB,
        when=ts("2024-01-20"),
    )
    m["c5"] = b.commit(
        "Feature (#12) * wip * tests Co-authored-by: Cursor Agent <cursoragent@cursor.com> * done",
        files={"data/load.py": lines(6, "d")},
        author=BOB,
        when=ts("2024-02-03"),
    )
    m["c6"] = b.commit(
        "Apply suggestion\n\nCo-authored-by: coderabbitai[bot] "
        "<136622811+coderabbitai[bot]@users.noreply.github.com>\n",
        files={"lib/util.py": lines(3, "u")},
        author=BOB,
        when=ts("2024-02-10"),
    )
    m["f1"] = b.commit(
        "Optimiser\n\nAmp-Thread-ID: https://ampcode.com/threads/T-1\n",
        files={"train/opt.py": lines(7, "o")},
        author=CAROL,
        when=ts("2024-02-20"),
        branch="feature",
        parent=m["c6"],
    )
    m["f2"] = b.commit(
        "Guide",
        files={"docs/guide.md": lines(2, "g")},
        author=CAROL,
        when=ts("2024-02-25"),
        branch="feature",
    )
    m["c7"] = b.commit(
        "Run script", files={"scripts/run.sh": lines(1, "s")}, author=ALICE, when=ts("2024-03-02")
    )
    m["m1"] = b.commit(
        "Merge branch 'feature'",
        files={"train/opt.py": lines(7, "o"), "docs/guide.md": lines(2, "g")},
        author=ALICE,
        when=ts("2024-03-05"),
        merge=(m["f2"],),
    )
    m["c8"] = b.commit(
        "Rename trainer",
        renames=(("train/train.py", "train/trainer.py"),),
        files={"train/trainer.py": lines(10, "t") + b"t extra\n"},
        author=ALICE,
        when=ts("2024-03-10"),
    )
    m["c9"] = b.commit(
        "Logo",
        files={"assets/logo.png": bytes(range(256)) * 4},
        author=ALICE,
        when=ts("2024-03-15"),
    )
    m["c10"] = b.commit(
        "Caf\xe9 fix".encode("latin-1"),
        files={"lib/util.py": lines(3, "u") + lines(2, "v")},
        author=ALICE,
        when=ts("2024-03-20"),
    )
    b.build(path, bare=bare)
    return Truth(path, m)


@pytest.fixture
def truth(tmp_path: Path) -> Truth:
    """The ground-truth repository (a work tree)."""
    return build_truth(tmp_path / "truth")
