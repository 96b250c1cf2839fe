"""Running untrusted (model-generated) programs.

Every program runs in its own temporary directory, in a new process group that is killed
whole on timeout, with CPU, address-space, process-count and file-size limits, with a clean
environment (the harness's variables, tokens included, are not passed on), and, where
bubblewrap works, in its own namespaces: no network (`--unshare-all` leaves only a loopback
device, and a new network namespace also hides the host's abstract Unix sockets) and a file
system built from only what the runners need:

* the system toolchain trees read-only: /usr and /etc, and /bin, /sbin, /lib, /lib32, /lib64,
  /libx32 where they exist (recreated as symlinks where they are symlinks into /usr);
* for each tool the program is started with (and each tool a runner declares), the tree its
  real path lives in, read-only, where that lies outside those (a toolchain under /opt: the
  prefix above its bin/ folder, computed from the symlink chain, never hard-coded);
* the runner's support paths read-only (`ro_binds`: node_modules, the C# support library);
* fresh /dev (`--dev`), /proc (`--proc`) and /tmp (tmpfs), and the program's own directory,
  the only writable host path.

Nothing else of the host is visible: not /run, /var, /sys, /home, /root, /srv, /mnt or the
host's /dev/shm (no runner reads /var: all seven languages pass without it). This matters
because a read-only bind does not stop `connect()` on a socket file: with the whole root
visible, a program could talk to any daemon listening under /run or /var/tmp (dbus, munge, which
authenticates Slurm requests, database and container daemons). The bound trees hold no sockets
on a standard Linux system (the FHS puts them under /run, /var and /tmp); a site that puts one
under /etc, /usr or a toolchain prefix would expose it, and tests/test_sandbox.py walks the
whole file system a program sees and fails if any socket is reachable there.

When the harness runs as root, the program runs as an unprivileged user: the kernel does not
apply RLIMIT_NPROC to root, so a fork bomb would otherwise not be contained. RLIMIT_NPROC counts
all the processes and threads of a uid on the machine, so programs that run at the same time
(parallel workers, two evaluation jobs) each get their own uid (65534, 65533, ...; a slot
claimed with a lock file): a fork bomb in one cannot make an innocent program next to it fail to
start. Where bubblewrap is unavailable (e.g. no user namespaces on a cluster), programs still
get the limits, the process group and the clean environment, a warning is logged, and every
result records `isolation = "none"`.
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

log = logging.getLogger(__name__)

NOBODY = 65534
# uids for concurrent sandboxes when the harness is root: nobody, then Debian's reserved range
# 65000-65533 (never allocated to users or packages).
SANDBOX_UIDS = tuple(range(NOBODY, NOBODY - 32, -1))
LOCK_DIR = Path(tempfile.gettempdir())
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host trees every sandbox sees read-only (where they exist).
SYSTEM_TREES = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


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


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap can create the sandbox here (binary present, namespaces allowed)."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    try:
        proc = subprocess.run([exe, "--unshare-all", "--die-with-parent", *system_layout(),
                               "--dev", "/dev", "--proc", "/proc", "true"],
                              capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def resolve_isolation(requested: str = "auto") -> str:
    """'bwrap' or 'none'. 'auto' falls back to 'none' with a warning; 'bwrap' insists."""
    if requested == "none":
        return "none"
    if bwrap_works():
        return "bwrap"
    if requested == "bwrap":
        raise RuntimeError("sandbox isolation 'bwrap' requested but bubblewrap does not work "
                           "here (install Debian package bubblewrap; user namespaces needed)")
    log.warning("bubblewrap is unavailable: programs run without file-system and network "
                "isolation (limits, process group and clean environment still apply); results "
                "record isolation=none")
    return "none"


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


def clean_env(workdir: Path, extra: dict | None = None) -> dict:
    env = {"PATH": SAFE_PATH, "HOME": str(workdir), "TMPDIR": str(workdir / "tmp"),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    return env


@lru_cache(maxsize=1)
def system_layout() -> tuple[str, ...]:
    """bubblewrap arguments for SYSTEM_TREES: a read-only bind, or the same symlink where the
    host has one (merged /usr: /bin -> usr/bin; binding it would follow the link)."""
    args: list[str] = []
    for path in SYSTEM_TREES:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return tuple(args)


def _in_system_tree(path: str) -> bool:
    return any(path == tree or path.startswith(tree + "/") for tree in SYSTEM_TREES)


@lru_cache(maxsize=None)
def tool_trees(tool: str, search_path: str = SAFE_PATH) -> tuple[str, ...]:
    """The host trees outside SYSTEM_TREES that running `tool` needs: for every hop of its
    symlink chain (as the sandbox's PATH finds it) that lies outside them, the installation
    prefix it lives in (the folder above bin/ or sbin/, else its own folder), so that the
    libraries and data next to a toolchain under /opt come along. Empty for a relative path
    (the program's own directory) or a tool not found (the sandbox then reports it missing)."""
    if "/" in tool and not os.path.isabs(tool):
        return ()
    location = tool if os.path.isabs(tool) else shutil.which(tool, path=search_path)
    trees: list[str] = []
    for _ in range(40):  # the kernel's own limit on symlink hops
        if location is None:
            break
        folder = os.path.realpath(os.path.dirname(location))
        if not _in_system_tree(folder):
            tree = (os.path.dirname(folder) if os.path.basename(folder) in ("bin", "sbin")
                    else folder)
            if tree == "/":  # never the host's root: the folder, or the file itself
                tree = folder if folder != "/" else os.path.join(folder, os.path.basename(location))
            if tree not in trees:
                trees.append(tree)
        if not os.path.islink(location):
            break
        location = os.path.join(folder, os.readlink(location))
    return tuple(trees)


def sandbox_command(cmd: list[str], workdir: Path, isolation: str, env: dict,
                    ro_binds: tuple[str, ...] = (), uid: int | None = None) -> list[str]:
    """The command line: [setpriv to `uid`] [bwrap ...] cmd. `ro_binds` (existing host paths)
    are bound read-only at the same place, after the system trees and the tree of `cmd[0]`."""
    prefix: list[str] = []
    if uid is not None:
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    if isolation == "none":
        return prefix + cmd
    bw = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", *system_layout(),
          "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # After the tmpfs (a support path may lie under /tmp), before the program's directory (which
    # may lie under a read-only one and must stay writable).
    for path in dict.fromkeys((*tool_trees(cmd[0], env.get("PATH", SAFE_PATH)), *ro_binds)):
        bw += ["--ro-bind", path, path]
    bw += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--clearenv"]
    for k, v in env.items():
        bw += ["--setenv", k, v]
    return prefix + bw + ["--"] + cmd


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


def _memory_file(name: str):
    """An anonymous file in memory (memfd) for the program's output: a temporary file on a
    busy disk cost ~1-2 ms a program here, waiting for the file system's journal. RLIMIT_FSIZE
    caps what the program writes to it, as for any file."""
    try:
        return open(os.memfd_create(f"bt-{name}", os.MFD_CLOEXEC), "w+b")
    except (AttributeError, OSError):  # not Linux, or a kernel before 3.17
        return tempfile.TemporaryFile()


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


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
