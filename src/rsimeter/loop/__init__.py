"""Pillar: loop."""
