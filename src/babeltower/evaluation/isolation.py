"""What a sandboxed program sees (babeltower.evaluation.sandbox runs it): a clean environment
(the harness's variables, tokens included, are not passed on) and, where bubblewrap works, its
own namespaces: no network (`--unshare-all` leaves only a loopback device, and a new network
namespace also hides the host's abstract Unix sockets) and a file system built from only what
the runners need:

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

The isolation is "bwrap" or, where bubblewrap is unavailable (e.g. no user namespaces on a
cluster), "none" (`resolve_isolation`); every result records which.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Host trees every sandbox sees read-only (where they exist).
SYSTEM_TREES = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def clean_env(workdir: Path, extra: dict | None = None) -> dict:
    env = {"PATH": SAFE_PATH, "HOME": str(workdir), "TMPDIR": str(workdir / "tmp"),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    return env


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
