"""Swarm mode side by side: Portside's swarm and stacks (through ``portside daemon``) against docker's swarm
on a private dockerd, measured in the same run (as root).

    .venv/bin/python bench/swarm.py              # the default run: a few minutes
    .venv/bin/python bench/swarm.py --write      # and put the table in bench/results.md (its own section)
    .venv/bin/python bench/swarm.py --cycles 200 # the long deploy/rm leak check (default BENCH_SWARM_CYCLES=3)
    BENCH_ENGINES=portside .venv/bin/python bench/swarm.py   # one side only
    .venv/bin/python bench/swarm.py --only cycles --cycles 20  # some figures only (stack,replicas,replaced,load,cycles)

docker: bench/run.py's ``SwarmDockerD`` — dockerd (Debian's docker.io) in a network namespace of its own
(lo up with 192.0.2.10, its bridges, iptables rules and swarm ports stay there), ``swarm init
--advertise-addr 192.0.2.10``; clients reach its ports from inside that netns (a socket made there).
Portside: ``portside daemon`` on a socket under the folder, over a private data root, driven by the
``portside`` CLI with ``-H unix://…`` (``swarm init``, ``stack deploy``, ``service create``…, docker's
syntax). Both get the same busybox rootfs as ``busybox-web`` (httpd on port 80 answering its hostname).

What is measured (issue figures; N = ``BENCH_N``, default 3, interleaved docker/portside):
- the guide's compose file (its image replaced by busybox-web, its published port 80 by a free one) by
  ``stack deploy --resolve-image never`` until 5/5 tasks run and each answers in its own netns; then
  ``stack rm`` until no service, task container or stack network is left;
- ``service create --replicas 100`` until 100 task containers run; with them running, the manager's
  memory (docker: dockerd + containerd RSS and the shims' PSS; Portside: the daemon's RSS and the
  monitors' PSS) and CPU over ``BENCH_SWARM_IDLE`` seconds (default 10);
- a killed replica (SIGKILL through the API) replaced and answering on the published port, restart
  delay 0 and docker's default (5 s): the page names the new container;
- requests/s (new connection per request, HTTP/1.0, ``BENCH_NET_PROCS`` processes for
  ``BENCH_SWARM_LOAD`` seconds) through the published service port and straight to one replica;
- a replica killed every second for ``BENCH_SWARM_KILL`` seconds (default 30) under the client loop:
  the share of requests that succeed;
- ``--cycles`` deploy/converge/rm cycles: what is left after them and whether the next deploy converges.
docker's ingress (the routing mesh) needs IPVS, which this kernel lacks: its ingress ports are tried
and reported as not answering; docker's per-replica figures use ``mode: host`` published ports.
Whatever Portside's CLI cannot do yet is reported as n/a with the command's own error line.
Afterwards: swarm leave --force on both, both daemons stopped by pid, the netns deleted, mounts under
the folder unmounted, the folder removed.
"""

from __future__ import annotations

import abc
import argparse
import http.client
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (bench/run.py's engine helpers)


def _api_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portside_bench_api", os.path.join(HERE, "api.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


N = int(os.environ.get("BENCH_N", "3"))
CYCLES = int(os.environ.get("BENCH_SWARM_CYCLES", "3"))
IDLE_SECONDS = float(os.environ.get("BENCH_SWARM_IDLE", "10"))
LOAD_SECONDS = float(os.environ.get("BENCH_SWARM_LOAD", "5"))
KILL_SECONDS = float(os.environ.get("BENCH_SWARM_KILL", "30"))
PROCS = int(os.environ.get("BENCH_NET_PROCS", "2"))
REPLICAS = int(os.environ.get("BENCH_SWARM_REPLICAS", "100"))
ENGINES = [e.strip() for e in os.environ.get("BENCH_ENGINES", "portside,docker").split(",") if e.strip()]
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")
WEB_IMAGE = "busybox-web:latest"
WEB_CMD = '["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]'
STACK = "getstartedlab"
SERVICE = f"{STACK}_web"
TIMEOUT = 120.0  # the longest any one wait may take
PORT_TIMEOUT = 30.0  # for a new service's published port to answer at all
log = B.log

GUIDE_FILE = """version: "3"
services:
  web:
    # replace username/repo:tag with your name and image details
    image: {image}
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "{port}:80"
    networks:
      - webnet
networks:
  webnet:
"""


class Unsupported(Exception):
    """The engine cannot do this (its own one-line reason)."""


# -- the Docker Engine API over a unix socket, and HTTP to a published port -------------------------
def api(sock: str, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(sock)
    conn = Conn("localhost", timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status >= 400:
            raise B.CmdError(f"{method} {path}: {resp.status} {raw.decode(errors='replace').strip()[:200]}")
        return json.loads(raw) if raw.strip() else None
    finally:
        conn.close()


def free_port() -> int:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


def label_filter(*labels: str) -> str:
    return urllib.parse.quote(json.dumps({"label": list(labels)}))


def http_get(sock: socket.socket, host: str, port: int, timeout: float = 2.0) -> str:
    """GET / on a connected-to-be socket: the page (the answering container's hostname), '' on failure."""
    sock.settimeout(timeout)
    try:
        sock.connect((host, port))
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        return ""
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode(errors="replace").strip() if b" 200 " in head.split(b"\r\n", 1)[0] else ""


# -- the two sides --------------------------------------------------------------------------------
class Side(abc.ABC):
    name = ""

    def __init__(self) -> None:
        self.sock = ""
        self.env: dict[str, str] = {}
        self.error = ""
        self.pub_host = "127.0.0.1"
        self.netns_path = ""  # where clients of published ports run ('' = the host)
        self.notes: list[str] = []

    @abc.abstractmethod
    def cli(self) -> list[str]:
        """The command that runs this side's CLI."""

    def run(self, *args: str, timeout: float = TIMEOUT, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = B.sh([*self.cli(), *args], env=self.env, cwd=REPO, timeout=timeout, check=False)
        if check and p.returncode != 0:
            why = (p.stderr or p.stdout).strip().splitlines()
            raise Unsupported(f"`{self.name} {' '.join(args[:3])}` exited {p.returncode}: "
                              f"{why[-1] if why else ''}".strip())
        return p

    def client_socket(self) -> socket.socket:
        return B.socket_in(self.netns_path) if self.netns_path else socket.socket()

    def get(self, port: int, timeout: float = 2.0) -> str:
        return http_get(self.client_socket(), self.pub_host, port, timeout)

    def running(self, *labels: str) -> list[dict[str, Any]]:
        return list(api(self.sock, "GET", f"/containers/json?filters={label_filter(*labels)}") or [])

    def pid_of(self, cid: str) -> int:
        return int(api(self.sock, "GET", f"/containers/{cid}/json")["State"]["Pid"])

    def answers_inside(self, cid: str, pids: dict[str, int]) -> bool:
        """The container's server answers on 127.0.0.1:80 in its own netns."""
        if cid not in pids:
            pids[cid] = self.pid_of(cid)
        try:
            s = B.socket_in(f"/proc/{pids[cid]}/ns/net")
        except OSError:
            return False
        return bool(http_get(s, "127.0.0.1", 80, 1.0))

    def kill(self, cid: str) -> None:
        api(self.sock, "POST", f"/containers/{cid}/kill?signal=KILL")

    def stack_left(self) -> list[str]:
        """What of the stack is still there: services, containers, networks."""
        left = [f"service {s['Spec']['Name']}" for s in api(self.sock, "GET", "/services") or []
                if s["Spec"]["Name"].startswith(STACK + "_")]
        left += [f"container {c['Id'][:12]}" for c in
                 api(self.sock, "GET", f"/containers/json?all=1&filters={label_filter('com.docker.stack.namespace=' + STACK)}")
                 or []]
        left += [f"network {n['Name']}" for n in api(self.sock, "GET", "/networks") or []
                 if n["Name"].startswith(STACK + "_")]
        return left

    @abc.abstractmethod
    def manager_processes(self, cids: list[str]) -> tuple[list[int], list[int]]:
        """(daemon pids, per-container helper pids) for the memory and CPU figures."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the daemon."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Leave its swarm, stop the daemon, remove what it made."""

    def publish(self, published: int, *, one_per_task: bool = False) -> list[str]:
        """``service create`` flags publishing target 80 on ``published``."""
        return ["--publish", f"{published}:80"]


class Docker(Side):
    name = "docker"

    def __init__(self, tmp: str) -> None:
        super().__init__()
        self.d = B.SwarmDockerD(tmp, f"psbsw{os.getpid() % 100000}")
        self.d.env["PATH"] = os.path.dirname(DOCKER_CLI) + os.pathsep + self.d.env.get("PATH", "/usr/bin:/bin")
        self.sock, self.env = self.d.sock, self.d.env
        self.pub_host, self.netns_path = self.d.addr, self.d.ns.path

    def cli(self) -> list[str]:
        return [DOCKER_CLI]

    def start(self) -> None:
        self.d.start()
        self.notes.append(f"dockerd up in {self.d.timings['dockerd']:.1f} s, swarm init {self.d.timings['swarm init']:.1f} s")

    def stop(self) -> None:
        self.d.stop()
        if getattr(self.d, "logf", None) is not None:
            self.d.logf.close()

    def publish(self, published: int, *, one_per_task: bool = False) -> list[str]:
        # the routing mesh needs IPVS: a replica answers only on a host-mode port
        if one_per_task:
            return ["--publish", f"mode=host,published={published},target=80"]
        return ["--publish", f"{published}:80"]

    def manager_processes(self, cids: list[str]) -> tuple[list[int], list[int]]:
        daemons = [self.d.pid, *B.children_of(self.d.pid)]
        shims = sorted({B.ppid_of(self.pid_of(c)) for c in cids})
        return daemons, shims


class Portside(Side):
    name = "portside"

    def __init__(self, tmp: str) -> None:
        super().__init__()
        self.pd = _api_module().PortsideDaemon(tmp)
        self.sock = self.pd.sock
        self.env = {k: v for k, v in self.pd.env.items() if k not in ("DOCKER_HOST", "PORTSIDE_ROOT")}

    def cli(self) -> list[str]:
        return [sys.executable, "-m", "tui.cli", "-H", f"unix://{self.sock}"]

    def start(self) -> None:
        self.pd.start()

    def stop(self) -> None:
        if self.pd.proc is not None and self.pd.proc.poll() is None:
            self.run("swarm", "leave", "--force", timeout=120, check=False)
        try:
            self.pd.stop()
        finally:
            sys.path.insert(0, REPO)
            from engine.network import host_teardown
            host_teardown(self.pd.root)  # the data root's bridges and rules

    def manager_processes(self, cids: list[str]) -> tuple[list[int], list[int]]:
        assert self.pd.proc is not None
        # the monitors' template (engine/runtime/forkserver.py) shares its pages with them: a helper (PSS),
        # as they are; the daemon's other children (none at rest) count with it
        children = B.children_of(self.pd.proc.pid)
        template = [p for p in children if b"forkserver" in _cmdline(p)]
        daemons = [self.pd.proc.pid, *(p for p in children if p not in template)]
        monitors = sorted({B.ppid_of(self.pid_of(c)) for c in cids} - set(daemons))
        return daemons, monitors + template


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


# -- waits ----------------------------------------------------------------------------------------
def wait_until(what: str, cond: Callable[[], bool], timeout: float = TIMEOUT, step: float = 0.05) -> float:
    """Seconds until ``cond()`` holds (polled every ``step``); CmdError after ``timeout``."""
    t = time.perf_counter()
    while not cond():
        if time.perf_counter() - t > timeout:
            raise B.CmdError(f"{what}: not within {timeout:.0f} s")
        time.sleep(step)
    return time.perf_counter() - t


def all_answering(side: Side, service: str, want: int, pids: dict[str, int]) -> bool:
    cs = side.running(f"com.docker.swarm.service.name={service}")
    return len(cs) == want and all(side.answers_inside(c["Id"], pids) for c in cs)


# -- the figures ----------------------------------------------------------------------------------
class Figures:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, list[float] | None], str, str]] = []
        self.why: dict[tuple[str, str], str] = {}  # (metric, side) -> why n/a

    def add(self, metric: str, unit: str, values: dict[str, list[float] | None], target: str, note: str = "") -> None:
        self.rows.append((metric, unit, values, target, note))


def guarded(fig: Figures, metric: str, side: Side, fn: Callable[[], list[float]]) -> list[float] | None:
    if side.error:
        fig.why[(metric, side.name)] = side.error
        return None
    try:
        log(f"{metric} [{side.name}]")
        return fn()
    except (Unsupported, B.CmdError, OSError, KeyError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else repr(exc)
        log(f"{metric} [{side.name}]: n/a: {why}")
        fig.why[(metric, side.name)] = why
        return None


def deploy_and_rm(side: Side, compose: str, n: int) -> tuple[list[float], list[float]]:
    up: list[float] = []
    down: list[float] = []
    for _ in range(n):
        pids: dict[str, int] = {}
        t = time.perf_counter()
        side.run("stack", "deploy", "--resolve-image", "never", "-c", compose, STACK)
        wait_until(f"{SERVICE} 5/5 answering", lambda: all_answering(side, SERVICE, 5, pids))
        up.append(time.perf_counter() - t)
        t = time.perf_counter()
        side.run("stack", "rm", STACK)
        wait_until(f"{STACK} gone", lambda: not side.stack_left(), step=0.1)
        down.append(time.perf_counter() - t)
    return up, down


def ingress_answers(side: Side, port: int, seconds: float = 2.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if side.get(port, 0.5):
            return True
        time.sleep(0.1)
    return False


def replaced(side: Side, port: int, delay: str | None, n: int) -> list[float]:
    """Seconds from SIGKILL of the only replica to its replacement answering on the published port."""
    name = f"kill{'0' if delay else 'd'}"
    args = ["service", "create", "-q", "--detach", "--no-resolve-image", "--name", name, "--replicas", "1",
            *side.publish(port, one_per_task=True), *(["--restart-delay", delay] if delay else []), WEB_IMAGE]
    side.run(*args)
    out = []
    try:
        wait_until(f"{name}'s published port {port} answering", lambda: bool(side.get(port, 0.5)), PORT_TIMEOUT)
        for _ in range(n):
            old = side.get(port)  # the page is the answering container's hostname
            wait_until(f"{name}: one task", lambda: len(side.running(f"com.docker.swarm.service.name={name}")) == 1)
            victim = side.running(f"com.docker.swarm.service.name={name}")[0]["Id"]
            t = time.perf_counter()
            side.kill(victim)
            wait_until(f"{name} replaced", lambda: side.get(port, 0.5) not in ("", old), step=0.02)
            out.append(time.perf_counter() - t)
    finally:
        side.run("service", "rm", name, check=False)
        wait_until(f"{name} gone", lambda: not side.running(f"com.docker.swarm.service.name={name}"), step=0.1)
    return out


def _load_worker(netns: str, host: str, port: int, seconds: float, q: Any) -> None:
    if netns:
        B._setns_path(netns, B.NetNS.CLONE_NEWNET)
    ok = bad = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if http_get(socket.socket(), host, port, 2.0):
            ok += 1
        else:
            bad += 1
    q.put((ok, bad))


def load(netns: str, host: str, port: int, seconds: float) -> tuple[float, int, int]:
    """(requests/s, ok, failed) of PROCS processes each opening a connection per request."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_load_worker, args=(netns, host, port, seconds, q)) for _ in range(PROCS)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    res = [q.get(timeout=seconds + 60) for _ in procs]
    wall = time.perf_counter() - t
    for p in procs:
        p.join(10)
    ok, bad = sum(r[0] for r in res), sum(r[1] for r in res)
    return ok / wall, ok, bad


def replica_address(side: Side, cid: str) -> str:
    """The replica's address on its network (the ingress network's when it has no other)."""
    nets = api(side.sock, "GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]
    addrs = sorted((name == "ingress", str(net["IPAddress"])) for name, net in nets.items() if net.get("IPAddress"))
    if not addrs:
        raise B.CmdError(f"{cid[:12]}: no address on any network")
    return addrs[0][1]


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            fields = data[data.rindex(b")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total


def idle_figures(side: Side, cids: list[str]) -> tuple[float, float, float]:
    """(daemons' RSS MiB, per-container helpers' PSS MiB, % of one core over IDLE_SECONDS)."""
    daemons, helpers = side.manager_processes(cids)
    rss = sum(B.rss_kb(p)[0] for p in daemons) / 1024
    pss = sum(B.rss_kb(p)[1] for p in helpers) / 1024
    hz = os.sysconf("SC_CLK_TCK")
    a = cpu_ticks(daemons + helpers)
    time.sleep(IDLE_SECONDS)
    b = cpu_ticks(daemons + helpers)
    return rss, pss, 100.0 * (b - a) / hz / IDLE_SECONDS


def leftovers(side: Side) -> dict[str, int]:
    """Counts that must come back to where they started after deploy/rm cycles."""
    out = {"containers": len(api(side.sock, "GET", "/containers/json?all=1") or []),
           "services": len(api(side.sock, "GET", "/services") or []),
           "networks": len(api(side.sock, "GET", "/networks") or [])}
    try:
        out["ingress endpoints"] = len(api(side.sock, "GET", "/networks/ingress").get("Containers") or {})
    except B.CmdError:
        pass
    if isinstance(side, Docker):
        out["netns interfaces"] = len(B.sh(["ip", "-n", side.d.ns.name, "-o", "link"]).stdout.splitlines())
    return out


# -- the run --------------------------------------------------------------------------------------
def fmt(v: list[float] | None, unit: str) -> str:
    if not v:
        return "n/a"
    med = statistics.median(v)
    spread = f" (of {len(v)}: {min(v):.2f}–{max(v):.2f})" if len(v) > 1 else ""
    if unit == "s":
        return f"{med:.2f} s" + spread
    if unit == "%":
        return f"{med:.2f} %"
    if unit == "×":
        return f"{med:.2f}"
    if unit == "MiB":
        return f"{med:.0f} MiB"
    return f"{med:.0f}" + (f" {unit}" if unit else "")


def render(fig: Figures, sides: list[Side], cycles: int) -> list[str]:
    lines = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · Linux {platform.release()} · "
             f"{os.cpu_count()} CPUs · Python {platform.python_version()} · N={N}, cycles={cycles}, "
             f"{REPLICAS} replicas · medians · load average at the end {os.getloadavg()[0]:.2f}", ""]
    for s in sides:
        lines.append(f"- {s.name}: " + ("n/a: " + s.error if s.error else "; ".join(s.notes) or "ok"))
    lines += ["", "| metric | portside | docker | ratio (portside/docker) | target |", "|---|---|---|---|---|"]
    notes: list[str] = []  # why a cell is n/a, each reason once
    broken = {s.name for s in sides if s.error}
    for metric, unit, values, target, note in fig.rows:
        cells = []
        for name in ("portside", "docker"):
            c = fmt(values.get(name), unit)
            why = fig.why.get((metric, name))
            if c == "n/a" and why and name not in broken:
                if f"{name}: {why}" not in notes:
                    notes.append(f"{name}: {why}")
                c = f"n/a [{notes.index(f'{name}: {why}') + 1}]"
            cells.append(c)
        p, d = values.get("portside"), values.get("docker")
        r = f"{statistics.median(p) / statistics.median(d):.2f}" if p and d and statistics.median(d) else "n/a"
        lines.append(f"| {metric}{' (' + note + ')' if note else ''} | {cells[0]} | {cells[1]} | {r} | {target} |")
    if notes:
        lines += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return lines


def write_results(lines: list[str], part: str = "") -> None:
    """Replace (or add) this bench's section of bench/results.md, between its two markers (a run of some
    figures only, ``part``, has a section of its own)."""
    tag = f"bench/swarm.py{' --only ' + part if part else ''}"
    start, end = f"<!-- {tag} -->", f"<!-- /{tag} -->"
    path = os.path.join(HERE, "results.md")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    section = "\n".join([start, f"## Swarm mode: Portside's daemon vs docker's swarm (`{tag}`)", "",
                         *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def prepare(side: Side, tar: str) -> None:
    """Start the side, load the two images, init its swarm."""
    side.start()
    side.run("import", "-c", 'CMD ["sh"]', tar, "busybox:latest")
    side.run("import", "-c", f"CMD {WEB_CMD}", "-c", "EXPOSE 80/tcp", tar, WEB_IMAGE)
    if isinstance(side, Portside):
        side.run("swarm", "init")


M_DEPLOY = "`stack deploy` of the guide's file until 5/5 tasks answer"
M_RM = "`stack rm` of that stack until nothing is left"
M_MANY = f"`service create --replicas {REPLICAS}` until {REPLICAS} run"
M_RSS = f"daemons' RSS with {REPLICAS} replicas (dockerd+containerd / portside daemon)"
M_PSS = "per-task helpers' PSS, summed (shims / monitors and their template)"
M_MEM = f"manager memory with {REPLICAS} replicas: the daemons' RSS + the helpers' PSS"
M_CPU = f"CPU at rest with {REPLICAS} replicas over {IDLE_SECONDS:.0f} s, daemons + helpers (% of a core)"
M_KILL0 = "killed replica replaced and answering on the published port, restart delay 0"
M_KILLD = "killed replica replaced and answering on the published port, default restart delay (5 s)"
M_RPS_PORT = "requests/s through the published service port (5 replicas)"
M_RPS_ONE = "requests/s straight to one replica"
M_RPS_RATIO = "published port ÷ one replica (requests/s)"
M_KILLS = f"requests that succeed while a replica is killed every second for {KILL_SECONDS:.0f} s"
M_LEFT = "objects left over after the deploy/rm cycles"
M_NEXT = "the next deploy until 5/5 answer"
NO_INGRESS = "its ingress port does not answer (the routing mesh needs IPVS, which this kernel lacks)"


FIGURES = ("stack", "replicas", "replaced", "load", "cycles")


def measure(sides: list[Side], tmp: str, cycles: int, only: tuple[str, ...] = FIGURES) -> Figures:
    fig = Figures()
    v: dict[str, dict[str, list[float] | None]] = {}

    def put(metric: str, side: Side, values: list[float] | None, why: str = "") -> None:
        v.setdefault(metric, {})[side.name] = values
        if values is None and why:
            fig.why.setdefault((metric, side.name), why)

    compose = os.path.join(tmp, "stack", "docker-compose.yml")
    os.makedirs(os.path.dirname(compose))
    with open(compose, "w") as f:
        f.write(GUIDE_FILE.format(image=WEB_IMAGE, port=free_port()))

    # 1. the guide's stack: deploy to 5/5 answering, rm until nothing is left
    for s in (sides if "stack" in only else []):
        def stack(s: Side = s) -> list[float]:  # deploy and rm times, alternating
            return [x for pair in zip(*deploy_and_rm(s, compose, N)) for x in pair]
        res = guarded(fig, M_DEPLOY, s, stack)
        put(M_DEPLOY, s, res[0::2] if res else None)
        put(M_RM, s, res[1::2] if res else None, fig.why.get((M_DEPLOY, s.name), ""))

    # 2. REPLICAS replicas to REPLICAS/REPLICAS, then the manager at rest with them
    for s in (sides if "replicas" in only else []):
        def many(s: Side = s) -> list[float]:
            t = time.perf_counter()
            s.run("service", "create", "-q", "--detach", "--no-resolve-image", "--name", "many",
                  "--replicas", str(REPLICAS), WEB_IMAGE)
            wait_until(f"many {REPLICAS}/{REPLICAS}",
                       lambda: len(s.running("com.docker.swarm.service.name=many")) == REPLICAS, step=0.1)
            return [time.perf_counter() - t]
        try:
            put(M_MANY, s, guarded(fig, M_MANY, s, many))
            rest = None
            if v[M_MANY][s.name]:
                time.sleep(3)  # let the last starts settle
                cids = [c["Id"] for c in s.running("com.docker.swarm.service.name=many")]
                rest = idle_figures(s, cids)
            why = fig.why.get((M_MANY, s.name), "")
            for m, i in ((M_RSS, 0), (M_PSS, 1), (M_CPU, 2)):
                put(m, s, [rest[i]] if rest else None, why)
            put(M_MEM, s, [rest[0] + rest[1]] if rest else None, why)
        finally:
            if not s.error:
                s.run("service", "rm", "many", check=False)
                try:
                    wait_until("many gone", lambda: not s.running("com.docker.swarm.service.name=many"), step=0.2)
                except B.CmdError as exc:
                    log(f"{s.name}: {exc}")

    # 3. a killed replica replaced and answering on the published port
    for delay, metric in (("0s", M_KILL0), (None, M_KILLD)):
        for s in (sides if "replaced" in only else []):
            def kill(s: Side = s, delay: str | None = delay) -> list[float]:
                return replaced(s, free_port(), delay, N if delay else max(1, N - 1))
            put(metric, s, guarded(fig, metric, s, kill))

    # 4 + 5. requests/s through the published port vs one replica; a replica killed every second
    for s in (sides if "load" in only else []):
        for m in (M_RPS_PORT, M_RPS_ONE, M_KILLS):
            put(m, s, None, s.error)
        if s.error:
            continue
        pport, hport = free_port(), free_port()
        try:
            s.run("service", "create", "-q", "--detach", "--no-resolve-image", "--name", "lb", "--replicas", "5",
                  "--restart-delay", "0s", *s.publish(pport), WEB_IMAGE)
            if isinstance(s, Docker):  # from its node, a docker replica is reached only on a mode=host port
                s.run("service", "create", "-q", "--detach", "--no-resolve-image", "--name", "one", "--replicas", "1",
                      *s.publish(hport, one_per_task=True), WEB_IMAGE)
                wait_until(f"one's published port {hport} answering", lambda: bool(s.get(hport, 0.5)), PORT_TIMEOUT)
            pids: dict[str, int] = {}
            wait_until("lb 5/5 answering", lambda: all_answering(s, "lb", 5, pids))
            ingress = ingress_answers(s, pport)
            s.notes.append(f"ingress port answers: {'yes' if ingress else 'no'}")
            if ingress:
                log(f"{M_RPS_PORT} [{s.name}]")
                put(M_RPS_PORT, s, [load(s.netns_path, s.pub_host, pport, LOAD_SECONDS)[0]])
            else:
                fig.why[(M_RPS_PORT, s.name)] = fig.why[(M_KILLS, s.name)] = NO_INGRESS
            log(f"{M_RPS_ONE} [{s.name}]")
            if isinstance(s, Portside):  # straight to one replica: its address on its network
                cid = s.running("com.docker.swarm.service.name=lb")[0]["Id"]
                put(M_RPS_ONE, s, [load("", replica_address(s, cid), 80, LOAD_SECONDS)[0]])
            else:
                put(M_RPS_ONE, s, [load(s.netns_path, s.pub_host, hport, LOAD_SECONDS)[0]])
            if ingress:
                log(f"{M_KILLS} [{s.name}]")
                put(M_KILLS, s, [kill_loop(s, pport)])
        except (Unsupported, B.CmdError, OSError, KeyError, IndexError) as exc:
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else repr(exc)
            log(f"{s.name}: load figures: {why}")
            for m in (M_RPS_PORT, M_RPS_ONE, M_KILLS):
                fig.why.setdefault((m, s.name), why)
        finally:
            s.run("service", "rm", "lb", *(["one"] if isinstance(s, Docker) else []), check=False)
            try:
                wait_until("lb, one gone", lambda: not s.running("com.docker.swarm.service.name=lb")
                           and not s.running("com.docker.swarm.service.name=one"), step=0.2)
            except B.CmdError as exc:
                log(f"{s.name}: {exc}")

    # 6. deploy/rm cycles: nothing left, and the next deploy still converges
    for s in (sides if "cycles" in only else []):
        def cyc(s: Side = s) -> list[float]:
            # the removed services' task containers go in the background: count from when they are gone
            wait_until("the earlier tasks' containers gone", lambda: not api(
                s.sock, "GET", f"/containers/json?all=1&filters={label_filter('com.docker.swarm.task.id')}"), step=0.2)
            before = leftovers(s)
            deploy_and_rm(s, compose, cycles)
            after = leftovers(s)
            grew = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
            s.notes.append(f"after {cycles} deploy/rm cycles: " +
                           (", ".join(f"{k} {d:+d}" for k, d in grew.items()) if grew else "nothing left over"))
            up, _ = deploy_and_rm(s, compose, 1)
            put(M_NEXT, s, up)
            return [float(sum(max(0, d) for d in grew.values()))]
        put(M_LEFT, s, guarded(fig, M_LEFT, s, cyc))
        put(M_NEXT, s, v.get(M_NEXT, {}).get(s.name), fig.why.get((M_LEFT, s.name), ""))

    for s in (sides if "load" in only else []):
        port, one = v.get(M_RPS_PORT, {}).get(s.name), v.get(M_RPS_ONE, {}).get(s.name)
        put(M_RPS_RATIO, s, [port[0] / one[0]] if port and one else None,
            fig.why.get((M_RPS_PORT, s.name)) or fig.why.get((M_RPS_ONE, s.name)) or "")
    for metric, unit, target, note in (
            (M_DEPLOY, "s", "≤ ⅓ of docker", ""),
            (M_RM, "s", "≤ ½ of docker", "httpd as PID 1 never gets SIGTERM: docker waits its 10 s grace period, Portside kills it at once"),
            (M_MANY, "s", "≤ 5 s", ""), (M_RSS, "MiB", "", ""),
            (M_PSS, "MiB", "", ""), (M_MEM, "MiB", "≤ ½ of docker", ""), (M_CPU, "%", "≤ ½ of docker", ""),
            (M_KILL0, "s", "≤ 0.5 s", "docker: a mode=host port"), (M_KILLD, "s", "", "docker: a mode=host port"),
            (M_RPS_PORT, "req/s", "within 20 % of one replica", f"{PROCS} clients, a connection per request"),
            (M_RPS_ONE, "req/s", "", "docker: its mode=host port"), (M_RPS_RATIO, "×", "≥ 0.8", ""),
            (M_KILLS, "%", "≥ 99 %", ""),
            (M_LEFT, "", "0", f"{cycles} cycles"), (M_NEXT, "s", "converges", "")):
        if metric in v:
            fig.add(metric, unit, v[metric], target, note)
    return fig


def kill_loop(side: Side, port: int) -> float:
    """Share (%) of requests through ``port`` that succeed while one replica of "lb" is killed every second."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_load_worker, args=(side.netns_path, side.pub_host, port, KILL_SECONDS, q))
             for _ in range(PROCS)]
    for p in procs:
        p.start()
    end = time.monotonic() + KILL_SECONDS
    kills = 0
    while time.monotonic() < end:
        t = time.monotonic()
        cs = side.running("com.docker.swarm.service.name=lb")
        if cs:
            try:
                side.kill(random.choice(cs)["Id"])
                kills += 1
            except B.CmdError:
                pass
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
    res = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    ok, bad = int(sum(r[0] for r in res)), int(sum(r[1] for r in res))
    side.notes.append(f"kill loop: {kills} replicas killed, {ok} requests ok, {bad} failed")
    return 100.0 * ok / max(1, ok + bad)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="put the table in bench/results.md")
    ap.add_argument("--cycles", type=int, default=CYCLES, help=f"deploy/rm cycles for the leak check (default {CYCLES})")
    ap.add_argument("--only", default=",".join(FIGURES), help=f"which figures, of {','.join(FIGURES)} (default all)")
    args = ap.parse_args()
    only = tuple(f.strip() for f in args.only.split(",") if f.strip())
    if not only or set(only) - set(FIGURES):
        ap.error(f"--only: unknown figure {', '.join(sorted(set(only) - set(FIGURES))) or '(none given)'}; "
                 f"choose from {','.join(FIGURES)}")
    if platform.system() != "Linux" or os.geteuid() != 0:
        print("bench/swarm.py needs root on Linux", file=sys.stderr)
        return 2
    before = B.host_leftovers_before()
    tmp = tempfile.mkdtemp(prefix="ps-bsw-", dir="/tmp")  # short: unix socket paths must stay < 108 bytes
    sides: list[Side] = [side(tmp) for side in (Portside, Docker) if side.name in ENGINES]
    try:
        tar = os.path.join(tmp, "rootfs.tar")
        B.make_rootfs_tar(tar)
        for s in sides:
            try:
                log(f"starting {s.name}")
                prepare(s, tar)
            except Exception as exc:  # noqa: BLE001 - that side is n/a, the other one goes on
                s.error = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
                log(f"{s.name}: n/a: {s.error}")
        if all(s.error for s in sides):
            raise SystemExit("neither side could start: " + "; ".join(f"{s.name}: {s.error}" for s in sides))
        fig = measure(sides, tmp, args.cycles, only)
    finally:
        for s in reversed(sides):
            try:
                s.stop()
            except Exception as exc:  # noqa: BLE001 - the other side is still stopped
                log(f"stopping {s.name}: {exc}")
        left = B.unmount_all_under(tmp)
        if left:
            log(f"still mounted, so {tmp} is kept: {left[:5]}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        B.remove_host_leftovers(before)
    lines = render(fig, sides, args.cycles)
    print("\n".join(lines))
    if args.write:
        write_results(lines, "" if only == FIGURES else ",".join(only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
