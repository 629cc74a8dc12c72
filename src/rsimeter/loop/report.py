"""The loop section of the HTML report."""

from __future__ import annotations

from rsimeter.report.html import Section
from rsimeter.store import Store


def section(store: Store) -> Section | None:
    """The loop section, or None when the store holds no loop evidence."""
    return None
