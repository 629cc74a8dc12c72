"""Writing recursion experiments to the store and reading them back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from rsimeter.loop.recursion.protocol import RecursionRun
from rsimeter.store import Store

RUN_KEY = ["arm", "generation", "split", "task", "seed", "version"]


def new_experiment_id() -> str:
    """A fresh recursion experiment id: prefix, UTC time, random hex."""
    return f"rec-{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def save_recursion(store: Store, run: RecursionRun, *, gen0_json: str) -> str:
    """Write one experiment (all tables) in one transaction; returns its id."""
    eid = run.experiment_id or new_experiment_id()
    run.experiment_id = eid
    v = run.estimate.verdict
    runs = run.runs.drop_duplicates(RUN_KEY).copy()
    runs.insert(0, "experiment_id", eid)
    run_cols = [
        "experiment_id", "arm", "generation", "split", "task", "seed", "version",
        "utility", "proxy", "seconds", "cost", "chosen",
    ]  # fmt: skip
    runs = runs[run_cols]
    versions = pd.DataFrame(
        [
            {
                "experiment_id": eid,
                "arm": r.arm,
                "generation": r.generation,
                "digest": r.version.digest(),
                "parent": r.parent,
                "produced_by": r.produced_by,
                "selection_utility": r.selection_utility,
                "version": r.version.canonical(),
            }
            for r in run.versions
        ]
    )
    cand_cols = [
        "experiment_id", "arm", "generation", "task", "seed", "candidate_id", "parent_id",
        "author", "status", "sigma", "proxy", "chosen", "shipped_sigma",
    ]  # fmt: skip
    cands = run.candidates.copy()
    transcripts = transcript_rows(cands)
    if len(cands):
        cands.insert(0, "experiment_id", eid)
        cands = cands[cand_cols]
    with store.transaction():
        store.execute(
            "INSERT INTO loop_recursion_experiments VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                eid,
                datetime.now(UTC).isoformat(timespec="microseconds"),
                json.dumps(list(run.tasks)),
                run.config.meta,
                run.config.generations,
                json.dumps(run.config.to_dict()),
                gen0_json,
                v.verdict,
                json.dumps(list(v.reasons)),
                v.held_out_confirmed,
                float(run.seconds),
            ],
        )
        _insert(store, "loop_recursion_runs", runs)
        _insert(store, "loop_recursion_versions", versions)
        if len(cands):
            _insert(store, "loop_recursion_candidates", cands)
        if len(transcripts):
            _insert(store, "loop_llm_transcripts", transcripts)
    return eid


def transcript_rows(candidates: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate an LLM episode produced: its Inspect log and usage."""
    rows = []
    if "transcript" in candidates.columns:
        seen: set[str] = set()
        for r in candidates.itertuples():
            t = r.transcript
            if not isinstance(t, dict) or str(r.candidate_id) in seen:
                continue
            seen.add(str(r.candidate_id))
            rows.append(
                {
                    "candidate_id": str(r.candidate_id),
                    "log_path": str(t.get("log_path", "")),
                    "model": str(t.get("model", "")),
                    "input_tokens": int(t.get("input_tokens", 0)),
                    "output_tokens": int(t.get("output_tokens", 0)),
                    "total_tokens": int(t.get("total_tokens", 0)),
                    "usd": t.get("usd"),
                    "messages": int(t.get("messages", 0)),
                    "stop_reason": str(t.get("stop_reason", "")),
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
    return pd.DataFrame(rows)


def _insert(store: Store, table: str, frame: pd.DataFrame) -> None:
    store.con.register("_rec_frame", frame)
    try:
        cols = ", ".join(frame.columns)
        store.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _rec_frame")
    finally:
        store.con.unregister("_rec_frame")


def latest_experiment(store: Store) -> dict[str, Any] | None:
    """The most recent recursion experiment's row, or None."""
    df = store.frame(
        "SELECT * FROM loop_recursion_experiments ORDER BY created DESC, experiment_id DESC LIMIT 1"
    )
    return None if df.empty else df.iloc[0].to_dict()


def load_runs(store: Store, experiment_id: str, split: str = "heldout") -> pd.DataFrame:
    """The improver runs of one experiment and split."""
    return store.frame(
        "SELECT * FROM loop_recursion_runs WHERE experiment_id = ? AND split = ? "
        "ORDER BY arm, generation, task, seed",
        [experiment_id, split],
    )


def load_candidates(store: Store, experiment_id: str) -> pd.DataFrame:
    """The candidates of one experiment's held-out runs."""
    return store.frame(
        "SELECT * FROM loop_recursion_candidates WHERE experiment_id = ?", [experiment_id]
    )


def experiment_count(store: Store) -> int:
    """How many recursion experiments the store holds."""
    return int(store.count_rows("loop_recursion_experiments"))
