"""Requests/s through a service's balanced published port against straight to one of its replicas, in
the same run (bench/network.py's load generator: new connection per request, HTTP/1.0, busybox httpd).

    .venv/bin/python bench/balancer.py        (as root)

The service is ``BENCH_REPLICAS`` (default 3) busybox httpd containers on an overlay (single-node bridge)
network, its endpoints applied in-process as the swarm service applies them; the rows are: the published
port on 127.0.0.1 (nftables numgen DNAT over the replicas), the VIP from the host, and one replica's own
address, and for reference a container's own ``-p`` on 127.0.0.1 (the same localhost NAT path, one
backend), and the balanced port with one replica listed N times (the same numgen rule, one server
process: what the rule costs, apart from spreading the load over N processes). ``BENCH_PATHS`` picks the
rows (default ``lo,direct,p,same``; also ``host``: the published port on
one of the host's own addresses, ``vip``: the VIP from the host). Rows are interleaved per round; the
host's own address and the VIP are better measured alone (``BENCH_PATHS=host``): the host's
connections to a backend straight and through NAT share source address and ports, and the backend's
TIME_WAIT sockets then refuse some SYNs of the other path (1 s retransmits), which is the bench, not
the path; so every row has servers of its own: the row "straight to one replica" is an identical
container outside the service, and "same" another one. Everything is removed at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import network as benchnet  # noqa: E402  (bench/network.py's load generator)
import run as benchrun  # noqa: E402

REPLICAS = int(os.environ.get("BENCH_REPLICAS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PATHS = os.environ.get("BENCH_PATHS", "lo,direct,p,same").split(",")  # also: host, vip
HTTPD = benchnet.HTTPD


def main() -> int:
    if os.geteuid() != 0:
        print("bench/balancer.py needs root", file=sys.stderr)
        return 1
    sys.path.insert(0, benchrun.REPO)
    from engine.engine import Engine
    from engine.services.endpoints import Endpoints
    tmp = tempfile.mkdtemp(prefix="portside-lbbench-")
    tar = os.path.join(tmp, "rootfs.tar")
    benchrun.make_rootfs_tar(tar)
    ps = benchrun.Portside(tmp)
    engine = Engine(ps.root)
    engine.networks.swarm_manager = lambda: True  # type: ignore[method-assign]
    endpoints = Endpoints(engine.state, engine.paths, engine.networks)
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        ps.run("import", tar, "busybox")
        asyncio.run(engine.networks.create("bench_net", driver="overlay"))
        net = engine.networks.resolve("bench_net")
        backends = []
        for i in range(REPLICAS + 2):  # the service's replicas, then one measured straight, one for "same"
            cid = ps.run("run", "-d", "--network", "bench_net", "busybox", "sh", "-c", HTTPD).stdout.strip()
            ip = ps.run("inspect", "-f", '{{(index .NetworkSettings.Networks "bench_net").IPAddress}}',
                        cid).stdout.strip()
            backends.append({"task_id": f"t{i}", "slot": i + 1, "addresses": {net["Id"]: ip}})
        port = benchnet.free_port()
        service = {"ID": "benchbalancer000000000001", "Spec": {
            "Name": "web", "TaskTemplate": {"Networks": [{"Target": net["Id"]}]},
            "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}]}}}
        spare, backends = backends[REPLICAS:], backends[:REPLICAS]
        endpoint = asyncio.run(endpoints.apply(service, backends))
        vip = endpoint["VirtualIPs"][0]["Addr"].split("/")[0]
        import time
        time.sleep(0.3)
        first = spare[0]["addresses"][net["Id"]]
        cport = benchnet.free_port()  # the same NAT path for one container's -p, for reference
        ps.run("run", "-d", "--network", "bench_net", "-p", f"{cport}:80", "busybox", "sh", "-c", HTTPD)
        host_addr = net["IPAM"]["Config"][0]["Gateway"]  # one of the host's own addresses (not loopback)
        paths = {"lo": (f"published port on 127.0.0.1 ({REPLICAS} replicas, numgen DNAT)", "127.0.0.1", port),
                 "direct": ("straight to one replica", first, 80),
                 "p": ("a container's -p on 127.0.0.1 (one backend, same NAT path)", "127.0.0.1", cport),
                 "host": (f"published port on the host address {host_addr}", host_addr, port),
                 "vip": (f"VIP {vip}:80 from the host", vip, 80)}
        paths["same"] = (f"published port on 127.0.0.1, numgen over one replica {REPLICAS} times", "127.0.0.1", port)
        same = [dict(spare[1], task_id=f"same{i}") for i in range(REPLICAS)]
        for _round in range(ROUNDS):  # interleaved
            for key in PATHS:
                name, addr, p = paths[key]
                if key in ("same", "lo"):
                    asyncio.run(endpoints.apply(service, same if key == "same" else backends))
                rows.append((name, benchnet.load(addr, p)))
    finally:
        try:
            asyncio.run(endpoints.clear())
        finally:
            engine.close()
            ps.stop()
            from engine.network import host_teardown
            host_teardown(ps.root)
            benchrun.unmount_all_under(tmp)
            benchrun.shutil.rmtree(tmp, ignore_errors=True)
    direct = [r for n, r in rows if n.startswith("straight")]
    print(f"| path | requests/s (each round) | median | p50 | requests (errors) | vs straight |  "
          f"(procs={benchnet.PROCS}, {ROUNDS} rounds interleaved)")
    print("|---|---|---|---|---|---|")
    import statistics
    ref = statistics.median(r["rps"] for r in direct) if direct else float("nan")
    for name in dict.fromkeys(n for n, _r in rows):
        mine = [r for n, r in rows if n == name]
        med = statistics.median(r["rps"] for r in mine)
        print(f"| {name} | {' / '.join(str(round(r['rps'])) for r in mine)} | {med:.0f} | "
              f"{statistics.median(r['p50'] for r in mine):.2f} ms | {sum(r['n'] for r in mine)} "
              f"({sum(r['errors'] for r in mine)}) | {med / ref:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
