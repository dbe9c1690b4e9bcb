"""Networking benchmark: requests/s and connection latency through a published port, against the same
server reached directly and through docker's published port (docker-proxy), measured in the same run;
and the network set-up cost added to container start.

    .venv/bin/python bench/network.py        (as root)

The server is busybox ``httpd`` in a container (one process per connection, as a small web app). The
load generator is Python: ``BENCH_NET_PROCS`` processes (default 2), each opening a new connection per
request (HTTP/1.0 GET of a small file) to 127.0.0.1 or the container's bridge address only, for at
most ``BENCH_NET_REQUESTS`` requests (default 3000) or ``BENCH_NET_SECONDS`` seconds (default 8). Docker
runs as a private dockerd (own data root, socket, exec root; ``--iptables=false``, its own bridge
made here and removed afterwards, ``--userland-proxy=true``: the docker-proxy path a plain `docker run -p`
uses for connections from the host). Everything is removed at the end.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as benchrun  # noqa: E402  (bench/run.py's engine helpers)

PROCS = int(os.environ.get("BENCH_NET_PROCS", "2"))
REQUESTS = int(os.environ.get("BENCH_NET_REQUESTS", "3000"))
SECONDS = float(os.environ.get("BENCH_NET_SECONDS", "8"))
N_START = int(os.environ.get("BENCH_N", "15"))
HTTPD = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"
DOCKER_BRIDGE = "psbenchdk0"
DOCKER_BIP = "10.198.77.1/24"


def log(msg: str) -> None:
    benchrun.log(msg)


def worker(host: str, port: int, n: int, seconds: float, q: multiprocessing.Queue) -> None:
    req = f"GET /index.html HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    lat = []
    errors = 0
    end = time.monotonic() + seconds
    for _ in range(n):
        if time.monotonic() > end:
            break
        t = time.perf_counter()
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            if b" 200 " not in data.split(b"\r\n", 1)[0]:
                errors += 1
                continue
        except OSError:
            errors += 1
            continue
        lat.append(time.perf_counter() - t)
    q.put((lat, errors))


def load(host: str, port: int) -> dict[str, float]:
    q: multiprocessing.Queue = multiprocessing.Queue()
    # warm up
    worker(host, port, 50, 2, q)
    q.get()
    procs = [multiprocessing.Process(target=worker, args=(host, port, REQUESTS // PROCS, SECONDS, q))
             for _ in range(PROCS)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    if not lat:
        return {"rps": 0.0, "p50": 0.0, "p99": 0.0, "n": 0, "errors": errors}
    return {"rps": len(lat) / wall, "p50": lat[len(lat) // 2] * 1e3, "p99": lat[min(len(lat) - 1,
                                                                                   int(len(lat) * 0.99))] * 1e3,
            "n": len(lat), "errors": errors}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class DockerProxyD(benchrun.DockerD):
    """A private dockerd with its own bridge and docker-proxy (no iptables changes on the host)."""

    def start(self) -> None:
        if not benchrun.shutil.which("dockerd"):
            raise benchrun.CmdError("dockerd is not installed")
        subprocess.run(["ip", "link", "add", DOCKER_BRIDGE, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", DOCKER_BIP, "dev", DOCKER_BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", DOCKER_BRIDGE, "up"], check=True)
        os.makedirs(os.path.join(self.base, "config"), exist_ok=True)
        cfg = os.path.join(self.base, "daemon.json")
        with open(cfg, "w") as f:
            f.write("{}\n")
        self.logf = open(os.path.join(self.base, "dockerd.log"), "wb")
        argv = ["dockerd", "--config-file", cfg, "--data-root", os.path.join(self.base, "data"),
                "--exec-root", os.path.join(self.base, "exec"), "-H", f"unix://{self.sock}",
                "--pidfile", self.pidfile, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
                "--ip-forward=false", "--bridge", DOCKER_BRIDGE, "--userland-proxy=true", "--log-level=warn"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid
        end = time.monotonic() + 45
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise benchrun.CmdError(f"dockerd exited {self.proc.returncode}: {self.log_tail()}")
            if os.path.exists(self.sock) and benchrun.sh(["docker", "version"], env=self.env, timeout=10,
                                                         check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise benchrun.CmdError(f"dockerd did not answer within 45 s: {self.log_tail()}")

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            subprocess.run(["ip", "link", "del", DOCKER_BRIDGE], stderr=subprocess.DEVNULL)


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.1f} ms" if values else "n/a"


def main() -> int:
    if os.geteuid() != 0:
        print("bench/network.py needs root", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="portside-netbench-")
    tar = os.path.join(tmp, "rootfs.tar")
    benchrun.make_rootfs_tar(tar)
    ps = benchrun.Portside(tmp)
    dk = DockerProxyD(tmp)
    rows: list[tuple[str, dict[str, float]]] = []
    extra: dict[str, str] = {}
    try:
        ps.run("import", tar, "busybox")
        # -- set-up cost: same container, --network none vs the default bridge (vs bridge + -p) --------
        times: dict[str, list[float]] = {"none": [], "bridge": [], "bridge -p": []}
        for i in range(N_START):
            for mode, args in (("none", ["--network", "none"]), ("bridge", []),
                               ("bridge -p", ["-p", f"{free_port()}:80"])):
                times[mode].append(ps.t("run", "--rm", *args, "busybox", "true"))
        extra["start --network none (median)"] = median_ms(times["none"])
        extra["start default bridge (median)"] = median_ms(times["bridge"])
        extra["start bridge + -p (median)"] = median_ms(times["bridge -p"])
        extra["added by the bridge"] = f"{(statistics.median(times['bridge']) - statistics.median(times['none'])) * 1e3:+.1f} ms"
        extra["added by bridge + -p"] = f"{(statistics.median(times['bridge -p']) - statistics.median(times['none'])) * 1e3:+.1f} ms"
        log("set-up cost measured")
        # -- throughput ----------------------------------------------------------------------------------
        port = free_port()
        cid = ps.run("run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD).stdout.strip()
        ip = ps.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid).stdout.strip()
        time.sleep(0.3)
        rows.append(("portside -p (127.0.0.1, nftables DNAT)", load("127.0.0.1", port)))
        rows.append(("direct to the container address", load(ip, 80)))
        log("portside measured")
        try:
            dk.start()
            dk.run("import", tar, "busybox")
            dport = free_port()
            dk.run("run", "-d", "--name", "web", "-p", f"{dport}:80", "busybox", "sh", "-c", HTTPD)
            time.sleep(0.5)
            rows.append(("docker run -p (127.0.0.1, docker-proxy)", load("127.0.0.1", dport)))
            dip = dk.run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").stdout.strip()
            rows.append(("docker: direct to the container address", load(dip, 80)))
            log("docker measured")
        except benchrun.CmdError as exc:
            extra["docker"] = f"n/a ({str(exc).splitlines()[0][:120]})"
    finally:
        ps.stop()
        dk.stop()
        try:
            sys.path.insert(0, benchrun.REPO)
            from engine.network import host_teardown
            host_teardown(ps.root)
        except Exception as exc:  # noqa: BLE001
            log(f"teardown: {exc}")
        benchrun.unmount_all_under(tmp)
        benchrun.shutil.rmtree(tmp, ignore_errors=True)
    base = {name: r for name, r in rows}
    ref_docker = next((r for n, r in rows if n.startswith("docker run -p")), None)
    ref_direct = base.get("direct to the container address")
    lines = [f"| path | requests/s | p50 | p99 | requests (errors) | vs docker -p | vs direct |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        vs_d = f"{r['rps'] / ref_docker['rps']:.2f}x" if ref_docker and ref_docker["rps"] else "n/a"
        vs_x = f"{r['rps'] / ref_direct['rps']:.2f}x" if ref_direct and ref_direct["rps"] else "n/a"
        lines.append(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['n']} "
                     f"({r['errors']}) | {vs_d} | {vs_x} |")
    lines.append("")
    for k, v in extra.items():
        lines.append(f"- {k}: {v}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
