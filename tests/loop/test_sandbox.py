"""The sandbox: what a command inside can see and do, and how its limits end it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsimeter.errors import RsimeterError
from rsimeter.loop import sandbox
from rsimeter.loop.sandbox import WORKDIR_IN_SANDBOX, run_in_sandbox, stderr_events

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap not installed")


@dataclass(frozen=True)
class Caps:
    cpu_seconds: float = 20
    wall_seconds: float = 20
    memory_mb: int = 1024
    max_processes: int = 16
    max_file_mb: int = 4


def run(code: str, work: Path, **caps: float) -> sandbox.SandboxResult:
    return run_in_sandbox(
        [sys.executable, "-c", code], workdir=work, readonly_binds={}, budget=Caps(**caps)
    )


@needs_bwrap
def test_command_runs_in_private_work_folder_and_sees_only_the_system(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("hello")
    code = (
        "import os, sys; print(os.getcwd()); print(open('mine.txt').read());"
        "print(sorted(os.listdir('/')))"
    )
    result = run(code, tmp_path)
    assert result.ok, result.stderr_tail
    lines = result.stdout_tail.splitlines()
    assert lines[0] == WORKDIR_IN_SANDBOX
    assert lines[1] == "hello"
    top = eval(lines[2])
    assert "home" not in top and "var" not in top and "srv" not in top


@needs_bwrap
def test_rsimeter_package_and_store_are_not_visible(tmp_path: Path) -> None:
    import rsimeter

    package = Path(rsimeter.__file__).resolve().parent
    code = (
        f"import os; print(os.path.exists({str(package / 'store.py')!r}));"
        "import importlib.util; print(importlib.util.find_spec('rsimeter') is None)"
    )
    result = run(code, tmp_path)
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.split() == ["False", "True"]


@needs_bwrap
def test_readonly_bind_cannot_be_written_and_attempt_is_an_event(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "f.txt").write_text("x")
    work = tmp_path / "work"
    work.mkdir()
    result = run_in_sandbox(
        [sys.executable, "-c", "open('/ro/f.txt', 'w').write('changed')"],
        workdir=work,
        readonly_binds={shared: "/ro"},
        budget=Caps(),
    )
    assert result.returncode == 1
    assert "forbidden_path_attempt" in result.events
    assert (shared / "f.txt").read_text() == "x"


@needs_bwrap
def test_hidden_paths_appear_empty(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    secret = shared / "secret"
    secret.mkdir(parents=True)
    (secret / "labels.txt").write_text("1 2 3")
    for folder in (tmp_path, shared, secret):
        folder.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    # the secret is inside a folder the sandbox binds at the same path; it must look empty
    result = run_in_sandbox(
        [sys.executable, "-c", f"import os; print(os.listdir({str(secret)!r}))"],
        workdir=work,
        readonly_binds={shared: str(shared)},
        budget=Caps(),
        hidden_paths=[secret],
    )
    assert result.ok, result.stderr_tail
    assert result.stdout_tail.strip() == "[]"


@needs_bwrap
def test_network_is_unreachable(tmp_path: Path) -> None:
    code = "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)"
    result = run(code, tmp_path)
    assert result.returncode == 1
    assert "network_attempt" in result.events


@needs_bwrap
def test_wall_clock_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c',"
        " 'import time; time.sleep(300)  # rsimeter-orphan']);"
        "time.sleep(300)"
    )
    result = run(code, tmp_path, wall_seconds=2)
    assert result.timed_out and result.killed_reason == "timeout"
    assert result.returncode is None
    assert result.wall_seconds < 15
    survivors = subprocess.run(["pgrep", "-f", "rsimeter-orphan"], capture_output=True, text=True)
    assert survivors.stdout.strip() == ""


@needs_bwrap
def test_cpu_limit_ends_a_busy_loop(tmp_path: Path) -> None:
    result = run("while True: pass", tmp_path, cpu_seconds=1, wall_seconds=30)
    assert result.killed_reason == "cpu_limit"
    assert 0.8 <= result.cpu_seconds < 10


@needs_bwrap
def test_memory_limit_stops_unbounded_allocation(tmp_path: Path) -> None:
    result = run("x = bytearray(4 * 1024**3)", tmp_path, memory_mb=512)
    assert result.killed_reason == "memory_limit"
    assert "memory_limit" in result.events


@needs_bwrap
@pytest.mark.skipif(
    sandbox.root_behind_user_namespace(),
    reason="the machine's root behind a user namespace: the kernel exempts it from the "
    "process cap, and a fork bomb would reach the whole machine",
)
def test_process_limit_contains_a_fork_bomb(tmp_path: Path) -> None:
    code = "import os\nwhile True:\n    os.fork()"
    result = run(code, tmp_path, max_processes=8, wall_seconds=20)
    assert not result.timed_out
    assert "process_limit" in result.events


@needs_bwrap
def test_file_size_limit(tmp_path: Path) -> None:
    result = run("open('big', 'wb').write(b'0' * 8 * 1024**2)", tmp_path, max_file_mb=1)
    assert result.killed_reason == "file_size_limit"
    assert not (tmp_path / "big").exists()  # written in the private folder, gone with it


@needs_bwrap
def test_work_folder_files_are_read_only_new_files_are_private_and_capped(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text("original")
    code = (
        "import os\n"
        "open('scratch.txt', 'w').write('mine'); print(open('scratch.txt').read())\n"
        "try:\n    open('train.py', 'w').write('changed')\nexcept OSError as e: print(e.errno)\n"
        "for i in range(4):\n    open(f'fill-{i}', 'wb').write(b'0' * 3 * 1024**2)\n"
    )
    result = run(code, tmp_path, max_file_mb=4)
    assert result.stdout_tail.split()[:2] == ["mine", "30"]  # EROFS
    assert result.killed_reason == "disk_limit" and "disk_limit" in result.events
    assert (tmp_path / "train.py").read_text() == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]


@needs_bwrap
def test_tmp_and_dev_shm_are_private_writable_and_capped(tmp_path: Path) -> None:
    code = (
        "import tempfile\n"
        "for place in ('/tmp', '/dev/shm'):\n"
        "    open(place + '/small', 'wb').write(b'0' * 1024**2)\n"
        "    with tempfile.NamedTemporaryFile(dir=place) as f: f.write(b'x')\n"
        "print('wrote')\n"
        "for i in range(4):\n    open(f'/dev/shm/fill-{i}', 'wb').write(b'0' * 3 * 1024**2)\n"
    )
    result = run(code, tmp_path, max_file_mb=4)
    assert result.stdout_tail.strip() == "wrote", result.stderr_tail
    assert result.killed_reason == "disk_limit"
    assert "forbidden_path_attempt" not in result.events


@needs_bwrap
def test_no_process_inside_holds_the_callers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RSIMETER_TEST_SECRET", "do-not-leak-7c1e")
    code = (
        "import os\n"
        "for p in os.listdir('/proc'):\n"
        "    try: print(p, open(f'/proc/{p}/environ', 'rb').read())\n"
        "    except OSError as e: print(p, e.errno)\n"
    )
    result = run(code, tmp_path)
    assert result.ok, result.stderr_tail
    assert "do-not-leak-7c1e" not in result.stdout_tail
    assert "1 13" in result.stdout_tail.splitlines()  # the launcher's environ: EACCES


@needs_bwrap
def test_the_launcher_is_out_of_reach_and_still_reports(tmp_path: Path) -> None:
    code = (
        "import ctypes, os, signal\n"
        "for sig in (signal.SIGSTOP, signal.SIGINT, signal.SIGKILL):\n"
        "    try: os.kill(1, sig)\n"
        "    except OSError: pass\n"
        "opened = 0\n"
        "for fd in range(64):\n"
        "    try: open(f'/proc/1/fd/{fd}', 'wb').close(); opened += 1\n"
        "    except OSError: pass\n"
        "print('fds', opened)\n"
        "for what in ('/proc/1/mem', '/proc/1/environ'):\n"
        "    try: open(what, 'rb')\n"
        "    except OSError as e: print(what, e.errno)\n"
        "print('ptrace', ctypes.CDLL(None, use_errno=True).ptrace(16, 1, 0, 0))\n"
        "raise SystemExit(7)\n"
    )
    result = run(code, tmp_path)
    assert result.returncode == 7, result  # the launcher's own report, after all that
    assert result.stdout_tail.splitlines() == [
        "fds 0",
        "/proc/1/mem 13",
        "/proc/1/environ 13",
        "ptrace -1",
    ]
    assert "sandbox_report_missing" not in result.events


@needs_bwrap
def test_only_the_commands_own_messages_are_kept(tmp_path: Path) -> None:
    code = (
        "import os, struct\n"
        "def send(text): os.write(3, struct.pack('>Q', len(text)) + text)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    send(b'forged'); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "send(b'genuine')\n"
    )
    result = run(code, tmp_path)
    assert result.ok, result.stderr_tail
    assert result.messages == (b"genuine",)
    assert "report_forged" in result.events


@needs_bwrap
def test_background_process_is_reported_and_killed(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)  # rsimeter-bg'])"
    )
    result = run(code, tmp_path)
    assert result.returncode == 0
    assert "background_process" in result.events
    survivors = subprocess.run(["pgrep", "-f", "rsimeter-bg"], capture_output=True, text=True)
    assert survivors.stdout.strip() == ""


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens only when run as root")
def test_root_is_dropped_to_an_unprivileged_uid(tmp_path: Path) -> None:
    result = run("import os; print(os.getuid(), os.geteuid())", tmp_path)
    uid, euid = map(int, result.stdout_tail.split())
    assert uid == euid and uid >= 200_000


def test_missing_bubblewrap_refuses_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(RsimeterError, match=r"bubblewrap.*--unsafe-no-sandbox"):
        run("print(1)", tmp_path)


def test_unsafe_mode_runs_with_limits_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "_warned", set())
    caplog.set_level(logging.WARNING, logger=sandbox.__name__)  # whatever else set the root
    result = run_in_sandbox(
        [sys.executable, "-c", "import os; print(os.getcwd())"],
        workdir=tmp_path,
        readonly_binds={},
        budget=Caps(),
        unsafe_no_sandbox=True,
    )
    assert result.ok
    assert result.stdout_tail.strip() == str(tmp_path.resolve())
    assert "WARNING" in caplog.text


def test_the_projects_own_pipelines_run_without_the_unsafe_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rsimeter.loop.evaluate import run_trusted
    from rsimeter.loop.target import load_target

    monkeypatch.setattr(sandbox, "_warned", set())
    caplog.set_level(logging.WARNING, logger=sandbox.__name__)
    run = run_trusted(load_target("digits"), 0, tmp_path / "w")  # e.g. w2s's PGR ceiling
    assert run.status == "ok" and sandbox.UNSAFE_WARNING not in caplog.text
    again = run_in_sandbox(  # a user's choice of unsafe mode still warns, once
        [sys.executable, "-c", "pass"], workdir=tmp_path, readonly_binds={}, budget=Caps(),
        unsafe_no_sandbox=True,
    )  # fmt: skip
    assert again.ok and sandbox.UNSAFE_WARNING in caplog.text


def test_stderr_events_recognise_attempts() -> None:
    assert stderr_events("OSError: [Errno 101] Network is unreachable") == ["network_attempt"]
    assert stderr_events("OSError: [Errno 30] Read-only file system: '/usr/x'") == [
        "forbidden_path_attempt"
    ]
    assert stderr_events("No such file or directory: '/home/me/hidden.npz'") == [
        "forbidden_path_attempt"
    ]
    assert stderr_events("No such file or directory: '/candidate/data/x.npy'") == []
    assert stderr_events("all fine") == []


def test_private_tmp_is_mounted_before_python_so_a_venv_under_tmp_stays_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = Path("/tmp/some-checkout/.venv")
    monkeypatch.setattr(sandbox, "_python_roots", lambda: [venv])
    args = sandbox._bwrap_args(tmp_path, {}, Caps(), network=False, as_root=False)
    tmpfs_at = args.index("/tmp", args.index("--tmpfs"))
    bind_at = args.index(str(venv))
    assert tmpfs_at < bind_at
