"""What health checks cost (as root):

    .venv/bin/python bench/health.py            # BENCH_N runs (default 20), BENCH_PROBES probes (default 20)
    .venv/bin/python bench/health.py REF        # compare `run --rm` against another commit (default main)
    .venv/bin/python bench/health.py REF THIS   # … and time commit THIS instead of the working tree

1. A container with ``--health-cmd true --health-interval 1s``: the CPU its monitor spends per probe
   (its run time on a CPU, ``/proc/PID/schedstat``), the CPU of the probe itself (the container's
   cgroup's ``cpu.stat``, the container's own ``sleep`` using none), and the monitor's RSS with and
   without a check. Against docker in the same run (a private dockerd, bench/run.py's ``DockerD``): the
   CPU per probe of everything that runs a probe — Portside's monitor; dockerd, containerd and the
   container's shim for docker — counted as utime + stime of each process and of the children it reaped
   (runc, the probe itself), less what the same processes use in as long without a check.
2. ``portside run --rm --network none busybox true`` (no health check) with this tree and with ``REF``
   (``git archive`` of it, run by the same interpreter), interleaved: the check must not slow it.

Each engine gets a private ``PORTSIDE_ROOT`` under one temporary folder; containers are removed and
the folder deleted at the end.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
N = int(os.environ.get("BENCH_N", "20"))
PROBES = int(os.environ.get("BENCH_PROBES", "20"))
TICK = os.sysconf("SC_CLK_TCK")


def _run_module() -> object:
    spec = importlib.util.spec_from_file_location("portside_bench_run", os.path.join(HERE, "run.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def total_cpu(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) and of the children it has reaped, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICK


def window(pids: list[int], seconds: float) -> float:
    before = sum(total_cpu(p) for p in pids)
    time.sleep(seconds)
    return sum(total_cpu(p) for p in pids) - before


def cli(tree: str, root: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PORTSIDE_ROOT"] = root
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-m", "tui.cli", *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"portside {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def cpu_seconds(pid: int) -> float:
    """Time ``pid`` has run on a CPU (``/proc/PID/schedstat``, in ns: finer than utime + stime's ticks)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cgroup_usec(cid: str) -> int:
    sys.path.insert(0, REPO)
    from engine.runtime import cgroups  # (v1 or v2, as the engine finds them)
    return int((cgroups.Cgroup(f"portside/{cid}").stats().get("cpu") or {}).get("total_usage_ns") or 0) // 1000


def monitor_pid(root: str, cid: str) -> int:
    import json
    with open(os.path.join(root, "containers", cid, "state.json")) as f:
        return int(json.load(f)["monitor_pid"])


def probe_cost(tree: str, root: str) -> dict[str, float]:
    plain = cli(tree, root, "run", "-d", "--network", "none", "busybox", "sleep", "3600").strip()
    cid = cli(tree, root, "run", "-d", "--network", "none", "--health-cmd", "true", "--health-interval", "1s",
              "busybox", "sleep", "3600").strip()
    try:
        time.sleep(1.5)  # past the first probe (which prepares the process once)
        mon = monitor_pid(root, cid)
        cpu0, cg0, t0 = cpu_seconds(mon), cgroup_usec(cid), time.monotonic()
        time.sleep(PROBES)
        cpu1, cg1, t1 = cpu_seconds(mon), cgroup_usec(cid), time.monotonic()
        probes = round(t1 - t0)  # one a second
        idle_mon = monitor_pid(root, plain)
        total = window([mon], PROBES) - window([idle_mon], PROBES)
        return {"probes": probes, "monitor_ms": (cpu1 - cpu0) * 1000 / probes, "total_ms": total * 1000 / PROBES,
                "probe_ms": (cg1 - cg0) / 1000 / probes, "rss_checked_kb": rss_kb(mon),
                "rss_plain_kb": rss_kb(monitor_pid(root, plain))}
    finally:
        cli(tree, root, "rm", "-f", cid, plain)


def docker_cost(base: str, tar: str) -> float | None:
    """CPU ms per probe of dockerd + containerd + the shim (less their use without a check); None without dockerd."""
    B = _run_module()
    d = B.DockerD(base)  # type: ignore[attr-defined]
    try:
        d.start()
    except Exception as exc:  # noqa: BLE001 - the peer is optional
        print(f"docker: n/a ({exc})")
        return None
    try:
        d.run("import", tar, "busybox", timeout=120)

        def shim_of(cid: str) -> int:
            return int(B.ppid_of(int(d.run("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())))  # type: ignore

        plain = d.run("run", "-d", "--network", "none", "busybox", "sleep", "3600").stdout.strip()
        daemons = [d.pid] + B.children_of(d.pid)  # type: ignore[attr-defined]
        idle = window(daemons + [shim_of(plain)], PROBES)
        cid = d.run("run", "-d", "--network", "none", "--health-cmd", "true", "--health-interval", "1s",
                    "busybox", "sleep", "3600").stdout.strip()
        time.sleep(1.5)
        busy = window(daemons + [shim_of(cid), shim_of(plain)], PROBES)
        return (busy - idle) * 1000 / PROBES
    finally:
        d.stop()


def run_rm(trees: dict[str, tuple[str, str]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in trees}
    for name, (tree, root) in trees.items():  # warm up: byte-compiled modules, the image unpacked
        cli(tree, root, "run", "--rm", "--network", "none", "busybox", "true")
    for _ in range(N):
        for name, (tree, root) in trees.items():
            t = time.perf_counter()
            cli(tree, root, "run", "--rm", "--network", "none", "busybox", "true")
            times[name].append((time.perf_counter() - t) * 1000)
    return times


def main() -> int:
    if os.geteuid() != 0:
        print("bench/health.py needs root (real containers)", file=sys.stderr)
        return 2
    ref = sys.argv[1] if len(sys.argv) > 1 else "main"
    base = tempfile.mkdtemp(prefix="ps-health-bench-")
    try:
        other = os.path.join(base, "ref")
        os.makedirs(other)
        subprocess.run(["sh", "-c", f"git archive {ref} | tar -x -C {other}"], cwd=REPO, check=True)
        this_tree = REPO
        if len(sys.argv) > 2:
            this_tree = os.path.join(base, "this-tree")
            os.makedirs(this_tree)
            subprocess.run(["sh", "-c", f"git archive {sys.argv[2]} | tar -x -C {this_tree}"], cwd=REPO, check=True)
        for tree in (this_tree, other):
            subprocess.run([sys.executable, "-m", "compileall", "-q", "engine", "tui"], cwd=tree,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        roots = {"this": os.path.join(base, "this"), ref: os.path.join(base, "other"),
                 "probe": os.path.join(base, "probe")}
        for root, tree in ((roots["this"], this_tree), (roots[ref], other), (roots["probe"], REPO)):
            cli(tree, root, "image", "busybox")
        cost = probe_cost(REPO, roots["probe"])
        tar = os.path.join(base, "rootfs.tar")
        B = _run_module()
        B.make_rootfs_tar(tar)  # type: ignore[attr-defined]
        peer = docker_cost(base, tar)
        print(f"health check every 1 s, {cost['probes']:.0f} probes of `true`:")
        print(f"  monitor CPU per probe   {cost['monitor_ms']:.2f} ms (its own run time)")
        print(f"  probe CPU per probe     {cost['probe_ms']:.2f} ms (in the container's cgroup)")
        print(f"  all CPU per probe       portside {cost['total_ms']:.1f} ms (monitor and what it reaped)"
              + (f", docker {peer:.1f} ms (dockerd, containerd, shim and what they reaped): "
                 f"ratio {cost['total_ms'] / peer:.2f}" if peer else ""))
        print(f"  monitor RSS             {cost['rss_checked_kb']} kB with the check, "
              f"{cost['rss_plain_kb']} kB without")
        times = run_rm({"this": (this_tree, roots["this"]), ref: (other, roots[ref])})
        print(f"`portside run --rm --network none busybox true`, N={N} interleaved (median / p90 ms):")
        for name, vals in times.items():
            vals.sort()
            print(f"  {name:<10} {statistics.median(vals):7.1f} / {vals[int(0.9 * (len(vals) - 1))]:7.1f}")
        ratio = statistics.median(times["this"]) / statistics.median(times[ref])
        print(f"  this/{ref}: {ratio:.2f}")
    finally:
        for name in ("this", "other", "probe"):
            root = os.path.join(base, name)
            if os.path.isdir(root):
                ids = subprocess.run([sys.executable, "-m", "tui.cli", "ps", "-aq"], cwd=REPO, capture_output=True,
                                     text=True, env=dict(os.environ, PORTSIDE_ROOT=root)).stdout.split()
                if ids:
                    subprocess.run([sys.executable, "-m", "tui.cli", "rm", "-f", *ids], cwd=REPO,
                                   capture_output=True, env=dict(os.environ, PORTSIDE_ROOT=root))
                try:
                    sys.path.insert(0, REPO)
                    from engine.network import host_teardown
                    host_teardown(root)
                except Exception:  # noqa: BLE001 - cleanup goes on
                    pass
        with open("/proc/self/mountinfo") as f:
            mps = [line.split()[4] for line in f if line.split()[4].startswith(base)]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
