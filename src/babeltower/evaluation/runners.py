"""One runner per language: how a program (prompt + completion + test) is written, compiled and
run, and which Debian packages provide the toolchain.

A benchmark program (`ProgramRunner.check`: prompt + completion + test) passes when it
compiles, exits 0 within the limits, and printed the per-run completion marker that the
harness's epilogue prints after the last check (harness.py: a pass means the test ran to its
end; `status` tells "exited_early", exit 0 without the marker, from an ordinary failure).
`ProgramRunner.run` runs a raw program (no marker). Compilation and execution both happen
inside the sandbox, which shows only the system trees: what else a runner reads (node_modules,
the C# test library, Go's standard library compiled once by trusted code) is in its
`ro_paths`, bound read-only, so no program can alter what later programs use. Compiled
C++/Java/C#/Go artifacts are cached by the sha256 of the source and the toolchain command (safe:
the same source gives the same program; the marker is given at run time, not compiled in),
which matters when many checkpoints produce the same completion.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..benchmarks import Problem
from .harness import ENTRY_CLASS, MARKER_ENV, build_program
from .isolation import tool_trees
from .sandbox import Limits, RunResult, run_in_sandbox


class ToolchainError(RuntimeError):
    pass


@dataclass(frozen=True)
class Runner:
    language: str
    source_name: str
    run: tuple[str, ...]
    compile: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()      # globs of files the compile step produces (cached)
    tools: tuple[str, ...] = ()          # executables that must be on PATH
    packages: tuple[str, ...] = ()       # Debian packages that provide them
    min_memory_mb: int = 0               # runtimes that reserve address space up front
    env: dict = field(default_factory=dict)
    # Host paths (placeholders allowed) the programs read: the sandbox shows only the system
    # trees, so each must be bound read-only explicitly, wherever it lies.
    ro_paths: tuple[str, ...] = ()
    # Harness-built programs (`check`) whose entry point is the harness's own class (Java, C#):
    # extra compile arguments and the run command, where they differ from a raw program's.
    check_compile_args: tuple[str, ...] = ()
    check_run: tuple[str, ...] = ()

    def check_toolchain(self) -> None:
        missing = [t for t in self.tools if shutil.which(t) is None]
        if missing:
            raise ToolchainError(
                f"{self.language}: {', '.join(missing)} not found; install the Debian "
                f"package(s) {', '.join(self.packages)} (apt-get install {' '.join(self.packages)})")


JAVA = ("java", "-Xmx512m", "-Xss64m")
# The flags every C++ program compiles with; the precompiled header is built with them too.
# -Werror=return-type: a non-void function that falls off its end is undefined behaviour;
# an empty completion ("}") would otherwise "pass" tests by returning whatever a register
# held (seen with a 2M-parameter model on MBCPP/3).
CPP_FLAGS = ("-std=c++17", "-O1", "-Werror=return-type")
CPP_PCH_HEADER = "bits/stdc++.h"

RUNNERS: dict[str, Runner] = {r.language: r for r in [
    Runner("python", "main.py", ("python3", "main.py"), tools=("python3",),
           packages=("python3",)),
    # -I{cpp_support}: every MBXP C++ prompt opens with <bits/stdc++.h>, whose parsing is most
    # of a compile (~2 s of ~2.3); g++ finds the header precompiled once (cpp_support()) there
    # and falls back to the header itself where it cannot use it (flags differ, another include
    # comes first). Same program, same verdict, a fifth of the time.
    Runner("cpp", "main.cpp", ("./main",), ("g++", *CPP_FLAGS, "-I{cpp_support}",
                                            "-o", "main", "main.cpp"),
           artifacts=("main",), tools=("g++",), packages=("g++",), ro_paths=("{cpp_support}",)),
    Runner("php", "main.php", ("php", "main.php"), tools=("php",), packages=("php-cli",)),
    # mxeval's Go prompts import packages a solution may not use, and Go refuses unused imports:
    # goimports removes (or adds) imports before the build, as Go tooling does on save. Then the
    # compiler and linker run directly against the standard library compiled once by trusted
    # code (go_support()): `go build` would rebuild and re-hash it in a fresh GOCACHE for every
    # program (~0.4 s), and a cache shared writable would let one program poison the next.
    # `-s -w` as `go run` links (no debug tables; panics still show file and line). Like
    # `go build`, the compiler sees no internal or vendored standard packages.
    # The folders come in as arguments ($1, $2), never spliced into the script's text.
    Runner("go", "main.go", ("./main",),
           ("sh", "-c", 'goimports -w main.go'
            ' && "$1/compile" -p main -complete -pack -importcfg "$2/importcfg" -o main.a main.go'
            ' && "$1/link" -s -w -buildmode=exe -importcfg "$2/importcfg.link" -o main main.a',
            "sh", "{go_tools}", "{go_support}"),
           artifacts=("main",), tools=("go", "goimports"),
           packages=("golang-go", "golang-golang-x-tools"), min_memory_mb=2048,
           ro_paths=("{go_support}", "{go_tools}"),
           # goimports looks for unknown packages in GOPATH (and may ask `go env`): an empty one.
           env={"GOCACHE": "{workdir}/.gocache", "GOPATH": "{workdir}/.gopath",
                "GO111MODULE": "off"}),
    Runner("csharp", "main.cs", ("mono", "main.exe"),
           ("mcs", "-nologo", "-out:main.exe", "-r:System.Numerics.dll",
            "-r:{csharp_support}/KellermanSoftware.CompareNetObjects.dll", "main.cs"),
           artifacts=("main.exe",), tools=("mcs", "mono"), packages=("mono-mcs", "mono-devel"),
           env={"MONO_PATH": "{csharp_support}"}, ro_paths=("{csharp_support}",),
           check_compile_args=(f"-main:{ENTRY_CLASS}",)),
    Runner("javascript", "main.js", ("node", "main.js"), tools=("node",), packages=("nodejs",),
           min_memory_mb=2048, env={"NODE_PATH": "{node_path}"}, ro_paths=("{node_path}",)),
    # javac's JVM sizes its heap from the address-space limit and then sometimes cannot map
    # its other reservations (class space, code cache, malloc arenas) under it: cap them all.
    Runner("java", "Main.java", (*JAVA, "Main"),
           ("javac", "-J-Xmx1g", "-J-XX:CompressedClassSpaceSize=128m",
            "-J-XX:ReservedCodeCacheSize=64m", "-nowarn", "Main.java"), artifacts=("*.class",),
           tools=("javac", "java"), packages=("openjdk-17-jdk-headless",),
           min_memory_mb=4096, env={"MALLOC_ARENA_MAX": "2"}, check_run=(*JAVA, ENTRY_CLASS)),
]}


def get_runner(language: str) -> Runner:
    if language not in RUNNERS:
        raise ToolchainError(f"no runner for benchmark language {language!r}; supported: "
                             f"{', '.join(sorted(RUNNERS))}")
    return RUNNERS[language]


def check_toolchains(languages) -> None:
    """Fail before any generation if a needed toolchain is missing (names the packages)."""
    errors = []
    for lang in languages:
        try:
            get_runner(lang).check_toolchain()
        except ToolchainError as exc:
            errors.append(str(exc))
    if errors:
        raise ToolchainError("\n".join(errors))


def node_modules() -> str:
    """Where `make setup` installs lodash for mxeval's JavaScript tests (next to the venv)."""
    return os.environ.get("BABELTOWER_NODE_PATH", str(Path(sys.prefix) / "js" / "node_modules"))


def csharp_support() -> str:
    """Folder with our test support library, compiled once from csharp/*.cs (trusted code): the
    CompareNetObjects stand-in and the .NET 6 LINQ overloads Mono lacks."""
    import subprocess

    sources = sorted((Path(__file__).parent / "csharp").glob("*.cs"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    out_dir = Path(os.environ.get("BABELTOWER_CSHARP_SUPPORT", Path(sys.prefix) / "cs" / digest))
    dll = out_dir / "KellermanSoftware.CompareNetObjects.dll"
    if not dll.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        # The file name is the assembly name: build it under its own name in a private folder,
        # then rename it into place (atomic; concurrent workers may race harmlessly).
        with tempfile.TemporaryDirectory(dir=out_dir) as build:
            tmp = Path(build) / dll.name
            proc = subprocess.run(["mcs", "-nologo", "-target:library", f"-out:{tmp}",
                                   *map(str, sources)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise ToolchainError(f"cannot compile the C# test support library: "
                                     f"{proc.stdout}{proc.stderr}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, dll)
    os.chmod(out_dir, 0o755)
    return str(out_dir)


@lru_cache(maxsize=1)
def _go_env() -> dict:
    import json
    import subprocess

    proc = subprocess.run(["go", "env", "-json", "GOVERSION", "GOROOT", "GOTOOLDIR", "GOOS",
                           "GOARCH"], capture_output=True, text=True, env=_go_build_env(None))
    if proc.returncode != 0:
        raise ToolchainError(f"go: `go env` failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def _go_build_env(scratch: Path | None) -> dict:
    """The environment the standard library is built in: the programs' settings (no cgo, no
    modules), nothing inherited from the harness (a GOFLAGS there would change the build)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CGO_ENABLED": "0",
           "GO111MODULE": "off"}
    if scratch is not None:
        env.update(HOME=str(scratch), GOCACHE=str(scratch / "cache"),
                   GOPATH=str(scratch / "gopath"))
    return env


def go_tools() -> str:
    """Folder of the Go compiler and linker (GOTOOLDIR)."""
    return _go_env()["GOTOOLDIR"]


@lru_cache(maxsize=1)
def go_support() -> str:
    """Folder with the Go standard library compiled once by trusted code (CGO_ENABLED=0, as the
    programs build) and two import configurations for the compiler and linker: `importcfg`
    (the packages a program may import: no internal or vendored ones) and `importcfg.link`
    (all). Archives that GOROOT already ships up to date are used in place; the others are
    copied out of a throwaway build cache. Keyed by the toolchain (version, root, platform and
    the compiler's and linker's size and mtime, which a package upgrade changes); the sandbox
    binds it read-only, so no program can change what later programs link."""
    import json
    import subprocess

    info = _go_env()
    tools = [Path(info["GOTOOLDIR"]) / t for t in ("compile", "link")]
    key = json.dumps([info, [(t.stat().st_size, t.stat().st_mtime_ns) for t in tools]],
                     sort_keys=True)
    # The real path: the import configurations name every archive by it, and a path through a
    # symlink (a virtual environment linked into a second checkout) can vanish later.
    root = Path(os.environ.get("BABELTOWER_GO_SUPPORT", Path(sys.prefix) / "go")).resolve()
    out_dir = root / hashlib.sha256(key.encode()).hexdigest()[:12]
    if (out_dir / "importcfg.link").exists():
        if _archives_exist(out_dir / "importcfg.link"):
            return str(out_dir)
        # Built under a path that is gone (or damaged): set aside whole, then rebuilt.
        shutil.rmtree(out_dir.rename(out_dir.with_name(f".stale-{out_dir.name}-{os.getpid()}")))
    root.mkdir(parents=True, exist_ok=True)
    # Built in a private folder, then renamed into place whole (atomic): concurrent workers
    # each build, the first rename wins and the others discard theirs.
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as build:
        scratch, staged = Path(build) / "scratch", Path(build) / "support"
        proc = subprocess.run(["go", "list", "-export", "-deps", "-f",
                               "{{.ImportPath}}\t{{.Export}}", "std"],
                              capture_output=True, text=True, env=_go_build_env(scratch))
        rows = [line.split("\t") for line in proc.stdout.splitlines()]
        if proc.returncode != 0 or not rows:
            raise ToolchainError(f"go: cannot compile the standard library: {proc.stderr}")
        link_cfg, import_cfg = [], []
        goroot = Path(info["GOROOT"]).resolve()
        for package, export in rows:
            if not export:  # unsafe (built into the compiler), test-only packages
                continue
            archive = Path(export)
            if goroot not in archive.resolve().parents:
                target = staged / "pkg" / f"{package}.a"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(archive, target)
                archive = out_dir / "pkg" / f"{package}.a"
            link_cfg.append(f"packagefile {package}={archive}\n")
            parts = package.split("/")
            if "internal" not in parts and parts[0] != "vendor":
                import_cfg.append(link_cfg[-1])
        (staged / "importcfg").write_text("".join(import_cfg))
        (staged / "importcfg.link").write_text("".join(link_cfg))
        for path in [staged, *staged.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        try:
            os.rename(staged, out_dir)
        except OSError:
            if not (out_dir / "importcfg.link").exists():
                raise
    return str(out_dir)


@lru_cache(maxsize=1)
def cpp_support() -> str:
    """Folder holding <bits/stdc++.h> precompiled with CPP_FLAGS (bits/stdc++.h.gch), built
    once per toolchain by trusted code and bound read-only into the sandbox (no program can
    change what later programs include). Keyed by g++'s version and binary, the header's path
    and mtime and the flags. A precompiled header that g++ would not use is an error here,
    not a silent return to two-second compiles."""
    import subprocess

    gxx = shutil.which("g++")
    if gxx is None:
        raise ToolchainError("cpp: g++ not found; install the Debian package g++")
    header = _cpp_header_path(gxx)
    version = subprocess.run([gxx, "-dumpfullversion"], capture_output=True, text=True).stdout
    real = Path(gxx).resolve()
    key = repr([version.strip(), str(real), real.stat().st_size, str(header),
                header.stat().st_mtime_ns, CPP_FLAGS])
    root = Path(os.environ.get("BABELTOWER_CPP_SUPPORT", Path(sys.prefix) / "cpp")).resolve()
    out_dir = root / hashlib.sha256(key.encode()).hexdigest()[:12]
    pch = Path(CPP_PCH_HEADER + ".gch")
    if (out_dir / pch).is_file():
        return str(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    # Built and checked in a private folder, then renamed into place whole (atomic).
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as build:
        staged = Path(build) / "support"
        (staged / pch).parent.mkdir(parents=True)
        proc = subprocess.run([gxx, *CPP_FLAGS, "-x", "c++-header", str(header),
                               "-o", str(staged / pch)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ToolchainError(f"cpp: cannot precompile {header}: {proc.stderr[-2000:]}")
        used = _cpp_includes(gxx, staged, f"#include <{CPP_PCH_HEADER}>\nint main() {{}}\n")
        if not used or not used[0].startswith(f"! {staged / pch}"):
            raise ToolchainError(f"cpp: g++ does not use the header it precompiled from "
                                 f"{header} ({used[:1]}); programs would compile without it")
        for path in [staged, *staged.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        try:
            os.rename(staged, out_dir)
        except OSError:  # another worker placed it first
            if not (out_dir / pch).is_file():
                raise
    return str(out_dir)


def _cpp_includes(gxx: str, include_dir: Path | None, source: str) -> list[str]:
    """g++'s -H lines for `source` compiled with CPP_FLAGS: "! <file>.gch" for a precompiled
    header it uses, ". <file>" for a header it reads."""
    import subprocess

    cmd = [gxx, *CPP_FLAGS, *([f"-I{include_dir}"] if include_dir else []), "-H",
           "-fsyntax-only", "-x", "c++", "-"]
    proc = subprocess.run(cmd, input=source, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"cpp: g++ cannot compile <{CPP_PCH_HEADER}>: mxeval's C++ "
                             f"programs include it ({proc.stderr[-1000:]})")
    return [line for line in proc.stderr.splitlines() if line[:2] in (". ", "! ")]


def _cpp_header_path(gxx: str) -> Path:
    """Where g++ finds <bits/stdc++.h> (libstdc++'s, per target)."""
    first = _cpp_includes(gxx, None, f"#include <{CPP_PCH_HEADER}>\n")
    return Path(first[0][2:].strip()).resolve()


def _archives_exist(importcfg: Path) -> bool:
    return all(Path(line.split("=", 1)[1]).is_file()
               for line in importcfg.read_text().splitlines() if "=" in line)


def _expand_value(value: str, workdir: Path) -> str:
    value = value.replace("{workdir}", str(workdir)).replace("{node_path}", node_modules())
    if "{csharp_support}" in value:
        value = value.replace("{csharp_support}", csharp_support())
    if "{cpp_support}" in value:
        value = value.replace("{cpp_support}", cpp_support())
    if "{go_support}" in value:
        value = value.replace("{go_support}", go_support())
    if "{go_tools}" in value:
        value = value.replace("{go_tools}", go_tools())
    return value


def expand_env(env: dict, workdir: Path) -> dict:
    """A runner's environment with its placeholders ({workdir}, {node_path}, ...) filled in."""
    return {k: _expand_value(v, workdir) for k, v in env.items()}


def expand_command(cmd: tuple[str, ...], workdir: Path) -> list[str]:
    return [_expand_value(a, workdir) for a in cmd]


class ProgramRunner:
    """Compiles (with a cache) and runs programs of one language in the sandbox."""

    def __init__(self, language: str, limits: Limits = Limits(), isolation: str = "auto",
                 cache_dir: str | Path | None = None) -> None:
        self.runner = get_runner(language)
        self.runner.check_toolchain()
        # Build the support files now (Go's standard library: ~20 s once), before any worker
        # thread needs them, and so that a broken toolchain fails here, before generation.
        for path in self.runner.ro_paths:
            _expand_value(path, Path("{workdir}"))
        mem = max(limits.memory_mb, self.runner.min_memory_mb)
        self.limits = Limits(limits.timeout_s, limits.cpu_s, mem, limits.nproc,
                             limits.fsize_mb, limits.output_bytes)
        self.isolation = isolation
        self.cache_dir = Path(cache_dir) if cache_dir else None
        # The tools a compile step calls through `sh -c` are not its cmd[0]: bind their trees
        # too (the sandbox adds cmd[0]'s own).
        self.tool_binds = tuple(dict.fromkeys(
            tree for tool in self.runner.tools for tree in tool_trees(tool)))

    def ro_binds(self, workdir: Path) -> tuple[str, ...]:
        """The runner's support paths and tool trees, for the sandbox to bind read-only. A
        missing support path is an error: every program would fail (MODULE_NOT_FOUND, CS0006)
        and read as a wrong answer."""
        paths = tuple(_expand_value(p, workdir) for p in self.runner.ro_paths)
        missing = [f"{p} ({raw})" for raw, p in zip(self.runner.ro_paths, paths)
                   if not os.path.exists(p)]
        if missing:
            raise ToolchainError(
                f"{self.runner.language}: support path {', '.join(missing)} does not exist; "
                f"install it (make setup) or point BABELTOWER_NODE_PATH / "
                f"BABELTOWER_CSHARP_SUPPORT / BABELTOWER_GO_SUPPORT at it")
        return self.tool_binds + paths

    def _cache_key(self, source: str, compile_cmd: tuple[str, ...]) -> str:
        h = hashlib.sha256()
        # Expanded: the support folders' names carry the toolchain's and support code's keys,
        # so an upgraded toolchain does not reuse old binaries.
        h.update("\0".join(expand_command(compile_cmd, Path("{workdir}"))).encode())
        h.update(source.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def run(self, source: str) -> RunResult:
        """A raw program: `ok` is the outcome (there is no marker; `passed` stays False)."""
        return self._execute(source, self.runner.compile, self.runner.run)

    def check(self, problem: Problem, completion: str) -> RunResult:
        """A benchmark problem's program with this completion; `passed` is the verdict."""
        r = self.runner
        marker = secrets.token_hex(16)  # new per run: an earlier run's output cannot pass
        return self._execute(build_program(problem, completion),
                             r.compile + r.check_compile_args if r.compile else (),
                             r.check_run or r.run, marker)

    def _execute(self, source: str, compile_cmd: tuple[str, ...], run_cmd: tuple[str, ...],
                 marker: str | None = None) -> RunResult:
        r = self.runner
        with tempfile.TemporaryDirectory(prefix=f"bt-{r.language}-") as tmp:
            workdir = Path(tmp)
            os.chmod(workdir, 0o755)
            (workdir / r.source_name).write_text(source, encoding="utf-8", errors="surrogatepass")
            env = expand_env(r.env, workdir)
            binds = self.ro_binds(workdir)
            compile_result = None
            if compile_cmd:
                cached = self._cached(self._cache_key(source, compile_cmd))
                if cached is not None:
                    for f in cached.iterdir():
                        shutil.copy2(f, workdir / f.name)
                else:
                    compile_result = run_in_sandbox(expand_command(compile_cmd, workdir),
                                                    workdir, self.limits, self.isolation, env,
                                                    ro_binds=binds)
                    if not compile_result.ok:
                        compile_result.extra["stage"] = "compile"
                        return compile_result
                    self._store(self._cache_key(source, compile_cmd), workdir)
            if marker is not None:
                env = {**env, MARKER_ENV: marker}  # the run only: the compiler never sees it
            result = run_in_sandbox(list(run_cmd), workdir, self.limits, self.isolation, env,
                                    ro_binds=binds, expect_line=marker)
            result.extra["stage"] = "run"
            if compile_result is not None:
                result.extra["compile_s"] = compile_result.duration_s
            return result

    def _cached(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        entry = self.cache_dir / key
        return entry if entry.is_dir() else None

    def _store(self, key: str, workdir: Path) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        entry = self.cache_dir / key
        # Build the entry under a temporary name and rename it: a reader never sees half of it.
        tmp = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".tmp-"))
        try:
            for pattern in self.runner.artifacts:
                for f in workdir.glob(pattern):
                    shutil.copy2(f, tmp / f.name)
            os.replace(tmp, entry)
        except OSError:  # another worker stored it first
            shutil.rmtree(tmp, ignore_errors=True)


def status(result: RunResult) -> str:
    """The status of a `ProgramRunner.check` result, as the results tables record it."""
    if result.passed:
        return "passed"
    if result.timed_out:
        return "timeout"
    if result.extra.get("stage") == "compile":
        return "compile_error"
    if result.ok:  # exit 0 without the marker: the test did not run to its end
        return "exited_early"
    return "failed"
