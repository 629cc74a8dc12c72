"""Indicators the assess pillar hands to the assessment."""

from __future__ import annotations

from rsimeter.indicators import Indicator
from rsimeter.store import Store


def indicators(store: Store) -> list[Indicator]:
    """The assess indicators computed from the store (empty when there is no evidence)."""
    return []
