"""Side-by-side benchmark: Portside against docker and podman, measured in the same run.

    make bench              # or: .venv/bin/python bench/run.py   (as root)

Every engine gets private state under one temporary folder: Portside a private ``PORTSIDE_ROOT``,
docker its own ``dockerd`` (private data root, exec root, socket and pid file; no iptables, no
bridge; dockerd starts its own containerd), podman ``--root``/``--runroot``/``--tmpdir``. The same
busybox rootfs tar (Debian's busybox-static plus applet links) is imported into each. At the end the
containers are removed, dockerd is stopped by its own pid, leftover mounts under the folder are
unmounted and the folder is deleted. Nothing talks to the network; containers run with
``--network none``.

Figures are medians and p90s over N repeats; the ratio column is portside/docker (medians). The
table is printed and written to ``bench/results.md``. ``BENCH_N`` sets N (default 20; cold builds 5);
``BENCH_ENGINES`` (e.g. ``portside,docker``) limits the peers.
"""

from __future__ import annotations

import abc
import asyncio
import ctypes
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
N = int(os.environ.get("BENCH_N", "20"))
N_BUILD = max(2, min(N, int(os.environ.get("BENCH_N_BUILD", "5"))))
N_CLIENT = max(N, 30)
N_IDLE = 10
BUDGET = float(os.environ.get("BENCH_BUDGET", "270"))  # seconds for the measuring part
ENGINES = [e.strip() for e in os.environ.get("BENCH_ENGINES", "portside,docker,podman").split(",") if e.strip()]
CMD_TIMEOUT = 60

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def over_budget() -> bool:
    return time.monotonic() - T0 > BUDGET


# -- process helpers ------------------------------------------------------------------------------
class CmdError(Exception):
    pass


def sh(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = CMD_TIMEOUT,
       check: bool = True, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    try:
        p = subprocess.run(argv, env=env, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CmdError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    except OSError as exc:
        raise CmdError(f"{argv[0]}: {exc}") from exc
    if check and p.returncode != 0:
        raise CmdError(f"exit {p.returncode}: {' '.join(argv)}\n{(p.stderr or p.stdout).strip()[-800:]}")
    return p


def timed(argv: list[str], **kw: Any) -> float:
    """Wall time of one command in seconds (raises CmdError when it fails)."""
    t = time.perf_counter()
    sh(argv, **kw)
    return time.perf_counter() - t


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) of a process in kB; (0, 0) when gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def ppid_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2:].split()[1])


def comm_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def children_of(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if ppid_of(int(d)) == pid:
                    out.append(int(d))
            except (OSError, ValueError):
                pass
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_pid(pid: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM one process by its pid, SIGKILL it after ``timeout``. ``proc``: it is our child (reap it)."""
    def alive() -> bool:
        return proc.poll() is None if proc is not None else pid_alive(pid)

    if pid <= 0 or not alive():
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and alive():
        time.sleep(0.05)
    if alive():
        log(f"pid {pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL")
        os.kill(pid, signal.SIGKILL)
        if proc is not None:
            proc.wait(timeout=10)


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def unmount_all_under(path: str) -> list[str]:
    """Unmount everything below ``path`` (deepest first); what is still mounted afterwards."""
    for _ in range(3):
        mps = mounts_under(path)
        if not mps:
            return []
        for mp in sorted(mps, key=lambda m: m.count("/"), reverse=True):
            subprocess.run(["umount", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        for mp in mounts_under(path):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    return mounts_under(path)


# Paths outside the private folder that dockerd 20.10, containerd and podman create regardless of
# their flags (the trust key, plugin and shim-socket dirs, runc's default root, containers/image's
# blob-info cache). Those that were not there before the run are removed afterwards: the files, then
# the folders if they are empty (never a folder someone else is still using).
HOST_FILES = ["/etc/docker/key.json", "/var/lib/containers/cache/blob-info-cache-v1.boltdb"]
HOST_DIRS = ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd", "/run/runc",
             "/run/containers/networks", "/run/containers", "/var/lib/containers/cache", "/var/lib/containers"]


def host_leftovers_before() -> set[str]:
    return {p for p in HOST_FILES + HOST_DIRS if os.path.lexists(p)}


def remove_host_leftovers(before: set[str]) -> list[str]:
    removed = []
    for p in HOST_FILES:
        if p not in before and os.path.isfile(p):
            os.unlink(p)
            removed.append(p)
    for p in HOST_DIRS:
        if p not in before and os.path.isdir(p):
            try:
                os.rmdir(p)
                removed.append(p)
            except OSError:
                pass
    return removed


# -- set-up ---------------------------------------------------------------------------------------
def apt_install(pkgs: list[str]) -> str:
    """Install missing Debian packages (services are not started: policy-rc.d says no)."""
    missing = [p for p in pkgs if subprocess.run(["dpkg", "-s", p], stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL).returncode != 0]
    if not missing:
        return ""
    if os.geteuid() != 0:
        return f"not root: cannot install {' '.join(missing)}"
    log(f"apt-get install {' '.join(missing)} (services kept from starting)")
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:  # keep the packages' init scripts from starting a host-wide dockerd/containerd
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(["apt-get", "update", "-qq"], env=env, timeout=300, check=False)
        sh(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env, timeout=600)
    except CmdError as exc:
        return str(exc)
    finally:
        if made_policy:
            os.unlink(policy)
    return ""


def make_rootfs_tar(path: str) -> None:
    """The engine's busybox rootfs (engine.images.bootstrap), the same tar for every engine measured."""
    sys.path.insert(0, REPO)
    from engine.images import bootstrap
    with open(path, "wb") as f:
        bootstrap.write_rootfs(f)


def make_context(path: str) -> None:
    os.makedirs(os.path.join(path, "app"), exist_ok=True)
    for i in range(3):
        with open(os.path.join(path, "app", f"file{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 100)
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write("FROM busybox\n"
                "WORKDIR /app\n"
                "COPY app/ /app/\n"
                "RUN echo built > /app/built.txt && cat /app/file*.txt | wc -l > /app/lines.txt\n"
                'CMD ["cat", "/app/built.txt"]\n')


# -- the engines ----------------------------------------------------------------------------------
class Engine(abc.ABC):
    name = ""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.error = ""   # why this engine is n/a
        self.note = ""    # e.g. which builder
        self.env = dict(os.environ)

    @abc.abstractmethod
    def cli(self) -> list[str]:
        """The command that runs this engine's CLI."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return sh([*self.cli(), *args], env=self.env, **kw)

    def t(self, *args: str, **kw: Any) -> float:
        return timed([*self.cli(), *args], env=self.env, **kw)

    def build_args(self, nocache: bool) -> list[str]:
        return ["build", *(["--no-cache"] if nocache else []), "-q", "-t", "benchapp"]

    @abc.abstractmethod
    def idle_memory(self, ids: list[str]) -> list[tuple[int, int, int]]:
        """(pid, rss kB, pss kB) of the per-container helper process of each id."""


class Portside(Engine):
    name = "portside"

    def __init__(self, tmp: str) -> None:
        super().__init__(tmp)
        self.root = os.path.join(tmp, "portside")
        os.makedirs(self.root)
        self.env["PORTSIDE_ROOT"] = self.root
        # measure what a user gets: byte-compiled modules, not a recompile of every edited file per call
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "tui"], cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        script = os.path.join(os.path.dirname(sys.executable), "portside")
        self._cli = [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "tui.cli"]

    def cli(self) -> list[str]:
        return self._cli

    def run(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return sh([*self.cli(), *args], env=self.env, cwd=REPO, **kw)

    def t(self, *args: str, **kw: Any) -> float:
        return timed([*self.cli(), *args], env=self.env, cwd=REPO, **kw)

    def idle_memory(self, ids: list[str]) -> list[tuple[int, int, int]]:
        out = []
        for cid in ids:
            full = self.run("inspect", "-f", "{{.Id}}", cid).stdout.strip()
            with open(os.path.join(self.root, "containers", full, "state.json")) as f:
                pid = int(json.load(f).get("monitor_pid") or 0)
            out.append((pid, *rss_kb(pid)))
        return out

    def stop(self) -> None:
        try:
            ids = self.run("ps", "-aq", timeout=30, check=False).stdout.split()
            if ids:
                self.run("rm", "-f", *ids, timeout=60, check=False)
        except CmdError as exc:
            log(f"portside cleanup: {exc}")


class NetNS:
    """A named network namespace made here (``ip netns add``): lo up, with ``addr``/32 on it.

    Nothing in it touches the host's interfaces or rules, and its rules go with it on ``delete()``.
    ``socket()`` makes a socket inside it (a socket keeps the netns it was made in), so a client on the
    host reaches a server listening in the namespace without any veth.
    """

    CLONE_NEWNET = 0x40000000

    def __init__(self, name: str, addr: str = "192.0.2.10") -> None:
        self.name, self.addr = name, addr
        self.path = f"/run/netns/{name}"
        self.made = False

    def add(self) -> None:
        sh(["ip", "netns", "add", self.name])
        self.made = True
        sh(["ip", "-n", self.name, "addr", "add", f"{self.addr}/32", "dev", "lo"])
        sh(["ip", "-n", self.name, "link", "set", "lo", "up"])

    def delete(self) -> None:
        if self.made and os.path.exists(self.path):
            sh(["ip", "netns", "delete", self.name], check=False)
        self.made = False

    def enter(self) -> None:
        """Move the calling thread into the netns for good (a forked load-generating process)."""
        _setns_path(self.path, self.CLONE_NEWNET)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        return socket_in(self.path, family, type)

    def connect(self, port: int, host: str = "", timeout: float = 5.0) -> socket.socket:
        s = self.socket()
        s.settimeout(timeout)
        try:
            s.connect((host or self.addr, port))
        except BaseException:
            s.close()
            raise
        return s


def socket_in(netns_path: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket made inside the network namespace at ``netns_path`` (``/run/netns/X``, ``/proc/PID/ns/net``);
    the calling thread is back in its own netns afterwards."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns_path(netns_path, NetNS.CLONE_NEWNET)
        try:
            return socket.socket(family, type)
        finally:
            _setns_fd(home, NetNS.CLONE_NEWNET)
    finally:
        os.close(home)


def _setns_fd(fd: int, nstype: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _setns_path(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns_fd(fd, nstype)
    finally:
        os.close(fd)


class DockerD(Engine):
    name = "docker"

    def __init__(self, tmp: str) -> None:
        super().__init__(tmp)
        self.base = os.path.join(tmp, "docker")
        self.sock = os.path.join(self.base, "docker.sock")
        self.pidfile = os.path.join(self.base, "docker.pid")
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.helper_pids: list[int] = []
        self.env.update(DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=os.path.join(self.base, "config"),
                        DOCKER_CLI_HINTS="false")
        self.env.pop("DOCKER_CONTEXT", None)
        self.builder = ""
        self.extra_args: list[str] = []  # more dockerd flags (e.g. a tcp+TLS listener, for a test)
        # the network flags: on the host dockerd touches nothing (no iptables, no bridge); inside a network
        # namespace of its own (``netns``, made by the caller) it may keep its defaults (bridge, iptables)
        self.net_args = ["--iptables=false", "--ip-masq=false", "--bridge=none", "--userland-proxy=false"]
        self.netns = ""  # run dockerd (and so containerd and the shims) in this named netns (/run/netns/NAME)

    def cli(self) -> list[str]:
        return ["docker"]

    def start(self) -> None:
        if not shutil.which("dockerd"):
            raise CmdError("dockerd is not installed")
        os.makedirs(os.path.join(self.base, "config"), exist_ok=True)
        cfg = os.path.join(self.base, "daemon.json")
        with open(cfg, "w") as f:
            f.write("{}\n")
        self.logf = open(os.path.join(self.base, "dockerd.log"), "wb")
        argv = ["dockerd", "--config-file", cfg,
                "--data-root", os.path.join(self.base, "data"), "--exec-root", os.path.join(self.base, "exec"),
                "-H", f"unix://{self.sock}", "--pidfile", self.pidfile, *self.net_args,
                "--log-level=warn", *self.extra_args]
        if self.netns:  # nsenter execs dockerd (same pid); only its netns differs (`ip netns exec` would hide the cgroups)
            argv = ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        end = time.monotonic() + 45
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise CmdError(f"dockerd exited {self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.sock) and sh(["docker", "version"], env=self.env, timeout=10,
                                                check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise CmdError(f"dockerd did not answer within 45 s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.base, "dockerd.log"), errors="replace") as f:
                return f.read()[-600:].strip()
        except OSError:
            return ""

    def build_args(self, nocache: bool) -> list[str]:
        return ["build", "--network", "none", *(["--no-cache"] if nocache else []), "-q", "-t", "benchapp"]

    def pick_builder(self, ctx: str) -> None:
        """BuildKit (the default) when the buildx plugin is there, else the legacy builder."""
        self.env["DOCKER_BUILDKIT"] = "1"
        p = sh(["docker", *self.build_args(True), ctx], env=self.env, check=False, timeout=120)
        if p.returncode == 0:
            self.builder = "BuildKit"
            return
        why = (p.stderr or p.stdout).strip().splitlines()
        self.env["DOCKER_BUILDKIT"] = "0"
        self.builder = "legacy builder (DOCKER_BUILDKIT=0; BuildKit failed: " + (why[0][:90] if why else "?") + ")"
        p = sh(["docker", *self.build_args(True), ctx], env=self.env, check=False, timeout=120)
        if p.returncode != 0:
            raise CmdError(f"docker build failed: {(p.stderr or p.stdout).strip()[-400:]}")

    def idle_memory(self, ids: list[str]) -> list[tuple[int, int, int]]:
        out = []
        for cid in ids:
            pid = int(self.run("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())
            shim = ppid_of(pid)
            if not comm_of(shim).startswith("containerd-shim"):
                log(f"docker: parent of {pid} is {comm_of(shim)!r}, not a containerd shim")
            self.helper_pids.append(shim)
            out.append((shim, *rss_kb(shim)))
        return out

    def daemon_memory(self) -> list[tuple[str, int, int, int]]:
        out = [("dockerd", self.pid, *rss_kb(self.pid))]
        for c in children_of(self.pid):
            out.append((comm_of(c), c, *rss_kb(c)))
        return out

    def stop(self) -> None:
        if not self.pid:
            return
        try:
            ids = self.run("ps", "-aq", timeout=30, check=False).stdout.split()
            if ids:
                self.run("rm", "-f", *ids, timeout=60, check=False)
        except CmdError as exc:
            log(f"docker cleanup: {exc}")
        kids = children_of(self.pid)  # the containerd dockerd started
        log(f"stopping dockerd (pid {self.pid}; its children {kids})")
        t = time.monotonic()
        stop_pid(self.pid, 30, self.proc)
        log(f"dockerd stopped in {time.monotonic() - t:.1f}s")
        for pid in kids + self.helper_pids:
            if pid_alive(pid):
                log(f"stopping leftover {comm_of(pid)} pid {pid}")
                stop_pid(pid, 5)
        self.pid = 0


class SwarmDockerD(DockerD):
    """A private dockerd in swarm mode, in a network namespace of its own (``NetNS``: lo up with ``addr``).

    dockerd keeps its network defaults there (docker0, docker_gwbridge, iptables rules, the ingress
    network and the swarm ports 2377/7946/4789 all live in the netns, never on the host); its unix socket
    is a file, so the CLI on the host reaches it. ``start()`` makes the netns, starts dockerd in it by
    nsenter and runs ``swarm init --advertise-addr <addr>``; ``stop()`` leaves the swarm (--force), waits
    for the tasks' containers to go, stops dockerd by pid, unmounts what is left under the folder and
    deletes the netns (its interfaces and rules go with it). ``timings``: seconds each step took.
    """

    def __init__(self, tmp: str, netns_name: str, addr: str = "192.0.2.10") -> None:
        super().__init__(tmp)
        self.ns = NetNS(netns_name, addr)
        self.netns, self.net_args = netns_name, []
        self.addr = addr
        self.node_id = ""
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        t = time.monotonic()
        self.ns.add()
        super().start()
        self.timings["dockerd"] = time.monotonic() - t
        t = time.monotonic()
        self.run("swarm", "init", "--advertise-addr", self.addr)
        self.node_id = self.run("info", "-f", "{{.Swarm.NodeID}}").stdout.strip()
        self.timings["swarm init"] = time.monotonic() - t

    def stop(self) -> None:
        try:
            if self.pid:
                self.run("swarm", "leave", "--force", timeout=60, check=False)
                end = time.monotonic() + 30  # the tasks' containers go with the swarm; wait for them
                while time.monotonic() < end and self.run("ps", "-aq", "--filter", "label=com.docker.swarm.task.id",
                                                          timeout=30, check=False).stdout.strip():
                    time.sleep(0.2)
            super().stop()
        finally:
            unmount_all_under(self.base)  # the netns files dockerd bind-mounted under its exec root
            self.ns.delete()


class Podman(Engine):
    name = "podman"

    def __init__(self, tmp: str) -> None:
        super().__init__(tmp)
        self.base = os.path.join(tmp, "podman")
        for d in ("root", "runroot", "tmp", "net", "conf"):
            os.makedirs(os.path.join(self.base, d), exist_ok=True)
        # rootful podman raises RLIMIT_NOFILE to 1048576 and RLIMIT_NPROC to 4194304 in the container,
        # which runc cannot do where the hard limits are lower ("error setting rlimit type 7/6");
        # ask for this session's nofile hard limit, and nproc no higher than what conmon runs with
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
        limits = [f'"nproc={nproc}:{nproc}"']
        if nofile != resource.RLIM_INFINITY:
            limits.append(f'"nofile={nofile}:{nofile}"')
        conf = os.path.join(self.base, "conf", "containers.conf")
        with open(conf, "w") as f:
            f.write(f"[containers]\ndefault_ulimits = [{', '.join(limits)}]\n")
        self.env["CONTAINERS_CONF"] = conf
        self.helper_pids: list[int] = []
        self.started = False

    def cli(self) -> list[str]:
        b = self.base
        return ["podman", "--root", f"{b}/root", "--runroot", f"{b}/runroot", "--tmpdir", f"{b}/tmp",
                "--network-config-dir", f"{b}/net", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--storage-driver", "overlay"]

    def start(self) -> None:
        if not shutil.which("podman"):
            raise CmdError("podman is not installed")
        self.started = True
        self.run("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)

    def build_args(self, nocache: bool) -> list[str]:
        return ["build", "--network", "none", *(["--no-cache"] if nocache else []), "-q", "-t", "benchapp"]

    def idle_memory(self, ids: list[str]) -> list[tuple[int, int, int]]:
        out = []
        for cid in ids:
            pid = int(self.run("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())
            conmon = ppid_of(pid)
            if comm_of(conmon) != "conmon":
                log(f"podman: parent of {pid} is {comm_of(conmon)!r}, not conmon")
            self.helper_pids.append(conmon)
            out.append((conmon, *rss_kb(conmon)))
        return out

    def stop(self) -> None:
        if not self.started:
            return
        try:
            self.run("rm", "-af", "-t", "0", timeout=90, check=False)
        except CmdError as exc:
            log(f"podman cleanup: {exc}")
        for pid in self.helper_pids:
            if pid_alive(pid) and comm_of(pid) == "conmon":
                log(f"stopping leftover conmon pid {pid}")
                stop_pid(pid, 5)


# -- the measurements -----------------------------------------------------------------------------
class Results:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, metric: str, unit: str, values: dict[str, list[float] | None], target: str = "",
            note: str = "") -> None:
        self.rows.append({"metric": metric, "unit": unit, "values": values, "target": target, "note": note})


def fmt(vals: list[float] | None, unit: str) -> str:
    if not vals:
        return "n/a"
    med, p90 = statistics.median(vals), pct(vals, 0.9)
    if unit == "ms":
        f = (lambda v: f"{v * 1000:.0f}") if med >= 0.1 else (lambda v: f"{v * 1000:.1f}")
        return f"{f(med)} ms (p90 {f(p90)})"
    if unit == "MiB":
        return f"{med / 1024:.1f} MiB (max {max(vals) / 1024:.1f})"
    return f"{med:.3g} (p90 {p90:.3g})"


def ratio(a: list[float] | None, b: list[float] | None) -> str:
    if not a or not b or statistics.median(b) == 0:
        return "n/a"
    return f"{statistics.median(a) / statistics.median(b):.2f}"


def section(name: str, engines: list[Engine], fn: Callable[[Engine], list[float] | None]) -> dict[str, list[float] | None]:
    out: dict[str, list[float] | None] = {}
    for e in engines:
        if e.error:
            out[e.name] = None
            continue
        if over_budget():
            log(f"{name} [{e.name}]: skipped (over the time budget)")
            out[e.name] = None
            continue
        try:
            log(f"{name} [{e.name}]")
            out[e.name] = fn(e)
        except Exception as exc:  # noqa: BLE001 - one engine's failure is reported, the rest go on
            log(f"{name} [{e.name}] failed: {exc}")
            out[e.name] = None
    return out


def interleaved(name: str, engines: list[Engine], step: Callable[[Engine], float], n: int,
                warmup: int = 1) -> dict[str, list[float] | None]:
    """Time ``step`` on each engine in turn, ``n`` rounds, so load from elsewhere hits them alike."""
    live = [e for e in engines if not e.error]
    out: dict[str, list[float] | None] = {e.name: None for e in engines}
    if over_budget():
        log(f"{name}: skipped (over the time budget)")
        return out
    log(f"{name} [{', '.join(e.name for e in live)}] × {n}")
    times: dict[str, list[float]] = {e.name: [] for e in live}
    for i in range(warmup + n):
        for e in list(live):
            try:
                dt = step(e)
            except Exception as exc:  # noqa: BLE001 - one engine's failure is reported, the rest go on
                log(f"{name} [{e.name}] failed: {exc}")
                live.remove(e)
                times.pop(e.name)
                continue
            if i >= warmup:
                times[e.name].append(dt)
        if over_budget() and i - warmup >= 2:
            log(f"over the time budget: {name} stops after {i - warmup + 1} rounds")
            break
    out.update({k: v or None for k, v in times.items()})
    return out


async def client_loop(root: str, n: int) -> list[float]:
    sys.path.insert(0, REPO)
    from engine.client import Docker
    times: list[float] = []
    async with Docker(root=root) as docker:
        for i in range(n + 2):
            t = time.perf_counter()
            c = await docker.containers.run({"Image": "busybox", "Cmd": ["true"],
                                             "HostConfig": {"NetworkMode": "none"}})
            st = await c.wait()
            await c.delete()
            dt = time.perf_counter() - t
            if st.get("StatusCode") != 0:
                raise CmdError(f"exit status {st}")
            if i >= 2:  # two warm-ups
                times.append(dt)
    return times


def main() -> int:
    if platform.system() != "Linux" or os.geteuid() != 0:
        print("bench/run.py needs root on Linux", file=sys.stderr)
        return 2
    want_docker, want_podman = "docker" in ENGINES, "podman" in ENGINES
    install_err = {"docker": "", "podman": ""}
    if not os.path.exists("/bin/busybox") or "busybox-static" not in \
            subprocess.run(["dpkg", "-S", "/bin/busybox"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True).stdout:
        apt_install(["busybox-static"])
    if want_docker:
        install_err["docker"] = apt_install(["docker.io"])
    if want_podman:
        install_err["podman"] = apt_install(["podman"])
    global T0
    T0 = time.monotonic()

    host_before = host_leftovers_before()
    tmp = tempfile.mkdtemp(prefix="portside-bench-", dir="/tmp")
    log(f"state under {tmp}; N={N}")
    engines: list[Engine] = [Portside(tmp)]
    if want_docker:
        engines.append(DockerD(tmp))
    if want_podman:
        engines.append(Podman(tmp))
    for e in engines:
        if install_err.get(e.name):
            e.error = install_err[e.name]
    res = Results()
    try:
        rootfs = os.path.join(tmp, "busybox-rootfs.tar")
        make_rootfs_tar(rootfs)
        ctx = os.path.join(tmp, "ctx")
        make_context(ctx)
        for e in engines:
            if e.error:
                continue
            try:
                log(f"starting {e.name}")
                t = time.perf_counter()
                e.start()
                if isinstance(e, DockerD):
                    e.note = f"dockerd up in {time.perf_counter() - t:.1f}s"
                e.run("import", rootfs, "busybox", timeout=120)
            except Exception as exc:  # noqa: BLE001
                e.error = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
                log(f"{e.name} unavailable: {e.error}")
        if engines[0].error:
            raise SystemExit(f"portside could not import the rootfs: {engines[0].error}")
        # 1. run --rm busybox true
        vals = interleaved("run --rm busybox true", engines,
                           lambda e: e.t("run", "--rm", "--network", "none", "busybox", "true"), N)
        res.add("`run --rm --network none busybox true` (CLI)", "ms", vals, "≤ docker")

        # 2. in-process client
        p = engines[0]
        assert isinstance(p, Portside)
        vals = section("client create+start+wait+delete", [p],
                       lambda e: asyncio.run(asyncio.wait_for(client_loop(p.root, N_CLIENT), 120)))
        res.add("client: create+start+wait+delete `true` (in-process)", "ms", vals, "≤ 20 ms")

        # 3. builds
        for e in engines:
            if isinstance(e, DockerD) and not e.error:
                try:
                    e.pick_builder(ctx)
                    e.note = e.builder
                except Exception as exc:  # noqa: BLE001
                    log(f"docker build unavailable: {exc}")
                    e.note = f"build failed: {str(exc)[:120]}"
        build_engines = [e for e in engines if not (isinstance(e, DockerD) and not e.builder)]
        res.add("build, 5-step Dockerfile, cold (`--no-cache`)", "ms",
                interleaved("cold build", build_engines, lambda e: e.t(*e.build_args(True), ctx, timeout=180),
                            N_BUILD), "≤ docker")
        res.add("build, same, fully cached", "ms",
                interleaved("cached build", build_engines, lambda e: e.t(*e.build_args(False), ctx, timeout=180),
                            N), "≤ docker")
        for e in engines:
            if not e.error:
                try:
                    out = e.run("run", "--rm", "--network", "none", "benchapp", timeout=60).stdout.strip()
                    if out != "built":
                        log(f"{e.name}: the built image printed {out!r}, expected 'built'")
                except CmdError as exc:
                    log(f"{e.name}: running the built image failed: {exc}")

        # 4. idle memory
        extra: dict[str, str] = {}

        def idle(e: Engine) -> list[float]:
            ids = []
            try:
                for i in range(N_IDLE):
                    ids.append(e.run("run", "-d", "--network", "none", "--name", f"idle{i}", "busybox",
                                     "sleep", "1000", timeout=60).stdout.strip().splitlines()[-1])
                time.sleep(1.0)
                mem = e.idle_memory(ids)
                rss = [float(r) for _, r, _ in mem]
                pss = [float(s) for _, _, s in mem]
                extra[e.name] = (f"{e.name}: {len(mem)} helpers, RSS sum {sum(rss) / 1024:.1f} MiB, "
                                 f"PSS sum {sum(pss) / 1024:.1f} MiB")
                e.pss = pss  # type: ignore[attr-defined]
                if isinstance(e, DockerD):
                    extra[e.name] += "; daemons: " + ", ".join(
                        f"{n} {r / 1024:.0f} MiB RSS" for n, _, r, _ in e.daemon_memory())
                return rss
            finally:
                if ids:  # podman's rm -f waits out the stop timeout first (sleep ignores SIGTERM)
                    e.run("rm", "-f", *(["-t", "0"] if isinstance(e, Podman) else []), *ids, timeout=120,
                          check=False)

        vals = section(f"idle memory ({N_IDLE} × sleep 1000)", engines, idle)
        res.add(f"RSS per idle container (monitor / containerd-shim / conmon), {N_IDLE} running", "MiB", vals,
                "≤ docker")
        res.add("PSS per idle container (same processes)", "MiB",
                {e.name: getattr(e, "pss", None) for e in engines}, "≤ docker")

        # 5. version, ls
        vals = interleaved("--version", engines, lambda e: e.t("--version"), N)
        res.add("`--version`", "ms", vals, "≤ docker")
        vals = interleaved("container ls", engines, lambda e: e.t("container", "ls"), N)
        res.add("`container ls` (nothing running)", "ms", vals, "≤ docker")
    finally:
        for e in reversed(engines):
            try:
                e.stop()
            except Exception as exc:  # noqa: BLE001
                log(f"stopping {e.name}: {exc}")
        left = unmount_all_under(tmp)
        if left:
            log(f"still mounted, so {tmp} is kept: {left[:5]}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            log(f"removed {tmp}")
        removed = remove_host_leftovers(host_before)
        if removed:
            log(f"removed what the peers left outside it: {' '.join(removed)}")

    report = render(res, engines, locals().get("extra", {}))
    print(report)
    with open(os.path.join(HERE, "results.md"), "w") as f:
        f.write(report)
    return 0


def render(res: Results, engines: list[Engine], extra: dict[str, str]) -> str:
    names = ["portside", "docker", "podman"]
    by = {e.name: e for e in engines}
    lines = ["# Portside benchmark", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · Linux {platform.release()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
             f"N={N} (client {N_CLIENT}, cold build {N_BUILD}) · medians, p90 in brackets · load average at the end "
             f"{os.getloadavg()[0]:.2f} (engines are timed in turn, so outside load hits them alike)", ""]
    vers = []
    for n in ("docker", "podman"):
        e = by.get(n)
        if e is None:
            vers.append(f"{n}: not asked for")
        elif e.error:
            vers.append(f"{n}: n/a ({e.error})")
        else:
            v = dockerd_version() if n == "docker" else \
                subprocess.run(["podman", "--version"], stdout=subprocess.PIPE, text=True, timeout=10).stdout.strip()
            vers.append(f"{n}: {v}" + (f" ({e.note})" if e.note else ""))
    lines += ["- " + v for v in vers]
    lines += ["", "| metric | portside | docker | podman | ratio (portside/docker) | target |",
              "|---|---|---|---|---|---|"]
    for row in res.rows:
        v = row["values"]
        cells = [fmt(v.get(n), row["unit"]) for n in names]
        lines.append(f"| {row['metric']} | " + " | ".join(cells) +
                     f" | {ratio(v.get('portside'), v.get('docker'))} | {row['target']} |")
    if extra:
        lines += ["", "Idle memory totals:"] + [f"- {t}" for t in extra.values()]
    lines += ["", "Each engine used private state (PORTSIDE_ROOT, its own dockerd and data root, podman "
              "--root/--runroot) and the same busybox rootfs tar; containers ran with `--network none`.", ""]
    return "\n".join(lines)


def dockerd_version() -> str:
    p = subprocess.run(["dockerd", "--version"], stdout=subprocess.PIPE, text=True, timeout=10)
    return p.stdout.strip().replace("Docker version ", "dockerd ")


if __name__ == "__main__":
    sys.exit(main())
