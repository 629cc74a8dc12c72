"""Fixtures for the report and dashboard tests (the assessment fixtures, shared)."""

from tests.assess.conftest import fake_sources, pillars

__all__ = ["fake_sources", "pillars"]
