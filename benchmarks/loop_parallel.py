"""Speed-up of evaluating candidates in parallel on local cores (aim: >= 1.7x on 2 cores).

The same candidates (random improver, fixed experiment id so the same patches) are
evaluated with --workers 1 and --workers N in this process; the ratio of wall times
is the speed-up.

    python benchmarks/loop_parallel.py [--target digits] [--cycles 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time

from rsimeter.loop.harness import run_experiment
from rsimeter.loop.improvers.random import RandomImprover
from rsimeter.loop.target import load_target


def _timed(target, workers: int, cycles: int) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = run_experiment(
        target, RandomImprover(), cycles=cycles, seeds=1, workers=workers,
        experiment_id="exp-bench-parallel", reference=False, ablate=False,
    )  # fmt: skip
    return time.perf_counter() - t0, [c.status for c in result.candidates]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="digits")
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    target = load_target(args.target)
    serial, s_status = _timed(target, 1, args.cycles)
    parallel, p_status = _timed(target, args.workers, args.cycles)
    assert s_status == p_status, "parallel and serial runs disagree"
    print(f"serial {serial:.1f}s, {args.workers} workers {parallel:.1f}s")
    print(
        json.dumps(
            {
                "target": target.name,
                "candidates": args.cycles,
                "workers": args.workers,
                "speedup": round(serial / parallel, 3),
                "aim": ">= 1.7",
            }
        )
    )


if __name__ == "__main__":
    main()
