"""Integration tests for container networking (issue 3): the bridge, published ports, user-defined
networks, embedded DNS, clean-up. Real containers, as root.

Traffic goes only to 127.0.0.1 and to addresses inside our own bridges; names resolved in the tests
are our own containers' (no DNS query leaves the host). The ``root`` fixture removes every bridge and
nftables element the data root made (``engine.network.host_teardown``), also when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from test_containers import ok, proc_alive, run_d, runtime_state, wait_until

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, bridges, nftables)"),
              pytest.mark.skipif(not os.path.exists("/usr/sbin/nft"), reason="needs nftables (nft)")]

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
# a UDP echo server: Debian's busybox nc has no -u, so the host's python runs inside (read-only binds)
PYTHON_BINDS = ["-v", "/usr:/usr:ro", "-v", "/usr/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]
UDP_ECHO = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',81))\n"
            "while True:\n    d,a=s.recvfrom(512)\n    s.sendto(b'echo:'+d,a)\n")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def nft_elements(map_name: str) -> str:
    return subprocess.run(["nft", "list", "map", "ip", "portside", map_name], capture_output=True,
                          text=True).stdout


def host_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def bind_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def inspect_json(cli, name: str) -> dict:
    return json.loads(ok(cli("inspect", name)))[0]


# -- the default bridge and published ports ---------------------------------------------------------
def test_publish_answers_from_localhost_and_bridge(cli, imported):
    port = free_port()
    cid = run_d(cli, "--name", "web", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    assert fetch(port) == f"hello-from-{cid[:12]}\n"
    info = inspect_json(cli, "web")
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert ip and info["NetworkSettings"]["IPAddress"] == ip
    assert fetch(80, ip) == f"hello-from-{cid[:12]}\n"  # the container's own address, through the bridge
    assert info["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert ok(cli("port", "web")).strip() == f"80/tcp -> 0.0.0.0:{port}"
    assert ok(cli("port", "web", "80")).strip() == f"0.0.0.0:{port}"
    line = ok(cli("ps")).splitlines()[1]
    assert f"0.0.0.0:{port}->80/tcp" in line
    # the container reaches the host through its gateway (default route, outbound path)
    gw = info["NetworkSettings"]["Networks"]["bridge"]["Gateway"]
    assert "1 packets received" in ok(cli("exec", "web", "ping", "-c", "1", "-W", "2", gw))


def test_tcp_half_close(cli, imported):
    """The client shuts down its write side; the answer still comes back (DNAT keeps the stream whole)."""
    port = free_port()
    run_d(cli, "--name", "cat", "-p", f"{port}:7", "busybox", "nc", "-ll", "-p", "7", "-e", "cat")
    deadline = time.monotonic() + 5
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"half-close\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
            s.close()
            if data:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("no answer through the published port")
        time.sleep(0.05)
    assert data == b"half-close\n"


def test_publish_udp(cli, imported):
    port = free_port()
    run_d(cli, "--name", "udp", "-p", f"{port}:81/udp", *PYTHON_BINDS, "busybox", "/usr/bin/python3", "-c", UDP_ECHO)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        for _ in range(20):
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(100)
                break
            except socket.timeout:
                continue
        else:
            raise AssertionError("no UDP answer")
    finally:
        s.close()
    assert data == b"echo:ping"
    assert "81/udp" in ok(cli("port", "udp"))


def test_ephemeral_range_and_publish_all(cli, imported, root):
    cid = run_d(cli, "-p", "80", "-p", "127.0.0.1::81", "busybox", "sh", "-c", HTTPD)
    ports = inspect_json(cli, cid)["NetworkSettings"]["Ports"]
    host_port = int(ports["80/tcp"][0]["HostPort"])
    assert host_port >= 1024 and ports["80/tcp"][0]["HostIp"] == "0.0.0.0"
    assert ports["81/tcp"][0]["HostIp"] == "127.0.0.1"
    assert fetch(host_port).startswith("hello-from-")
    base = free_port()
    while base > 60000:
        base = free_port()
    cid2 = run_d(cli, "-p", f"{base}-{base + 1}:80-81", "--expose", "90", "-P", "busybox", "sleep", "30")
    ports = inspect_json(cli, cid2)["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(base)}]
    assert ports["81/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(base + 1)}]
    assert ports["90/tcp"] and ports["90/tcp"][0]["HostPort"]  # -P: every exposed port gets one


def test_port_conflict_fails_before_start(cli, imported, root):
    port = free_port()
    run_d(cli, "--name", "first", "-p", f"{port}:80", "busybox", "sleep", "30")
    proc = cli("run", "-d", "--name", "second", "-p", f"{port}:80", "busybox", "sleep", "30")
    assert proc.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert inspect_json(cli, "second")["State"]["Status"] != "running"
    # a port some host program holds is refused the same way
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    taken = holder.getsockname()[1]
    try:
        proc = cli("run", "--rm", "-p", f"{taken}:80", "busybox", "true")
        assert proc.returncode == 125 and "port is already allocated" in proc.stderr
    finally:
        holder.close()


def test_ports_and_addresses_freed_after_stop_and_rm(cli, imported, root):
    port = free_port()
    cid = run_d(cli, "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    ip = inspect_json(cli, cid)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert f"{port} :" in nft_elements("tcp_any")
    assert not bind_free(port)
    ok(cli("stop", "-t", "0", cid))
    assert f"{port} :" not in nft_elements("tcp_any")
    assert bind_free(port)
    wait_until(lambda: f"ps{cid[:10]}0" not in host_links(), timeout=5)  # the veth goes with the namespace
    # the address stays the container's until rm, then goes back to the pool
    other = run_d(cli, "busybox", "sleep", "30")
    assert inspect_json(cli, other)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] != ip
    ok(cli("rm", cid))
    again = run_d(cli, "busybox", "sleep", "30")
    assert inspect_json(cli, again)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ip


def test_kill_9_of_monitor_then_reclaimed(cli, imported, root):
    """Regression: a monitor killed with SIGKILL leaves its DNAT elements; crash recovery reclaims them."""
    port = free_port()
    cid = run_d(cli, "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    assert fetch(port)
    st = runtime_state(root, cid)
    os.kill(st["monitor_pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(st["monitor_pid"]), timeout=5)
    assert fetch(port)  # the orphaned container still answers: docker keeps its ports while it runs
    os.kill(st["pid"], signal.SIGKILL)
    wait_until(lambda: not proc_alive(st["pid"]), timeout=5)
    ok(cli("ps", "-a"))  # any command recovers
    assert f"{port} :" not in nft_elements("tcp_any")
    assert bind_free(port)
    wait_until(lambda: f"ps{cid[:10]}0" not in host_links(), timeout=5)
    cid2 = run_d(cli, "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    assert fetch(port) == f"hello-from-{cid2[:12]}\n"
    ip = inspect_json(cli, cid)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    ok(cli("rm", "-f", cid))
    cid3 = run_d(cli, "busybox", "sleep", "30")
    assert inspect_json(cli, cid3)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ip


def test_port_elements_of_a_vanished_data_root_go_with_its_bridge(cli, imported, root):
    """A data root that went without tidying up (a crashed test run, a deleted folder) left a port
    element leading into its subnet. The host's nftables table is shared, so the next data root to take
    that subnet inherited it: its port handed to whichever new container got the address, and ``system
    check`` blamed the newcomer. A bridge made now forgets such elements, and a removed one takes them."""
    from engine.network import host_teardown
    from engine.network.nat import PORT_MAPS, port_elements
    assert "tcp_ip" in PORT_MAPS
    ok(cli("network", "create", "--subnet", "10.251.7.0/24", "leftover"))
    host_teardown(root)  # the bridges go: as after a crash, nothing of the subnet is on the host
    subprocess.run(["nft", "add element ip portside tcp_ip { 127.0.0.1 . 9 : 10.251.7.9 . 80 }"], check=True)
    assert ("tcp_ip", "127.0.0.1 . 9", "10.251.7.9 . 80") in port_elements()
    cid = run_d(cli, "--network", "leftover", "busybox", "sleep", "30")  # the bridge is made again
    assert not [e for e in port_elements() if e[2].startswith("10.251.7.")]
    ok(cli("system", "check"))
    subprocess.run(["nft", "add element ip portside tcp_ip { 127.0.0.1 . 9 : 10.251.7.9 . 80 }"], check=True)
    ok(cli("rm", "-f", cid))
    ok(cli("network", "rm", "leftover"))
    assert not [e for e in port_elements() if e[2].startswith("10.251.7.")]


# -- user-defined networks and names ------------------------------------------------------------------
def test_user_network_names_and_aliases(cli, imported, root):
    ok(cli("network", "create", "--subnet", "10.213.7.0/24", "appnet"))
    run_d(cli, "--name", "db", "--network", "appnet", "--network-alias", "database", "busybox", "sh", "-c", HTTPD)
    run_d(cli, "--name", "fixed", "--network", "appnet", "--ip", "10.213.7.77", "busybox", "sleep", "30")
    assert inspect_json(cli, "fixed")["NetworkSettings"]["Networks"]["appnet"]["IPAddress"] == "10.213.7.77"
    text = ok(cli("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                  "nslookup db 127.0.0.11 && nslookup database && wget -q -O- http://db/index.html && "
                  "ping -c 1 -W 2 fixed"))
    assert "10.213.7.2" in text and "hello-from-" in text and "1 packets received" in text
    # the default bridge has no names (as docker's)
    proc = cli("run", "--rm", "busybox", "sh", "-c", "grep -c 127.0.0.11 /etc/resolv.conf")
    assert proc.stdout.strip() == "0"
    listing = ok(cli("network", "ls", "--format", "{{.Name}} {{.Driver}}")).split("\n")
    assert {"appnet bridge", "bridge bridge", "host host", "none null"} <= set(listing)
    info = json.loads(ok(cli("network", "inspect", "appnet")))[0]
    assert info["IPAM"]["Config"] == [{"Subnet": "10.213.7.0/24", "Gateway": "10.213.7.1"}]
    assert sorted(c["Name"] for c in info["Containers"].values()) == ["db", "fixed"]
    proc = cli("network", "rm", "appnet")
    assert proc.returncode == 1 and "has active endpoints" in proc.stderr
    ok(cli("rm", "-f", "db", "fixed"))
    ok(cli("network", "rm", "appnet"))
    assert not any(n.startswith("br-") and n[3:] == info["Id"][:12] for n in host_links())


def test_connect_disconnect_running(cli, imported, root):
    ok(cli("network", "create", "netb"))
    run_d(cli, "--name", "srv", "--network", "netb", "busybox", "sh", "-c", HTTPD)
    run_d(cli, "--name", "cl", "busybox", "sleep", "60")
    assert cli("exec", "cl", "nslookup", "srv", "127.0.0.11").returncode != 0
    ok(cli("network", "connect", "--alias", "client", "netb", "cl"))
    ip = inspect_json(cli, "srv")["NetworkSettings"]["Networks"]["netb"]["IPAddress"]
    assert "hello-from-" in ok(cli("exec", "cl", "wget", "-q", "-O-", f"http://{ip}/index.html"))
    assert "eth1" in ok(cli("exec", "cl", "cat", "/proc/net/dev"))
    ok(cli("network", "disconnect", "netb", "cl"))
    assert "eth1" not in ok(cli("exec", "cl", "cat", "/proc/net/dev"))
    ok(cli("rm", "-f", "srv", "cl"))
    assert "netb" in ok(cli("network", "prune", "-f"))
    assert "netb" not in ok(cli("network", "ls"))


def test_internal_network_has_no_way_out(cli, imported, root):
    port = free_port()
    run_d(cli, "--name", "pub", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD)
    assert fetch(port)
    ok(cli("network", "create", "--internal", "--subnet", "10.213.9.0/24", "sealed"))
    run_d(cli, "--name", "peer", "--network", "sealed", "busybox", "sh", "-c", HTTPD)
    script = (f"ip route; timeout 3 wget -q -O- http://10.213.9.1:{port}/index.html && echo GATEWAY-OPEN; "
              f"ping -c 1 -W 1 10.213.9.1 && echo PING-OPEN; wget -q -O- http://peer/index.html")
    text = cli("run", "--rm", "--network", "sealed", "busybox", "sh", "-c", script).stdout
    assert "default" not in text.split("hello-from")[0]  # no default route
    assert "GATEWAY-OPEN" not in text and "PING-OPEN" not in text
    assert "hello-from-" in text  # but the containers of the network talk to each other


# -- modes and bad input --------------------------------------------------------------------------------
def test_container_network_mode(cli, imported):
    cid = run_d(cli, "--name", "base", "busybox", "sh", "-c", HTTPD)
    text = ok(cli("run", "--rm", "--network", "container:base", "busybox", "wget", "-q", "-O-",
                  "http://127.0.0.1/index.html"))
    assert text == f"hello-from-{cid[:12]}\n"


def test_bad_network_input(cli, imported, root):
    ok(cli("network", "create", "--subnet", "10.213.11.0/24", "one"))
    bad = [
        (["run", "-p", "80:80:80:80", "busybox", "true"], "invalid"),
        (["run", "-p", "abc:80", "busybox", "true"], "invalid"),
        (["run", "-p", "70000:80", "busybox", "true"], "invalid"),
        (["run", "-p", "80/sctpx", "busybox", "true"], "invalid proto"),
        (["run", "--network", "nosuchnet", "busybox", "true"], "network nosuchnet not found"),
        (["run", "--network", "one", "--ip", "10.99.0.5", "busybox", "true"], "no configured subnet"),
        (["network", "create", "--subnet", "10.213.11.128/25", "two"], "overlaps"),
        (["network", "create", "--subnet", "not-a-subnet", "three"], "invalid"),
        (["network", "create", "one"], "already exists"),
        (["network", "rm", "bridge"], "pre-defined"),
        (["network", "rm", "nosuchnet"], "not found"),
    ]
    for args, text in bad:
        proc = cli(*args)
        assert proc.returncode != 0, args
        assert text in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert ok(cli("ps", "-aq")).strip() == ""
    assert "two" not in ok(cli("network", "ls")) and "three" not in ok(cli("network", "ls"))
    run_d(cli, "--name", "user", "--network", "one", "busybox", "sleep", "30")
    proc = cli("network", "rm", "one")
    assert proc.returncode == 1 and "has active endpoints" in proc.stderr


def forward_rules() -> str:
    return subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout


@pytest.mark.skipif(not os.path.exists("/usr/sbin/iptables"), reason="needs iptables (as dockerd uses)")
def test_forwarding_beside_dockers_drop_policy(cli, imported, root):
    """Issue 3, living beside docker: dockerd sets iptables' FORWARD policy to DROP (seen on this host).

    Containers on our bridges still reach each other (bridged traffic passes iptables' FORWARD when
    br_netfilter is loaded) and the accept rules go with the network.
    """
    was_drop = "-P FORWARD DROP" in forward_rules()
    subprocess.run(["iptables", "-w", "-P", "FORWARD", "DROP"], check=True)
    try:
        ok(cli("network", "create", "dnet"))
        bridge = "br-" + json.loads(ok(cli("network", "inspect", "dnet")))[0]["Id"][:12]
        run_d(cli, "--name", "web", "--network", "dnet", "busybox", "sh", "-c", HTTPD)
        assert f"-i {bridge} " in forward_rules()  # the bridge comes up with its first container
        text = ok(cli("run", "--rm", "--network", "dnet", "busybox", "sh", "-c",
                      "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://web/index.html && exit 0; "
                      "sleep 0.2; done; exit 1"))
        assert "hello-from-" in text
        ok(cli("rm", "-f", "web"))
        ok(cli("network", "rm", "dnet"))
        assert bridge not in forward_rules()
    finally:
        if not was_drop:
            subprocess.run(["iptables", "-w", "-P", "FORWARD", "ACCEPT"], check=True)
