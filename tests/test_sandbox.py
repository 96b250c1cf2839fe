"""The sandbox contains hostile programs in several languages; pass@k is the unbiased one."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from babeltower.evaluation.passk import pass_at_k
from babeltower.evaluation.runners import (RUNNERS, ProgramRunner, ToolchainError,
                                           check_toolchains, csharp_support, get_runner,
                                           node_modules)
from babeltower.evaluation.isolation import bwrap_works
from babeltower.evaluation.sandbox import Limits

needs = {lang: pytest.mark.skipif(shutil.which(RUNNERS[lang].tools[0]) is None,
                                  reason=f"{lang} toolchain not installed")
         for lang in RUNNERS}
LIMITS = Limits(timeout_s=5, cpu_s=5, memory_mb=512, nproc=64, fsize_mb=4)


def test_pass_at_k_matches_hand_computed_values():
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # 1 - C(7,2)/C(10,2) = 1 - 21/45
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)
    # 1 - C(15,5)/C(20,5) = 1 - 3003/15504
    assert pass_at_k(20, 5, 5) == pytest.approx(1 - 3003 / 15504)
    assert pass_at_k(5, 4, 2) == 1.0  # n - c < k: some sample always passes
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_missing_toolchain_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolchainError, match="apt-get install g\\+\\+"):
        check_toolchains(["cpp"])
    with pytest.raises(ToolchainError, match="supported: cpp, csharp, go, java"):
        get_runner("cobol")


@pytest.fixture
def outside(tmp_path):
    """A file outside the sandbox that hostile programs try to delete."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.chmod(tmp_path, 0o777)
    os.chmod(victim, 0o666)
    return victim


HOSTILE = {
    "python": {
        "infinite_loop": "while True:\n    pass\n",
        "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
        "memory_bomb": "x = bytearray(10 * 1024 ** 3)\nx[-1] = 1\n",
        "huge_file": "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n",
        "delete_outside": "import os\nos.remove({victim!r})\n",
        "network": "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n",
        "read_env": "import os, sys\nsys.exit(0 if 'BT_SECRET' in os.environ else 3)\n",
    },
    "cpp": {
        "infinite_loop": "int main() { volatile int x = 0; while (true) { x++; } }\n",
        "fork_bomb": "#include <unistd.h>\nint main() { while (true) fork(); }\n",
        "memory_bomb": "#include <cstdlib>\n#include <cstring>\nint main() { size_t n = 10ull << 30;"
                       " char *p = (char*)malloc(n); if (!p) return 1; memset(p, 1, n);"
                       " return p[n - 1]; }\n",
        "huge_file": "#include <cstdio>\nint main() { FILE *f = fopen(\"big\", \"wb\"); char b[1 << 20]"
                     " = {1}; while (true) fwrite(b, 1, sizeof b, f); }\n",
        "delete_outside": "#include <cstdio>\nint main() {{ return remove(\"{victim}\"); }}\n",
        "read_env": "#include <cstdlib>\nint main() { return getenv(\"BT_SECRET\") ? 0 : 3; }\n",
        "network": "#include <arpa/inet.h>\n#include <sys/socket.h>\nint main() {{ int s = socket("
                   "AF_INET, SOCK_STREAM, 0); sockaddr_in a{{}}; a.sin_family = AF_INET; a.sin_port"
                   " = htons({port}); a.sin_addr.s_addr = htonl(0x7f000001); return connect(s, "
                   "(sockaddr*)&a, sizeof a) == 0 ? 0 : 5; }}\n",
    },
    "javascript": {
        "infinite_loop": "while (true) {}\n",
        "delete_outside": "require('fs').unlinkSync({victim_js});\n",
        "network": "const s = require('net').connect({port}, '127.0.0.1');\n"
                   "s.on('connect', () => process.exit(0));\n"
                   "s.on('error', () => process.exit(5));\n",
        "read_env": "process.exit(process.env.BT_SECRET ? 0 : 3);\n",
        "fork_bomb": "const cp = require('child_process');\n"
                     "while (true) { try { cp.spawn('sleep', ['100']); } catch (e) {} }\n",
        "memory_bomb": "const a = [];\nwhile (true) a.push(new Array(1e6).fill(1.5));\n",
        "huge_file": "const fs = require('fs');\nconst fd = fs.openSync('big', 'w');\n"
                     "const b = Buffer.alloc(1 << 20, 1);\nwhile (true) fs.writeSync(fd, b);\n",
    },
    "go": {
        "infinite_loop": "package main\nfunc main() {\n\tx := 0\n\tfor {\n\t\tx++\n\t}\n}\n",
        "read_env": "package main\nimport \"os\"\nfunc main() {\n\tif os.Getenv(\"BT_SECRET\")"
                    " == \"\" {\n\t\tos.Exit(3)\n\t}\n}\n",
        "fork_bomb": "package main\nimport \"os/exec\"\nfunc main() {\n\tfor {\n"
                     "\t\texec.Command(\"/proc/self/exe\").Start()\n\t}\n}\n",
        "memory_bomb": "package main\nfunc main() {\n\tb := make([]byte, 10<<30)\n"
                       "\tfor i := range b {\n\t\tb[i] = 1\n\t}\n}\n",
        "huge_file": "package main\nimport \"os\"\nfunc main() {\n\tf, _ := os.Create(\"big\")\n"
                     "\tb := make([]byte, 1<<20)\n\tfor {\n\t\tf.Write(b)\n\t}\n}\n",
        "delete_outside": "package main\nimport \"os\"\nfunc main() {{\n\tif os.Remove(\"{victim}\")"
                          " != nil {{\n\t\tos.Exit(4)\n\t}}\n}}\n",
        "network": "package main\nimport (\n\t\"net\"\n\t\"os\"\n)\nfunc main() {{\n\tif _, err :="
                   " net.Dial(\"tcp\", \"127.0.0.1:{port}\"); err != nil {{\n\t\tos.Exit(5)\n\t}}\n}}\n",
    },
    "java": {
        "infinite_loop": "class Main { public static void main(String[] a) { while (true) {} } }\n",
        "read_env": "class Main { public static void main(String[] a) {"
                    " System.exit(System.getenv(\"BT_SECRET\") == null ? 3 : 0); } }\n",
        "fork_bomb": "class Main { public static void main(String[] a) { while (true) { try {"
                     " new ProcessBuilder(\"sleep\", \"100\").start(); } catch (Exception e) {} } } }\n",
        "memory_bomb": "class Main { public static void main(String[] a) {"
                       " java.util.List<long[]> l = new java.util.ArrayList<>();"
                       " while (true) l.add(new long[1 << 24]); } }\n",
        "huge_file": "class Main { public static void main(String[] a) throws Exception {"
                     " var f = new java.io.FileOutputStream(\"big\"); byte[] b = new byte[1 << 20];"
                     " while (true) f.write(b); } }\n",
        "delete_outside": "class Main {{ public static void main(String[] a) {{"
                          " System.exit(new java.io.File(\"{victim}\").delete() ? 0 : 4); }} }}\n",
        "network": "class Main {{ public static void main(String[] a) throws Exception {{"
                   " new java.net.Socket(\"127.0.0.1\", {port}).close(); }} }}\n",
    },
    "csharp": {
        "infinite_loop": "class P { static void Main() { while (true) {} } }\n",
        "read_env": "class P { static void Main() { System.Environment.Exit("
                    "System.Environment.GetEnvironmentVariable(\"BT_SECRET\") == null ? 3 : 0); } }\n",
        "fork_bomb": "class P { static void Main() { while (true) { try {"
                     " System.Diagnostics.Process.Start(\"sleep\", \"100\"); } catch {} } } }\n",
        "memory_bomb": "class P { static void Main() { var l = new System.Collections.Generic."
                       "List<long[]>(); while (true) l.Add(new long[1 << 24]); } }\n",
        "huge_file": "class P { static void Main() { var f = System.IO.File.OpenWrite(\"big\");"
                     " var b = new byte[1 << 20]; while (true) f.Write(b, 0, b.Length); } }\n",
        # File.Delete is silent about a missing file: look first.
        "delete_outside": "class P {{ static void Main() {{ if (!System.IO.File.Exists(\"{victim}\"))"
                          " System.Environment.Exit(4); System.IO.File.Delete(\"{victim}\"); }} }}\n",
        "network": "class P {{ static void Main() {{ new System.Net.Sockets.TcpClient(\"127.0.0.1\","
                   " {port}).Close(); }} }}\n",
    },
    "php": {
        "infinite_loop": "<?php\nwhile (true) {}\n",
        "delete_outside": "<?php\nexit(unlink({victim_js}) ? 0 : 4);\n",
        "read_env": "<?php\nexit(getenv('BT_SECRET') ? 0 : 3);\n",
        "fork_bomb": "<?php\nwhile (true) { @proc_open('sleep 100', [], $pipes); }\n",
        "memory_bomb": "<?php\n$a = [];\nwhile (true) { $a[] = str_repeat('x', 1 << 24); }\n",
        "huge_file": "<?php\n$f = fopen('big', 'w');\n$b = str_repeat('x', 1 << 20);\n"
                     "while (true) { fwrite($f, $b); }\n",
        "network": "<?php\n$s = @fsockopen('127.0.0.1', {port});\nexit($s ? 0 : 5);\n",
    },
}

CASES = [(lang, name) for lang, programs in HOSTILE.items() for name in programs]
# Interpreted languages compile nothing: 2 s is ample for the well-behaved program after each
# hostile one, and the hostile programs that run into the limit (loops, bombs) cost 2 s, not 5.
HOSTILE_LIMITS = {lang: Limits(timeout_s=2, cpu_s=2, memory_mb=512, nproc=64, fsize_mb=4)
                  for lang in ("python", "php", "javascript")}


@pytest.mark.parametrize("lang,name", CASES, ids=[f"{lang}-{name}" for lang, name in CASES])
def test_hostile_programs_are_contained_and_fail(lang, name, outside, monkeypatch, tmp_path):
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    if name in ("delete_outside", "network") and not bwrap_works():
        pytest.skip("needs bubblewrap isolation")
    monkeypatch.setenv("BT_SECRET", "hunter2")  # a harness secret the program must not see
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    source = HOSTILE[lang][name]
    if name in ("delete_outside", "network"):
        source = source.replace("{victim!r}", repr(str(outside))).replace(
            "{victim_js}", repr(str(outside))).replace("{victim}", str(outside)).replace(
            "{port}", str(port)).replace("{{", "{").replace("}}", "}")
    runner = ProgramRunner(lang, HOSTILE_LIMITS.get(lang, LIMITS))
    t0 = time.time()
    result = runner.run(source)
    assert not result.ok, (result.returncode, result.stderr[-500:])
    assert time.time() - t0 < 60
    assert outside.read_text() == "precious"
    try:
        conn, _ = server.accept()
        conn.close()
        connected = True
    except OSError:
        connected = False
    server.close()
    assert not connected, "the program reached a server outside the sandbox"
    # The harness keeps going: a well-behaved program right after runs normally.
    good = {"python": "print('ok')\n", "cpp": "int main() { return 0; }\n",
            "javascript": "console.log('ok');\n", "php": "<?php\necho 'ok';\n",
            "go": "package main\nfunc main() {}\n",
            "java": "class Main { public static void main(String[] a) {} }\n",
            "csharp": "class P { static void Main() {} }\n"}[lang]
    assert runner.run(good).ok


@needs["cpp"]
def test_compile_cache_reuses_artifacts(tmp_path):
    runner = ProgramRunner("cpp", LIMITS, cache_dir=tmp_path / "cache")
    src = "#include <cstdio>\nint main() { std::puts(\"hi\"); return 0; }\n"
    first = runner.run(src)
    second = runner.run(src)
    assert first.ok and second.ok and second.stdout == "hi\n"
    assert "compile_s" in first.extra and "compile_s" not in second.extra
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert not runner.run(src.replace("return 0", "return 1")).ok


def test_stop_sequences_truncate_like_mxeval_canonical_solutions():
    from babeltower.evaluation.generate import truncate

    body = "    return x;\n}\nint main() { return 1; }\n"
    assert truncate(body, "cpp") == "    return x;\n}"
    assert truncate("    return 1\n\ndef other():\n    pass\n", "python") == "    return 1\n"
    assert truncate("    return 1\n", "python") == "    return 1\n"
    cs = "            return 1;\n        }\n\n        public static void X() {}\n"
    assert truncate(cs, "csharp") == "            return 1;\n        }"


@pytest.mark.parametrize("spawn", ["prlimit", "preexec_fn"])
def test_limits_apply_inside_the_sandbox(spawn, monkeypatch):
    """The limits reach the program, both through `prlimit` and through the slower fallback
    (a preexec_fn in the forked child) where util-linux's prlimit is missing."""
    from babeltower.evaluation import sandbox

    if spawn == "preexec_fn":
        real_which = shutil.which
        monkeypatch.setattr(sandbox.shutil, "which",
                            lambda name: None if name == "prlimit" else real_which(name))
    with tempfile.TemporaryDirectory() as workdir:  # reachable by the sandbox's uid
        result = sandbox.run_in_sandbox(["cat", "/proc/self/limits"], Path(workdir), LIMITS)
    assert result.ok, result.stderr
    limits = {line[:26].strip(): line[26:].split()[:2] for line in result.stdout.splitlines()[1:]}
    assert limits["Max cpu time"] == ["5", "6"]
    assert limits["Max address space"] == [str(512 << 20)] * 2
    assert limits["Max file size"] == [str(4 << 20)] * 2
    assert limits["Max processes"] == ["64", "64"]
    assert limits["Max core file size"] == ["0", "0"]


@pytest.mark.skipif(os.geteuid() != 0, reason="uids are switched only when the harness is root")
def test_concurrent_sandboxes_get_their_own_uid():
    """A fork bomb in one worker does not starve the innocent programs of another: RLIMIT_NPROC
    counts per uid, and concurrent sandboxes run as different uids."""
    from concurrent.futures import ThreadPoolExecutor

    from babeltower.evaluation.sandbox import run_in_sandbox

    def run(name, source):
        with tempfile.TemporaryDirectory() as workdir:
            (Path(workdir) / "p.py").write_text(source)
            return run_in_sandbox(["python3", "p.py"], Path(workdir), LIMITS)

    with ThreadPoolExecutor(2) as pool:
        # A bomb that keeps its processes: it holds the budget until the timeout kills it.
        bomb = pool.submit(run, "bomb", "import os, time\nwhile True:\n    try:\n        os.fork()"
                                        "\n    except OSError:\n        time.sleep(0.01)\n")
        time.sleep(1.0)  # the bomb has filled its uid's process budget by now
        innocent = [run(f"good{i}", "import os\nprint(os.getuid())\n") for i in range(5)]
        assert not bomb.done(), "the innocent programs waited for the bomb instead of running"
        assert not bomb.result().ok
    assert all(r.ok for r in innocent), [r.stderr for r in innocent if not r.ok]
    uids = {r.stdout.strip() for r in innocent}
    assert "0" not in uids and len(uids) == 1


@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
def test_sandboxes_in_quick_succession_all_start():
    """The kernel frees a finished sandbox's tasks asynchronously: hundreds of short programs in
    a row can find the uid's process count full when bubblewrap forks (EAGAIN, about 1 in 300
    here). The harness retries such setup failures instead of scoring the program as failed."""
    from babeltower.evaluation.sandbox import run_in_sandbox

    failed = []
    for _ in range(600):
        with tempfile.TemporaryDirectory() as workdir:
            result = run_in_sandbox(["true"], Path(workdir), LIMITS)
            if not result.ok:
                failed.append(result.stderr)
    assert not failed, failed[:3]


# A Python one-liner, in a string literal of a C-like language, that connects to the abstract
# socket and exits 0 if it could.
ABSTRACT_CHILD = "import socket; socket.socket(socket.AF_UNIX).connect('\\\\0{name}')"
# Clients that try a host daemon's Unix socket, by path ({fs}) and in the abstract namespace
# ({name}); each prints "<kind>:connected" for what it reached and exits 0 if it reached any.
UNIX_CLIENTS = {
    "python": "import socket, sys\nhits = 0\n"
              "for kind, addr in (('fs', '{fs}'), ('abstract', '\\0{name}')):\n"
              "    s = socket.socket(socket.AF_UNIX)\n    try:\n        s.connect(addr)\n"
              "        s.sendall(b'hello')\n        print(kind + ':connected')\n        hits += 1\n"
              "    except OSError as e:\n        print(kind + ':', e)\nsys.exit(0 if hits else 5)\n",
    "cpp": "#include <cstddef>\n#include <cstdio>\n#include <cstring>\n#include <sys/socket.h>\n"
           "#include <sys/un.h>\n#include <unistd.h>\n"
           "static bool reach(const char *kind, const char *path, size_t len) {\n"
           "  int s = socket(AF_UNIX, SOCK_STREAM, 0);\n  sockaddr_un a{}; a.sun_family = AF_UNIX;\n"
           "  memcpy(a.sun_path, path, len);\n"
           "  bool ok = connect(s, (sockaddr*)&a, offsetof(sockaddr_un, sun_path) + len) == 0\n"
           "            && write(s, \"hello\", 5) == 5;\n"
           "  printf(\"%s:%s\\n\", kind, ok ? \"connected\" : \"refused\");\n  return ok;\n}\n"
           "int main() {\n  const char fs[] = \"{fs}\", ab[] = \"\\0{name}\";\n"
           "  bool a = reach(\"fs\", fs, sizeof fs), b = reach(\"abstract\", ab, sizeof ab - 1);\n"
           "  return a || b ? 0 : 5;\n}\n",
    "php": "<?php\n$hits = 0;\n"
           "foreach (['fs' => 'unix://{fs}', 'abstract' => \"unix://\\0{name}\"] as $kind => $a) {\n"
           "  $s = @stream_socket_client($a, $errno, $errstr, 2);\n"
           "  if ($s) { fwrite($s, 'hello'); echo \"$kind:connected\\n\"; $hits++; }\n"
           "  else { echo \"$kind:$errstr\\n\"; }\n}\nexit($hits ? 0 : 5);\n",
    # Go writes the abstract namespace with a leading '@'.
    "go": "package main\nimport (\n\t\"fmt\"\n\t\"net\"\n\t\"os\"\n)\nfunc main() {\n\thits := 0\n"
          "\tfor _, t := range [][2]string{{\"fs\", \"{fs}\"}, {\"abstract\", \"@{name}\"}} {\n"
          "\t\tif c, err := net.Dial(\"unix\", t[1]); err == nil {\n\t\t\tc.Write([]byte(\"hello\"))\n"
          "\t\t\tfmt.Println(t[0] + \":connected\")\n\t\t\thits++\n\t\t} else {\n"
          "\t\t\tfmt.Println(t[0] + \":\", err)\n\t\t}\n\t}\n\tif hits == 0 {\n\t\tos.Exit(5)\n\t}\n}\n",
    # Node 20's net.connect cannot address the abstract namespace (libuv takes the path up to
    # its first NUL): a child process, which a Node program can start, tries it.
    "javascript": "const net = require('net');\nlet hits = 0;\n"
                  "const child = require('child_process').spawnSync('python3', ['-c', "
                  f"\"{ABSTRACT_CHILD}\"], {{stdio: 'inherit'}});\n"
                  "if (child.status === 0) { console.log('abstract:connected'); hits++; }\n"
                  "const s = net.connect({path: '{fs}'});\n"
                  "s.on('connect', () => { s.write('hello'); console.log('fs:connected');"
                  " process.exit(0); });\n"
                  "s.on('error', e => { console.log('fs:' + e.code); process.exit(hits ? 0 : 5); });\n",
    "csharp": "using System;\nusing System.Net.Sockets;\nclass P {\n  static void Main() {\n"
              "    int hits = 0;\n    var targets = new[] { new[] {\"fs\", \"{fs}\"},\n"
              "                          new[] {\"abstract\", \"\\0{name}\"} };\n"
              "    foreach (var t in targets) {\n      try {\n"
              "        var s = new Socket(AddressFamily.Unix, SocketType.Stream,"
              " ProtocolType.Unspecified);\n"
              "        s.Connect(new UnixDomainSocketEndPoint(t[1]));\n"
              "        s.Send(new byte[] {104, 105});\n"
              "        Console.WriteLine(t[0] + \":connected\");\n        hits++;\n"
              "      } catch (Exception e) { Console.WriteLine(t[0] + \":\" + e.Message); }\n"
              "    }\n    Environment.Exit(hits > 0 ? 0 : 5);\n  }\n}\n",
    # Java 17's UnixDomainSocketAddress takes file-system paths only: the abstract attempt is
    # made by a child process, which a Java program can start.
    "java": "import java.net.UnixDomainSocketAddress;\nimport java.nio.channels.SocketChannel;\n"
            "class Main {\n  public static void main(String[] a) throws Exception {\n    int hits = 0;\n"
            "    try (var s = SocketChannel.open(UnixDomainSocketAddress.of(\"{fs}\"))) {\n"
            "      s.write(java.nio.ByteBuffer.wrap(\"hello\".getBytes()));\n"
            "      System.out.println(\"fs:connected\");\n      hits++;\n"
            "    } catch (Exception e) { System.out.println(\"fs:\" + e); }\n"
            f"    var child = new ProcessBuilder(\"python3\", \"-c\", \"{ABSTRACT_CHILD}\")"
            ".inheritIO().start();\n"
            "    if (child.waitFor() == 0) { System.out.println(\"abstract:connected\"); hits++; }\n"
            "    System.exit(hits > 0 ? 0 : 5);\n  }\n}\n",
}


@pytest.fixture
def host_unix_listeners():
    """A host daemon's listening Unix sockets: one under /run (/var/tmp when not root), where
    the sandbox must hide it, and one in the abstract namespace. Both accept the sandbox's uid."""
    import secrets

    folder = tempfile.mkdtemp(prefix="babeltower-test-",
                              dir="/run" if os.access("/run", os.W_OK) else "/var/tmp")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "daemon.sock")
    name = f"babeltower-test-{os.getpid()}-{secrets.token_hex(4)}"
    servers = {}
    for kind, addr in (("fs", path), ("abstract", "\0" + name)):
        servers[kind] = socket.socket(socket.AF_UNIX)
        servers[kind].bind(addr)
        servers[kind].listen(8)
        servers[kind].setblocking(False)
    os.chmod(path, 0o777)
    yield path, name, servers
    for server in servers.values():
        server.close()
    shutil.rmtree(folder)


def _accepted(servers: dict) -> list[str]:
    """The listeners that got a connection (a Unix connect is queued by the time it returns)."""
    reached = []
    for kind, server in servers.items():
        try:
            server.accept()[0].close()
            reached.append(kind)
        except BlockingIOError:
            pass
    return reached


@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
@pytest.mark.parametrize("lang", sorted(UNIX_CLIENTS))
def test_host_unix_sockets_are_unreachable(lang, host_unix_listeners, tmp_path):
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    path, name, servers = host_unix_listeners
    source = UNIX_CLIENTS[lang].replace("{fs}", path).replace("{name}", name)
    # Outside the sandbox (same uid and limits) the program reaches both: the attempt works.
    limits = Limits(timeout_s=60, cpu_s=60)  # Go builds the net package on its first use
    bare = ProgramRunner(lang, limits, isolation="none", cache_dir=tmp_path).run(source)
    assert bare.ok and _accepted(servers) == ["fs", "abstract"], (bare.stdout, bare.stderr[-500:])
    result = ProgramRunner(lang, limits, isolation="bwrap", cache_dir=tmp_path).run(source)
    assert result.returncode == 5 and "connected" not in result.stdout, (
        result.stdout, result.stderr[-500:])
    assert _accepted(servers) == [], "a sandboxed program reached a host Unix socket"


SOCKET_WALK = """import os, stat
sockets, unlisted = [], []
def walk(top):
    try:
        entries = list(os.scandir(top))
    except PermissionError:
        # A folder the program may enter but not list could hide a socket it can connect to.
        if os.access(top, os.X_OK):
            unlisted.append(top)
        return
    for e in entries:
        if e.is_symlink() or e.path == '/proc':
            continue
        if e.is_dir():
            walk(e.path)
        elif not e.is_file() and stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode):
            sockets.append(e.path)
walk('/')
print('sockets:', sockets)
print('unlisted:', unlisted)
"""


@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
def test_no_socket_file_is_reachable_inside_the_sandbox(host_unix_listeners):
    """Everything the sandbox shows (system trees, tool trees, /dev, /tmp, the program's own
    folder; /proc aside) holds no socket file, while the host has one (the fixture's)."""
    result = ProgramRunner("python", Limits(timeout_s=120, cpu_s=120)).run(SOCKET_WALK)
    assert result.ok, result.stderr[-800:]
    assert result.stdout == "sockets: []\nunlisted: []\n", result.stdout


SUPPORT_USERS = {
    "javascript": ("BABELTOWER_NODE_PATH", node_modules,
                   "const _ = require('lodash');\nconsole.log(_.isEqual([1, {a: 2}], [1, {a: 2}]));\n"),
    "csharp": ("BABELTOWER_CSHARP_SUPPORT", csharp_support,
               "using KellermanSoftware.CompareNetObjects;\nclass P { static void Main() {"
               " System.Console.WriteLine(new CompareLogic().Compare(1, 1).AreEqual); } }\n"),
}


@pytest.mark.parametrize("lang", sorted(SUPPORT_USERS))
def test_support_files_are_visible_wherever_they_lie(lang, monkeypatch):
    """Under /tmp (which the sandbox replaces with an empty tmpfs) too: every program of the
    language failed there (MODULE_NOT_FOUND, CS0006) before support paths were bound."""
    if shutil.which(RUNNERS[lang].tools[0]) is None:
        pytest.skip(f"{lang} toolchain not installed")
    variable, locate, program = SUPPORT_USERS[lang]
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)
        monkeypatch.setenv(variable, str(shutil.copytree(locate(), Path(tmp) / "support")))
        result = ProgramRunner(lang, LIMITS).run(program)
    assert result.ok and result.stdout.lower() == "true\n", (result.stdout, result.stderr[-500:])


@needs["javascript"]
def test_missing_support_path_names_language_and_path(monkeypatch):
    monkeypatch.setenv("BABELTOWER_NODE_PATH", "/nonexistent/node_modules")
    with pytest.raises(ToolchainError, match="javascript: support path /nonexistent/node_modules"):
        ProgramRunner("javascript", LIMITS).run("console.log(1);\n")


@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
def test_toolchain_outside_the_system_trees_runs_with_its_prefix():
    """A tool installed under its own prefix (as under /opt), reached through a symlink in
    another such prefix, finds its data next to it: both prefixes are bound, nothing else."""
    from babeltower.evaluation.sandbox import run_in_sandbox

    with tempfile.TemporaryDirectory(dir="/var/tmp") as opt, tempfile.TemporaryDirectory() as work:
        os.chmod(opt, 0o755)
        real, link = Path(opt) / "toolchain", Path(opt) / "links"
        (real / "bin").mkdir(parents=True)
        (real / "share").mkdir()
        (link / "bin").mkdir(parents=True)
        (real / "share" / "greeting").write_text("hello from the prefix\n")
        tool = real / "bin" / "greet"
        tool.write_text('#!/bin/sh\ncat "$(dirname "$(readlink -f "$0")")/../share/greeting"\n'
                        f"ls {opt}\n")
        os.chmod(tool, 0o755)
        (link / "bin" / "greet").symlink_to(tool)
        (Path(opt) / "unrelated").mkdir()
        result = run_in_sandbox([str(link / "bin" / "greet")], Path(work), LIMITS)
    assert result.ok, result.stderr
    assert result.stdout == "hello from the prefix\nlinks\ntoolchain\n"


def attempt_checks(attempts: dict[str, str], line: str) -> str:
    """A hostile program's body: per attempt (name -> call), `line` with {call} and {name}
    filled in, printing "done: <name>" where the call succeeded."""
    return "".join(line.format(call=call, name=name) for name, call in attempts.items())


@needs["go"]
def test_go_support_names_real_paths_and_rebuilds_a_stale_folder(tmp_path, monkeypatch):
    """The Go support folder's import configurations name every archive by its real path (a
    virtual environment reached through a symlink may later be gone), and a folder whose
    archives are missing is rebuilt instead of failing every Go program."""
    from babeltower.evaluation import runners

    key = Path(runners.go_support()).name  # the toolchain's key (this process's support)
    real = tmp_path / "real"
    stale = real / key
    (stale / "pkg").mkdir(parents=True)
    (stale / "importcfg.link").write_text(f"packagefile fmt={tmp_path}/gone/pkg/fmt.a\n")
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("BABELTOWER_GO_SUPPORT", str(tmp_path / "link"))
    runners.go_support.cache_clear()
    try:
        built = Path(runners.go_support())
    finally:
        runners.go_support.cache_clear()
    assert built == stale  # the real path, not the link
    archives = [line.split("=", 1)[1]
                for line in (built / "importcfg.link").read_text().splitlines()]
    assert len(archives) > 100 and all(Path(a).is_file() for a in archives)
    assert not any(a.startswith(str(tmp_path / "link")) for a in archives)
    assert any(a.startswith(str(built)) for a in archives)
    assert sorted(p.name for p in real.iterdir()) == [key]  # the stale copy is gone


@needs["go"]
@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
def test_go_programs_cannot_change_the_shared_standard_library():
    """Every Go program links the standard library compiled once into go_support(): a hostile
    program must not be able to plant code there for the programs after it."""
    import hashlib

    from babeltower.evaluation.runners import go_support

    support = Path(go_support()).resolve()  # the importcfg names real paths
    archives = [line.split("=", 1)[1] for line in (support / "importcfg").read_text().splitlines()]
    # One archive built into the support folder, one that GOROOT ships and the folder points to.
    archive = next(a for a in archives if a.startswith(str(support)))
    shipped = next(a for a in archives if not a.startswith(str(support)))

    def snapshot():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else p.stat().st_mode
                for p in [support, *support.rglob("*"), Path(shipped)]}

    before = snapshot()
    attempts = {"overwrite importcfg": f'os.WriteFile("{support}/importcfg", []byte("x"), 0644)',
                "append to an archive": f'appendTo("{archive}")',
                "append to a shipped archive": f'appendTo("{shipped}")',
                "plant a file": f'os.WriteFile("{support}/pkg/evil.a", []byte("x"), 0644)',
                "delete importcfg.link": f'os.Remove("{support}/importcfg.link")',
                "chmod the folder": f'os.Chmod("{support}", 0777)',
                "rename the folder": f'os.Rename("{support}", "{support}.old")'}
    checks = attempt_checks(attempts,
                            '\tif {call} == nil {{\n\t\tfmt.Println("done: {name}")\n\t}}\n')
    source = ("package main\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n"
              "func appendTo(p string) error {\n"
              "\tf, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)\n"
              "\tif err != nil {\n\t\treturn err\n\t}\n\t_, err = f.Write([]byte(\"x\"))\n"
              "\treturn err\n}\nfunc main() {\n" + checks + "\tfmt.Println(\"tried\")\n}\n")
    runner = ProgramRunner("go", Limits(timeout_s=60, cpu_s=60, memory_mb=512, nproc=64,
                                        fsize_mb=64))
    result = runner.run(source)
    assert result.ok and result.stdout == "tried\n", (result.stdout, result.stderr[-500:])
    assert snapshot() == before
    good = runner.run("package main\nimport \"fmt\"\nfunc main() { fmt.Println(1) }\n")
    assert good.ok and good.stdout == "1\n", good.stderr[-300:]
    # As with `go build`, a program cannot import the standard library's internal packages.
    internal = runner.run("package main\nimport \"internal/cpu\"\nfunc main() { _ = cpu.X86 }\n")
    assert not internal.ok and internal.extra["stage"] == "compile", internal.stderr[-300:]


@needs["cpp"]
@pytest.mark.skipif(not bwrap_works(), reason="needs bubblewrap isolation")
def test_cpp_programs_use_the_shared_precompiled_header_and_cannot_change_it():
    """Every C++ program compiles against <bits/stdc++.h> precompiled once into cpp_support():
    the sandboxed compile uses it (g++ -H marks a used precompiled header with "!"), a program
    that includes another header first still compiles (from the header itself), and a hostile
    program cannot alter what later programs include."""
    import hashlib

    from babeltower.evaluation.runners import cpp_support, expand_command
    from babeltower.evaluation.sandbox import run_in_sandbox

    runner = ProgramRunner("cpp", LIMITS)
    support = Path(cpp_support())
    gch = support / "bits" / "stdc++.h.gch"

    def snapshot():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else p.stat().st_mode
                for p in [support, *support.rglob("*")]}

    before = snapshot()
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "main.cpp").write_text("#include <bits/stdc++.h>\nint main() {}\n")
        compile_cmd = [*expand_command(runner.runner.compile, Path(work)), "-H"]
        used = run_in_sandbox(compile_cmd, Path(work), LIMITS,
                              ro_binds=runner.ro_binds(Path(work)))
    assert used.ok and f"! {gch}" in used.stderr.splitlines(), used.stderr[-500:]
    other_first = runner.run("#include <cstdio>\n#include <bits/stdc++.h>\n"
                             "int main() { std::vector<int> v{1, 2}; printf(\"%d\\n\", v[1]); }\n")
    assert other_first.ok and other_first.stdout == "2\n", other_first.stderr[-500:]
    attempts = {"append to the header": f'std::ofstream("{gch}", std::ios::app).good()',
                "overwrite the header": f'std::ofstream("{gch}").good()',
                "plant a header": f'std::ofstream("{support}/bits/vector").good()',
                "remove the header": f'std::remove("{gch}") == 0',
                "rename the folder": f'std::rename("{support}", "{support}.old") == 0'}
    checks = attempt_checks(attempts, '    if ({call}) std::cout << "done: {name}\\n";\n')
    hostile = runner.run("#include <bits/stdc++.h>\nint main() {\n" + checks
                         + '    std::cout << "tried\\n";\n}\n')
    assert hostile.ok and hostile.stdout == "tried\n", (hostile.stdout, hostile.stderr[-500:])
    assert snapshot() == before


@needs["cpp"]
def test_cpp_support_is_built_once_per_toolchain_in_its_own_folder(tmp_path, monkeypatch):
    """BABELTOWER_CPP_SUPPORT moves the precompiled header; a folder is complete or absent (a
    half-built one never takes the final name) and is reused, not rebuilt."""
    from babeltower.evaluation import runners

    monkeypatch.setenv("BABELTOWER_CPP_SUPPORT", str(tmp_path / "cpp"))
    runners.cpp_support.cache_clear()
    try:
        built = Path(runners.cpp_support())
        assert built.parent == tmp_path / "cpp" and (built / "bits" / "stdc++.h.gch").is_file()
        assert [p.name for p in (tmp_path / "cpp").iterdir()] == [built.name]
        stamp = (built / "bits" / "stdc++.h.gch").stat().st_mtime_ns
        runners.cpp_support.cache_clear()
        assert Path(runners.cpp_support()) == built
        assert (built / "bits" / "stdc++.h.gch").stat().st_mtime_ns == stamp
    finally:
        runners.cpp_support.cache_clear()
