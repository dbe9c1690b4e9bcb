"""Random ``portside`` CLI operations from several workers at once against one data root, with kill -9.

:class:`Stress` runs ``workers`` threads; each drives its own random sequence of CLI processes (one at a
time, so the workers are that many concurrent ``portside`` processes) from a ``random.Random`` seeded
with ``seed`` and its index: the sequence of operations of a seed is the same on every run (their
outcome, which depends on timing, is not). A killer thread sends SIGKILL, at moments drawn from the
seed too, to one of the CLI processes it started (by its Popen handle) or to a container's monitor
(the pid in the container's ``state.json``, checked against its start time and command line first;
never by name). Some operations race on purpose: two or four commands started at once
(:func:`op_race`). With a ``daemon`` (a :class:`tests.clients.conftest.Daemon` over the same data
root), the ``docker`` operation drives it with the real docker CLI, and the killer also kill -9's the
daemon (by the pid it started) and starts it again a moment later; a docker call that meets a dead
daemon fails, as docker's would (counted, not a violation). Workers stop starting operations at ``time_limit`` seconds (a slow host).

What an operation may do is docker's: fail with a clear error (a conflict, a missing image, a killed
process). What it must never do is recorded in ``violations``: a Python traceback, a hang, a
successful ``run --rm`` whose output is lost.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.stress.invariants import port_records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEARTBEAT = "i=0; while :; do echo hb $i; i=$((i+1)); sleep 0.2; done"
OP_TIMEOUT = 120.0
BASE = "bb:1"  # the busybox image every worker builds on; never removed by the workers
REPORT: list[str] = []  # lines for the end of the pytest run: seed, figures


@dataclass
class Stress:
    root: str
    seed: int
    ops: int
    registry: str            # host:port of a docker-registry on loopback
    busybox_tar: str
    workdir: str             # build contexts and saved archives
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 4
    kill_interval: tuple[float, float] = (0.4, 1.6)
    time_limit: float = 150.0
    counts: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)   # CLI calls that exited 0, by verb
    kills: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seen_cids: set[str] = field(default_factory=set)
    seen_ports: set[tuple[str, str]] = field(default_factory=set)  # nft elements of published ports
    daemon: Any = None       # a tests.clients.conftest.Daemon on this root, or None: no docker operations
    spare: set[str] = field(default_factory=set)  # container ids whose monitors are never killed
    docker_failed: Counter[str] = field(default_factory=Counter)  # docker calls that failed: daemon down / other

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, subprocess.Popen[str]] = {}
        self._done = threading.Event()
        self.timed_out = False
        self._daemon_up = threading.Event()  # set while the daemon serves; cleared from its kill to its restart
        self._restart_at = 0.0
        self._daemon_gen = 0  # daemon kills so far: a call that spans one met a dead daemon
        if self.daemon is not None:
            self._daemon_up.set()

    # ---- running the CLI

    def cli(self, *args: str, timeout: float = OP_TIMEOUT, track: bool = True) -> subprocess.CompletedProcess[str]:
        """One ``portside`` process; while it runs, the killer may pick it (``track``)."""
        return self._collect(self._spawn(args, track), args, timeout)

    def cli_parallel(self, *argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
        """Several ``portside`` processes started at once (a race on purpose)."""
        procs = [self._spawn(a, True) for a in argvs]
        return [self._collect(p, a, OP_TIMEOUT) for p, a in zip(procs, argvs)]

    def _spawn(self, args: tuple[str, ...] | list[str], track: bool) -> subprocess.Popen[str]:
        env = dict(os.environ, PORTSIDE_ROOT=self.root, **self.env)
        env.pop("DOCKER_HOST", None)
        proc = subprocess.Popen([sys.executable, "-m", "tui.cli", *args], env=env, cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if track:
            with self._lock:
                self._live[proc.pid] = proc
        return proc

    def _collect(self, proc: subprocess.Popen[str], args: tuple[str, ...] | list[str],
                 timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.violation(f"`portside {' '.join(args)}` hung for {timeout:.0f} s\n{err[-2000:]}")
        finally:
            with self._lock:
                self._live.pop(proc.pid, None)
        if proc.returncode == 0:
            with self._lock:
                self.ok[_verb(proc.args)] += 1
        if "Traceback (most recent call last)" in err:
            self.violation(f"`portside {' '.join(args)}` crashed (exit {proc.returncode}):\n{err[-3000:]}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def docker(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The real docker CLI against the daemon; a failure while the daemon is down is expected."""
        was_up, gen = self._daemon_up.is_set(), self._daemon_gen
        try:
            proc = self.daemon.docker(*args, timeout=OP_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            self.violation(f"`docker {' '.join(args)}` hung for {OP_TIMEOUT:.0f} s")
            return subprocess.CompletedProcess(args, -1, "", "")
        verb = "docker " + " ".join(args[:2] if args[0] in ("volume", "network") else args[:1])
        with self._lock:
            if proc.returncode == 0:
                self.ok[verb] += 1
            else:
                down = not was_up or gen != self._daemon_gen or "Cannot connect to the Docker daemon" in proc.stderr
                self.docker_failed["daemon down" if down else "other"] += 1
        if "Traceback (most recent call last)" in proc.stderr or "Internal Server Error" in proc.stderr:
            self.violation(f"`docker {' '.join(args)}` got a server error (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    def ensure_daemon(self) -> None:
        """Start the daemon again if the killer left it dead (a stale socket and pidfile are the daemon's to clear)."""
        if self.daemon is None or self._daemon_up.is_set():
            return
        try:
            self.daemon.start()
        except AssertionError as exc:
            self.violation(f"portside daemon did not start again after kill -9: {exc}")
            return
        self._daemon_up.set()

    def violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    # ---- the run

    def run(self) -> None:
        killer = threading.Thread(target=self._killer, name="stress-killer", daemon=True)
        threads = [threading.Thread(target=self._worker, args=(w,), name=f"stress-worker-{w}", daemon=True)
                   for w in range(self.workers)]
        killer.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._done.set()
        killer.join()

    def _worker(self, w: int) -> None:
        rng = random.Random(self.seed * 1000 + w)
        n = self.ops // self.workers + (1 if w < self.ops % self.workers else 0)
        ops = list(OPS.items())
        names, weights = [k for k, _ in ops], [wt for _, (wt, _) in ops]
        deadline = time.monotonic() + self.time_limit
        for _ in range(n):
            op = rng.choices(names, weights)[0]
            if time.monotonic() > deadline:
                self.timed_out = True
                return
            with self._lock:
                self.counts[op] += 1
            try:
                OPS[op][1](self, w, rng)
            except Exception as exc:  # noqa: BLE001 - a bug in the driver is a violation too
                self.violation(f"driver error in {op}: {exc!r}")

    def _killer(self) -> None:
        rng = random.Random(self.seed * 1000 + 999)
        next_kill = time.monotonic() + rng.uniform(*self.kill_interval)
        while not self._done.wait(0.1):
            self._remember_containers()
            if not self._daemon_up.is_set() and time.monotonic() >= self._restart_at:
                self.ensure_daemon()
            if time.monotonic() < next_kill:
                continue
            next_kill = time.monotonic() + rng.uniform(*self.kill_interval)
            pick = rng.random()
            if pick < 0.2 and self.daemon is not None:
                self._kill_daemon(rng.uniform(0.3, 2.0))
            elif pick < 0.7:
                self._kill_cli(rng)
            else:
                self._kill_monitor(rng)
        self.ensure_daemon()

    def _kill_daemon(self, down_for: float) -> None:
        """kill -9 the daemon by the pid of the process we started; the killer restarts it ``down_for`` s later."""
        proc = self.daemon.proc
        if not self._daemon_up.is_set() or proc is None or proc.poll() is not None:
            return
        self._daemon_up.clear()
        self._daemon_gen += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self._restart_at = time.monotonic() + down_for
        with self._lock:
            self.kills["daemon"] += 1

    def _kill_cli(self, rng: random.Random) -> None:
        with self._lock:
            live = sorted(self._live.items())
            if not live:
                return
            pid, proc = rng.choice(live)
            if proc.poll() is None:  # not reaped yet: the pid is still this child's
                proc.send_signal(signal.SIGKILL)
                self.kills["cli " + _verb(proc.args)] += 1

    def _container_states(self) -> list[tuple[str, dict]]:
        base = os.path.join(self.root, "containers")
        out = []
        try:
            names = sorted(os.listdir(base))
        except OSError:
            return out
        for cid in names:
            try:
                with open(os.path.join(base, cid, "state.json")) as f:
                    out.append((cid, json.load(f)))
            except (OSError, ValueError):
                continue
        return out

    def _remember_containers(self) -> None:
        """Note every container id and published port seen: what a kill may leave behind."""
        base = os.path.join(self.root, "containers")
        try:
            cids = os.listdir(base)
        except OSError:
            return
        self.seen_cids.update(cids)
        for cid in cids:
            self.seen_ports |= port_records(os.path.join(base, cid))

    def _kill_monitor(self, rng: random.Random) -> None:
        running = [(cid, st) for cid, st in self._container_states()
                   if st.get("status") == "running" and st.get("monitor_pid") and cid not in self.spare]
        if not running:
            return
        cid, st = rng.choice(running)
        pid = int(st["monitor_pid"])
        if not _is_monitor(pid, int(st.get("monitor_start") or 0), os.path.join(self.root, "containers", cid)):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        with self._lock:
            self.kills["monitor"] += 1


def _verb(argv: list[str]) -> str:
    words = [a for a in argv[3:] if not a.startswith("-")]
    return " ".join(words[:2]) if words and words[0] in ("network", "volume", "image", "system", "container") \
        else (words[0] if words else "?")


def _is_monitor(pid: int, start: int, cdir: str) -> bool:
    """``pid`` is still the monitor of the container in ``cdir`` (same start time, its command line)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    if int(data[data.rindex(b")") + 2:].split()[19]) != start:
        return False
    return b"engine.runtime.monitor" in cmd and cdir.encode() in cmd


# ---- the operations: (weight, function(stress, worker, rng)); names are per worker unless shared

def _container(w: int, rng: random.Random) -> str:
    return f"s{w}c{rng.randrange(5)}"


def _image(w: int, rng: random.Random, other: bool = False) -> str:
    owner = rng.randrange(4) if other else w
    return rng.choice([f"s{owner}/img:{rng.randrange(3)}", f"s{owner}/tag:{rng.randrange(3)}"])


def _network(w: int, rng: random.Random) -> str:
    return f"s{w}n{rng.randrange(2)}"


def _volume(w: int, rng: random.Random) -> str:
    return f"s{w}v{rng.randrange(2)}"


def _shared_ref(s: Stress, rng: random.Random) -> str:
    return f"{s.registry}/stress/r{rng.randrange(3)}:latest"


def op_run_detached(s: Stress, w: int, rng: random.Random) -> None:
    args = ["run", "-d", "--name", _container(w, rng)]
    net = rng.choice(["default", "default", "default", _network(w, rng), "none"])
    if net != "default":
        args += ["--network", net]
    if rng.random() < 0.3:
        args += ["-v", f"{_volume(w, rng)}:/data"]
    if rng.random() < 0.25 and net != "none":
        args += ["-p", "127.0.0.1::80"]
    image = BASE if rng.random() < 0.7 else _image(w, rng, other=rng.random() < 0.3)
    s.cli(*args, image, "sh", "-c", HEARTBEAT)


def op_run_rm(s: Stress, w: int, rng: random.Random) -> None:
    token = f"out-{w}-{rng.randrange(10**6)}"
    image = BASE if rng.random() < 0.6 else _image(w, rng, other=rng.random() < 0.3)
    proc = s.cli("run", "--rm", "--network", "none", image, "echo", token)
    if proc.returncode == 0 and token not in proc.stdout:
        s.violation(f"`run --rm {image} echo {token}` exited 0 without its output: {proc.stdout!r}")


def op_rm(s: Stress, w: int, rng: random.Random) -> None:
    s.cli("rm", "-f", *(["-v"] if rng.random() < 0.3 else []), _container(w, rng))


def op_build(s: Stress, w: int, rng: random.Random) -> None:
    k = rng.randrange(3)
    ctx = os.path.join(s.workdir, f"ctx-{w}-{k}")
    os.makedirs(ctx, exist_ok=True)
    nonce = rng.randrange(10**6)
    with open(os.path.join(ctx, "file"), "w") as f:
        f.write(f"{w} {k} {nonce}\n")
    base = BASE if rng.random() < 0.7 else _image(w, rng, other=True)
    lines = [f"FROM {base}", f"LABEL stress.worker={w}"]
    if rng.random() < 0.6:
        lines.append(f"RUN echo {nonce} > /built && cat /built")
    if rng.random() < 0.5:
        lines.append("COPY file /file")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    s.cli("build", "-q", "-t", f"s{w}/img:{k}", ctx)


def op_tag(s: Stress, w: int, rng: random.Random) -> None:
    src = BASE if rng.random() < 0.4 else _image(w, rng, other=rng.random() < 0.5)
    s.cli("tag", src, f"s{w}/tag:{rng.randrange(3)}")


def op_rmi(s: Stress, w: int, rng: random.Random) -> None:
    s.cli("rmi", *(["-f"] if rng.random() < 0.3 else []), _image(w, rng, other=rng.random() < 0.3))


def op_push(s: Stress, w: int, rng: random.Random) -> None:
    ref = _shared_ref(s, rng)
    src = BASE if rng.random() < 0.5 else _image(w, rng)
    if s.cli("tag", src, ref).returncode == 0:
        s.cli("push", ref)


def op_pull(s: Stress, w: int, rng: random.Random) -> None:
    s.cli("pull", _shared_ref(s, rng))


def op_save_load(s: Stress, w: int, rng: random.Random) -> None:
    path = os.path.join(s.workdir, f"saved-{w}.tar")
    src = BASE if rng.random() < 0.5 else _image(w, rng)
    if s.cli("save", "-o", path, src).returncode == 0:
        s.cli("load", "-q", "-i", path)


def op_network(s: Stress, w: int, rng: random.Random) -> None:
    net = _network(w, rng)
    action = rng.choice(["create", "create", "rm", "connect", "connect", "disconnect"])
    if action in ("create", "rm"):
        s.cli("network", action, net)
    else:
        s.cli("network", action, *(["-f"] if action == "disconnect" and rng.random() < 0.5 else []), net,
              _container(w, rng))


def op_volume(s: Stress, w: int, rng: random.Random) -> None:
    s.cli("volume", rng.choice(["create", "rm"]), _volume(w, rng))


def op_prune(s: Stress, w: int, rng: random.Random) -> None:
    s.cli(*rng.choice([["container", "prune", "-f"], ["image", "prune", "-f"], ["network", "prune", "-f"],
                       ["volume", "prune", "-f"], ["system", "prune", "-f"],
                       ["system", "prune", "-f", "--volumes"]]))


def op_race(s: Stress, w: int, rng: random.Random) -> None:
    """Commands at once: tag vs rmi or run vs rmi of a fresh image, or four run -d with published ports.

    The names are new each time, so what a lost race leaves (a dangling tag, a container without its
    image, two containers with one address) is still there for the final check.
    """
    nonce = rng.randrange(10**9)
    image = f"s{w}/race:{nonce}"
    kind = rng.choice(["tag", "run", "ip"])
    if kind == "ip":
        s.cli_parallel(*[["run", "-d", "--name", f"s{w}ip{nonce}-{k}", "-p", "127.0.0.1::80", BASE, "sh", "-c",
                          "echo up"] for k in range(4)])
        return
    if s.cli("import", "-c", f"LABEL race={nonce}", s.busybox_tar, image).returncode != 0:
        return
    if kind == "tag":
        s.cli_parallel(["tag", image, f"s{w}/race-tag:{nonce}"], ["rmi", image])
    else:
        s.cli_parallel(["run", "-d", "--name", f"s{w}run{nonce}", image, "sh", "-c", "echo up"], ["rmi", image])


def op_import(s: Stress, w: int, rng: random.Random) -> None:
    s.cli("import", s.busybox_tar, f"s{w}/img:{rng.randrange(3)}")


def op_docker(s: Stress, w: int, rng: random.Random) -> None:
    """One docker CLI command against the daemon (names of their own: ``s{w}d…``)."""
    if s.daemon is None:
        return
    name, image = f"s{w}d{rng.randrange(3)}", BASE if rng.random() < 0.7 else _image(w, rng)
    kind = rng.choice(["ps", "run -d", "run -d", "run --rm", "logs", "stop", "rm -f", "rm -f", "images", "tag",
                       "rmi", "volume", "network", "build"])
    if kind == "ps":
        s.docker("ps", "-a")
    elif kind == "run -d":
        net = ["--network", "none"] if rng.random() < 0.6 else []
        s.docker("run", "-d", "--name", name, *net, image, "sh", "-c", HEARTBEAT)
    elif kind == "run --rm":
        token = f"dout-{w}-{rng.randrange(10**6)}"
        proc = s.docker("run", "--rm", "--network", "none", image, "echo", token)
        if proc.returncode == 0 and token not in proc.stdout:
            s.violation(f"`docker run --rm {image} echo {token}` exited 0 without its output: {proc.stdout!r}")
    elif kind == "logs":
        s.docker("logs", "--tail", "5", name)
    elif kind == "stop":
        s.docker("stop", "-t", "1", name)
    elif kind == "rm -f":
        s.docker("rm", "-f", name)
    elif kind == "images":
        s.docker("images")
    elif kind == "tag":
        s.docker("tag", image, f"s{w}/dtag:{rng.randrange(3)}")
    elif kind == "rmi":
        s.docker("rmi", f"s{w}/dtag:{rng.randrange(3)}")
    elif kind in ("volume", "network"):
        s.docker(kind, rng.choice(["create", "rm"]), f"s{w}d{kind[0]}{rng.randrange(2)}")
    else:
        k, nonce = rng.randrange(2), rng.randrange(10**6)
        ctx = os.path.join(s.workdir, f"dctx-{w}-{k}")
        os.makedirs(ctx, exist_ok=True)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM {BASE}\nRUN echo {nonce} > /built\n")
        s.docker("build", "-q", "-t", f"s{w}/dimg:{k}", ctx, env={"DOCKER_BUILDKIT": "0"})


OPS: dict[str, tuple[float, Callable[[Stress, int, random.Random], None]]] = {
    "run -d": (16, op_run_detached),
    "run --rm": (8, op_run_rm),
    "rm -f": (12, op_rm),
    "build": (8, op_build),
    "tag": (8, op_tag),
    "rmi": (8, op_rmi),
    "push": (4, op_push),
    "pull": (4, op_pull),
    "save/load": (3, op_save_load),
    "network": (8, op_network),
    "volume": (4, op_volume),
    "prune": (3, op_prune),
    "import": (2, op_import),
    "race": (10, op_race),
    "docker": (20, op_docker),
}
