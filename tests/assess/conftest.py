"""Fixtures for the assessment tests: synthetic pillar indicators and fake sources."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from rsimeter.assess import sources
from rsimeter.indicators import Indicator

PILLARS = ("code", "horizon", "loop", "autonomy")


class Pillars:
    """Sets what each pillar's indicators() returns (a list, or a callable raising)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.current: list[Indicator] = []
        self.broken: set[str] = set()
        for name in PILLARS:
            module = importlib.import_module(f"rsimeter.{name}.indicators")
            monkeypatch.setattr(module, "indicators", self._for(name))

    def _for(self, name: str) -> Callable[[Any], list[Indicator]]:
        def fake(store: Any) -> list[Indicator]:
            if name in self.broken:
                raise RuntimeError(f"{name} exploded")
            return [i for i in self.current if i.key.startswith(name + ".")]

        return fake

    def set(self, *indicators: Indicator) -> None:
        self.current = list(indicators)


class FakeSources:
    """Stands in for the pillars' ingestion functions and records every call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failing: set[str] = set()
        self.kwargs: dict[str, dict[str, Any]] = {}
        real = sources.resolve

        def resolve(entry: sources.Entry) -> Callable[..., Any] | None:
            if entry[0].startswith("rsimeter.assess."):
                return real(entry)
            name = entry[0].split(".")[1] + "." + entry[1][0]

            def fake(*args: Any, **kwargs: Any) -> str | None:
                self.calls.append((name, args[1:]))
                self.kwargs[name] = kwargs
                if name in self.failing:
                    raise RuntimeError(f"{name} failed on purpose")
                if name == "code.mine_default" and not (args[1] / ".git").exists():
                    return None  # as the code pillar does outside a repository
                if name == "autonomy.ingest_default" and args[1] is None:
                    return None  # nothing asked for: transcripts stay unread
                return f"{name} done"

            return fake

        monkeypatch.setattr(sources, "resolve", resolve)

    def called(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def pillars(monkeypatch: pytest.MonkeyPatch) -> Pillars:
    """Synthetic indicators for the four pillars (empty until set)."""
    return Pillars(monkeypatch)


@pytest.fixture
def fake_sources(monkeypatch: pytest.MonkeyPatch) -> FakeSources:
    """Fake ingestion functions that record their calls."""
    return FakeSources(monkeypatch)
