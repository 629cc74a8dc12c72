"""Improvers: propose the next candidate patch from the history of the experiment."""

from __future__ import annotations

from rsimeter.loop.improvers.base import Improver, Proposal, make_improver

__all__ = ["Improver", "Proposal", "make_improver"]
