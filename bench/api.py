"""The docker CLI against ``portside daemon`` and against a real dockerd, in one run (as root).

    .venv/bin/python bench/api.py          # BENCH_N repeats (default 30), interleaved

Both engines get private state under one temporary folder: Portside a private ``PORTSIDE_ROOT`` and
its daemon on a socket there; docker its own dockerd (bench/run.py's ``DockerD``: private data root,
exec root, socket, pid file; no iptables, no bridge). The same busybox rootfs tar is imported into
each. Every figure is the median (and p90) of the same command through the same docker CLI; the
ratio is portside/docker. Afterwards containers are removed, both daemons are stopped by their pids,
mounts under the folder are unmounted and the folder is deleted.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
N = int(os.environ.get("BENCH_N", "30"))
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")


def _run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portside_bench_run", os.path.join(HERE, "run.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


B = _run_module()


class PortsideDaemon:
    def __init__(self, base: str) -> None:
        self.root = os.path.join(base, "portside")
        self.sock = os.path.join(base, "portside.sock")
        self.pidfile = os.path.join(base, "portside.pid")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env.update(DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=os.path.join(base, "config"),
                        PORTSIDE_ROOT=self.root)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.logf = open(os.path.join(os.path.dirname(self.sock), "portside.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "daemon", "-H", f"unix://{self.sock}",
                                      "--pidfile", self.pidfile], cwd=REPO, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise B.CmdError(f"portside daemon exited {self.proc.returncode}")
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(self.sock)
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        raise B.CmdError("portside daemon did not answer within 30 s")

    def portside(self, *args: str) -> subprocess.CompletedProcess[str]:
        return B.sh([sys.executable, "-m", "tui.cli", *args], env=self.env, cwd=REPO)

    def stop(self) -> None:
        ids = subprocess.run([DOCKER_CLI, "ps", "-aq"], env=self.env, capture_output=True, text=True,
                             timeout=30).stdout.split()
        if ids:
            subprocess.run([DOCKER_CLI, "rm", "-f", *ids], env=self.env, capture_output=True, timeout=60)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise B.CmdError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
    return dt


def api_rate(sock: str, path: str, n: int) -> list[float]:
    """Per-request seconds of ``n`` sequential GETs on one keep-alive connection."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock)
    conn = Conn("localhost", timeout=30)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise B.CmdError(f"GET {path}: {resp.status}")
            out.append(time.perf_counter() - t)
    finally:
        conn.close()
    return out


def row(name: str, ours: list[float], theirs: list[float] | None) -> str:
    def cell(v: list[float] | None) -> str:
        if not v:
            return "—"
        return f"{statistics.median(v) * 1000:.1f} ms (p90 {B.pct(v, 0.9) * 1000:.1f})"
    ratio = f"{statistics.median(ours) / statistics.median(theirs):.2f}" if theirs else "—"
    return f"| {name} | {cell(ours)} | {cell(theirs)} | {ratio} |"


def main() -> int:
    if os.geteuid() != 0:
        print("bench/api.py needs root (real containers, a private dockerd)", file=sys.stderr)
        return 1
    before = B.host_leftovers_before()
    base = tempfile.mkdtemp(prefix="ps-bapi-", dir="/tmp")
    ps = PortsideDaemon(base)
    dk = B.DockerD(base)  # under base/docker
    lines: list[str] = []
    try:
        tar = os.path.join(base, "rootfs.tar")
        B.make_rootfs_tar(tar)
        ps.portside("import", tar, "busybox")
        ps.start()
        dk.start()
        B.sh([DOCKER_CLI, "import", tar, "busybox"], env=dk.env, timeout=120)
        B.log(f"both daemons up; {N} interleaved repeats each")
        cases = [("`docker ps`", ["ps"]), ("`docker ps -a` (5 containers)", ["ps", "-a"]),
                 ("`docker run --rm busybox true`", ["run", "--rm", "--network", "none", "busybox", "true"])]
        results = []
        for title, args in cases:
            if args == ["ps", "-a"]:
                for env in (ps.env, dk.env):
                    for _ in range(5):
                        B.sh([DOCKER_CLI, "create", "--network", "none", "busybox", "true"], env=env)
            a: list[float] = []
            b: list[float] = []
            for env in (ps.env, dk.env):  # one warm-up each
                timed([DOCKER_CLI, *args], env)
            for _ in range(N):
                a.append(timed([DOCKER_CLI, *args], ps.env))
                b.append(timed([DOCKER_CLI, *args], dk.env))
            results.append(row(title, a, b))
        embedded = [timed([sys.executable, "-m", "tui.cli", "container", "ls"], ps.env) for _ in range(N)]
        B.log("100 containers each for GET /containers/json")
        for env in (ps.env, dk.env):
            for _ in range(95):  # 5 are there already
                B.sh([DOCKER_CLI, "create", "--network", "none", "busybox", "true"], env=env)
        rates = {}
        for name, sock in (("portside", ps.sock), ("docker", dk.sock)):
            api_rate(sock, "/containers/json?all=1", 10)  # warm-up
            rates[name] = api_rate(sock, "/containers/json?all=1", max(N * 5, 100))
        per_s = {k: len(v) / sum(v) for k, v in rates.items()}
        lines = ["| command (same docker CLI 28) | portside daemon | dockerd | ratio |", "|---|---|---|---|",
                 *results, row("`portside container ls` (embedded, for scale)", embedded, None),
                 "", "| `GET /containers/json?all=1`, 100 containers, one keep-alive connection | portside daemon "
                 "| dockerd | ratio (portside/docker) |", "|---|---|---|---|",
                 f"| requests/s | {per_s['portside']:.0f} | {per_s['docker']:.0f} | "
                 f"{per_s['portside'] / per_s['docker']:.2f} |",
                 f"| p99 | {B.pct(rates['portside'], 0.99) * 1000:.1f} ms | {B.pct(rates['docker'], 0.99) * 1000:.1f} ms"
                 f" | {B.pct(rates['portside'], 0.99) / B.pct(rates['docker'], 0.99):.2f} |"]
        print("\n".join(lines))
        return 0
    finally:
        try:
            ps.stop()
        finally:
            dk.stop()
            if getattr(dk, "logf", None) is not None:
                dk.logf.close()
            left = B.unmount_all_under(base)
            if not left:
                shutil.rmtree(base, ignore_errors=True)
            B.remove_host_leftovers(before)


if __name__ == "__main__":
    sys.exit(main())
