"""IP address management: subnets that do not collide, addresses handed out once, persisted in SQLite.

Rows live in the ``networks`` and ``ip_allocations`` tables of the data root's store; the SQL is in
:mod:`engine.state`. ``(network_id, address)`` is the primary key of an allocation, so an address is
never handed out twice, even by two engines racing.
"""

from __future__ import annotations

import ipaddress
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
    return state.networks()


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
    if not state.insert_network(doc):
        raise Conflict(f"network with name {doc['Name']} already exists")


def update_network(state: State, doc: dict[str, Any]) -> None:
    state.update_network(doc)


def delete_network(state: State, network_id: str) -> None:
    state.delete_network(network_id)


def network_by_name(state: State, name: str) -> dict[str, Any] | None:
    return state.network_by_name(name)


def network_by_id(state: State, network_id: str) -> dict[str, Any] | None:
    return state.network_by_id(network_id)


def network_ids_with_prefix(state: State, prefix: str) -> list[str]:
    return state.network_ids_with_prefix(prefix)


def allocate(state: State, doc: dict[str, Any], container_id: str, wanted: str | None = None) -> str:
    """An address of ``doc``'s subnet for ``container_id`` (``wanted`` when given and free)."""
    cfg = doc["IPAM"]["Config"][0]
    net = ipaddress.ip_network(cfg["Subnet"])
    gateway = cfg.get("Gateway")
    with state.tx():
        used = state.addresses_in(doc["Id"])
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
        state.add_allocation(doc["Id"], choice, container_id)
    return choice


def release(state: State, container_id: str, network_id: str | None = None) -> None:
    state.release_addresses(container_id, network_id)


def allocations(state: State, network_id: str) -> dict[str, str]:
    """container id → address on this network."""
    return state.allocations(network_id)


def orphan_allocations(state: State) -> list[str]:
    return state.orphan_allocations()


def release_orphans(state: State, being_created: Callable[[str], bool]) -> list[str]:
    """Free the addresses of containers that have no row and are not ``being_created``; returns their ids.

    Listed, checked and freed under one write lock, so no create can write its row in between; a create
    holds its creation lock from before it allocates until its row is in, so ``being_created`` (that
    lock's test) is true for every allocation without a row whose creator still runs.
    """
    with state.tx():
        freed = [cid for cid in state.orphan_allocations() if not being_created(cid)]
        for cid in freed:
            state.release_addresses(cid)
    return freed
