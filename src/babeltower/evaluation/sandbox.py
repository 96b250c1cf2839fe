"""Running untrusted (model-generated) programs.

Every program runs in its own temporary directory, in a new process group that is killed
whole on timeout, with CPU, address-space, process-count and file-size limits, with a clean
environment, and, where bubblewrap works, in its own namespaces with no network and a file
system of only what the runners need (babeltower.evaluation.isolation: the bubblewrap command
line and what it shows).

When the harness runs as root, the program runs as an unprivileged user: the kernel does not
apply RLIMIT_NPROC to root, so a fork bomb would otherwise not be contained. RLIMIT_NPROC counts
all the processes and threads of a uid on the machine, so programs that run at the same time
(parallel workers, two evaluation jobs) each get their own uid (65534, 65533, ...; a slot
claimed with a lock file): a fork bomb in one cannot make an innocent program next to it fail to
start. Where bubblewrap is unavailable (e.g. no user namespaces on a cluster), programs still
get the limits, the process group and the clean environment, a warning is logged, and every
result records `isolation = "none"`.

In this file: the limits and the result; `run_in_sandbox` and the uid slots; starting one
process (launcher, prlimit or preexec_fn); waiting for it (pidfd); its output (memfd).
"""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .isolation import clean_env, resolve_isolation, sandbox_command

log = logging.getLogger(__name__)

NOBODY = 65534
# uids for concurrent sandboxes when the harness is root: nobody, then Debian's reserved range
# 65000-65533 (never allocated to users or packages).
SANDBOX_UIDS = tuple(range(NOBODY, NOBODY - 32, -1))
LOCK_DIR = Path(tempfile.gettempdir())


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 2048
    nproc: int = 256
    fsize_mb: int = 32
    output_bytes: int = 64 * 1024  # stdout/stderr kept in the results (head and tail)


@dataclass
class RunResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    isolation: str
    extra: dict = field(default_factory=dict)
    # Whether the expected line (the per-run completion marker) appeared anywhere in the
    # program's stdout, however long; None when no line was expected (raw programs).
    marker_seen: bool | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def passed(self) -> bool:
        """The verdict for a benchmark program: exit 0 within the limits, and the test ran to
        its end (the marker line its epilogue prints was seen)."""
        return self.ok and self.marker_seen is True


def run_in_sandbox(cmd: list[str], workdir: Path, limits: Limits = Limits(),
                   isolation: str = "auto", env_extra: dict | None = None,
                   stdin: bytes | None = None, ro_binds: tuple[str, ...] = (),
                   expect_line: str | None = None) -> RunResult:
    """Run `cmd` in `workdir` (which must exist); return what happened, never raise for the
    program's behaviour. `ro_binds`: host paths (which must exist) the program needs to read,
    beyond the system trees. With `expect_line`, `marker_seen` tells whether that line appeared
    in the whole stdout (not only in the part kept)."""
    iso = resolve_isolation(isolation)
    workdir = Path(workdir)
    (workdir / "tmp").mkdir(exist_ok=True)
    if os.geteuid() != 0:
        return _run(cmd, workdir, limits, iso, env_extra, stdin, None, ro_binds, expect_line)
    with uid_slot() as uid:
        for p in [workdir, *workdir.rglob("*")]:
            os.chown(p, uid, uid, follow_symlinks=False)
        if _suspect.get(uid, True):
            wait_for_process_budget(uid, limits.nproc)
        result = _run(cmd, workdir, limits, iso, env_extra, stdin, uid, ro_binds, expect_line)
        for attempt in range(6):
            if not _setup_failed(result):
                break
            # The kernel frees a finished sandbox's namespaces and tasks asynchronously; many
            # sandboxes in quick succession can find the uid's process count still full when
            # bubblewrap forks its pid 1. That is the harness's failure, not the program's:
            # wait and run again.
            time.sleep(0.05 * 2 ** attempt)
            result = _run(cmd, workdir, limits, iso, env_extra, stdin, uid, ro_binds, expect_line)
        # Only a program that failed or was killed can have left a swarm of processes behind
        # (a fork bomb); scanning /proc before every program costs ~5 ms.
        _suspect[uid] = not result.ok
        return result


def _setup_failed(result: RunResult) -> bool:
    """bubblewrap could not create the sandbox for lack of processes (EAGAIN)."""
    return (result.returncode == 1 and result.stderr.startswith("bwrap: ")
            and "Resource temporarily unavailable" in result.stderr)


@contextmanager
def uid_slot():
    """Claim a uid of SANDBOX_UIDS that no other sandbox (in any process) is using now."""
    while True:
        for uid in SANDBOX_UIDS:
            fd = os.open(LOCK_DIR / f"babeltower-sandbox-uid-{uid}.lock",
                         os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield uid
            finally:
                os.close(fd)  # releases the lock
            return
        time.sleep(0.05)


# uid -> whether its last program may have left processes behind (check before the next one)
_suspect: dict[int, bool] = {}


def count_processes_of(uid: int) -> int:
    """Processes and threads of `uid` (RLIMIT_NPROC counts threads too: a killed JVM's)."""
    n = 0
    # Processes come and go while /proc is listed: every read may fail (ESRCH, ENOENT).
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f
                              if line.startswith(("Uid:", "Threads:")))
        except (OSError, ValueError):
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            n += int(fields.get("Threads", "1"))
    return n


def wait_for_process_budget(uid: int, nproc: int, timeout_s: float = 15.0) -> None:
    """RLIMIT_NPROC counts every process of the uid on the machine; the processes of a killed
    sandbox (a fork bomb) are reaped a few seconds late. Wait until the budget is free again,
    so that one hostile program cannot make the next, innocent one fail to start."""
    deadline = time.monotonic() + timeout_s
    while count_processes_of(uid) > nproc // 2 and time.monotonic() < deadline:
        time.sleep(0.2)


def _run(cmd: list[str], workdir: Path, limits: Limits, iso: str, env_extra: dict | None,
         stdin: bytes | None, uid: int | None, ro_binds: tuple[str, ...] = (),
         expect_line: str | None = None) -> RunResult:
    env = clean_env(workdir, env_extra)
    spawn: dict = {"start_new_session": True}
    if (exe := launcher()) is not None:
        mb = 1024 * 1024
        full = [exe, str(limits.cpu_s), str(limits.memory_mb * mb), str(limits.fsize_mb * mb),
                str(limits.nproc), str(-1 if uid is None else uid), "--",
                *sandbox_command(cmd, workdir, iso, env, ro_binds)]
    elif shutil.which("prlimit"):
        full = limit_prefix(limits) + sandbox_command(cmd, workdir, iso, env, ro_binds, uid)
    else:
        full = sandbox_command(cmd, workdir, iso, env, ro_binds, uid)
        spawn = {"preexec_fn": _limit_setter(limits)}
    t0 = time.perf_counter()
    # stdin from a file too: no pipe to feed while waiting, so no thread is needed.
    feed = _memory_file("stdin") if stdin is not None else nullcontext(subprocess.DEVNULL)
    with _memory_file("stdout") as out, _memory_file("stderr") as err, feed as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        try:
            proc = subprocess.Popen(full, cwd=workdir, env=env, stdout=out, stderr=err,
                                    stdin=inp, **spawn)
        except OSError as exc:
            return RunResult(None, "", f"cannot start {cmd[0]}: {exc}", False, 0.0, iso)
        try:
            timed_out = _wait_or_kill(proc, limits.timeout_s)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        duration = time.perf_counter() - t0
        stdout = _kept_output(out, limits.output_bytes)
        stderr = _kept_output(err, limits.output_bytes)
        seen = None if expect_line is None else _has_line(out, expect_line.encode())
    return RunResult(proc.returncode, stdout, stderr, timed_out, duration, iso,
                     marker_seen=seen)


@lru_cache(maxsize=1)
def launcher() -> str | None:
    """Our compiled launcher (launcher/bt_launch.c: limits + uid drop in one exec), or None.

    Built once with the C compiler into the environment's prefix (never a world-writable
    place: root executes it). Without a compiler, util-linux `prlimit` + `setpriv` do the same
    in two execs (about 3 ms more per program)."""
    import hashlib
    import sys

    src = Path(__file__).parent / "launcher" / "bt_launch.c"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.info("no C compiler: the sandbox uses prlimit + setpriv")
        return None
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    for root in (Path(sys.prefix) / "libexec", Path.home() / ".cache" / "babeltower"):
        exe = root / f"bt_launch-{digest}"
        if exe.exists():
            return str(exe)
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=root) as build:
                tmp = Path(build) / "bt_launch"
                proc = subprocess.run([compiler, "-O2", "-o", str(tmp), str(src)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    log.warning("cannot compile the sandbox launcher (%s): using prlimit + "
                                "setpriv", proc.stderr.strip()[-300:])
                    return None
                os.chmod(tmp, 0o755)
                os.replace(tmp, exe)
            return str(exe)
        except OSError:
            continue
    return None


def limit_prefix(limits: Limits) -> list[str]:
    """`prlimit` (util-linux) sets the limits and execs the rest of the command.

    Setting them in a `preexec_fn` instead forces Python to fork the whole harness process
    (torch loaded: ~18 ms a program on this VM) rather than vfork; that was most of the
    sandbox's fixed cost for short programs."""
    mem = limits.memory_mb * 1024 * 1024
    fsize = limits.fsize_mb * 1024 * 1024
    return ["prlimit", f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}", f"--as={mem}:{mem}",
            f"--fsize={fsize}:{fsize}", f"--nproc={limits.nproc}:{limits.nproc}", "--core=0:0",
            "--"]


def _limit_setter(limits: Limits):
    """The slow path where `prlimit` is missing: limits set in the forked child."""
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        fsize = limits.fsize_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _wait_or_kill(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for `proc`; at the deadline kill its whole group. Returns whether it was killed.

    A pidfd becomes readable when the process exits: one poll() with the deadline, no thread
    and no sleeping. (A timer thread cost 1-5 ms a program on a loaded machine, its start
    waiting for the scheduler and the interpreter lock; Popen.wait(timeout=...) polls with
    sleeps, adding up to tens of ms: kept only for kernels without pidfd_open, < 5.3.)"""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
            return False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        exited = bool(poller.poll(timeout_s * 1000))
    finally:
        os.close(pidfd)
    if not exited:
        _kill_group(proc)
        return True
    proc.wait()
    return False


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _memory_file(name: str):
    """An anonymous file in memory (memfd) for the program's output: a temporary file on a
    busy disk cost ~1-2 ms a program here, waiting for the file system's journal. RLIMIT_FSIZE
    caps what the program writes to it, as for any file."""
    try:
        return open(os.memfd_create(f"bt-{name}", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):  # not Linux, or a kernel before 3.17
        return tempfile.TemporaryFile()


def _kept_output(f, limit: int) -> str:
    """At most `limit` bytes of a program's output: all of it, or its head and its tail (where
    the last error message is)."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= limit:
        return f.read().decode("utf-8", "replace")
    head = f.read(limit // 2)
    f.seek(size - limit // 2)
    tail = f.read()
    return (head.decode("utf-8", "replace") + f"\n[... {size - len(head) - len(tail)} bytes "
            "left out ...]\n" + tail.decode("utf-8", "replace"))


def _has_line(f, line: bytes, chunk: int = 1 << 20) -> bool:
    """Whether `line` appears as a line of its own in the file (read in chunks: the output may
    be as large as the file-size limit)."""
    needle = b"\n" + line + b"\n"
    f.seek(0)
    carry = b"\n"  # the file's start counts as a line start
    while block := f.read(chunk):
        data = carry + block
        if needle in data:
            return True
        carry = data[-(len(needle) - 1):]
    return carry.endswith(b"\n" + line)  # the last line, without its newline
