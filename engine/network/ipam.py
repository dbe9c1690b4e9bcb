"""IP address management: subnets that do not collide, addresses handed out once, persisted in SQLite.

Rows live in the ``networks`` and ``ip_allocations`` tables of the data root's state (see
:mod:`engine.state`). ``(network_id, address)`` is the primary key of an allocation, so an address is
never handed out twice, even by two engines racing.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..errors import Conflict, InvalidArgument
from ..state import State

# where a subnet is chosen from when none is given: docker's pools, after Portside's own 10.88/16..
DEFAULT_POOLS = [f"10.{n}.0.0/16" for n in range(88, 100)] + [f"172.{n}.0.0/16" for n in range(17, 32)] + \
    [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


def host_routes() -> list[ipaddress.IPv4Network]:
    """Destinations of the host's IPv4 routes (main table, from /proc: no process spawned)."""
    nets = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                parts = line.split()
                dest, mask = int(parts[1], 16), int(parts[7], 16)
                if mask == 0:
                    continue  # the default route collides with nothing
                d = ipaddress.IPv4Address(dest.to_bytes(4, "little"))
                m = bin(mask).count("1")
                nets.append(ipaddress.IPv4Network(f"{d}/{m}", strict=False))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return nets


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f"IPv6 subnets are not supported by this engine: {text}")
    if net.prefixlen > 30:
        raise InvalidArgument(f"subnet {text} is too small: at least a /30 is needed")
    return net


def network_rows(state: State) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in state.db.execute("SELECT doc FROM networks ORDER BY created")]


def used_subnets(state: State) -> list[tuple[str, ipaddress.IPv4Network]]:
    out = []
    for doc in network_rows(state):
        for cfg in (doc.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                out.append((doc["Name"], ipaddress.ip_network(cfg["Subnet"])))
    return out  # type: ignore[return-value]


def check_overlap(state: State, net: ipaddress.IPv4Network) -> None:
    for name, other in used_subnets(state):
        if net.overlaps(other):
            raise Conflict("invalid pool request: Pool overlaps with other one on this address space")
    for route in host_routes():
        if net.overlaps(route) and not route.prefixlen == 0:
            if any(route == other for _, other in used_subnets(state)):
                continue
            raise Conflict(f"invalid pool request: Pool overlaps with other one on this address space "
                           f"(the host routes {route})")


def choose_subnet(state: State, preferred: list[str] | None = None) -> ipaddress.IPv4Network:
    """The first pool that overlaps neither our networks nor any host route."""
    taken = [n for _, n in used_subnets(state)] + host_routes()
    for text in (preferred or []) + DEFAULT_POOLS:
        net = ipaddress.ip_network(text)
        if not any(net.overlaps(t) for t in taken):
            return net  # type: ignore[return-value]
    raise Conflict("could not find an available, non-overlapping IPv4 address pool among the defaults to "
                   "assign to the network")


def insert_network(state: State, doc: dict[str, Any]) -> None:
    try:
        with state.tx() as db:
            db.execute("INSERT INTO networks(id, name, created, doc) VALUES (?,?,?,?)",
                       (doc["Id"], doc["Name"], time.time(), json.dumps(doc)))
    except sqlite3.IntegrityError:
        raise Conflict(f"network with name {doc['Name']} already exists") from None


def update_network(state: State, doc: dict[str, Any]) -> None:
    with state.tx() as db:
        db.execute("UPDATE networks SET doc=? WHERE id=?", (json.dumps(doc), doc["Id"]))


def delete_network(state: State, network_id: str) -> None:
    with state.tx() as db:
        db.execute("DELETE FROM networks WHERE id=?", (network_id,))
        db.execute("DELETE FROM ip_allocations WHERE network_id=?", (network_id,))


def network_by_name(state: State, name: str) -> dict[str, Any] | None:
    row = state.db.execute("SELECT doc FROM networks WHERE name=?", (name,)).fetchone()
    return json.loads(row[0]) if row else None


def network_by_id(state: State, network_id: str) -> dict[str, Any] | None:
    row = state.db.execute("SELECT doc FROM networks WHERE id=?", (network_id,)).fetchone()
    return json.loads(row[0]) if row else None


def network_ids_with_prefix(state: State, prefix: str) -> list[str]:
    return [r[0] for r in state.db.execute("SELECT id FROM networks WHERE id >= ? AND id < ?",
                                           (prefix, prefix + "\x7f")).fetchall()]


def allocate(state: State, doc: dict[str, Any], container_id: str, wanted: str | None = None) -> str:
    """An address of ``doc``'s subnet for ``container_id`` (``wanted`` when given and free)."""
    cfg = doc["IPAM"]["Config"][0]
    net = ipaddress.ip_network(cfg["Subnet"])
    gateway = cfg.get("Gateway")
    with state.tx() as db:
        used = {r[0] for r in db.execute("SELECT address FROM ip_allocations WHERE network_id=?", (doc["Id"],))}
        if wanted:
            try:
                addr = ipaddress.ip_address(wanted)
            except ValueError:
                raise InvalidArgument(f"invalid IPv4 address: {wanted}") from None
            if addr not in net or addr in (net.network_address, net.broadcast_address):
                raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {wanted}")
            if str(addr) == gateway or str(addr) in used:
                raise Conflict("Address already in use")
            choice = str(addr)
        else:
            choice = ""
            for host in net.hosts():
                text = str(host)
                if text != gateway and text not in used:
                    choice = text
                    break
            if not choice:
                raise Conflict(f"no available IPv4 addresses on this network's address pools: {doc['Name']} "
                               f"({doc['Id'][:12]})")
        db.execute("INSERT INTO ip_allocations(network_id, address, container_id) VALUES (?,?,?)",
                   (doc["Id"], choice, container_id))
    return choice


def release(state: State, container_id: str, network_id: str | None = None) -> None:
    with state.tx() as db:
        if network_id is None:
            db.execute("DELETE FROM ip_allocations WHERE container_id=?", (container_id,))
        else:
            db.execute("DELETE FROM ip_allocations WHERE container_id=? AND network_id=?",
                       (container_id, network_id))


def allocations(state: State, network_id: str) -> dict[str, str]:
    """container id → address on this network."""
    return {r[1]: r[0] for r in state.db.execute(
        "SELECT address, container_id FROM ip_allocations WHERE network_id=?", (network_id,))}


def orphan_allocations(state: State) -> list[str]:
    return [r[0] for r in state.db.execute(
        "SELECT DISTINCT container_id FROM ip_allocations WHERE container_id NOT IN (SELECT id FROM containers)")]


def release_orphans(state: State, being_created: Callable[[str], bool]) -> list[str]:
    """Free the addresses of containers that have no row and are not ``being_created``; returns their ids.

    Listed, checked and freed under one write lock, so no create can write its row in between; a create
    holds its creation lock from before it allocates until its row is in, so ``being_created`` (that
    lock's test) is true for every allocation without a row whose creator still runs.
    """
    with state.tx() as db:
        freed = [cid for cid in orphan_allocations(state) if not being_created(cid)]
        for cid in freed:
            db.execute("DELETE FROM ip_allocations WHERE container_id=?", (cid,))
    return freed
