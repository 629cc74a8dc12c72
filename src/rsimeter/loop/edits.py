"""Edits to a target's pipeline: knob patches, and which surfaces and change kinds a patch touches.

A pipeline file marks its regions with comment lines::

    # --- knobs ----------------------------------------------------------------
    # --- code surface (architecture): the model -------------------------------
    # --- code surface (update_rule): optimizer and schedule -------------------
    # --- data surface (data): which examples to train on ----------------------
    # --- objective surface (loss): what the training minimises ----------------

A changed line belongs to the region it sits in. In the knob region, a line that assigns
a declared knob takes that knob's surface and change kind; any other knob-region line
counts as a code hyperparameter. Lines above the first marker (imports, docstring) count
as code architecture. A file on one surface only needs no markers; a change to an
unmarked file on several surfaces counts on all of them.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rsimeter.loop.target import KNOB_ASSIGNMENT, Knob, Target

MARKER = re.compile(r"^#\s*-{3,}\s*(?:(knobs)\b|(code|data|objective) surface\s*\((\w+)\))")
DEFAULT_KIND = {"code": "architecture", "data": "data", "objective": "loss"}
_ASSIGN = KNOB_ASSIGNMENT


# -- knob patches -------------------------------------------------------------------------


def knob_patch(target: Target, values: dict[str, Any]) -> str:
    """A unified diff (``a/`` ``b/`` paths) setting each named knob to its value.

    Values are checked against the knob's declared space; an unknown knob or a value
    outside its space raises ValueError. Knobs already at the value yield no change;
    with no change at all the patch is the empty string.
    """
    by_name = {k.name: k for k in target.knobs}
    texts: dict[str, str] = {}
    for name, value in values.items():
        knob = by_name.get(name)
        if knob is None:
            raise ValueError(f"{target.name} has no knob {name!r}")
        literal = _literal(knob, value)
        if knob.file not in texts:
            texts[knob.file] = (target.root / knob.file).read_text(encoding="utf-8")
        texts[knob.file] = _set_assignment(texts[knob.file], knob, literal)
    parts: list[str] = []
    for file in sorted(texts):
        old = (target.root / file).read_text(encoding="utf-8")
        parts.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                texts[file].splitlines(keepends=True),
                fromfile=f"a/{file}",
                tofile=f"b/{file}",
            )
        )
    return "".join(parts)


def knob_values(target: Target) -> dict[str, Any]:
    """The shipped value of every knob, read from the pipeline files."""
    values = {}
    for knob in target.knobs:
        text = (target.root / knob.file).read_text(encoding="utf-8")
        found = re.search(_ASSIGN.format(name=re.escape(knob.name)), text, re.MULTILINE)
        if found is None:
            raise ValueError(f"knob {knob.name}: no top-level assignment in {knob.file}")
        values[knob.name] = ast.literal_eval(found.group(2).strip())
    return values


def _literal(knob: Knob, value: Any) -> str:
    if isinstance(value, np.generic):  # numpy scalars from samplers: use the Python value
        value = value.item()
    if knob.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"knob {knob.name}: expected a bool, got {value!r}")
        return repr(value)
    if knob.kind == "categorical":
        assert knob.choices is not None
        if value not in knob.choices:
            raise ValueError(f"knob {knob.name}: {value!r} is not one of {list(knob.choices)}")
        return repr(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"knob {knob.name}: expected a number, got {value!r}")
    assert knob.low is not None and knob.high is not None
    if not (math.isfinite(value) and knob.low <= value <= knob.high):
        raise ValueError(f"knob {knob.name}: {value!r} is outside [{knob.low:g}, {knob.high:g}]")
    if knob.kind == "int":
        if value != int(value):
            raise ValueError(f"knob {knob.name}: expected a whole number, got {value!r}")
        return str(int(value))
    return repr(float(value))


def _set_assignment(text: str, knob: Knob, literal: str) -> str:
    pattern = re.compile(_ASSIGN.format(name=re.escape(knob.name)), re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        raise ValueError(f"knob {knob.name}: no top-level assignment in {knob.file}")
    comment = found.group(3) or ""
    if ast.literal_eval(found.group(2).strip()) == ast.literal_eval(literal) and (
        type(ast.literal_eval(found.group(2).strip())) is type(ast.literal_eval(literal))
    ):
        return text
    line = f"{found.group(1)}{literal}{comment}"
    return text[: found.start()] + line + text[found.end() :]


# -- reading a patch ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    """The lines one patch changes in one file, in the old file's line numbers (1-based)."""

    path: str
    new_file: bool
    removed: tuple[int, ...]  # old line numbers removed
    inserted_after: tuple[int, ...]  # old line number each added line follows (0 = top)
    added_text: tuple[str, ...]


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_patch(patch: str) -> list[FileChange]:
    """The changed lines of a unified diff, file by file; raises ValueError if malformed."""
    changes: list[FileChange] = []
    lines = patch.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise ValueError(f"patch line {i + 1}: '---' header without '+++'")
        old, new = _header_path(lines[i][4:]), _header_path(lines[i + 1][4:])
        path = new if new is not None else old
        if path is None:
            raise ValueError(f"patch line {i + 1}: both sides are /dev/null")
        i += 2
        removed: list[int] = []
        after: list[int] = []
        added: list[str] = []
        while i < len(lines) and (found := _HUNK.match(lines[i])):
            old_line = int(found.group(1))
            old_left = int(found.group(2)) if found.group(2) is not None else 1
            new_left = int(found.group(4)) if found.group(4) is not None else 1
            if old_left == 0:
                old_line += 1  # "-0,0" / "-N,0" hunks insert after line N
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                line = lines[i]
                tag = line[:1]
                if tag == "-":
                    removed.append(old_line)
                    old_line += 1
                    old_left -= 1
                elif tag == "+":
                    after.append(old_line - 1)
                    added.append(line[1:])
                    new_left -= 1
                elif tag in (" ", ""):
                    old_line += 1
                    old_left -= 1
                    new_left -= 1
                elif line.startswith("\\"):
                    pass
                else:
                    raise ValueError(f"patch line {i + 1}: unexpected {line[:20]!r} in a hunk")
                i += 1
            if old_left != 0 or new_left != 0:
                raise ValueError(f"patch line {i}: hunk is shorter than its header says")
            while i < len(lines) and lines[i].startswith("\\"):
                i += 1
        changes.append(FileChange(path, old is None, tuple(removed), tuple(after), tuple(added)))
    if not changes and patch.strip():
        raise ValueError("not a unified diff: no '---'/'+++' file headers")
    return changes


def _header_path(text: str) -> str | None:
    name = text.split("\t")[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


# -- surfaces and change kinds ------------------------------------------------------------


def surfaces_of_patch(target: Target, patch: str) -> tuple[str, ...]:
    """The surfaces (code, data, objective) a patch edits, in that order.

    Raises ValueError when the patch edits a file that is on no surface.
    """
    found = {surface for surface, _ in _touched(target, patch)}
    return tuple(s for s in ("code", "data", "objective") if s in found)


def change_kinds_of_patch(target: Target, patch: str) -> tuple[str, ...]:
    """The change kinds a patch makes (hyperparameters, capacity, budget, loss, ...), sorted."""
    return tuple(sorted({kind for _, kind in _touched(target, patch)}))


def _touched(target: Target, patch: str) -> set[tuple[str, str]]:
    editable = set(target.editable_files())
    touched: set[tuple[str, str]] = set()
    for change in parse_patch(patch):
        if change.path not in editable:
            raise ValueError(
                f"patch edits {change.path!r}, which is on no surface of {target.name}"
            )
        surfaces = tuple(s for s, files in target.surfaces.items() if change.path in files)
        text = "" if change.new_file else (target.root / change.path).read_text(encoding="utf-8")
        regions = _regions(text.splitlines(), surfaces)
        knobs = {k.name: k for k in target.knobs if k.file == change.path}
        old_lines = text.splitlines()
        for number in change.removed:
            touched |= _classify(old_lines[number - 1], regions[number - 1], knobs, surfaces)
        for after, line in zip(change.inserted_after, change.added_text, strict=True):
            region = regions[after - 1] if after > 0 else regions[0] if regions else None
            touched |= _classify(line, region, knobs, surfaces)
    return touched


Region = tuple[str, str] | None  # (surface, change kind); "knobs" region has surface "knobs"


def _regions(lines: list[str], surfaces: tuple[str, ...]) -> list[Region]:
    if not any(MARKER.match(line) for line in lines):
        if len(surfaces) == 1:
            return [(surfaces[0], DEFAULT_KIND[surfaces[0]])] * max(1, len(lines))
        return [None] * max(1, len(lines))  # unmarked file on several surfaces: all of them
    current: Region = ("code", "architecture") if "code" in surfaces else None
    out: list[Region] = []
    for line in lines:
        found = MARKER.match(line)
        if found:
            current = ("knobs", "") if found.group(1) else (found.group(2), found.group(3))
        out.append(current)
    return out or [current]


def _classify(
    line: str, region: Region, knobs: dict[str, Knob], surfaces: tuple[str, ...]
) -> set[tuple[str, str]]:
    if not line.strip():
        return set()
    if region is None:
        return {(s, DEFAULT_KIND[s]) for s in surfaces}
    if region[0] == "knobs":
        name = re.match(r"\s*([A-Za-z_]\w*)\s*(?::[^=]*)?=", line)
        if name and name.group(1) in knobs:
            knob = knobs[name.group(1)]
            return {(knob.surface, knob.change_kind)}
        if line.lstrip().startswith("#"):
            return set()
        return {("code", "hyperparameters")}
    surface, kind = region
    if surface not in surfaces:
        # A marker naming a surface this file is not declared on: count it on the file's surfaces.
        return {(s, DEFAULT_KIND[s]) for s in surfaces}
    return {(surface, kind if kind in _KINDS else DEFAULT_KIND[surface])}


_KINDS = {"hyperparameters", "capacity", "budget", "loss", "data", "update_rule", "architecture"}
