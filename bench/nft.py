"""What ``-p`` adds to ``run -d``: the published-port path through the ``nft`` process (the code before
libnftables) against the same path through libnftables in process (this tree), interleaved in one run.

    .venv/bin/python bench/nft.py        (as root)

"before" is the tree at ``BENCH_NFT_BEFORE`` (a git revision; default: the parent of the commit that
added engine/network/nftables.py), unpacked with ``git archive`` into a temporary folder; "after" is
this tree. Each round runs, for both trees in alternating order, ``run -d busybox sleep 60`` with and
without ``-p <free port>:80`` (``BENCH_N`` rounds, default 15) through ``python -m tui.cli``, each on its
own data root; the containers are removed untimed. The figure is median(with -p) − median(without).

A second table isolates the step itself, as a container's monitor runs it: a fresh process that has
loaded what a monitor has by then (engine.errors, json, ctypes through engine.runtime.linux, and
engine.network.nat with engine.network.setup) programs one published-port element, timed: ``nft -f -`` as a process (the code before) against
``nat.add_ports`` through libnftables (``BENCH_NFT_MICRO`` rounds, default 30, interleaved).
Everything is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as benchrun  # noqa: E402  (bench/run.py's helpers)

N = int(os.environ.get("BENCH_N", "15"))
N_MICRO = int(os.environ.get("BENCH_NFT_MICRO", "30"))
MICRO_ONLY = os.environ.get("BENCH_NFT_MICRO_ONLY") == "1"  # skip the run -d rounds (noisy on a busy host)

# one published-port element (TEST-NET-1 address, host port 1), programmed from a fresh process
MICRO = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
import json, engine.errors, engine.runtime.linux  # what a monitor has loaded before its network set-up
from engine.network import nat  # loaded with engine.network.setup, -p or not
p = {"proto": "tcp", "host_ip": "", "host_port": 1, "ip": "192.0.2.1", "port": 80}
if sys.argv[1] == "process":
    import subprocess  # the code before loaded it with nat
t = time.perf_counter()
if sys.argv[1] == "process":
    subprocess.run(["nft", "-f", "-"], input="add element ip portside tcp_any { 1 : 192.0.2.1 . 80 }\n",
                   capture_output=True, text=True, check=True)
else:
    nat.add_ports([p])
print(time.perf_counter() - t)
nat.remove_ports([p])
"""


def before_rev() -> str:
    wanted = os.environ.get("BENCH_NFT_BEFORE")
    if wanted:
        return wanted
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", "engine/network/nftables.py"],
                           cwd=benchrun.REPO, capture_output=True, text=True, check=True).stdout.split()
    if not added:
        raise SystemExit("bench/nft.py: engine/network/nftables.py is not committed; set BENCH_NFT_BEFORE")
    return added[-1] + "^"


class Tree:
    def __init__(self, name: str, src: str, tmp: str) -> None:
        self.name = name
        self.src = src
        self.root = os.path.join(tmp, f"root-{name}")
        os.makedirs(self.root)
        self.env = dict(os.environ, PORTSIDE_ROOT=self.root)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "tui"], cwd=src,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tui.cli", *args]

    def run(self, *args: str) -> str:
        return benchrun.sh(self.argv(*args), env=self.env, cwd=self.src).stdout

    def t(self, *args: str) -> tuple[float, str]:
        import time
        t = time.perf_counter()
        out = benchrun.sh(self.argv(*args), env=self.env, cwd=self.src).stdout.strip()
        return time.perf_counter() - t, out

    def stop(self) -> None:
        try:
            ids = benchrun.sh(self.argv("ps", "-aq"), env=self.env, cwd=self.src, check=False).stdout.split()
            if ids:
                benchrun.sh(self.argv("rm", "-f", *ids), env=self.env, cwd=self.src, check=False, timeout=60)
        except benchrun.CmdError as exc:
            benchrun.log(f"{self.name} cleanup: {exc}")


def free_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def main() -> int:
    if os.geteuid() != 0:
        print("bench/nft.py needs root", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="portside-nftbench-")
    rev = before_rev()
    old_src = os.path.join(tmp, "before")
    os.makedirs(old_src)
    archive = subprocess.run(["git", "archive", rev, "engine", "tui"], cwd=benchrun.REPO, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", old_src], input=archive, check=True)
    tar = os.path.join(tmp, "rootfs.tar")
    benchrun.make_rootfs_tar(tar)
    trees = [Tree("before (nft process)", old_src, tmp), Tree("after (libnftables)", benchrun.REPO, tmp)]
    times: dict[tuple[str, bool], list[float]] = {(t.name, p): [] for t in trees for p in (False, True)}
    micro: dict[str, list[float]] = {"nft process": [], "libnftables": []}
    try:
        for t in trees:
            t.run("import", tar, "busybox")
            t.run("rm", "-f", t.run("run", "-d", "busybox", "true").strip())  # bridge and table made
        for i in range(0 if MICRO_ONLY else N):
            for t in (trees if i % 2 == 0 else trees[::-1]):
                for publish in ((False, True) if i % 2 == 0 else (True, False)):
                    args = ["-p", f"{free_port()}:80"] if publish else []
                    secs, cid = t.t("run", "-d", *args, "busybox", "sleep", "60")
                    times[(t.name, publish)].append(secs)
                    t.run("rm", "-f", cid)
        for i in range(N_MICRO):
            for mode in (("process", "lib") if i % 2 == 0 else ("lib", "process")):
                out = subprocess.run([sys.executable, "-c", MICRO, mode, benchrun.REPO], capture_output=True,
                                     text=True, check=True, cwd=benchrun.REPO, env=trees[1].env).stdout
                micro["nft process" if mode == "process" else "libnftables"].append(float(out.split()[0]))
    finally:
        for t in trees:
            t.stop()
            try:
                sys.path.insert(0, benchrun.REPO)
                from engine.network import host_teardown
                host_teardown(t.root)
            except Exception as exc:  # noqa: BLE001
                benchrun.log(f"teardown: {exc}")
        benchrun.unmount_all_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    if not MICRO_ONLY:
        print(f"| tree | run -d (median) | run -d -p (median) | added by -p |  (N={N}, interleaved)")
        print("|---|---|---|---|")
    for t in trees if not MICRO_ONLY else []:
        plain = statistics.median(times[(t.name, False)]) * 1e3
        pub = statistics.median(times[(t.name, True)]) * 1e3
        print(f"| {t.name} | {plain:.1f} ms | {pub:.1f} ms | {pub - plain:+.1f} ms |")
    print()
    print(f"| one published-port element, from a fresh process | median | p90 |  (N={N_MICRO}, interleaved)")
    print("|---|---|---|")
    for name, values in micro.items():
        values.sort()
        print(f"| {name} | {statistics.median(values) * 1e3:.2f} ms | {values[int(len(values) * 0.9)] * 1e3:.2f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
