"""Pillar: autonomy."""
