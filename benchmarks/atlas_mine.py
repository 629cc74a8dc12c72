"""Mining the atlas: a 2-worker local Dask cluster vs one process, and what 1,000 repos cost.

    python benchmarks/atlas_mine.py [--repos 40] [--commits 400] [--workers 2]
    python benchmarks/atlas_mine.py --clones DIR [--repos 40]   # real atlas clones

Generates ``--repos`` repositories of ``--commits`` commits each (the generator of
benchmarks/code_mining.py), or with ``--clones DIR`` takes the first ``--repos``
repositories of the shipped atlas list that have a bare clone in DIR (named
``owner+name.git`` or ``owner+name/repo``, as ``atlas mine --clones`` reads them; no
network), then mines them all with ``rsimeter.atlas.mine.run_tasks``:

- serial: one process, one repository after another (the reference);
- dask: a local cluster of ``--workers`` single-threaded worker processes, one task
  per repository (cluster start-up included in the time).

Prints the speed-up (serial time / Dask time; the goal is >= 1.6x on 2 workers with 2
free cores), each worker's peak RSS (bounded: a task holds one repository's rows at
a time), the measured cost per repository and per commit, and from those a projection
of a 1,000-repository atlas on a real Dask cluster.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from code_mining import generate

from rsimeter.atlas.mine import MineJob, RepoMined, local_clone, local_cluster, run_tasks
from rsimeter.atlas.repos import AtlasRepo, load_list


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (git included)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repos", type=int, default=40)
    ap.add_argument("--commits", type=int, default=400)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clones", type=Path, default=None, help="real atlas clones to mine")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.clones is not None:
            clones = args.clones
            repos = [r for r in load_list().repos if local_clone(r, clones)][: args.repos]
            if not repos:
                print(f"{clones}: no clone of any atlas repository here", file=sys.stderr)
                return 2
            print(f"{len(repos)} atlas repositories with a clone in {clones}")
        else:
            clones = root / "clones"
            repos = [
                AtlasRepo(f"bench/r{i:03d}", "pretraining", "benchmark") for i in range(args.repos)
            ]
            t0 = time.perf_counter()
            for i, r in enumerate(repos):
                generate(clones / f"{r.key}.git", args.commits, seed=i)
            print(
                f"generated {args.repos} repositories x {args.commits} commits "
                f"in {time.perf_counter() - t0:.1f}s"
            )

        def jobs(cache: str) -> list[MineJob]:
            return [MineJob(r, root / cache, clones, network=False) for r in repos]

        t0, c0 = time.perf_counter(), _cpu_seconds()
        serial = run_tasks(jobs("serial"), workers=1)
        t_serial = time.perf_counter() - t0
        cores_serial = (_cpu_seconds() - c0) / t_serial

        t0 = time.perf_counter()
        with local_cluster(args.workers) as address:
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            dask = run_tasks(jobs("dask"), dask_address=address)
            t_tasks = time.perf_counter() - t1
            from distributed import Client

            with Client(address) as client:
                rss = client.run(_peak_rss_mib)
        t_dask = time.perf_counter() - t0

    pairs = zip(serial, dask, strict=True)
    ok = all(a.changes == b.changes and a.status == b.status for a, b in pairs)
    failed = sum(r.status == "failed" for r in serial + dask)
    commits = sum(r.changes for r in serial)
    per_repo = [r.seconds for r in serial]
    print(
        f"serial: {t_serial:.1f}s   dask ({args.workers} workers): {t_dask:.1f}s   "
        f"speed-up {t_serial / t_dask:.2f}x (goal >= 1.6x)   same results: {ok}, "
        f"failed: {failed}"
    )
    print(
        f"  cluster start {t_start:.1f}s; tasks alone {t_tasks:.1f}s: "
        f"speed-up without start-up {t_serial / t_tasks:.2f}x"
    )
    cores = os.cpu_count() or 1
    print(
        f"  cores: {cores}, load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (a loaded machine cannot show it)"
    )
    print(
        f"  serial mining kept {cores_serial:.2f} cores busy (git runs beside the parser), "
        f"so {args.workers} workers can gain at most "
        f"{min(args.workers, cores / cores_serial):.2f}x on {cores} cores"
    )
    print("peak RSS per worker (MiB): " + ", ".join(f"{v:.0f}" for v in rss.values()))
    print(
        f"per repository: mean {sum(per_repo) / len(per_repo):.2f}s, "
        f"max {max(per_repo):.2f}s; per 1,000 commits: {1000 * sum(per_repo) / commits:.2f}s"
    )
    _project(serial, commits)
    return 0 if ok else 1


def _project(serial: list[RepoMined], commits: int) -> None:
    """A 1,000-repository atlas from the measured cost per commit.

    The real atlas averages about 2,100 landed commits per repository (107,218 in
    the shipped snapshot's 51 repositories); a bare blob-limited clone of such a repository
    takes 10-60 s on a good link. Mining is CPU-bound and embarrassingly parallel
    (one task per repository, no shared state), so W workers divide the total.
    """
    per_commit = sum(r.seconds for r in serial) / max(commits, 1)
    total = 1000 * 2100 * per_commit
    clone = 1000 * 30.0
    print(
        f"1,000 repositories x ~2,100 commits: mining {total / 3600:.1f} CPU-hours "
        f"+ cloning ~{clone / 3600:.1f} hours of transfer; "
        + ", ".join(f"{w} workers: {(total + clone) / w / 60:.0f} min" for w in (16, 64, 256))
    )


if __name__ == "__main__":
    sys.exit(main())
