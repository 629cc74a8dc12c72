"""Scale-out: mining generated repositories on a 2-worker local Dask cluster vs serially.

    python benchmarks/assess_scaleout.py [--repos 50] [--commits 150] [--workers 2]

Generates ``--repos`` git repositories (with ``git fast-import``: a mix of human
commits and commits carrying AI co-author trailers), mines them once serially
and once on a local Dask cluster through ``rsimeter.code.ingest.mine_repos``
(or ``mine``, its name in some builds),
checks that both stores hold exactly the same rows, and prints the wall times and
the speed-up ratio (serial / Dask). Both stores share one pseudonymisation salt
so their rows are comparable.
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SALT = "00112233445566778899aabbccddeeff"


def fast_import_stream(seed: int, commits: int) -> bytes:
    """A fast-import stream of ``commits`` commits touching a few source files."""
    import random

    rng = random.Random(seed)
    people = [("Ada", "ada@example.org"), ("Bo", "bo@example.org"), ("Cy", "cy@example.org")]
    out = []
    t0 = 1_700_000_000
    files: dict[str, list[str]] = {}
    for i in range(commits):
        name, mail = rng.choice(people)
        path = f"src/mod{rng.randrange(6)}.py"
        lines = files.setdefault(path, [])
        lines.extend(f"x_{i}_{k} = {rng.random():.6f}" for k in range(rng.randrange(1, 30)))
        if len(lines) > 20 and rng.random() < 0.3:
            del lines[: rng.randrange(1, 10)]
        blob = ("\n".join(lines) + "\n").encode()
        msg = f"change {i} in {path}\n"
        if rng.random() < 0.4:
            msg += "\nCo-authored-by: Claude <noreply@anthropic.com>\n"
        when = t0 + i * 3600
        out.append(b"commit refs/heads/main\n")
        out.append(f"author {name} <{mail}> {when} +0000\n".encode())
        out.append(f"committer {name} <{mail}> {when} +0000\n".encode())
        out.append(f"data {len(msg.encode())}\n{msg}".encode())
        out.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
    return b"".join(out)


def make_repos(root: Path, count: int, commits: int) -> list[Path]:
    """``count`` repositories under root, each with ``commits`` commits."""
    repos = []
    for k in range(count):
        repo = root / f"repo{k:03d}"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run(
            ["git", "-C", str(repo), "fast-import", "--quiet"],
            input=fast_import_stream(k, commits),
            check=True,
        )
        subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"], check=True)
        repos.append(repo)
    return repos


# When a run happened, not what it found: the only columns allowed to differ.
RUN_TIME_COLUMNS = {"mined_at", "ingested_at"}


def dump(store_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every code_* table's rows (run-time columns left out), sorted, to compare stores."""
    from rsimeter.store import Store

    out = {}
    with Store.open(store_path) as s:
        for table in (t for t in s.tables() if t.startswith("code_")):
            cols = [r[0] for r in s.execute(f'DESCRIBE "{table}"').fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c not in RUN_TIME_COLUMNS)
            rows = s.execute(f'SELECT {keep} FROM "{table}"').fetchall()
            out[table] = sorted(map(tuple, rows), key=repr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repos", type=int, default=50)
    ap.add_argument("--commits", type=int, default=150)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    try:
        from rsimeter.code import ingest
    except ImportError:
        sys.exit("rsimeter.code.ingest is not in this build: the code pillar provides it")
    mine_repos = getattr(ingest, "mine_repos", None) or getattr(ingest, "mine", None)
    if mine_repos is None:
        sys.exit(
            "rsimeter.code.ingest.mine_repos is not in this build: the code pillar provides it"
        )
    if "dask_address" not in inspect.signature(mine_repos).parameters:
        sys.exit(f"rsimeter.code.ingest.{mine_repos.__name__} has no dask_address parameter")
    from distributed import Client, LocalCluster

    from rsimeter.store import Store

    with tempfile.TemporaryDirectory(prefix="rsimeter-scaleout-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        repos = make_repos(root / "repos", args.repos, args.commits)
        print(f"generated {len(repos)} repositories x {args.commits} commits "
              f"in {time.perf_counter() - t:.1f} s")  # fmt: skip

        def run(path: Path, address: str | None) -> float:
            with Store.open(path) as s:
                s.set_meta("salt", SALT)
                start = time.perf_counter()
                mine_repos(s, [str(r) for r in repos], dask_address=address)
                return time.perf_counter() - start

        serial = run(root / "serial.duckdb", None)
        with LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, Client(cluster) as client:  # fmt: skip
            client.run(lambda: None)  # workers up before timing
            dask = run(root / "dask.duckdb", cluster.scheduler_address)
        same = dump(root / "serial.duckdb") == dump(root / "dask.duckdb")
        print(f"serial mining:            {serial:8.2f} s")
        print(f"dask, {args.workers} local workers:   {dask:8.2f} s")
        print(f"speed-up (serial / dask): {serial / dask:8.2f}x")
        print(f"stores identical:         {same}")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
