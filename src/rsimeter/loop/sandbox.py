"""Run untrusted candidate code under bubblewrap with hard resource caps.

The sandbox sees a read-only system (``/usr``, the Python installation and its
libraries), the read-only paths the caller names, and nothing else: no network, no
store, no hidden labels, no rsimeter package. Its writable places are private tmpfs
mounts, each capped at ``max_file_mb``: ``/candidate`` (the work folder, whose
prepared files appear in it read-only), ``/tmp`` and ``/dev/shm``; nothing a
candidate writes reaches the host disk.

bubblewrap starts from an empty environment, and PID 1 of the sandbox's PID namespace
is a small launcher (standard library only) that no process inside can signal, trace
or read (PID 1 ignores signals sent from inside its namespace, and the launcher makes
itself non-dumpable). It applies the resource limits, drops root to an otherwise
unused uid when the harness runs as root, and runs the command. The command may send
messages on descriptor 3; the launcher keeps only those whose kernel-attested sender
is the command's own process (anything else is counted as forged). When the command
ends, the launcher notes every other process still in the namespace, kills them all,
reaps them, and only then sends its report: what the harness reads was fixed before
it reads it, and no process of the sandbox is left to change it.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import io
import json
import logging
import math
import os
import re
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rsimeter.errors import RsimeterError

WORKDIR_IN_SANDBOX = "/candidate"
REPORT_FD = 3  # the descriptor a command sends its messages on
TAIL_CHARS = 4000
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # all of a command's messages together
_UID_RANGE = (200_000, 260_000)  # unprivileged uids nobody else uses: per-run process counts

NO_BWRAP_MESSAGE = (
    "bubblewrap (bwrap) is not installed, so candidate code cannot be run safely; install the "
    "Debian package 'bubblewrap' (scripts/setup.sh does), or pass --unsafe-no-sandbox for "
    "trusted code only"
)
UNSAFE_WARNING = (
    "WARNING: --unsafe-no-sandbox runs candidate code with your own rights: it can read your "
    "files and the hidden data, use the network and change the harness. Use it only for code "
    "you trust."
)

ROOT_IN_USERNS_WARNING = (
    "WARNING: rsimeter runs as the machine's root behind a user namespace: the kernel does "
    "not apply the process cap to root, so a candidate can start processes without limit. "
    "Run as root or as an ordinary user instead."
)


class Limits(Protocol):
    """The resource caps a run gets (``rsimeter.loop.target.Budget`` has these fields)."""

    @property
    def cpu_seconds(self) -> float: ...
    @property
    def wall_seconds(self) -> float: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def max_processes(self) -> int: ...
    @property
    def max_file_mb(self) -> int: ...


@dataclass(frozen=True)
class SandboxResult:
    """What happened to one sandboxed command."""

    returncode: int | None  # None when the sandbox did not report one (killed)
    timed_out: bool
    killed_reason: str | None  # timeout | cpu_limit | memory_limit | file_size_limit |
    #                            disk_limit | signal
    stdout_tail: str
    stderr_tail: str
    cpu_seconds: float
    wall_seconds: float
    max_rss_mb: float
    events: tuple[str, ...]  # integrity-relevant observations, e.g. "network_attempt"
    messages: tuple[bytes, ...] = ()  # sent on REPORT_FD by the command's own process

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed_reason is None


def root_behind_user_namespace() -> bool:
    """True when this process looks unprivileged but is the machine's root (kernel uid 0),
    as under ``unshare --user --map-user=1000`` run by root: the kernel never applies the
    process cap (RLIMIT_NPROC) to it, and it has no other uid to drop to."""
    if os.geteuid() == 0:
        return False
    try:
        lines = Path("/proc/self/uid_map").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        inside, outside, count = map(int, line.split())
        if inside <= os.geteuid() < inside + count:
            return outside + os.geteuid() - inside == 0
    return False


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None when it is not installed."""
    return shutil.which("bwrap")


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Log a warning once per process (the CLI shows the unsafe-mode one up front)."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)


#: set while the project runs a pipeline it wrote itself (``trusted_code``): no warning
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("trusted", default=False)


@contextlib.contextmanager
def trusted_code() -> Iterator[None]:
    """Runs inside are the project's own pipelines (shipped targets, reference patches),
    which need no sandbox: the unsafe-mode warning, meant for a user's choice, is not
    logged for them."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def _warn_unsafe_once() -> None:
    """Log the unsafe-mode warning once per process (never for the project's own code)."""
    if not _TRUSTED.get():
        _warn_once(UNSAFE_WARNING)


def run_in_sandbox(
    argv: Sequence[str],
    *,
    workdir: Path,
    readonly_binds: Mapping[Path, str],
    budget: Limits,
    network: bool = False,
    unsafe_no_sandbox: bool = False,
    hidden_paths: Sequence[Path] = (),
    answer: Callable[[bytes], bytes | None] | None = None,
    workdir_writable: bool = False,
    writable_binds: Mapping[Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout_file: Path | None = None,
) -> SandboxResult:
    """Run argv in a fresh sandbox; workdir's files appear read-only in /candidate.

    ``/candidate`` itself is a private tmpfs (capped at ``max_file_mb``): the command may
    add files there, which vanish with the sandbox. ``readonly_binds`` maps host paths to
    where they appear inside. ``hidden_paths`` (files or folders inside the bound system,
    e.g. the source of a target's held-out data) appear empty. Paths in argv are sandbox
    paths. ``answer`` is called with the command's first message and may return bytes for
    its standard input (which is otherwise empty). Raises RsimeterError when bubblewrap
    is missing (unless ``unsafe_no_sandbox``, which runs directly in workdir with the same
    limits and warns loudly).

    For a command that edits files (an agent): ``workdir_writable`` binds workdir itself
    read-write at /candidate, ``writable_binds`` maps more host folders read-write, ``env``
    adds environment variables (handed to the launcher through a pipe, never on a command
    line), ``network`` also binds the resolver and certificate files of ``/etc``, and
    ``stdout_file`` keeps the command's whole standard output.
    """
    workdir = Path(workdir).resolve()
    writable = dict(writable_binds or {})
    if unsafe_no_sandbox:
        _warn_unsafe_once()
        return _run_unsafe(
            argv, workdir, {**readonly_binds, **writable}, budget, answer, env, stdout_file
        )
    bwrap = bwrap_path()
    if bwrap is None:
        raise RsimeterError(NO_BWRAP_MESSAGE)
    as_root = os.geteuid() == 0
    if root_behind_user_namespace():
        _warn_once(ROOT_IN_USERNS_WARNING)
    uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0] if as_root else None
    if uid is not None:
        for tree in (workdir, *writable):
            _chown_tree(Path(tree), uid)
    prefix = [
        bwrap,
        *_bwrap_args(workdir, readonly_binds, budget, network, as_root, workdir_writable),
        *_writable_args(writable),
        *_mask_args(hidden_paths),
    ]
    cfg = {"uid": uid, "limits": _rlimits(budget)}
    result = _supervise(
        prefix,
        cfg,
        argv,
        budget,
        answer=answer,
        env=_LAUNCH_ENV,
        extra_env=env,
        stdout_file=stdout_file,
    )
    if uid is not None and (workdir_writable or writable):  # what it wrote is the caller's again
        for tree in (workdir, *writable):
            _chown_tree(Path(tree), os.geteuid())
    return result


@dataclass(frozen=True)
class DriverRun:
    """The training driver's run (``driver.py run``): its record and its predictions.

    Both come from the driver's own process over the launcher's relay, never from a file
    the candidate could write; ``problem`` says why predictions are missing.
    """

    sandbox: SandboxResult
    record: dict[str, Any] | None
    predictions: dict[str, np.ndarray] | None
    problem: str = ""


def run_driver(
    argv: Sequence[str],
    splits: Mapping[str, np.ndarray],
    *,
    workdir: Path,
    readonly_binds: Mapping[Path, str],
    budget: Limits,
    unsafe_no_sandbox: bool = False,
    hidden_paths: Sequence[Path] = (),
) -> DriverRun:
    """Run ``driver.py run`` (argv, with ``--report-fd 3``) and give it ``splits`` (inputs
    only) to predict once its record says training went well."""
    names = list(splits)

    def answer(first: bytes) -> bytes | None:
        record = _json(first)
        if not isinstance(record, dict) or record.get("status") != "ok":
            return None
        return _message(json.dumps(names).encode()) + b"".join(
            _message(_npy(splits[name])) for name in names
        )

    run = run_in_sandbox(
        argv,
        workdir=workdir,
        readonly_binds=readonly_binds,
        budget=budget,
        unsafe_no_sandbox=unsafe_no_sandbox,
        hidden_paths=hidden_paths,
        answer=answer,
    )
    record = _json(run.messages[0]) if run.messages else None
    if not isinstance(record, dict):
        return DriverRun(run, None, None, "the driver sent no record")
    if record.get("status") != "ok":
        return DriverRun(run, record, None, "")
    arrays = run.messages[1:]
    predictions = {}
    for index, name in enumerate(names):
        data = arrays[index] if index < len(arrays) else b""
        if not data.startswith(b"\x93NUMPY"):
            failure = _json(data)
            detail = failure.get("error", "") if isinstance(failure, dict) else ""
            lines = str(detail or run.stderr_tail).strip().splitlines()[-1:] or ["no output"]
            return DriverRun(run, record, None, f"prediction failed: {lines[0][:300]}")
        try:
            predictions[name] = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError) as e:
            return DriverRun(run, record, None, f"malformed {name} predictions: {e}")
    return DriverRun(run, record, predictions)


def _message(payload: bytes) -> bytes:
    return struct.pack(">Q", len(payload)) + payload


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


# -- candidate folders on the host --------------------------------------------------------

CANDIDATE_PREFIX = "rsimeter-cand-"
_LOCK = ".owner.lock"
_LEGACY_AGE_SECONDS = 24 * 3600  # an unlocked folder from an older version, surely dead


@contextlib.contextmanager
def candidate_folder() -> Iterator[Path]:
    """A fresh host folder for one candidate run, removed afterwards.

    It holds an advisory lock for as long as its process lives, so that the folders of a
    process killed outright (``kill -9``) are recognised and removed by the next one
    (``sweep_leftovers``, called here first).
    """
    sweep_leftovers()
    path = Path(tempfile.mkdtemp(prefix=CANDIDATE_PREFIX))
    # locked before it gets its name: a sweep never sees the lock file unlocked
    lock = os.open(path / f"{_LOCK}.new", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.rename(path / f"{_LOCK}.new", path / _LOCK)
    try:
        yield path
    finally:
        _remove_tree(path)
        os.close(lock)


def sweep_leftovers(root: Path | None = None) -> list[Path]:
    """Remove this user's candidate folders whose process has died; returns them."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{CANDIDATE_PREFIX}*"):
        try:
            mine = path.lstat().st_uid == os.geteuid()
        except OSError:
            continue
        if not mine or path.is_symlink() or not path.is_dir() or not _abandoned(path):
            continue
        _remove_tree(path)
        removed.append(path)
    return removed


def _abandoned(path: Path) -> bool:
    try:
        fd = os.open(path / _LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            return time.time() - path.stat().st_mtime > _LEGACY_AGE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its owner is alive
    finally:
        os.close(fd)
    return True


def _remove_tree(path: Path) -> None:
    """Delete a folder; killed processes may still be exiting, so retry."""
    for attempt in range(10):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1 * (attempt + 1))
    shutil.rmtree(path, ignore_errors=True)


# -- bubblewrap command line ------------------------------------------------------------

# bubblewrap itself starts with this environment and nothing else: no process in the
# sandbox ever holds the caller's variables (tokens, keys)
_LAUNCH_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _bwrap_args(
    workdir: Path,
    readonly_binds: Mapping[Path, str],
    budget: Limits,
    network: bool,
    as_root: bool,
    workdir_writable: bool = False,
) -> list[str]:
    args: list[str] = []
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{top}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{top}"]
    args += [
        "--ro-bind",
        "/usr",
        "/usr",
        "--perms",
        "0755",
        "--dir",
        "/etc",
    ]  # a dropped uid passes
    for etc in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives"):
        args += ["--ro-bind-try", f"/etc/{etc}", f"/etc/{etc}"]
    if network:  # name resolution and TLS roots, nothing else of /etc
        for etc in _NETWORK_ETC:
            args += ["--ro-bind-try", f"/etc/{etc}", f"/etc/{etc}"]
    made: set[str] = {"/", "/usr", "/etc", "/proc", "/dev", "/tmp", WORKDIR_IN_SANDBOX}
    # /tmp first: bwrap applies mounts in order, and a Python install or venv that lives
    # under /tmp (a CI checkout, say) must be bound on top of the private /tmp, not hidden by it
    args += ["--proc", "/proc", "--dev", "/dev"]
    for place in ("/tmp", "/dev/shm"):
        args += _private_tmpfs(place, budget)
    for prefix in _python_roots():
        args += [*_parents(str(prefix), made), "--ro-bind", str(prefix), str(prefix)]
    package = Path(__file__).resolve().parents[1]
    if any(_is_within(package, p) for p in _python_roots()):
        args += ["--tmpfs", str(package)]  # the installed rsimeter stays out of the namespace
    if workdir_writable:
        args += ["--bind", str(workdir), WORKDIR_IN_SANDBOX]
    else:
        args += _private_tmpfs(WORKDIR_IN_SANDBOX, budget)
        for entry in sorted(workdir.iterdir()):
            args += ["--ro-bind", str(entry), f"{WORKDIR_IN_SANDBOX}/{entry.name}"]
    for host_path, inside in readonly_binds.items():
        args += [*_parents(inside, made), "--ro-bind", str(Path(host_path).resolve()), inside]
    if as_root:
        # root is exempt from RLIMIT_NPROC: the launcher drops to an unprivileged uid
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
        if not network:
            args += ["--unshare-net"]
    else:
        args += ["--unshare-all"] + (["--share-net"] if network else [])
    # the launcher is PID 1: out of reach of every signal sent from inside, and the
    # namespace (every process in it) ends when it does
    args += ["--as-pid-1", "--die-with-parent", "--new-session", "--clearenv"]
    args += ["--chdir", WORKDIR_IN_SANDBOX]
    for key, value in _sandbox_env().items():
        args += ["--setenv", key, value]
    return args


_NETWORK_ETC = ("resolv.conf", "hosts", "nsswitch.conf", "gai.conf", "host.conf", "ssl",
                "ca-certificates", "ca-certificates.conf", "pki")  # fmt: skip


def _writable_args(binds: Mapping[Path, str]) -> list[str]:
    made: set[str] = {"/", "/tmp", WORKDIR_IN_SANDBOX}
    args: list[str] = []
    for host_path, inside in binds.items():
        args += [*_parents(inside, made), "--bind", str(Path(host_path).resolve()), inside]
    return args


def _private_tmpfs(place: str, budget: Limits) -> list[str]:
    """A writable tmpfs for the command alone (sticky, like /tmp), capped at max_file_mb."""
    size = int(budget.max_file_mb) * 1024 * 1024
    return ["--perms", "01777", "--size", str(size), "--tmpfs", place]


def _mask_args(paths: Sequence[Path]) -> list[str]:
    args: list[str] = []
    for p in paths:
        path = Path(p).resolve()
        if path.is_dir():
            args += ["--perms", "0755", "--tmpfs", str(path)]
        elif path.exists():
            args += ["--ro-bind", "/dev/null", str(path)]
    return args


def _parents(dest: str, made: set[str]) -> list[str]:
    """bwrap creates missing parents with mode 0700; create them 0755 so a dropped uid can pass."""
    args: list[str] = []
    for parent in reversed(Path(dest).parents):
        if str(parent) not in made:
            made.add(str(parent))
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _sandbox_env() -> dict[str, str]:
    return {
        "HOME": WORKDIR_IN_SANDBOX,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONHASHSEED": "0",
        # one thread per candidate: parallel candidates share the machine's cores fairly
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def _python_roots() -> list[Path]:
    roots: list[Path] = []
    for p in {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parents[1])}:
        path = Path(p).resolve()
        if str(path) in ("/usr", "/"):
            continue
        if not any(_is_within(path, r) for r in roots):
            roots = [r for r in roots if not _is_within(r, path)] + [path]
    return sorted(roots)


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _rlimits(budget: Limits) -> dict[str, list[int]]:
    cpu = max(1, math.ceil(budget.cpu_seconds))
    mem = int(budget.memory_mb) * 1024 * 1024
    fsize = int(budget.max_file_mb) * 1024 * 1024
    return {
        "RLIMIT_CPU": [cpu, cpu + 2],  # SIGXCPU first, SIGKILL two seconds later
        "RLIMIT_AS": [mem, mem],
        "RLIMIT_NPROC": [int(budget.max_processes), int(budget.max_processes)],
        "RLIMIT_FSIZE": [fsize, fsize],
        "RLIMIT_CORE": [0, 0],
    }


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


# The launcher is PID 1 of the sandbox, run with ``python -I -S`` (standard library only).
# It makes itself non-dumpable (no ptrace, no /proc/1/fd or /proc/1/mem for anyone in the
# sandbox), forks the command with the limits applied and a socket on REPORT_FD, and
# relays to the harness, on the pipe it was started with (descriptor 1 is the command's
# stdout, so the pipe's number comes in the config), only the bytes whose kernel-attested
# sender is the command's own process. When the command ends it notes and kills every
# other process in the namespace (orphans are its children: even those that have
# already exited are still there, unreaped), reaps them, drains what they sent, and
# reports. Outside a sandbox (unsafe mode) it is not PID 1 and leaves other processes be.
_LAUNCHER = r"""
import json, os, resource, select, signal, socket, struct, sys
cfg = json.loads(sys.argv[1]); argv = sys.argv[2:]; out = cfg["out"]
contained = os.getpid() == 1
signal.signal(signal.SIGINT, signal.SIG_DFL)  # no handler: PID 1 then ignores every signal
if contained:
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        sys.stderr.write("sandbox launcher: cannot make itself non-dumpable\n"); os._exit(125)
def frame(tag, payload):
    data = memoryview(tag + struct.pack(">I", len(payload)) + payload)
    while data:
        data = data[os.write(out, data):]
extra_env = {}
if cfg.get("env_fd") is not None:  # variables the caller named: from a pipe, not argv
    chunks = []
    while chunk := os.read(cfg["env_fd"], 65536):
        chunks.append(chunk)
    os.close(cfg["env_fd"]); extra_env = json.loads(b"".join(chunks) or b"{}")
mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
mine.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
pid = os.fork()
if pid == 0:
    try:
        fd = cfg["report_fd"]
        os.dup2(theirs.fileno(), fd); os.set_inheritable(fd, True)
        os.closerange(fd + 1, 1 << 16)
        if cfg["uid"] is not None:
            os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
        for name, (soft, hard) in cfg["limits"].items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.environ.update(extra_env)
        os.execv(argv[0], argv)
    except BaseException as e:
        sys.stderr.write("sandbox launcher: %s\n" % e)
    os._exit(127)
theirs.close()
forged = 0
def relay(flags):
    global forged
    try:
        data, anc, _, _ = mine.recvmsg(1 << 16, socket.CMSG_SPACE(12), flags)
    except (BlockingIOError, InterruptedError):
        return False
    if not data:
        return False
    sender = [struct.unpack("i", body[:4])[0] for level, kind, body in anc
              if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
    if sender == [pid]:
        frame(b"D", data)
    else:
        forged += 1
    return True
poll = select.poll(); pidfd = os.pidfd_open(pid)
poll.register(pidfd, select.POLLIN); poll.register(mine, select.POLLIN)
done = False
while not done:
    for fd, _ in poll.poll():
        if fd == pidfd:
            done = True
        elif not relay(0):
            poll.unregister(mine)
_, status, ru = os.wait4(pid, 0)
left = 0
if contained:
    left = sum(1 for p in os.listdir("/proc") if p.isdigit() and p != "1")
    while True:  # kill again before each reap: a process forking right now may add one
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.wait()
        except ChildProcessError:
            break
for _ in range(1 << 16):
    if not relay(socket.MSG_DONTWAIT):
        break
report = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
          "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
          "left_behind": left, "forged": forged,
          "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss}
frame(b"R", json.dumps(report).encode())
os._exit(report["code"] if report["code"] is not None else 128 + (report["signal"] or 0))
"""


# -- running and watching -----------------------------------------------------------------


class _Exchange:
    """Reads the launcher's frames on a thread; feeds the command's stdin once asked."""

    def __init__(self, fd: int, stdin: Any, answer: Callable[[bytes], bytes | None] | None):
        self.report: dict[str, object] | None = None
        self.stream = bytearray()
        self.overflow = False
        self._fd, self._stdin, self._answer = fd, stdin, answer
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None) -> None:
        self._thread.join(timeout)

    def messages(self) -> tuple[bytes, ...]:
        """The command's messages: each is an 8-byte big-endian length and a payload."""
        found, at, data = [], 0, bytes(self.stream)
        while at + 8 <= len(data):
            size = struct.unpack(">Q", data[at : at + 8])[0]
            if at + 8 + size > len(data):
                break
            found.append(data[at + 8 : at + 8 + size])
            at += 8 + size
        return tuple(found)

    def _read(self) -> None:
        with os.fdopen(self._fd, "rb") as pipe:
            while header := pipe.read(5):
                if len(header) < 5:
                    break
                payload = pipe.read(struct.unpack(">I", header[1:])[0])
                if header[:1] == b"R":
                    report = _json(payload)
                    self.report = report if isinstance(report, dict) else None
                elif len(self.stream) + len(payload) > MAX_MESSAGE_BYTES:
                    self.overflow = True
                else:
                    self.stream += payload
                    self._maybe_answer()
        self._close_stdin()

    def _maybe_answer(self) -> None:
        if self._answer is None or self._stdin is None:
            return
        first = self.messages()[:1]
        if not first:
            return
        answer, self._answer = self._answer, None
        try:
            data = answer(first[0])
        except Exception:  # never stop reading: the launcher would block on its pipe
            data = None
        if data is None:
            self._close_stdin()
        else:
            threading.Thread(target=self._feed, args=(data,), daemon=True).start()

    def _feed(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self._stdin.write(data)
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()


def _json(data: bytes) -> object:
    try:
        return json.loads(data.decode())
    except (ValueError, UnicodeDecodeError):
        return None


def _supervise(
    prefix: Sequence[str],
    cfg: Mapping[str, object],
    argv: Sequence[str],
    budget: Limits,
    *,
    answer: Callable[[bytes], bytes | None] | None,
    env: Mapping[str, str],
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    stdout_file: Path | None = None,
) -> SandboxResult:
    """Run the launcher (under ``prefix``, e.g. bwrap and its arguments) with argv.

    ``extra_env`` reaches the command through a pipe the launcher reads (so no command
    line shows it); ``stdout_file`` receives a copy of the whole standard output."""
    read_fd, write_fd = os.pipe()
    fds = [write_fd]
    env_fd = None
    if extra_env:
        env_fd = _env_pipe(extra_env)
        fds.append(env_fd)
    config = json.dumps({**cfg, "out": write_fd, "report_fd": REPORT_FD, "env_fd": env_fd})
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, config]
    with tempfile.TemporaryDirectory(prefix="rsimeter-sbx-") as logs:
        out_path, err_path = Path(logs) / "stdout", Path(logs) / "stderr"
        start = time.monotonic()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                proc = subprocess.Popen(
                    [*prefix, *launcher, *argv],
                    stdin=subprocess.PIPE if answer is not None else subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    pass_fds=tuple(fds),
                    start_new_session=True,
                    env=dict(env),
                    cwd=cwd,
                )
            finally:
                for fd in fds:
                    os.close(fd)
            exchange = _Exchange(read_fd, proc.stdin, answer)
            timed_out = False
            deadline = start + float(budget.wall_seconds)
            status, rusage = _wait(proc.pid, deadline)
            if status is None:
                timed_out = True
                _end_children(proc.pid)
                _kill_group(proc.pid)
                status, rusage = _wait(proc.pid, None)
            assert status is not None
            proc.returncode = _returncode(status)  # so Popen does not wait again
            # the pipe ends when the launcher has: after a timeout, give it a moment to go
            exchange.join(5.0 if timed_out else None)
        wall = time.monotonic() - start
        if stdout_file is not None:
            shutil.copyfile(out_path, stdout_file)
        stdout_tail = _tail(out_path)
        stderr_tail = _tail(err_path)
    assert rusage is not None
    return _result(status, rusage, exchange, timed_out, wall, stdout_tail, stderr_tail)


MAX_ENV_BYTES = 60_000  # fits a pipe's buffer: written whole before the launcher starts


def _env_pipe(variables: Mapping[str, str]) -> int:
    """A pipe's read end holding the variables as JSON (the write end already closed)."""
    data = json.dumps(dict(variables)).encode()
    if len(data) > MAX_ENV_BYTES:
        raise RsimeterError(f"environment variables for the sandbox exceed {MAX_ENV_BYTES} bytes")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


def _wait(pid: int, deadline: float | None) -> tuple[int | None, Any]:
    while True:
        wpid, status, rusage = os.wait4(pid, os.WNOHANG if deadline is not None else 0)
        if wpid == pid:
            return status, rusage
        if deadline is not None and time.monotonic() >= deadline:
            return None, None
        time.sleep(0.02)


def _end_children(pid: int, wait: float = 10.0) -> None:
    """SIGKILL pid's children (bwrap's: the sandbox's PID 1) and wait until each has gone.

    A PID 1 has finished exiting only once every process in its namespace is dead, so
    on return nothing of the sandbox runs any more.
    """
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        try:
            pidfd = os.pidfd_open(int(child))
        except OSError:
            continue
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            select.select([pidfd], [], [], wait)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _tail(path: Path) -> str:
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - TAIL_CHARS * 4))
        text = f.read().decode("utf-8", errors="replace")
    return text[-TAIL_CHARS:]


_STDERR_EVENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "network_attempt",
        re.compile(
            r"Network is unreachable|Temporary failure in name resolution|"
            r"Name or service not known|Connection refused|socket\.gaierror|"
            r"Cannot assign requested address|No route to host",
            re.I,
        ),
    ),
    (
        "forbidden_path_attempt",
        re.compile(r"Permission denied|Read-only file system|Operation not permitted", re.I),
    ),
    (
        "forbidden_path_attempt",
        re.compile(r"No such file or directory: '/(?!candidate/)[^']*'"),
    ),
    ("process_limit", re.compile(r"Resource temporarily unavailable|can't start new thread")),
    ("file_size_limit", re.compile(r"File too large")),
    ("disk_limit", re.compile(r"No space left on device|Disk quota exceeded")),
    ("memory_limit", re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc")),
)


def stderr_events(text: str) -> list[str]:
    """Integrity-relevant observations in a command's error output."""
    return [name for name, pattern in _STDERR_EVENTS if pattern.search(text)]


def _result(
    status: int,
    rusage: object,
    exchange: _Exchange,
    timed_out: bool,
    wall: float,
    stdout_tail: str,
    stderr_tail: str,
) -> SandboxResult:
    events = stderr_events(stderr_tail)
    sig: int | None = None
    code: int | None = None
    report = exchange.report
    if report is None:
        if not timed_out:
            events.append("sandbox_report_missing")
    else:
        rsig, rcode = report.get("signal"), report.get("code")
        sig = rsig if isinstance(rsig, int) else None
        code = rcode if isinstance(rcode, int) else (-sig if sig else None)
        left, forged = report.get("left_behind"), report.get("forged")
        if isinstance(left, int) and left > 0:
            events.append("background_process")
        if not isinstance(forged, int) or forged > 0:
            events.append("report_forged")
    if exchange.overflow:
        events.append("report_too_large")
    if timed_out:
        code = None
    reason = _killed_reason(timed_out, sig, code, events)
    cpu = float(rusage.ru_utime + rusage.ru_stime)  # type: ignore[attr-defined]
    rss = float(rusage.ru_maxrss) / 1024.0  # type: ignore[attr-defined]
    if report is not None:  # the launcher saw the command's own usage (bwrap's is its own)
        rcpu, rrss = report.get("cpu"), report.get("rss_kb")
        cpu = max(cpu, float(rcpu)) if isinstance(rcpu, int | float) else cpu
        rss = max(rss, float(rrss) / 1024.0) if isinstance(rrss, int | float) else rss
    return SandboxResult(
        returncode=code,
        timed_out=timed_out,
        killed_reason=reason,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        cpu_seconds=cpu,
        wall_seconds=wall,
        max_rss_mb=rss,
        events=tuple(dict.fromkeys(events)),
        messages=exchange.messages() if report is not None else (),
    )


def _killed_reason(
    timed_out: bool, sig: int | None, code: int | None, events: list[str]
) -> str | None:
    if timed_out:
        return "timeout"
    if sig == signal.SIGXCPU:
        return "cpu_limit"
    if sig == signal.SIGXFSZ or ("file_size_limit" in events and code != 0):
        return "file_size_limit"
    if "memory_limit" in events and code != 0:
        return "memory_limit"
    if "disk_limit" in events and code != 0:
        return "disk_limit"
    if sig is not None:
        return "signal"
    return None


# -- without a sandbox (trusted code only) ------------------------------------------------


def _run_unsafe(
    argv: Sequence[str],
    workdir: Path,
    readonly_binds: Mapping[Path, str],
    budget: Limits,
    answer: Callable[[bytes], bytes | None] | None,
    extra_env: Mapping[str, str] | None = None,
    stdout_file: Path | None = None,
) -> SandboxResult:
    """Run the launcher directly in workdir with the same rlimits (not the per-user process
    cap, which would count the caller's own processes); sandbox paths in argv are mapped
    to host paths."""
    mapping = {WORKDIR_IN_SANDBOX: str(workdir)}
    mapping.update({inside: str(Path(host).resolve()) for host, inside in readonly_binds.items()})

    def host(arg: str) -> str:
        for inside in sorted(mapping, key=len, reverse=True):
            if arg == inside or arg.startswith(inside + "/"):
                return mapping[inside] + arg[len(inside) :]
        return arg

    limits = {k: v for k, v in _rlimits(budget).items() if k != "RLIMIT_NPROC"}
    env = {**_sandbox_env(), "HOME": str(workdir), "PATH": os.environ.get("PATH", "")}
    cfg = {"uid": None, "limits": limits}
    return _supervise(
        [],
        cfg,
        [host(a) for a in argv],
        budget,
        answer=answer,
        env=env,
        cwd=workdir,
        extra_env=extra_env,
        stdout_file=stdout_file,
    )
