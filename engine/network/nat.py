"""Portside's nftables table: outbound NAT, forwarding, isolation of internal networks, published ports.

Everything lives in one table of our own, ``ip portside``; docker's (iptables-nft) tables are never
touched. The rules are fixed; what changes are set and map *elements*, so adding or removing a
network or a published port is one nftables transaction that touches nothing else (run in process by
:mod:`engine.network.nftables`, through libnftables: no ``nft`` process)::

    brs        set of our bridges           forward accept, localhost DNAT masquerade
    int_brs    set of internal bridges      no forwarding, no DNAT, no access to the host
    masq_nets  set of non-internal subnets  masquerade when leaving through another interface
    tcp_any / udp_any   host port → container address . port       (published on every host address)
    tcp_ip  / udp_ip    host address . host port → address . port  (published on one host address)

Published ports are DNAT: in prerouting for traffic from outside, in output for the host's own
connections (``route_localnet`` on the bridge plus masquerade of 127.0.0.0/8 makes 127.0.0.1 work).
The ``loopback_guard`` chain drops what a bridge sends to 127.0.0.0/8, so ``route_localnet`` does not
open the host's loopback services to containers.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
from typing import TypedDict

from ..errors import EngineError
from . import nftables


class PublishedPort(TypedDict):
    """One DNAT element: ``host_ip:host_port`` (host_ip "" or 0.0.0.0: any) → ``ip:port`` of the container."""
    proto: str
    host_ip: str
    host_port: int
    ip: str
    port: int


TABLE = "portside"
NFT = "nft"
LOCK = "/run/portside/nft.lock"

# ``route_localnet`` on the bridges (for the host's own 127.0.0.1:<published port>) would also let a
# container reach the host's loopback-only services with packets it addresses to 127.0.0.1 itself
# (a raw socket: CAP_NET_RAW is a default capability). Nothing legitimate arrives from a bridge for
# 127.0.0.0/8 before NAT (the replies to the host's own connections are addressed to the gateway until
# conntrack undoes the masquerade), so such packets are dropped after conntrack, before dstnat.
LOOPBACK_GUARD_CHAIN = "loopback_guard"
LOOPBACK_GUARD = """  chain loopback_guard {
    type filter hook prerouting priority -150; policy accept;
    iifname @brs ip daddr 127.0.0.0/8 drop
  }
"""

RULESET = """
table ip portside {
  set brs { type ifname; }
  set int_brs { type ifname; }
  set masq_nets { type ipv4_addr; flags interval; }
  map tcp_any { type inet_service : ipv4_addr . inet_service; }
  map udp_any { type inet_service : ipv4_addr . inet_service; }
  map tcp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  map udp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  chain published {
    dnat ip to ip daddr . tcp dport map @tcp_ip
    dnat ip to tcp dport map @tcp_any
    dnat ip to ip daddr . udp dport map @udp_ip
    dnat ip to udp dport map @udp_any
  }
  chain prerouting_nat {
    type nat hook prerouting priority dstnat; policy accept;
    iifname @int_brs return
    fib daddr type local jump published
  }
  chain output_nat {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump published
  }
  chain postrouting_nat {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr @masq_nets oifname != @brs masquerade
    ip saddr 127.0.0.0/8 oifname @brs masquerade
  }
  chain forward_filter {
    type filter hook forward priority filter - 10; policy accept;
    iifname @int_brs oifname != @int_brs drop
    oifname @int_brs iifname != @int_brs drop
    iifname @brs accept
    oifname @brs ct state established,related accept
    oifname @brs ct status dnat accept
  }
  chain input_filter {
    type filter hook input priority filter - 10; policy accept;
    iifname @int_brs drop
  }
}
""" + "table ip portside {\n" + LOOPBACK_GUARD + "}\n"


def _nft(script: str, check: bool = True) -> bool:
    """Run ``script`` as one transaction (libnftables, in process); True when it applied. With
    ``check``, a refusal raises nft's one-line message."""
    if check:
        nftables.run(script)
        return True
    return nftables.try_run(script)


def _lock() -> int:
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def exists() -> bool:
    return nftables.available() and nftables.exists(f"table ip {TABLE}")


def _has_chain(name: str) -> bool:
    return nftables.exists(f"chain ip {TABLE} {name}")


def ensure() -> None:
    """Create the table with its fixed rules unless it is there (serialised by a lock file)."""
    fd = _lock()
    try:
        if not exists():
            _nft(RULESET)
        elif not _has_chain(LOOPBACK_GUARD_CHAIN):  # a table made before the guard existed
            _nft(f"table ip {TABLE} {{\n{LOOPBACK_GUARD}}}\n")
    finally:
        os.close(fd)


def _iptables(*args: str) -> int:
    import subprocess  # here: a container's monitor (add_ports / remove_ports) never spawns a process
    try:
        return subprocess.run(["iptables", "-w", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30).returncode
    except FileNotFoundError:
        return -1


def _forward_rules(bridge: str) -> list[list[str]]:
    tag = ["-m", "comment", "--comment", "portside"]
    return [["-i", bridge, "-j", "ACCEPT", *tag],
            ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT", *tag]]


def allow_forward(bridge: str) -> None:
    """Keep forwarding working beside dockerd, which sets iptables' FORWARD policy to DROP.

    A packet must pass every base chain on the forward hook, so an accept in our own table cannot
    overrule a drop in iptables' ``filter`` table. One accept per direction for this bridge, in
    iptables' FORWARD chain (where docker leaves other interfaces' rules alone), fixes that. The
    rules are harmless while the policy is ACCEPT, and already there when a dockerd starts later.
    Internal networks get none: our table drops their forwarding first.
    """
    for rule in _forward_rules(bridge):
        if _iptables("-C", "FORWARD", *rule) == 1:  # 1: no such rule; -1: no iptables at all
            _iptables("-I", "FORWARD", "1", *rule)


def sweep_forward() -> None:
    """Drop our FORWARD accept rules whose bridge is gone (a bridge removed behind our back)."""
    import subprocess
    try:
        listing = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True,
                                 timeout=30).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return
    for line in listing.splitlines():
        words = line.split()
        if "portside" not in words or "-A" not in words:
            continue
        iface = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-i", "-o")), "")
        if iface and not os.path.exists(f"/sys/class/net/{iface}"):
            _iptables("-D", *words[1:])


def disallow_forward(bridge: str) -> None:
    for rule in _forward_rules(bridge):
        while _iptables("-D", "FORWARD", *rule) == 0:
            pass


def add_network(bridge: str, subnet: str, internal: bool) -> None:
    ensure()
    if not internal:
        sweep_forward()
        allow_forward(bridge)
    lines = [f"add element ip {TABLE} brs {{ {bridge} }}"]
    if internal:
        lines.append(f"add element ip {TABLE} int_brs {{ {bridge} }}")
    else:
        lines.append(f"add element ip {TABLE} masq_nets {{ {subnet} }}")
    _nft("\n".join(lines) + "\n")


def remove_network(bridge: str, subnet: str) -> None:
    disallow_forward(bridge)
    for line in (f"delete element ip {TABLE} brs {{ {bridge} }}",
                 f"delete element ip {TABLE} int_brs {{ {bridge} }}",
                 f"delete element ip {TABLE} masq_nets {{ {subnet} }}"):
        _nft(line + "\n", check=False)
    if subnet:
        forget(elements_into(subnet))


PORT_MAPS = ("tcp_any", "udp_any", "tcp_ip", "udp_ip")


def port_elements() -> list[tuple[str, str, str]]:
    """Every published-port element in the table: (map, key text, target "ip . port")."""
    found: list[tuple[str, str, str]] = []
    if not nftables.available():
        return found
    for m in PORT_MAPS:
        for item in nftables.listing(f"map ip {TABLE} {m}"):
            for key, value in (item.get("map") or {}).get("elem") or []:
                key_text = " . ".join(map(str, key["concat"])) if isinstance(key, dict) else str(key)
                target = value.get("concat") if isinstance(value, dict) else None
                if target:
                    found.append((m, key_text, f"{target[0]} . {target[1]}"))
    return found


def elements_into(subnet: str) -> list[tuple[str, str]]:
    """(map, key) of the port elements that lead into ``subnet``."""
    net = ipaddress.ip_network(subnet, strict=False)
    found = []
    for m, key, target in port_elements():
        try:
            addr = ipaddress.ip_address(target.split(" . ")[0])
        except ValueError:
            continue
        if addr in net:
            found.append((m, key))
    return found


def forget(elements: list[tuple[str, str]]) -> None:
    """Delete these port elements (each on its own: one already gone must not keep the others)."""
    for m, key in elements:
        _nft(f"delete element ip {TABLE} {m} {{ {key} }}\n", check=False)


def port_element(p: PublishedPort) -> tuple[str, str]:
    """(map name, element text) for one published port ``p`` (proto, host_ip, host_port, ip, port)."""
    proto = p["proto"]
    if p["host_ip"] in ("", "0.0.0.0"):
        return f"{proto}_any", f"{p['host_port']} : {p['ip']} . {p['port']}"
    return f"{proto}_ip", f"{p['host_ip']} . {p['host_port']} : {p['ip']} . {p['port']}"


def add_ports(ports: list[PublishedPort]) -> None:
    """Program the DNAT elements of published ports in one transaction (all or nothing)."""
    if not ports:
        return
    script = "".join(f"add element ip {TABLE} {m} {{ {e} }}\n" for m, e in map(port_element, ports))
    try:
        try:
            nftables.run(script)
        except nftables.NftError as exc:
            if "No such file or directory" not in exc.detail:
                raise
            ensure()
            nftables.run(script)
    except nftables.NftError as exc:
        if "File exists" in exc.detail:
            raise EngineError("port is already allocated") from None
        raise


def remove_ports(ports: list[PublishedPort]) -> None:
    """Delete the DNAT elements (each on its own: one already gone must not keep the others)."""
    if not ports:
        return
    script = "".join(f"delete element ip {TABLE} {m} {{ {e.split(' : ')[0]} }}\n" for m, e in map(port_element, ports))
    if not _nft(script, check=False):
        for line in script.splitlines():
            _nft(line + "\n", check=False)
