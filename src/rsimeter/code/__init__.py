"""Pillar: code."""
