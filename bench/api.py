"""The docker CLI against ``portside daemon`` and against a real dockerd, in one run (as root).

    .venv/bin/python bench/api.py          # BENCH_N repeats (default 30), interleaved
    .venv/bin/python bench/api.py --write  # and put the tables in bench/results.md (their own section)

Both engines get private state under one temporary folder: Portside a private ``PORTSIDE_ROOT`` and
its daemon on a socket there; docker its own dockerd (bench/run.py's ``DockerD``: private data root,
exec root, socket, pid file; no iptables, no bridge). The same busybox rootfs tar is imported into
each. Every figure is the median (and p90) of the same command through the same docker CLI; the
ratio is portside/docker. ``portside container ls`` is timed three ways: through the daemon
(``-H unix://…``, the client's unix transport), embedded (``--root``, no daemon) and as
``docker container ls`` against dockerd. The portside CLI is timed as users run it, through the
``portside`` console script next to this interpreter (what ``pip install`` makes), when that script
loads this checkout's code; otherwise (another checkout, no script) as ``python -m tui.cli``, which
costs a few ms more (runpy and what it imports). The results say which. Afterwards containers are removed, both daemons are stopped by their pids,
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
        # measure what a user gets (as bench/run.py does): byte-compiled modules, not a recompile of
        # every edited file on every call
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "tui"], cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
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


def cell(v: list[float] | None) -> str:
    if not v:
        return "—"
    return f"{statistics.median(v) * 1000:.1f} ms (p90 {B.pct(v, 0.9) * 1000:.1f})"


def ratio(ours: list[float] | None, theirs: list[float] | None) -> str:
    return f"{statistics.median(ours) / statistics.median(theirs):.2f}" if ours and theirs else "—"


def row(name: str, ours: list[float], theirs: list[float] | None, target: str = "") -> str:
    return f"| {name} | {cell(ours)} | {cell(theirs)} | {ratio(ours, theirs)} | {target} |"


def portside_env(ps: PortsideDaemon, *, daemon: bool) -> dict[str, str]:
    """The portside CLI's environment: through the daemon (``-H``; no data root of its own) or embedded."""
    env = {k: v for k, v in ps.env.items() if k not in ("DOCKER_HOST", "PORTSIDE_ROOT")}
    if not daemon:
        env["PORTSIDE_ROOT"] = ps.root
    return env


def portside_cli() -> list[str]:
    """The command users run: the ``portside`` console script beside this interpreter, if it loads this
    checkout (an editable install of it); else ``python -m tui.cli`` from the checkout."""
    script = os.path.join(os.path.dirname(sys.executable), "portside")
    if os.access(script, os.X_OK):
        where = subprocess.run([sys.executable, "-c", "import os, tui; print(os.path.dirname(os.path.dirname("
                                "os.path.abspath(tui.__file__))))"], cwd="/", capture_output=True, text=True,
                               timeout=30).stdout.strip()
        if where == REPO:
            return [script]
    return [sys.executable, "-m", "tui.cli"]


def container_ls(ps: PortsideDaemon, dk_env: dict[str, str]) -> tuple[list[float] | None, list[float], list[float],
                                                                         str]:
    """``portside container ls`` through the daemon and embedded, ``docker container ls`` on dockerd,
    interleaved. The daemon row is None (with the reason) while the CLI cannot reach a daemon."""
    cli = portside_cli()
    via_daemon = [*cli, "-H", f"unix://{ps.sock}", "container", "ls"]
    embedded = [*cli, "--root", ps.root, "container", "ls"]
    d_env, e_env = portside_env(ps, daemon=True), portside_env(ps, daemon=False)
    probe = subprocess.run(via_daemon, env=d_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    why = "" if probe.returncode == 0 else (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]
    timed(embedded, e_env)
    timed([DOCKER_CLI, "container", "ls"], dk_env)
    a: list[float] = []
    b: list[float] = []
    c: list[float] = []
    for _ in range(N):
        if not why:
            a.append(timed(via_daemon, d_env))
        b.append(timed(embedded, e_env))
        c.append(timed([DOCKER_CLI, "container", "ls"], dk_env))
    return (a or None), b, c, why


def write_results(lines: list[str]) -> None:
    """Replace (or add) this bench's section of bench/results.md, between its two markers."""
    start, end = "<!-- bench/api.py -->", "<!-- /bench/api.py -->"
    path = os.path.join(HERE, "results.md")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    import platform
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join([start, "## Docker Engine API: Portside's daemon vs dockerd (`bench/api.py`)", "",
                         f"{when} · Linux {platform.release()} · {os.cpu_count()} CPUs · Python "
                         f"{platform.python_version()} · N={N} · medians, p90 in brackets · load average at the end "
                         f"{os.getloadavg()[0]:.2f} (the engines are timed in turn, so outside load hits both alike)",
                         "", *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


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
            results.append(row(title, a, b, {"ps": "≤ 1.0", "run": "≤ 0.5"}.get(args[0], "")))
        ls_daemon, ls_embedded, ls_docker, why = container_ls(ps, dk.env)
        cli_name = "portside" if len(portside_cli()) == 1 else "python -m tui.cli"
        B.log("100 containers each for GET /containers/json")
        for env in (ps.env, dk.env):
            for _ in range(95):  # 5 are there already
                B.sh([DOCKER_CLI, "create", "--network", "none", "busybox", "true"], env=env)
        rates = {}
        for name, sock in (("portside", ps.sock), ("docker", dk.sock)):
            api_rate(sock, "/containers/json?all=1", 10)  # warm-up
            rates[name] = api_rate(sock, "/containers/json?all=1", max(N * 5, 100))
        per_s = {k: len(v) / sum(v) for k, v in rates.items()}
        p99 = {k: B.pct(v, 0.99) for k, v in rates.items()}
        lines = ["| command (same docker CLI 28) | portside daemon | dockerd | ratio (portside/docker) | target |",
                 "|---|---|---|---|---|", *results,
                 "", "| `GET /containers/json?all=1`, 100 containers, one keep-alive connection | portside daemon "
                 "| dockerd | ratio (portside/docker) | target |", "|---|---|---|---|---|",
                 f"| requests/s | {per_s['portside']:.0f} | {per_s['docker']:.0f} | "
                 f"{per_s['portside'] / per_s['docker']:.2f} | ≥ 1.0 |",
                 f"| p99 | {p99['portside'] * 1000:.1f} ms | {p99['docker'] * 1000:.1f} ms"
                 f" | {p99['portside'] / p99['docker']:.2f} | ≤ 1.0 |",
                 "", f"| `container ls` (nothing running; portside as `{cli_name}`) | time | ratio to "
                 "`docker container ls` | target |",
                 "|---|---|---|---|",
                 f"| `portside container ls` through the daemon (`-H unix://…`) | "
                 f"{cell(ls_daemon) if ls_daemon else 'not measured: ' + why} | {ratio(ls_daemon, ls_docker)} | ≤ 2.0 |",
                 f"| `portside container ls` embedded (no daemon) | {cell(ls_embedded)} | "
                 f"{ratio(ls_embedded, ls_docker)} | |",
                 f"| `docker container ls` on dockerd | {cell(ls_docker)} | 1.00 | |"]
        print("\n".join(lines))
        if "--write" in sys.argv[1:]:
            write_results(lines)
        return 0
    finally:
        try:
            ps.stop()
            sys.path.insert(0, REPO)
            from engine.network import host_teardown
            host_teardown(ps.root)  # the data root's bridges and rules
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
