"""The service load balancer: nftables DNAT over each service's ready backends, in a table of its own.

``ip portside_svc`` sits beside :mod:`engine.network.nat`'s ``ip portside`` (whose bridges, forwarding
and masquerade of containers it relies on) and never touches it::

    ingress_tcp / ingress_udp   vmap  published port → jump i_<owner>_<proto>_<port>   (any host address)
    vip_any                     vmap  vip → jump v_<owner>_<vip hex>                  (every port, as docker's)
    i_… chains                  one rule: dnat ip to numgen inc mod N map { 0 : addr . port, … }
    v_… chains                  one rule: dnat ip to numgen inc mod N map { 0 : addr, … }  (port kept);
                                with no backend, dnat to the VIP itself: the connection is bound here
                                (no published port of any table takes it) and ``input`` refuses it
    refuse_tcp / refuse_udp     set   published ports with no ready backend: refused (tcp reset / icmp),
                                      untracked (``refuse_raw_*``), so no closed entry outlives the refusal
    vips                        set   every VIP: what the balancer does not forward there is refused
    hairpin                     set   subnet . subnet of the service networks (client and backend on one
                                      bridge: masquerade, or the backend would answer the client directly)

The DNAT runs in prerouting (traffic from outside and from containers) and output (the host's own
connections, 127.0.0.1 included: ``route_localnet`` and the ``ip portside`` table's masquerade of
127.0.0.0/8 do the rest, as for a container's ``-p``). A client from another network or from outside is
never masqueraded: the backend sees its own source address. A VIP is a /32 on its network's bridge,
so the containers there reach it on-link; its traffic always leaves by the bridge it came in on, so it
is masqueraded by ``hairpin``, and the host's ICMP redirects for such forwarded connections are dropped
(they would tell the client to bypass the VIP).

A service's whole state (an *owner*: a data root's tag and the service id; several data roots share the
table) is written by :func:`program` in one nftables transaction, replacing its chains and elements;
:func:`remove` drops them, :func:`teardown` the table.
:class:`Reservations` holds a bound socket on each published port, so that nothing else on the host
takes it while the service publishes it (as a container's monitor does for ``-p``).
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, TypedDict

from ..errors import Conflict, EngineError
from . import nftables

TABLE = "portside_svc"
FAMILY_TABLE = f"ip {TABLE}"
PROTOS = ("tcp", "udp")

RULESET = f"""
table ip {TABLE} {{
  set vips {{ type ipv4_addr; }}
  set refuse_tcp {{ type inet_service; }}
  set refuse_udp {{ type inet_service; }}
  set hairpin {{ type ipv4_addr . ipv4_addr; flags interval; }}
  map ingress_tcp {{ type inet_service : verdict; }}
  map ingress_udp {{ type inet_service : verdict; }}
  map vip_any {{ type ipv4_addr : verdict; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat - 5; policy accept;
    ip daddr vmap @vip_any
    fib daddr type local tcp dport vmap @ingress_tcp
    fib daddr type local udp dport vmap @ingress_udp
  }}
  chain output {{
    type nat hook output priority -105; policy accept;
    ip daddr vmap @vip_any
    fib daddr type local tcp dport vmap @ingress_tcp
    fib daddr type local udp dport vmap @ingress_udp
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat - 5; policy accept;
    ct status dnat ip saddr . ip daddr @hairpin masquerade
  }}
  chain input {{
    type filter hook input priority filter - 5; policy accept;
    ct state new ip daddr @vips meta l4proto tcp reject with tcp reset
    ct state new ip daddr @vips reject
    ct state new tcp dport @refuse_tcp reject with tcp reset
    ct state new udp dport @refuse_udp reject
  }}
  chain output_filter {{
    type filter hook output priority filter - 5; policy accept;
    icmp type redirect ct status dnat drop
  }}
}}
"""

# A connection refused on a published port that has no backend is not tracked: its tracking entry would
# stay 10 s, closed and without translation, and a new connection reusing its source port (clients'
# ports come round fast under load) would be tracked by it and refused again once there are backends.
# (Added to a table made before these chains were.)
UNTRACKED = f"""
add chain {FAMILY_TABLE} refuse_raw_prerouting {{ type filter hook prerouting priority raw; policy accept; }}
add rule {FAMILY_TABLE} refuse_raw_prerouting fib daddr type local tcp dport @refuse_tcp notrack
add rule {FAMILY_TABLE} refuse_raw_prerouting fib daddr type local udp dport @refuse_udp notrack
add chain {FAMILY_TABLE} refuse_raw_output {{ type filter hook output priority raw; policy accept; }}
add rule {FAMILY_TABLE} refuse_raw_output fib daddr type local tcp dport @refuse_tcp notrack
add rule {FAMILY_TABLE} refuse_raw_output fib daddr type local udp dport @refuse_udp notrack
add chain {FAMILY_TABLE} refuse_untracked {{ type filter hook input priority filter - 4; policy accept; }}
add rule {FAMILY_TABLE} refuse_untracked ct state untracked tcp dport @refuse_tcp reject with tcp reset
add rule {FAMILY_TABLE} refuse_untracked ct state untracked udp dport @refuse_udp reject
"""


class Route(TypedDict):
    """Where clients connect and who answers: ``vip`` "" is a published (ingress) ``port``/``proto`` on
    every host address, ``backends`` (address, target port) pairs; otherwise every port of the VIP,
    forwarded to the same port of the ``backends`` (address, 0) — ``proto`` and ``port`` unused."""
    proto: str
    vip: str
    port: int
    backends: list[tuple[str, int]]


def _chain(owner: str, r: Route) -> str:
    if r["vip"]:
        vhex = socket.inet_aton(r["vip"]).hex()
        return f"v_{owner}_{vhex}"
    return f"i_{owner}_{r['proto']}_{r['port']}"


def _owned(owner: str, name: str) -> bool:
    return name.startswith((f"i_{owner}_", f"v_{owner}_"))


def ensure() -> None:
    """The table with its fixed chains, unless it is there (under :mod:`.nat`'s lock, as its table)."""
    from . import nat
    fd = nat._lock()
    try:
        if nftables.exists(f"chain {FAMILY_TABLE} refuse_untracked"):
            return  # (the table's last chain: all there)
        nftables.run(UNTRACKED if nftables.exists(f"table {FAMILY_TABLE}") else RULESET + UNTRACKED)
    finally:
        os.close(fd)


class Table:
    """What the table holds now (one listing), with each element's owner where it has one."""

    def __init__(self) -> None:
        self.chains: set[str] = set()
        self.vmap: dict[tuple[str, str], str] = {}  # (map name, key text) → chain
        self.owned: dict[tuple[str, str], str] = {}  # (set name, key text) → owner (element comment)
        self.hairpin: set[str] = set()  # "a/n . b/n"
        for obj in nftables.listing(f"table {FAMILY_TABLE}"):
            if "chain" in obj:
                self.chains.add(obj["chain"]["name"])
            elif "map" in obj:
                for key, verdict in obj["map"].get("elem") or []:
                    self.vmap[(obj["map"]["name"], _key_text(key))] = (verdict.get("jump") or {}).get("target", "")
            elif "set" in obj:
                name = obj["set"]["name"]
                for e in obj["set"].get("elem") or []:
                    if name == "hairpin":
                        self.hairpin.add(_key_text(e))
                    elif isinstance(e, dict) and "elem" in e:
                        self.owned[(name, _key_text(e["elem"]["val"]))] = str(e["elem"].get("comment", ""))
                    else:
                        self.owned[(name, _key_text(e))] = ""


def _key_text(k: Any) -> str:
    if isinstance(k, dict):
        if "concat" in k:
            return " . ".join(_key_text(x) for x in k["concat"])
        if "prefix" in k:
            return f"{k['prefix']['addr']}/{k['prefix']['len']}"
        if "elem" in k:
            return _key_text(k["elem"]["val"])
    return str(k)


def _dnat_rule(r: Route) -> str:
    n = len(r["backends"])
    if r["vip"]:
        if n == 0:  # bound to itself, so no other table's DNAT takes it; then refused (``input``, ``vips``)
            return f"dnat ip to {r['vip']}"
        if n == 1:
            return f"dnat ip to {r['backends'][0][0]}"
        items = ", ".join(f"{i} : {a}" for i, (a, _p) in enumerate(r["backends"]))
        return f"dnat ip to numgen inc mod {n} map {{ {items} }}"
    if n == 1:
        addr, port = r["backends"][0]
        return f"meta l4proto {r['proto']} dnat ip to {addr}:{port}"
    items = ", ".join(f"{i} : {a} . {p}" for i, (a, p) in enumerate(r["backends"]))
    return f"meta l4proto {r['proto']} dnat ip to numgen inc mod {n} map {{ {items} }}"


def program(owner: str, routes: list[Route], vips: list[str], hairpin: list[str] | None = None,
            scope: list[str] | None = None) -> None:
    """Make the table hold exactly ``owner``'s ``routes`` and ``vips`` in one transaction; given
    ``hairpin`` (the subnets that have services), the hairpin set holds exactly those of the subnets in
    ``scope`` (the caller's networks: several data roots share the table, each minds its own subnets).
    Raises Conflict when a published port or VIP is another owner's."""
    ensure()
    script = _script(Table(), owner, routes, vips, hairpin, scope)
    if script:
        nftables.run(script)


def _script(now: Table, owner: str, routes: list[Route], vips: list[str], hairpin: list[str] | None,
            scope: list[str] | None = None) -> str:
    t = FAMILY_TABLE
    drop: list[str] = []
    add: list[str] = []
    wanted_chains: set[str] = set()
    wanted_vmap: dict[tuple[str, str], str] = {}
    wanted_owned: set[tuple[str, str]] = {("vips", v) for v in vips}
    for r in routes:
        key = r["vip"] or str(r["port"])
        mapname = "vip_any" if r["vip"] else f"ingress_{r['proto']}"
        holder = now.vmap.get((mapname, key))
        if holder and not _owned(owner, holder):
            raise Conflict(f"address {key} is already used by another service" if r["vip"] else
                           f"port {r['port']}/{r['proto']} is already published by another service")
        if not r["backends"] and not r["vip"]:
            wanted_owned.add((f"refuse_{r['proto']}", key))
            continue
        chain = _chain(owner, r)
        wanted_chains.add(chain)
        wanted_vmap[(mapname, key)] = chain
        add += [f"add chain {t} {chain}", f"flush chain {t} {chain}", f"add rule {t} {chain} {_dnat_rule(r)}"]
    for (mapname, key), chain in now.vmap.items():
        if _owned(owner, chain) and wanted_vmap.get((mapname, key)) != chain:
            drop.append(f"delete element {t} {mapname} {{ {key} }}")
    for (mapname, key), chain in wanted_vmap.items():
        if now.vmap.get((mapname, key)) != chain:
            add.append(f"add element {t} {mapname} {{ {key} : jump {chain} }}")
    for chain in sorted(now.chains):
        if _owned(owner, chain) and chain not in wanted_chains:
            drop += [f"flush chain {t} {chain}", f"delete chain {t} {chain}"]
    for (setname, key), who in now.owned.items():
        if who == owner and (setname, key) not in wanted_owned:
            drop.append(f"delete element {t} {setname} {{ {key} }}")
    for setname, key in sorted(wanted_owned):
        holder = now.owned.get((setname, key))
        if holder is None:
            add.append(f'add element {t} {setname} {{ {key} comment "{owner}" }}')
        elif holder != owner:
            raise Conflict(f"{'address' if setname == 'vips' else 'port'} {key} is already used by another service")
    if hairpin is not None:
        want = {f"{s} . {s}" for s in hairpin}
        mine = {f"{s} . {s}" for s in (scope if scope is not None else hairpin)}
        drop += [f"delete element {t} hairpin {{ {k} }}" for k in sorted((now.hairpin & mine) - want)]
        add += [f"add element {t} hairpin {{ {k} }}" for k in sorted(want - now.hairpin)]
    return "\n".join(drop + add) + "\n" if drop or add else ""


def remove(owner: str, hairpin: list[str] | None = None, scope: list[str] | None = None) -> None:
    """Every chain and element of ``owner`` (nothing when the table is not there)."""
    if not nftables.exists(f"table {FAMILY_TABLE}"):
        return
    script = _script(Table(), owner, [], [], hairpin, scope)
    if script:
        nftables.run(script)


def owners() -> set[str]:
    """The owners that have anything in the table."""
    now = Table()
    out = {who for who in now.owned.values() if who}
    for chain in now.chains:
        if chain.startswith(("i_", "v_")):
            out.add(chain.split("_")[1])
    return out


def teardown() -> None:
    """The whole table (when no owner is left in it)."""
    nftables.try_run(f"delete table {FAMILY_TABLE}")


def elements() -> set[tuple[str, str]]:
    """(set or map, element text) of every element, and ("chain", name) of every per-service chain: what
    a leak check compares (empty without the table)."""
    now = Table()
    out = {(m, f"{k} : {c}") for (m, k), c in now.vmap.items()}
    out |= {(s, f"{k} ({who})") for (s, k), who in now.owned.items()}
    out |= {("hairpin", k) for k in now.hairpin}
    out |= {("chain", c) for c in now.chains if c.startswith(("i_", "v_"))}
    return out


# -- VIP addresses on the bridges ----------------------------------------------------------------------
def add_vip(bridge: str, vip: str) -> None:
    """``vip``/32 on ``bridge`` (the containers there ARP for it); already there is fine."""
    from .netlink import Netlink, if_index
    try:
        with Netlink() as nl:
            nl.add_address(if_index(bridge), vip, 32)
    except FileExistsError:
        pass
    except OSError as exc:
        raise EngineError(f"failed to add the virtual IP {vip} to {bridge}: {exc.strerror or exc}") from None


def remove_vip(bridge: str, vip: str) -> None:
    from .netlink import Netlink, if_index
    try:
        with Netlink() as nl:
            nl.delete_address(if_index(bridge), vip, 32)
    except OSError:
        pass  # gone already, or the bridge is


# -- host port reservations ----------------------------------------------------------------------------
class Reservations:
    """A bound (not listening) socket per published port and protocol, per owner: nothing else on the host
    can bind the port while the service publishes it, and a connection that nftables does not forward is
    refused rather than accepted."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, int], tuple[str, socket.socket]] = {}

    def owner_of(self, proto: str, port: int) -> str | None:
        got = self.held.get((proto, port))
        return got[0] if got else None

    def hold(self, owner: str, proto: str, port: int, *, held_elsewhere: bool = False) -> None:
        """Bind ``port`` for ``owner``; ``held_elsewhere``: the port was the owner's already, so a failing
        bind means another process of this engine (the daemon) holds it, which is fine."""
        got = self.held.get((proto, port))
        if got is not None:
            if got[0] != owner:
                raise Conflict(f"port {port}/{proto} is already in use by another service")
            return
        try:
            self.held[(proto, port)] = (owner, bind(proto, port))
        except Conflict:
            if not held_elsewhere:
                raise

    def keep_only(self, owner: str, wanted: set[tuple[str, int]]) -> None:
        for key, (who, sock) in list(self.held.items()):
            if who == owner and key not in wanted:
                sock.close()
                del self.held[key]

    def release_all(self) -> None:
        for _who, sock in self.held.values():
            sock.close()
        self.held.clear()


def bind(proto: str, port: int) -> socket.socket:
    """A socket bound to 0.0.0.0:``port``; Conflict naming the port when something on the host has it."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
    try:
        s.bind(("0.0.0.0", port))
    except OSError as exc:
        s.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(f"port {port}/{proto} is already in use on this host") from None
        raise EngineError(f"cannot reserve port {port}/{proto}: {exc.strerror or exc}") from None
    return s


def port_free(proto: str, port: int) -> bool:
    """Whether ``port`` can be bound now (nothing on the host holds it)."""
    try:
        bind(proto, port).close()
    except EngineError:
        return False
    return True
