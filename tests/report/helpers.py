"""A store with every kind of assessment evidence, for report and dashboard tests."""

from __future__ import annotations

from pathlib import Path

from rsimeter.assess.observe import observe
from rsimeter.assess.series import load_series
from rsimeter.store import Store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def fill_store(path: Path, folder: Path, runs: int = 2) -> Path:
    """Load one series of each kind and run the main job ``runs`` times; returns the report."""
    (folder / "cycles.csv").write_text("gain,duration\n1,10\n1.4,9\n2.1,8.5\n2.9,7.9\n4.2,7\n")
    effort = "".join(f"{t},{2 ** (1.3 * t + (t % 2) * 0.2)},{2**t}\n" for t in range(8))
    (folder / "effort.csv").write_text("time,efficiency,research_input\n" + effort)
    arms = "".join(
        f"treatment,{c},{2.718 ** (0.05 * c + (c % 3) * 0.02)}\n"
        f"control,{c},{2.718 ** (-0.3 * c + (c % 2) * 0.03)}\n"
        for c in range(10)
    )
    (folder / "arms.csv").write_text("arm,capability,rate\n" + arms)
    (folder / "tasks.csv").write_text(
        "task,share,speedup\ncode,3,3\ncode,3,5\nreview,1,1.5\nmeet,1,1\n"
    )
    report = folder / "report"
    with Store.open(path) as store:
        for kind in ("cycles", "effort", "arms", "tasks"):
            load_series(store, folder / f"{kind}.csv", kind)
        for _ in range(runs):
            observe(store, cwd=folder, report_dir=report)
    return report / "index.html"
