"""Assemble the self-contained report from each pillar's section."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsimeter import __version__
from rsimeter.report.html import Section, esc
from rsimeter.store import COMPONENTS, Store

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5rem;color:#1b1f24;line-height:1.45}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
.lead{color:#57606a} nav a{margin-right:1rem}
table.data{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
table.data th,table.data td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
table.data th{background:#f6f8fa} caption{text-align:left;font-weight:600;padding:.3rem 0}
.verdict{padding:1rem;border-radius:6px;background:#f6f8fa;border-left:6px solid #57606a}
.verdict.critical{border-color:#cf222e}.verdict.warn{border-color:#bf8700}
.verdict.ok{border-color:#1a7f37} footer{margin-top:3rem;color:#57606a;font-size:.8rem}
"""


@dataclass(frozen=True)
class ReportResult:
    path: Path
    sections: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"report": str(self.path), "sections": list(self.sections)}

    def summary(self) -> str:
        names = ", ".join(self.sections) or "none (no evidence yet)"
        return f"Report written to {self.path}\nSections: {names}"


def pillar_sections(store: Store) -> list[Section]:
    """Every pillar's section that has evidence, in pillar order (assess first)."""
    order = ("assess", *[c for c in COMPONENTS if c != "assess"])
    sections = []
    for name in order:
        module = importlib.import_module(f"rsimeter.{name}.report")
        section = module.section(store)
        if section is not None:
            sections.append(section)
    return sections


def render_page(sections: list[Section], title: str = "rsimeter report") -> str:
    """The whole HTML page, with plotly.js inlined so it works offline."""
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{esc(s.key)}">{esc(s.title)}</a>' for s in sections)
    body = "\n".join(s.html() for s in sections) or "<p>No evidence in the store yet.</p>"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{esc(title)}</h1><nav>{nav}</nav>{body}"
        f"<footer>rsimeter {__version__}, generated {stamp}. Every number is shown with its "
        "interval and sample size.</footer></body></html>"
    )


def build_report(store: Store, out: Path) -> ReportResult:
    """Write out/index.html from the store; returns where and which sections."""
    sections = pillar_sections(store)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_page(sections), encoding="utf-8")
    tmp.replace(path)
    return ReportResult(path, tuple(s.key for s in sections))
