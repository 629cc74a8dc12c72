"""Mining the atlas: one task per repository, on Dask (local cluster or a scheduler).

Each task fetches its repository (a bare, blob-filtered clone kept in the cache and
fetched again on later runs), mines it with the code pillar into its own store
(so tasks never share a writer and re-runs are incremental), and returns only
derived counts plus the minimal per-change frame the uplift fit needs (pseudonyms,
dates, line counts; never kept). A failed repository is reported and never stops
the others.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rsimeter.atlas.repos import AtlasList, AtlasRepo
from rsimeter.atlas.snapshot import CELL_COLUMNS, ENGINEER_COLUMNS, Snapshot, derive_counts
from rsimeter.code.git import safe_git
from rsimeter.code.ingest import mine as mine_repos
from rsimeter.code.metrics import load_changes
from rsimeter.code.uplift import build_panel, fit_uplift
from rsimeter.errors import RsimeterError
from rsimeter.parallel import parallel_map
from rsimeter.store import Store

# Large blobs are left out of clones; ordinary source files stay, so lines added
# can still be counted (``blob:none`` works too, but then line counts are unknown).
DEFAULT_FILTER = "blob:limit=1m"
CLONE_TIMEOUT = 3600.0
_PANEL_COLUMNS = [
    "author",
    "committer",
    "landed_at",
    "lines_added",
    "ai",
    "author_is_agent",
    "committer_is_bot",
    "sha",
]


@dataclass(frozen=True)
class MineJob:
    """One repository to fetch and mine, and where its clone and store live."""

    repo: AtlasRepo
    cache: Path
    clones: Path | None = None  # a folder of existing bare clones to use instead
    filter: str = DEFAULT_FILTER
    network: bool = True
    remote_base: str = "https://github.com/"  # + owner/name.git

    @property
    def url(self) -> str:
        return f"{self.remote_base}{self.repo.slug}.git"

    @property
    def cached_clone(self) -> Path:
        """Where the bare clone made (or fetched) for this job lives in the cache."""
        return self.cache / "clones" / f"{self.repo.key}.git"


@dataclass
class RepoMined:
    """What one task returns: status, what was mined, and derived counts."""

    repo: str
    category: str
    status: str  # "mined", "up to date", "partial", "failed"
    commit: str | None = None
    commit_date: str | None = None
    changes: int = 0
    first_change: str | None = None  # dates the mined changes landed between
    last_change: str | None = None
    lines_unknown: int = 0  # file changes whose line counts could not be read
    changes_lines_unknown: int = 0  # changes with at least one such file
    seconds: float = 0.0
    message: str = ""
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    engineers: pd.DataFrame = field(default_factory=pd.DataFrame)
    panel: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "category": self.category,
            "status": self.status,
            "commit": self.commit,
            "commit_date": self.commit_date,
            "changes": self.changes,
            "first_change": self.first_change,
            "last_change": self.last_change,
            "lines_unknown": self.lines_unknown,
            "changes_lines_unknown": self.changes_lines_unknown,
            "seconds": round(self.seconds, 2),
            "message": self.message,
        }


def local_clone(repo: AtlasRepo, clones: Path) -> Path | None:
    """An existing clone of repo under clones (``owner+name.git``, ``owner+name`` or
    ``owner+name/repo``), or None."""
    for cand in (clones / f"{repo.key}.git", clones / repo.key / "repo", clones / repo.key):
        if (cand / "HEAD").exists() or (cand / ".git").exists():
            return cand
    return None


def ensure_clone(job: MineJob) -> Path:
    """The bare clone of the job's repository: reused (and fetched), or made once."""
    if job.clones is not None:
        found = local_clone(job.repo, job.clones)
        if found is not None:
            return found
    target = job.cached_clone
    if (target / "HEAD").exists():
        if job.network:
            # a bare clone has no fetch refspec: name it, so the branches move
            safe_git(
                ["fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"],
                target,
                CLONE_TIMEOUT,
                network=True,
            )
        return target
    if not job.network:
        raise RsimeterError(f"{job.repo.slug}: no local clone and network use is off")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    safe_git(
        ["clone", "--bare", "--quiet", f"--filter={job.filter}", "--", job.url, str(tmp)],
        None,
        CLONE_TIMEOUT,
        network=True,
    )
    tmp.rename(target)
    return target


def mine_one(job: MineJob) -> RepoMined:
    """Fetch and mine one repository; every failure becomes a 'failed' status."""
    start = time.perf_counter()
    out = RepoMined(job.repo.slug, job.repo.category, "failed")
    try:
        git_dir = ensure_clone(job)
        store_path = job.cache / "stores" / f"{job.repo.key}.duckdb"
        store_path.parent.mkdir(parents=True, exist_ok=True)
        with Store.open(store_path) as s:
            result = mine_repos(s, [str(git_dir)])
            outcome = result.repos[0]
            out.status, out.message = outcome.status, outcome.message
            if outcome.status != "failed":
                changes = load_changes(s)
                out.changes = len(changes)
                if len(changes):
                    out.first_change = str(changes["landed_at"].min().date())
                    out.last_change = str(changes["landed_at"].max().date())
                out.cells, out.engineers = derive_counts(changes, job.repo.slug)
                for col in ("lines_unknown", "changes_lines_unknown"):
                    if col in out.cells:
                        setattr(out, col, int(out.cells[col].sum()))
                out.panel = changes.loc[:, _PANEL_COLUMNS].assign(
                    author=job.repo.key + ":" + changes["author"].astype(str),
                    committer=job.repo.key + ":" + changes["committer"].astype(str),
                    sha=job.repo.key + ":" + changes["sha"].astype(str),
                )
        if out.status != "failed":  # the default-branch tip that was mined
            shown = safe_git(["show", "-s", "--format=%H %cI", "HEAD"], git_dir, 60)
            sha, _, when = shown.stdout.decode("ascii", "replace").strip().partition(" ")
            out.commit, out.commit_date = sha, when[:10]
    except RsimeterError as e:  # one repository's failure never stops the others
        out.status, out.message = "failed", str(e)[:500]
    except Exception as e:  # anything unexpected too, named by its type
        out.status, out.message = "failed", f"{type(e).__name__}: {e}"[:500]
    out.seconds = time.perf_counter() - start
    return out


@contextmanager
def local_cluster(workers: int, memory_limit: str = "4GiB") -> Iterator[str]:
    """A local Dask cluster of single-threaded worker processes; yields its address."""
    from distributed import LocalCluster

    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
        )
    except (RuntimeError, OSError) as e:
        raise RsimeterError(
            f"could not start a local Dask cluster of {workers} workers ({e}); "
            "try --workers 1 or --dask ADDRESS"
        ) from e
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def run_tasks(
    jobs: Sequence[MineJob],
    *,
    workers: int = 2,
    dask_address: str | None = None,
    progress: Callable[[RepoMined], None] | None = None,
    task: Callable[[MineJob], RepoMined] = mine_one,
) -> list[RepoMined]:
    """Run ``task`` (mining by default) on every job, one Dask task each (a local
    cluster unless an address is given); ``workers`` = 1 without an address runs
    serially in this process. A task whose worker dies (killed, out of memory) fails
    alone: the jobs after it are submitted again (their stores make that cheap).

    Jobs are submitted largest clone first (longest-processing-time-first: the long
    repositories start early, so no worker is left mining one alone at the end);
    results come back in the order of ``jobs``."""
    order = sorted(range(len(jobs)), key=lambda i: -clone_bytes(jobs[i]))
    results: list[RepoMined] = []
    pending = [jobs[i] for i in order]

    def done(r: RepoMined) -> None:
        results.append(r)
        pending.pop(0)
        if progress:
            progress(r)

    def collect(address: str | None) -> None:
        while pending:
            try:
                for r in parallel_map(task, list(pending), dask_address=address):
                    done(r)
            except RsimeterError:
                raise  # the scheduler cannot be reached: nothing can run
            except Exception as e:  # results come in order: the first pending job failed
                job = pending[0]
                msg = f"its worker was lost: {type(e).__name__}: {e}"[:500]
                done(RepoMined(job.repo.slug, job.repo.category, "failed", message=msg))

    if dask_address:
        collect(dask_address)
    elif workers > 1:
        with local_cluster(workers) as address:
            collect(address)
    else:
        collect(None)
    by_job = dict(zip(order, results, strict=True))
    return [by_job[i] for i in range(len(jobs))]


def clone_bytes(job: MineJob) -> int:
    """Bytes of the job's existing clone (its objects: a proxy for the mining it needs);
    0 when it has none yet."""
    found = local_clone(job.repo, job.clones) if job.clones is not None else None
    if found is None and (job.cached_clone / "HEAD").exists():
        found = job.cached_clone
    if found is None:
        return 0
    objects = found / "objects" if (found / "objects").is_dir() else found / ".git" / "objects"
    return sum(f.stat().st_size for f in objects.rglob("*") if f.is_file())


@dataclass
class AtlasMineResult:
    """Outcome of ``rsimeter atlas mine``: per-repository status and the snapshot written."""

    repos: list[RepoMined]
    snapshot_path: Path | None
    snapshot_date: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": str(self.snapshot_path) if self.snapshot_path else None,
            "snapshot_date": self.snapshot_date,
            "mined": sum(r.status in ("mined", "up to date") for r in self.repos),
            "partial": sum(r.status == "partial" for r in self.repos),
            "failed": sum(r.status == "failed" for r in self.repos),
            "changes": sum(r.changes for r in self.repos),
            "repos": [r.to_dict() for r in self.repos],
        }

    def summary(self) -> str:
        """Per-repository status lines and the totals."""
        d = self.to_dict()
        lines = [
            f"{r.status:<10} {r.repo:<40} {r.changes:>7} changes  {r.seconds:6.1f}s  {r.message}"
            for r in self.repos
        ]
        lines.append(
            f"{d['mined']} mined, {d['partial']} partial, {d['failed']} failed; "
            f"{d['changes']} changes; snapshot: {d['snapshot']}"
        )
        return "\n".join(lines)


def build_snapshot(results: Sequence[RepoMined], atlas: AtlasList, snapshot_date: str) -> Snapshot:
    """The snapshot of mined repositories: counts, per-repository facts, uplift fits."""
    cells = [r.cells for r in results if not r.cells.empty]
    engs = [r.engineers for r in results if not r.engineers.empty]
    panels = [r.panel for r in results if not r.panel.empty]
    uplift: dict[str, Any] = {}
    if panels:
        changes = pd.concat(panels, ignore_index=True)
        for outcome in ("lines", "changes"):
            uplift[outcome] = fit_uplift(build_panel(changes, outcome)).to_dict()
    return Snapshot(
        snapshot_date,
        atlas.version,
        [_snapshot_entry(r) for r in results],
        pd.concat(cells, ignore_index=True) if cells else pd.DataFrame(columns=CELL_COLUMNS),
        pd.concat(engs, ignore_index=True) if engs else pd.DataFrame(columns=ENGINEER_COLUMNS),
        uplift,
    )


def _snapshot_entry(r: RepoMined) -> dict[str, Any]:
    """A repository's facts in the snapshot: its state, not what this run did to it."""
    entry = {k: v for k, v in r.to_dict().items() if k != "seconds"}
    if entry["status"] == "up to date":
        entry["status"] = "mined"
    return entry


def mine_atlas(
    repos: Sequence[AtlasRepo],
    atlas: AtlasList,
    *,
    cache: Path,
    out: Path | None,
    workers: int = 2,
    dask_address: str | None = None,
    clones: Path | None = None,
    network: bool = True,
    clone_filter: str = DEFAULT_FILTER,
    progress: Callable[[RepoMined], None] | None = None,
) -> AtlasMineResult:
    """Fetch and mine the repositories, then write the snapshot to ``out``."""
    cache = cache.resolve()
    jobs = [
        MineJob(r, cache, clones.resolve() if clones else None, clone_filter, network)
        for r in repos
    ]
    results = run_tasks(jobs, workers=workers, dask_address=dask_address, progress=progress)
    today = datetime.now(UTC).date().isoformat()
    if out is not None:
        build_snapshot(results, atlas, today).write(out)
    return AtlasMineResult(results, out, today)
