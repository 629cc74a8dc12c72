"""The indicator: what a pillar hands the assessment and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rsimeter.estimate import Estimate


@dataclass(frozen=True)
class Indicator:
    """One named indicator with its estimate, unit and provenance.

    ``key`` is stable and namespaced by pillar (``code.ai_line_share``); the assess
    pillar's alert thresholds refer to these keys. ``evidence`` says which stored
    rows it came from (tables, filters, counts) so a reader can trace it.
    """

    key: str
    label: str
    estimate: Estimate
    unit: str = ""
    as_of: date | None = None
    provenance: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "provenance": self.provenance,
            "evidence": self.evidence,
            **self.estimate.to_dict(),
        }
