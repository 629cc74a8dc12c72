"""Pillar: assess."""
