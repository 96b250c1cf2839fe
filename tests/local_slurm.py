"""A real single-node Slurm cluster on localhost, for testing the SLURM profile.

Starts munged, slurmctld and slurmd (Debian's munge, slurmctld, slurmd and slurm-client
packages) with a generated slurm.conf, waits until the node accepts jobs, and stops every
daemon it started on exit. Needs root: the daemons run as root and the config must live at
/etc/slurm/slurm.conf, because Snakemake's job-step plugin strips SLURM_* variables (so
SLURM_CONF alone breaks the nested srun). A config that is not a symlink is never touched;
a symlink found there is put back on exit.

The facts this relies on (cgroup plugins fail on these machines, DefMemPerCPU is needed for
jobs to share the node, MinJobAge bounds squeue-based status polling) are recorded in
../shared/INFRA-NOTES.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REQUIRED_COMMANDS = ("munge", "munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch",
                     "squeue", "srun")
SLURM_CONF = Path("/etc/slurm/slurm.conf")


def missing_requirements() -> str | None:
    """Why a local Slurm cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    missing = [d for d in REQUIRED_COMMANDS if shutil.which(d) is None
               and not Path("/usr/sbin", d).exists()]
    if missing:
        return ("Slurm/munge commands not installed: " + ", ".join(missing)
                + " (Debian: apt-get install munge slurmctld slurmd slurm-client)")
    if SLURM_CONF.exists() and not SLURM_CONF.is_symlink():
        return f"{SLURM_CONF} exists and is not ours; refusing to replace a real cluster config"
    return None


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def slurm_conf(state: Path, cpus: int, memory_mb: int) -> str:
    host = socket.gethostname()
    return "\n".join([
        "ClusterName=babeltower-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        # cgroup-based tracking fails in these containers; plain /proc tracking works.
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        # Without a per-CPU default every job claims the whole node and jobs run one by one.
        "DefMemPerCPU=1000",
        # Finished jobs stay visible to squeue this long (status polling without slurmdbd, and
        # the test's list of what was submitted).
        "MinJobAge=3600",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SchedulerType=sched/backfill",
        "ReturnToService=2",
        f"StateSaveLocation={state}/ctld",
        f"SlurmdSpoolDir={state}/d",
        f"SlurmctldPidFile={state}/slurmctld.pid",
        f"SlurmdPidFile={state}/slurmd.pid",
        f"SlurmctldLogFile={state}/slurmctld.log",
        f"SlurmdLogFile={state}/slurmd.log",
        "SlurmctldPort=6817",
        "SlurmdPort=6818",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _raise_system_exit(signum, frame):
    raise SystemExit(128 + signum)


class LocalSlurm:
    """Context manager: a running single-node Slurm; `partition` is its only partition."""

    partition = "debug"

    def __init__(self, state: Path, cpus: int | None = None, startup_timeout_s: float = 60):
        self.state = Path(state).resolve()  # the /etc symlink must not be relative
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = int(_memory_mb() * 0.8)
        self.startup_timeout_s = startup_timeout_s
        self._procs: list[subprocess.Popen] = []
        self._munged_pid: Path | None = None
        self._old_conf: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "LocalSlurm":
        why = missing_requirements()
        if why:
            raise RuntimeError(why)
        # A SIGTERM (a CI timeout, a killed pytest) must still stop the daemons: turn it into
        # an exception that unwinds through __exit__.
        self._old_sigterm = signal.signal(signal.SIGTERM, _raise_system_exit)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            signal.signal(signal.SIGTERM, self._old_sigterm)

    def _start(self) -> None:
        for sub in ("ctld", "d"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        conf = self.state / "slurm.conf"
        conf.write_text(slurm_conf(self.state, self.cpus, self.memory_mb))
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if SLURM_CONF.is_symlink():
            self._old_conf = os.readlink(SLURM_CONF)
            SLURM_CONF.unlink()
        SLURM_CONF.symlink_to(conf)
        log = open(self.state / "daemons.out", "ab")
        # -D: stay in the foreground, so the daemons are our children and die with us.
        for daemon in ("slurmctld", "slurmd"):
            args = [_exe(daemon), "-D"] + (["-c"] if daemon == "slurmctld" else [])
            self._procs.append(subprocess.Popen(args, stdout=log, stderr=log,
                                                start_new_session=True))
        self._wait_until_idle()

    def _start_munge(self) -> None:
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run([_exe("mungekey"), "--create", "--keyfile", str(key)], check=True)
            shutil.chown(key, "munge", "munge")
        if subprocess.run([_exe("munge"), "-n"], capture_output=True).returncode == 0:
            return  # a munged is already serving this machine: share it, do not stop it
        # munged runs as user munge, which cannot enter root's private test folders: it keeps
        # Debian's default log and seed files, and its pid file sits in /run/munge.
        self._munged_pid = run_dir / "munged.pid"
        subprocess.run(["runuser", "-u", "munge", "--", _exe("munged"),
                        "--pid-file", str(self._munged_pid)], check=True)

    def _wait_until_idle(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        state = ""
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}; "
                                       f"see {self.state}/*.log")
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
            state = out.stdout.strip()
            if out.returncode == 0 and state.startswith("idle"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm node not idle after {self.startup_timeout_s:.0f} s "
                           f"(sinfo state {state!r}); see {self.state}/*.log")

    def stop(self) -> None:
        """Stop what we started: running jobs, slurmd, slurmctld, munged; restore the config.
        A second SIGTERM (e.g. `timeout` forwarding its own) must not cut the cleanup short."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self._procs:
            subprocess.run(["scancel", "--full", "--partition", self.partition],
                           capture_output=True, timeout=30)
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        self._procs.clear()
        if self._munged_pid is not None and self._munged_pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(self._munged_pid.read_text().strip()), signal.SIGTERM)
            self._munged_pid = None
        if SLURM_CONF.is_symlink() and Path(os.readlink(SLURM_CONF)).parent == self.state:
            SLURM_CONF.unlink()
            if self._old_conf is not None:
                SLURM_CONF.symlink_to(self._old_conf)
