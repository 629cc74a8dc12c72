"""Patches from improvers: validated before anything runs, applied to a fresh copy.

A patch is hostile input. It is rejected, with the reason, when it touches a file no
surface of the target declares, the driver or other harness files, binaries,
weights, pickles, symlinks, or is too large; and when a hunk does not apply exactly
(a small line offset is allowed, fuzz is not). Parsing and placing hunks is
``rsimeter.loop.diff``'s, the same reading surface attribution uses.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from rsimeter.loop.diff import (
    FilePatch,
    PatchRejected,
    apply_to_text,
    diff_files,
    parse_patch,
    touched_paths,
)
from rsimeter.loop.target import Target

__all__ = [
    "FilePatch",
    "PatchRejected",
    "against_shipped",
    "apply_patch",
    "check_path",
    "diff_files",
    "materialize",
    "parse_patch",
    "touched_paths",
    "validate_patch",
]

MAX_PATCH_BYTES = 512 * 1024
MAX_FILE_BYTES = 256 * 1024

#: files of the harness side that a patch may never touch, whatever a manifest declares
PROTECTED_NAMES = frozenset({"driver.py", "manifest.toml", "evaluator.py", "harness.py"})
PROTECTED_DIRS = frozenset({"data", "out", "hidden", ".git"})
FORBIDDEN_SUFFIXES = frozenset(
    {
        ".pt",
        ".pth",
        ".pkl",
        ".pickle",
        ".npy",
        ".npz",
        ".bin",
        ".safetensors",
        ".ckpt",
        ".joblib",
        ".h5",
        ".hdf5",
        ".onnx",
        ".so",
        ".dylib",
        ".dll",
        ".exe",
        ".whl",
        ".zip",
        ".tar",
        ".gz",
        ".bz2",
        ".xz",
        ".7z",
        ".pyc",
        ".parquet",
        ".arrow",
        ".feather",
        ".db",
        ".duckdb",
        ".sqlite",
    }
)


def check_path(path: str, allowed: Iterable[str]) -> None:
    """Raise PatchRejected unless path is a safe relative path that a surface declares."""
    if not path or "\\" in path or any(ord(c) < 32 for c in path):
        raise PatchRejected(f"bad path {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or path != pure.as_posix():
        raise PatchRejected(f"path {path!r} leaves the pipeline folder")
    if pure.name in PROTECTED_NAMES or (pure.parts and pure.parts[0] in PROTECTED_DIRS):
        raise PatchRejected(f"{path} is a harness or evaluator file")
    if pure.suffix.lower() in FORBIDDEN_SUFFIXES:
        raise PatchRejected(f"{path}: binaries, weights, pickles and archives are refused")
    if path not in set(allowed):
        raise PatchRejected(f"{path} is not in any editable surface of the target")


def validate_patch(text: str, allowed: Iterable[str]) -> list[FilePatch]:
    """Parse a patch and check every file it touches; raises PatchRejected with the reason."""
    if len(text.encode("utf-8", errors="replace")) > MAX_PATCH_BYTES:
        raise PatchRejected(f"patch is larger than {MAX_PATCH_BYTES // 1024} KiB")
    allowed = set(allowed)
    files = parse_patch(text)
    seen: set[str] = set()
    for fp in files:
        for path in {fp.old_path, fp.new_path} - {None}:
            assert path is not None
            check_path(path, allowed)
        if fp.old_path and fp.new_path and fp.old_path != fp.new_path:
            raise PatchRejected(f"patch renames {fp.old_path} to {fp.new_path}")
        if fp.path in seen:
            raise PatchRejected(f"{fp.path} appears twice in the patch")
        seen.add(fp.path)
    return files


def apply_patch(root: Path, files: list[FilePatch]) -> list[str]:
    """Apply parsed file patches to the files under root in place; returns the paths changed.

    Writes nothing unless every hunk applies.
    """
    results: dict[str, str | None] = {}
    for fp in files:
        target = root / fp.path
        if fp.old_path is None:
            if target.exists():
                raise PatchRejected(f"{fp.path} already exists")
            old = None
        else:
            if not target.is_file() or target.is_symlink():
                raise PatchRejected(f"{fp.path} does not exist in the parent version")
            old = target.read_text(encoding="utf-8")
        text = apply_to_text(fp.path, old, fp)
        if text is not None and len(text.encode()) > MAX_FILE_BYTES:
            raise PatchRejected(f"{fp.path} would be larger than {MAX_FILE_BYTES // 1024} KiB")
        results[fp.path] = text
    for path, new_text in results.items():
        dest = root / path
        if new_text is None:
            dest.unlink()
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(new_text, encoding="utf-8")
    return list(results)


def materialize(target: Target, patches: Sequence[str]) -> dict[str, str]:
    """Texts of the editable files after applying patches in order (validated, else raises)."""
    allowed = target.editable_files()
    with tempfile.TemporaryDirectory(prefix="rsimeter-apply-") as tmp:
        root = Path(tmp)
        for rel in allowed:
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target.root / rel, dest)
        for patch in patches:
            if patch.strip():
                apply_patch(root, validate_patch(patch, allowed))
        return {
            rel: (root / rel).read_text(encoding="utf-8")
            for rel in allowed
            if (root / rel).is_file()
        }


def against_shipped(target: Target, files: Mapping[str, str]) -> str:
    """Editable files as one patch against the shipped ones (a lineage folded into one)."""
    return diff_files(materialize(target, []), files)
