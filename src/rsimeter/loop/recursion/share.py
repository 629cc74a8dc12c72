"""The share of a gain that machine-generated patches produced, versus human-supplied ones.

For each unit (one improver run) the picked candidate's lineage is walked back
to the shipped pipeline. Each step's gain ``σ(child) − σ(parent)`` is credited
to the author of the child: human when the patch was supplied by a person
(authors in ``HUMAN_AUTHORS``: reference, scripted, manual, human), AI when an
improver generated it (search or LLM). The share is
``Σ AI step gains / Σ total gains`` over units with a positive total gain, with
a bootstrap interval over those units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rsimeter.estimate import Estimate, percentile_interval
from rsimeter.loop.recursion.units import HUMAN_AUTHORS


def lineage_gains(frame: pd.DataFrame) -> pd.DataFrame:
    """Per unit: total gain of the picked candidate and the part AI authors produced.

    ``frame`` has candidate_id, parent_id, author, sigma, chosen, shipped_sigma and
    the unit columns task and seed (and optionally arm, generation).
    """
    keys = [c for c in ("arm", "generation", "task", "seed") if c in frame.columns]
    out: list[dict[str, Any]] = []
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "total", "ai"])
    for unit, rows in frame.groupby(keys, sort=True):
        by_id = {str(r.candidate_id): r for r in rows.itertuples()}
        picked = [r for r in rows.itertuples() if bool(r.chosen)]
        if not picked:
            continue
        node = picked[0]
        shipped = float(node.shipped_sigma)
        total = float(node.sigma) - shipped
        ai = 0.0
        seen: set[str] = set()
        while node is not None and str(node.candidate_id) not in seen:
            seen.add(str(node.candidate_id))
            parent = by_id.get(str(node.parent_id)) if _present(node.parent_id) else None
            step = float(node.sigma) - (float(parent.sigma) if parent is not None else shipped)
            if str(node.author).split(":")[0] not in HUMAN_AUTHORS:
                ai += step
            node = parent
        out.append({**dict(zip(keys, unit, strict=True)), "total": total, "ai": ai})
    return pd.DataFrame(out)


def _present(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and str(x) != ""


def ai_gain_share(frame: pd.DataFrame, *, reps: int = 2000, seed: int = 0) -> Estimate:
    """Σ AI gains / Σ total gains over units with a positive gain, with a bootstrap interval."""
    g = lineage_gains(frame)
    if g.empty:
        return Estimate.missing("no picked candidates")
    g = g[g["total"] > 0]
    if g.empty:
        return Estimate.missing("no unit gained over the shipped pipeline")
    total = g["total"].to_numpy(float)
    ai = g["ai"].to_numpy(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(g), size=(reps, len(g)))
    boots = ai[idx].sum(axis=1) / total[idx].sum(axis=1)
    return percentile_interval(
        float(ai.sum() / total.sum()), boots, n=len(g), method="ratio of sums, bootstrap of units"
    )
