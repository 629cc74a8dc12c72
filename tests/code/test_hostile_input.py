"""Hostile input: forged record separators, odd bytes, option-like names, arbitrary text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rsimeter.code.attribution import CLASSES, attribute
from rsimeter.code.history import _numstat
from rsimeter.code.ingest import is_url, mine, strip_credentials
from rsimeter.code.signatures import load_signatures
from rsimeter.store import Store
from tests.code.gitrepo import RepoBuilder, lines

REG = load_signatures()


def test_messages_with_separator_bytes_cannot_forge_records(store: Store, tmp_path: Path) -> None:
    b = RepoBuilder()
    forged = (
        b"subject\x1e\x1f\n\x1efake\x00deadbeef\x00\x00x\x00y\x00z\x001\x002\x00body\x1f\n"
        b"10\t0\tforged.py\x00"
    )
    b.commit(forged, files={"a.py": lines(2)})
    b.commit("Co-authored-by: Claude <noreply@anthropic.com>\x1e", files={"b.py": lines(3)})
    repo = b.build(tmp_path / "forged")
    res = mine(store, [str(repo)])
    assert res.repos[0].total_commits == 2
    files = store.frame("SELECT path, lines_added FROM code_files ORDER BY path")
    assert files.values.tolist() == [["a.py", 2], ["b.py", 3]]
    ai = store.frame("SELECT attribution FROM code_commits WHERE tool IS NOT NULL")
    assert ai["attribution"].tolist() == ["ai_coauthored"]


def test_odd_paths_are_kept_exactly(store: Store, tmp_path: Path) -> None:
    b = RepoBuilder()
    names = ["sp ace/tab\there.py", "ünï/cødé.py", "-rf.py", "quote'\"s.py"]
    b.commit("odd", files={n: lines(1) for n in names})
    mine(store, [str(b.build(tmp_path / "odd"))])
    assert sorted(store.frame("SELECT path FROM code_files")["path"]) == sorted(names)


def test_urls_are_recognised_and_credentials_stripped() -> None:
    assert is_url("https://github.com/a/b.git") and is_url("git@github.com:a/b.git")
    assert not is_url("/tmp/repo") and not is_url("C:/repo")
    assert strip_credentials("https://user:tok@host/x.git") == "https://host/x.git"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.emails(), st.emails())
def test_attribution_never_fails_on_arbitrary_text(msg: str, a: str, c: str) -> None:
    assert attribute(REG, a, c, msg).cls in CLASSES


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_numstat_parser_never_fails_on_arbitrary_bytes(data: bytes) -> None:
    for path, _old, added, deleted in _numstat(data):
        assert isinstance(path, str)
        assert added is None or added >= 0
        assert deleted is None or deleted >= 0


def test_git_that_hangs_is_killed_at_the_timeout(tmp_path: Path) -> None:
    import time

    import pytest

    from rsimeter.code.git import GitError, safe_git, stream_git

    repo = RepoBuilder().build(tmp_path / "r")
    slow = ["-c", "alias.slow=!sleep 30", "slow"]
    t0 = time.perf_counter()
    status, chunks = stream_git(slow, repo, timeout=0.5)
    assert list(chunks) == []
    assert status.timed_out and status.error == "git timed out after 0s"
    with pytest.raises(GitError, match="timed out"):
        safe_git(slow, repo, timeout=0.5)
    assert time.perf_counter() - t0 < 10


def test_credentials_in_a_failing_url_are_never_shown(store: Store, tmp_path: Path) -> None:
    url = f"file://user:s3cret@{tmp_path}/missing.git"
    res = mine(store, [url])
    assert res.repos[0].status == "failed"
    assert "s3cret" not in str(res.to_dict())
