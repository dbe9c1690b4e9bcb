"""The service load balancer and endpoints (engine/services/endpoints.py over engine/network/balancer.py):
real containers as a service's backends on an overlay (single-node bridge) network, the endpoints
applied in-process as the swarm service applies them, traffic from the host's loopback and from
containers (their own network namespaces) only. As root.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.engine import Engine
from engine.errors import Conflict, InvalidArgument
from engine.network import balancer, nftables
from engine.services.endpoints import Endpoints
from test_containers import ok, run_d, wait_until

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, nftables)"),
              pytest.mark.skipif(not nftables.available(), reason="needs libnftables")]

# each backend answers its hostname at / and the client's address (as the server sees it) at /cgi-bin/ip
HTTPD = ("mkdir -p /www/cgi-bin && echo hello-from-$(hostname) > /www/index.html && "
         "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && "
         "chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www")
SERVICE_ID = "svcnetbalancer0000000001"
DNSRR_ID = "svcnetbalancer0000000002"


def free_port() -> int:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=timeout) as r:
        return str(r.read().decode().strip())


class Service:
    """An in-process engine on the test's data root with its Endpoints, as the swarm service holds them."""

    def __init__(self, root: str) -> None:
        self.engine = Engine(root)
        self.engine.networks.swarm_manager = lambda: True  # type: ignore[method-assign]
        self.endpoints = Endpoints(self.engine.state, self.engine.paths, self.engine.networks)

    def run(self, coro: Any) -> Any:
        return asyncio.run(coro)

    def network(self, name: str, **kw: Any) -> dict[str, Any]:
        self.run(self.engine.networks.create(name, driver="overlay", **kw))
        return self.engine.networks.resolve(name)

    def apply(self, sid: str, name: str, net: dict[str, Any], backends: list[tuple[str, str]], *,
              ports: list[dict[str, Any]] | None = None, mode: str = "vip") -> dict[str, Any]:
        service = {"ID": sid, "Spec": {"Name": name,
                                       "TaskTemplate": {"Networks": [{"Target": net["Id"], "Aliases": [name + "-alias"]}]},
                                       "EndpointSpec": {"Mode": mode, "Ports": ports or []}}}
        items = [{"task_id": f"task{i}", "slot": i + 1, "addresses": {net["Id"]: ip}}
                 for i, (_cid, ip) in enumerate(backends)]
        result: dict[str, Any] = self.run(self.endpoints.apply(service, items))
        return result


@pytest.fixture
def svc(root: str) -> Iterator[Service]:
    s = Service(root)
    try:
        yield s
    finally:
        s.run(s.endpoints.clear())
        s.engine.close()


def backends(cli: Callable[..., Any], net: str, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        cid = run_d(cli, "--network", net, "busybox", "sh", "-c", HTTPD)
        ip = ok(cli("inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", cid)).strip()
        out.append((cid, ip))
    for cid, ip in out:
        wait_until(lambda: cli("exec", cid, "wget", "-q", "-O-", "http://127.0.0.1/index.html").returncode == 0)
    return out


def hostnames(out: list[str]) -> set[str]:
    return {line.removeprefix("hello-from-") for line in out}


def vip_of(endpoint: dict[str, Any], net: dict[str, Any]) -> str:
    return next(v["Addr"].split("/")[0] for v in endpoint["VirtualIPs"] if v["NetworkID"] == net["Id"])


def mine(svc: Service) -> set[tuple[str, str]]:
    """The balancer table's elements and chains of this test's data root (other sessions share the table)."""
    subnets = set(svc.endpoints._subnets())
    return {e for e in balancer.elements() if svc.endpoints.tag in e[1] or
            (e[0] == "hairpin" and e[1].split(" . ")[0] in subnets)}


def bridge_addrs(bridge: str) -> set[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge], capture_output=True, text=True).stdout
    return set(re.findall(r"inet (\S+)", out))


def test_ingress_port_balances_keeps_source_and_follows_backends(cli, imported, svc):
    net = svc.network("web_net")
    svc.network("ingress", ingress=True)
    pool = backends(cli, "web_net", 3)
    port = free_port()
    endpoint = svc.apply(SERVICE_ID, "web", net, pool,
                         ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    assert endpoint["Ports"] == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port, "PublishMode": "ingress"}]
    assert endpoint["Spec"]["Mode"] == "vip"
    assert {v["NetworkID"] for v in endpoint["VirtualIPs"]} == {net["Id"], svc.engine.networks.resolve("ingress")["Id"]}
    assert ipaddress.ip_address(vip_of(endpoint, net)) in ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"])
    names = {cid[:12] for cid, _ip in pool}
    seen = hostnames([get(f"http://127.0.0.1:{port}/index.html") for _ in range(9)])
    assert seen == names  # round robin: every backend answers
    # the port is held: nothing else on the host can bind it
    assert not balancer.port_free("tcp", port)

    # a client in its own network namespace (a container on the default bridge) through the host's address:
    # the backend sees the client's own address, not the host's
    client = run_d(cli, "busybox", "sleep", "120")
    client_ip = ok(cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", client)).strip()
    gateway = ok(cli("inspect", "-f", "{{.NetworkSettings.Gateway}}", client)).strip()
    for _ in range(3):
        seen_by_backend = ok(cli("exec", client, "wget", "-q", "-O-", f"http://{gateway}:{port}/cgi-bin/ip")).strip()
        seen_by_backend = seen_by_backend.removeprefix("[::ffff:").removesuffix("]")  # httpd's v4-mapped form
        assert seen_by_backend == client_ip

    # a client on the backends' own network through the host's address there: answered too (masqueraded,
    # or the backend would answer it straight from its own address)
    near = run_d(cli, "--network", "web_net", "busybox", "sleep", "120")
    near_gw = net["IPAM"]["Config"][0]["Gateway"]
    assert hostnames([ok(cli("exec", near, "wget", "-q", "-O-", f"http://{near_gw}:{port}/index.html")).strip()
                      for _ in range(6)]) == names

    # a backend leaves: out of rotation at once
    gone = pool[0]
    svc.apply(SERVICE_ID, "web", net, pool[1:], ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    seen = hostnames([get(f"http://127.0.0.1:{port}/index.html") for _ in range(10)])
    assert seen == {cid[:12] for cid, _ip in pool[1:]} and gone[0][:12] not in seen

    # none left: refused, not black-holed
    svc.apply(SERVICE_ID, "web", net, [], ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=3)
    out = cli("exec", client, "nc", "-w", "3", gateway, str(port), input="")
    assert out.returncode != 0 and "refused" in (out.stderr + out.stdout).lower()

    # back again
    svc.apply(SERVICE_ID, "web", net, pool, ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    assert hostnames([get(f"http://127.0.0.1:{port}/index.html") for _ in range(9)]) == names


def test_vip_and_dns_from_containers(cli, imported, svc):
    net = svc.network("app_net")
    pool = backends(cli, "app_net", 3)
    endpoint = svc.apply(SERVICE_ID, "web", net, pool)
    vip = vip_of(endpoint, net)
    assert vip not in {ip for _cid, ip in pool}
    prefix = ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"]).prefixlen
    assert endpoint["VirtualIPs"] == [{"NetworkID": net["Id"], "Addr": f"{vip}/{prefix}"}]
    client = run_d(cli, "--network", "app_net", "busybox", "sleep", "120")
    # the VIP balances over the backends, on every port (80 here)
    seen = hostnames([ok(cli("exec", client, "wget", "-q", "-O-", f"http://{vip}/index.html")).strip()
                      for _ in range(9)])
    assert seen == {cid[:12] for cid, _ip in pool}
    # the host told the client no shorter way to the VIP (an ICMP redirect would send it to a backend)
    route = ok(cli("exec", client, "ip", "route", "get", vip))
    assert "via" not in route and "redirected" not in route, route
    # by name: <name> and the alias → the VIP, tasks.<name> → every task address
    lookup = ok(cli("exec", client, "nslookup", "web", "127.0.0.11"))
    assert answers(lookup, "web") == {vip}
    assert answers(ok(cli("exec", client, "nslookup", "web-alias", "127.0.0.11")), "web-alias") == {vip}
    assert answers(ok(cli("exec", client, "nslookup", "tasks.web", "127.0.0.11")), "tasks.web") == \
        {ip for _cid, ip in pool}
    assert hostnames([ok(cli("exec", client, "wget", "-q", "-O-", "http://web/index.html")).strip()
                      for _ in range(6)]) <= {cid[:12] for cid, _ip in pool}
    # a port nothing listens on at the VIP is refused by the backend; with no backend, the VIP refuses
    svc.apply(SERVICE_ID, "web", net, [])
    out = cli("exec", client, "nc", "-w", "3", vip, "80", input="")
    assert out.returncode != 0 and "refused" in (out.stderr + out.stdout).lower()
    # ... also on a port some container publishes on the host: the VIP is not one of the host's addresses
    published = free_port()
    run_d(cli, "-p", f"{published}:80", "busybox", "sh", "-c", HTTPD)
    out = cli("exec", client, "nc", "-w", "3", vip, str(published), input="")
    assert out.returncode != 0 and "refused" in (out.stderr + out.stdout).lower()
    assert answers(ok(cli("exec", client, "nslookup", "web", "127.0.0.11")), "web") == {vip}

    # dnsrr: the name answers every task address, no VIP
    endpoint = svc.apply(DNSRR_ID, "rr", net, pool, mode="dnsrr")
    assert "VirtualIPs" not in endpoint and endpoint["Spec"] == {"Mode": "dnsrr"}
    assert answers(ok(cli("exec", client, "nslookup", "rr", "127.0.0.11")), "rr") == {ip for _cid, ip in pool}
    with pytest.raises(InvalidArgument, match="dnsrr"):
        svc.apply(DNSRR_ID, "rr", net, pool, mode="dnsrr",
                  ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": free_port()}])


def answers(nslookup: str, name: str) -> set[str]:
    """The addresses busybox nslookup printed for ``name`` (its two output formats)."""
    text = nslookup.split(f"Name:", 1)[-1] if "Name:" in nslookup else nslookup
    after = text.split(name, 1)[-1]
    return set(re.findall(r"Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)", after))


def test_check_ports_refuses_taken_ports_and_changes_nothing(cli, imported, svc):
    net = svc.network("chk_net")
    port = free_port()
    svc.apply(SERVICE_ID, "web", net, [], ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    before = mine(svc)
    def vip_rows() -> list[tuple[str, str, str]]:
        return [row for row in svc.engine.state.allocation_rows() if row[2].startswith("vip:")]
    allocations = vip_rows()
    with pytest.raises(Conflict, match=f"port '{port}' is already in use by service 'web'"):
        svc.apply(DNSRR_ID, "other", net, [], ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    with pytest.raises(Conflict, match=f"port '{port}' is already in use by service 'web'"):
        svc.endpoints.check_ports([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}], "other")
    svc.endpoints.check_ports([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}], SERVICE_ID)
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    taken = holder.getsockname()[1]
    try:
        with pytest.raises(Conflict, match=f"port '{taken}' is already in use on this host"):
            svc.endpoints.check_ports([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": taken}], "other")
        with pytest.raises(Conflict):
            svc.apply(DNSRR_ID, "other", net, [], ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": taken}])
        # a container's published port is a host socket too
        cport = free_port()
        run_d(cli, "-p", f"{cport}:80", "busybox", "sleep", "60")
        with pytest.raises(Conflict, match=f"'{cport}'"):
            svc.endpoints.check_ports([{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": cport}], "other")
    finally:
        holder.close()
    assert mine(svc) == before
    assert svc.endpoints.endpoint_of(DNSRR_ID) is None
    assert vip_rows() == allocations  # no VIP was allocated for the refused service
    # no number: one of docker's ingress range, kept across applies
    first = svc.apply(DNSRR_ID, "auto", net, [], ports=[{"Protocol": "tcp", "TargetPort": 8080}])
    assigned = first["Ports"][0]["PublishedPort"]
    assert 30000 <= assigned <= 32767
    assert svc.apply(DNSRR_ID, "auto", net, [], ports=[{"Protocol": "tcp", "TargetPort": 8080}])["Ports"][0][
        "PublishedPort"] == assigned


def connect_from(sport: int, port: int) -> str:
    """One HTTP request to the published ``port`` from the client source port ``sport``: the answer, or
    ``refused``."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(3)
    try:
        s.bind(("127.0.0.1", sport))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return data.decode().rsplit("\r\n\r\n", 1)[-1].strip()
    except ConnectionRefusedError:
        return "refused"
    finally:
        s.close()


def test_a_client_refused_before_the_service_had_replicas_is_answered_after(cli, imported, svc):
    """A published port with no backend refuses (tcp reset). The reset left the connection's conntrack
    entry closed, with no translation, for 10 s; a new connection from the same source port (clients'
    ports come round again fast under load) was tracked by it and refused again, by the host, although
    the service now had replicas. A refused connection is no longer tracked."""
    net = svc.network("late_net")
    port = free_port()
    ports = [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}]
    svc.apply(SERVICE_ID, "late", net, [], ports=ports)
    sport = free_port()
    assert connect_from(sport, port) == "refused"
    pool = backends(cli, "late_net", 1)
    svc.apply(SERVICE_ID, "late", net, pool, ports=ports)
    assert connect_from(sport, port) == f"hello-from-{pool[0][0][:12]}"


def test_a_client_refused_by_a_vip_with_no_replica_is_answered_after(cli, imported, svc):
    """The same at a VIP, from a container on the stack network: refused while the service has no
    replica, then, from the same source port, answered once it has one."""
    net = svc.network("vip_late_net")
    vip = vip_of(svc.apply(SERVICE_ID, "late", net, []), net)
    client = run_d(cli, "--network", "vip_late_net", "busybox", "sleep", "120")
    request = "GET /index.html HTTP/1.0\r\n\r\n"
    out = cli("exec", "-i", client, "nc", "-p", "40123", "-w", "3", vip, "80", input=request)
    assert out.returncode != 0 and "refused" in (out.stderr + out.stdout).lower(), out
    pool = backends(cli, "vip_late_net", 1)
    svc.apply(SERVICE_ID, "late", net, pool)
    out = cli("exec", "-i", client, "nc", "-p", "40123", "-w", "3", vip, "80", input=request)
    assert f"hello-from-{pool[0][0][:12]}" in out.stdout, out


def test_udp_ingress_port(cli, imported, svc):
    net = svc.network("udp_net")
    binds = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]
    echo = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',81))\n"
            "while True:\n    d,a=s.recvfrom(512)\n    s.sendto(socket.gethostname().encode()+b':'+d,a)\n")
    pool = []
    for _ in range(2):
        cid = run_d(cli, "--network", "udp_net", *binds, "busybox", "/usr/bin/python3", "-c", echo)
        ip = ok(cli("inspect", "-f", "{{(index .NetworkSettings.Networks \"udp_net\").IPAddress}}", cid)).strip()
        pool.append((cid, ip))
    port = free_port()
    svc.apply(SERVICE_ID, "echo", net, pool, ports=[{"Protocol": "udp", "TargetPort": 81, "PublishedPort": port}])
    seen = set()
    deadline = time.monotonic() + 15
    while len(seen) < 2 and time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new socket: a new flow, balanced anew
        s.settimeout(0.5)
        try:
            s.sendto(b"ping", ("127.0.0.1", port))
            data = s.recv(512)
            assert data.endswith(b":ping")
            seen.add(data.split(b":")[0].decode())
        except OSError:
            time.sleep(0.1)
        finally:
            s.close()
    assert seen == {cid[:12] for cid, _ip in pool}

    # one client socket (one UDP flow) that keeps sending: when its backend leaves the pool, the flow's
    # conntrack entry goes with it, so the next datagram is balanced to the backend that is left
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(2)
    try:
        client.sendto(b"one", ("127.0.0.1", port))
        first = client.recv(512).split(b":")[0].decode()
        leaving = next(i for i, (cid, _ip) in enumerate(pool) if cid[:12] == first)
        staying = pool[1 - leaving]
        client.sendto(b"two", ("127.0.0.1", port))
        assert client.recv(512).split(b":")[0].decode() == first  # the same flow, the same backend
        svc.apply(SERVICE_ID, "echo", net, [staying], ports=[{"Protocol": "udp", "TargetPort": 81,
                                                              "PublishedPort": port}])
        client.sendto(b"three", ("127.0.0.1", port))
        assert client.recv(512) == staying[0][:12].encode() + b":three"
    finally:
        client.close()


def test_remove_and_clear_leave_nothing(cli, imported, svc, root):
    before = mine(svc)
    net = svc.network("gone_net")
    pool = backends(cli, "gone_net", 2)
    port = free_port()
    endpoint = svc.apply(SERVICE_ID, "web", net, pool, ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    vip = vip_of(endpoint, net)
    bridge = net["Options"]["com.docker.network.bridge.name"]
    assert f"{vip}/32" in bridge_addrs(bridge)
    assert mine(svc) - before
    services_file = svc.engine.networks.services_path(net["Id"])
    assert os.path.exists(services_file)

    svc.run(svc.endpoints.remove(SERVICE_ID))
    assert mine(svc) == before
    assert balancer.port_free("tcp", port)
    assert f"{vip}/32" not in bridge_addrs(bridge)
    assert not [row for row in svc.engine.state.allocation_rows() if row[2].startswith("vip:")]
    assert not os.path.exists(services_file)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=3)

    # clear: every service at once, the table itself gone
    svc.apply(SERVICE_ID, "web", net, pool, ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    svc.apply(DNSRR_ID, "rr", net, pool, mode="dnsrr")
    svc.run(svc.endpoints.clear())
    assert mine(svc) == before  # (the table itself goes with the last data root's services)
    assert not [o for o in balancer.owners() if o.startswith(svc.endpoints.tag)]
    assert balancer.port_free("tcp", port)
    assert not {a for a in bridge_addrs(bridge) if a.endswith("/32")}
    assert not [row for row in svc.engine.state.allocation_rows() if row[2].startswith("vip:")]
    assert not os.path.exists(services_file)
    # system check sees nothing wrong with the networks afterwards
    ok(cli("system", "check"))


def test_recover_puts_rules_back(cli, imported, svc, root):
    net = svc.network("rec_net")
    pool = backends(cli, "rec_net", 2)
    port = free_port()
    svc.apply(SERVICE_ID, "web", net, pool, ports=[{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}])
    programmed = mine(svc)
    # a VIP allocated by a process killed before it wrote its record is freed by the next recover;
    # system check sees it (and rules of no recorded service) too
    stray = svc.engine.networks.resolve("rec_net")
    from engine.network import ipam
    stray_vip = ipam.allocate(svc.engine.state, stray, "vip:killedbeforeitsrecord00001")
    balancer.program(svc.endpoints.owner("norecordofthis00000000001"),
                     [{"proto": "tcp", "vip": "", "port": free_port(), "backends": [("192.0.2.1", 80)]}], [])
    report = cli("system", "check")
    assert "norecordofthis00000000001" in report.stdout + report.stderr and stray_vip in report.stdout + report.stderr
    ok(cli("system", "check", "--repair"))
    assert not [o for o in balancer.owners() if "norecordofthis" in o]
    stray_vip = ipam.allocate(svc.engine.state, stray, "vip:killedbeforeitsrecord00001")
    # the daemon dies (its sockets with it) and the rules are lost (a reboot): recover puts them back
    svc.endpoints.reservations.release_all()
    for owner in balancer.owners():
        if owner.startswith(svc.endpoints.tag):
            balancer.remove(owner, [], svc.endpoints._subnets())
    assert not mine(svc)
    other = Service(root)
    try:
        other.endpoints.recover()
        assert mine(svc) == programmed
        assert not [r for r in other.engine.state.allocation_rows() if r[1] == stray_vip]
        assert not balancer.port_free("tcp", port)
        assert hostnames([get(f"http://127.0.0.1:{port}/index.html") for _ in range(4)]) == \
            {cid[:12] for cid, _ip in pool}
    finally:
        other.endpoints.reservations.release_all()
        other.engine.close()


def test_overlay_networks(cli, imported, svc, root):
    out = cli("network", "create", "-d", "overlay", "nope")
    assert out.returncode != 0 and "This node is not a swarm manager" in out.stderr
    svc.network("ingress", ingress=True)
    svc.network("stack_net", labels={"com.docker.stack.namespace": "stack"})
    listing = ok(cli("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")).splitlines()
    assert "ingress overlay swarm" in listing and "stack_net overlay swarm" in listing
    doc = svc.engine.networks.resolve("ingress")
    assert doc["Ingress"] is True and doc["IPAM"]["Config"][0]["Subnet"].startswith("10.0.")
    with pytest.raises(Conflict):
        svc.network("ingress2", ingress=True)
    # a container on the overlay network runs as on a bridge network
    cid = run_d(cli, "--network", "stack_net", "busybox", "sleep", "60")
    assert ok(cli("inspect", "-f", "{{(index .NetworkSettings.Networks \"stack_net\").IPAddress}}", cid)).startswith("10.0.")


def test_forgetting_a_backends_udp_flows_asks_the_kernel_for_them_alone():
    """The UDP flows of a backend that left are found by a dump the kernel filters (by reply address and
    protocol), not by parsing every entry of a table a busy service fills with TCP connections."""
    from engine.network import conntrack
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.3", 0))
    try:
        for _ in range(200):  # other flows: TCP connections in TIME_WAIT
            c = socket.create_connection(listener.getsockname())
            a, _ = listener.accept()
            a.close()
            c.close()
        for _ in range(5):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"x", udp.getsockname())
        s = conntrack._Socket()
        try:
            seen = list(s.replies(s.send(conntrack.IPCTNL_MSG_CT_GET, conntrack.NLM_F_DUMP,
                                         conntrack._reply_filter("127.0.0.3", socket.IPPROTO_UDP))))
        finally:
            s.close()
        assert len(seen) == 5  # the kernel sent those five, none of the 200 TCP entries
        assert conntrack.forget(["127.0.0.3"]) == 5 and conntrack.forget(["127.0.0.3"]) == 0
    finally:
        udp.close()
        listener.close()
