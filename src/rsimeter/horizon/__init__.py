"""Pillar: horizon."""
