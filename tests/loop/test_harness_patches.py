"""Patch validation and application: hostile diffs are refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsimeter.loop.patches import (
    MAX_FILE_BYTES,
    PatchRejected,
    apply_patch,
    diff_files,
    parse_patch,
    validate_patch,
)

ALLOWED = ["train.py"]
OLD = "a = 1\nb = 2\nc = 3\n"


def test_a_diff_round_trips_through_apply(tmp_path: Path) -> None:
    new = "a = 1\nb = 20\nc = 3\nd = 4\n"
    patch = diff_files({"train.py": OLD}, {"train.py": new})
    (tmp_path / "train.py").write_text(OLD)
    changed = apply_patch(tmp_path, validate_patch(patch, ALLOWED))
    assert changed == ["train.py"]
    assert (tmp_path / "train.py").read_text() == new


def test_a_hunk_that_moved_a_few_lines_still_applies(tmp_path: Path) -> None:
    patch = diff_files({"train.py": OLD}, {"train.py": OLD.replace("b = 2", "b = 5")})
    (tmp_path / "train.py").write_text("# header\n# more\n" + OLD)
    apply_patch(tmp_path, validate_patch(patch, ALLOWED))
    assert (tmp_path / "train.py").read_text() == "# header\n# more\na = 1\nb = 5\nc = 3\n"


def test_a_hunk_whose_context_is_gone_is_rejected_and_nothing_is_written(tmp_path: Path) -> None:
    patch = diff_files({"train.py": OLD}, {"train.py": OLD.replace("b = 2", "b = 5")})
    (tmp_path / "train.py").write_text("x = 0\n")
    with pytest.raises(PatchRejected, match="does not apply"):
        apply_patch(tmp_path, validate_patch(patch, ALLOWED))
    assert (tmp_path / "train.py").read_text() == "x = 0\n"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("driver.py", "harness or evaluator"),
        ("manifest.toml", "harness or evaluator"),
        ("data/pool.npz", "harness or evaluator"),
        ("../escape.py", "leaves the pipeline folder"),
        ("/etc/passwd", "leaves the pipeline folder"),
        ("weights.pt", "binaries, weights, pickles"),
        ("model.pkl", "binaries, weights, pickles"),
    ],
)
def test_protected_paths_are_rejected_even_when_a_manifest_lists_them(
    path: str, reason: str
) -> None:
    patch = f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-x\n+y\n"
    with pytest.raises(PatchRejected, match=reason):
        validate_patch(patch, [*ALLOWED, path])


def test_a_file_on_no_surface_is_rejected() -> None:
    patch = "--- a/other.py\n+++ b/other.py\n@@ -1 +1 @@\n-x\n+y\n"
    with pytest.raises(PatchRejected, match="not in any editable surface"):
        validate_patch(patch, ALLOWED)


def test_binary_patches_are_rejected() -> None:
    patch = "diff --git a/train.py b/train.py\nGIT binary patch\nliteral 10\nabc\n"
    with pytest.raises(PatchRejected, match="binary"):
        validate_patch(patch, ALLOWED)


def test_nul_bytes_are_rejected() -> None:
    with pytest.raises(PatchRejected, match="NUL"):
        parse_patch("--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-x\n+\x00\n")


def test_symlinks_are_rejected() -> None:
    patch = (
        "diff --git a/train.py b/train.py\nnew file mode 120000\n"
        "--- /dev/null\n+++ b/train.py\n@@ -0,0 +1 @@\n+/etc/passwd\n"
    )
    with pytest.raises(PatchRejected, match="120000"):
        validate_patch(patch, ALLOWED)


def test_a_file_grown_past_the_limit_is_rejected(tmp_path: Path) -> None:
    big = "x = 1\n" * (MAX_FILE_BYTES // 6 + 10)
    patch = diff_files({"train.py": OLD}, {"train.py": big})
    (tmp_path / "train.py").write_text(OLD)
    with pytest.raises(PatchRejected, match="larger than"):
        apply_patch(tmp_path, validate_patch(patch, ALLOWED))


def test_text_that_is_not_a_diff_is_rejected() -> None:
    with pytest.raises(PatchRejected, match="not a unified diff"):
        validate_patch("please make it better", ALLOWED)


def test_a_truncated_hunk_is_rejected() -> None:
    with pytest.raises(PatchRejected, match="shorter than its header"):
        parse_patch("--- a/train.py\n+++ b/train.py\n@@ -1,3 +1,3 @@\n a = 1\n")


def test_the_same_file_twice_is_rejected() -> None:
    one = diff_files({"train.py": OLD}, {"train.py": OLD.replace("a = 1", "a = 2")})
    with pytest.raises(PatchRejected, match="twice"):
        validate_patch(one + one, ALLOWED)


def test_new_and_deleted_files(tmp_path: Path) -> None:
    patch = diff_files({"extra.py": None}, {"extra.py": "z = 1\n"})
    apply_patch(tmp_path, validate_patch(patch, ["extra.py"]))
    assert (tmp_path / "extra.py").read_text() == "z = 1\n"
    gone = diff_files({"extra.py": "z = 1\n"}, {"extra.py": None})
    apply_patch(tmp_path, validate_patch(gone, ["extra.py"]))
    assert not (tmp_path / "extra.py").exists()
