"""Service endpoints: a service's published ports, virtual IPs, load balancing and DNS names.

The swarm service calls :meth:`Endpoints.apply` whenever a service's set of ready backends changes (a
backend is a task that runs and, with a health check, is healthy); it is idempotent. What it keeps:

- a VIP per network of the service (endpoint mode ``vip``), allocated from the network's IPAM (owner
  ``vip:<service id>``) and put on the network's bridge as a /32, balanced over the backends' addresses
  on that network, every port (:mod:`engine.network.balancer`);
- each ingress published port: the host port held by a bound socket (:class:`balancer.Reservations`)
  and DNAT'd over the backends, the client's own source address kept; no ready backend: refused;
- the DNS names on each network: ``<name>`` and its aliases → the VIP (``dnsrr``: every task address),
  ``tasks.<name>`` → every task address, in ``<root>/networks/<id>.services`` beside the network's
  hosts file, which the embedded resolver of every container on the network reads.

What is programmed is recorded in ``<root>/endpoints.json`` (written whole, atomically, under a lock),
so :meth:`recover` can put the rules, VIPs and port reservations back when the daemon starts, and
:meth:`remove` / :meth:`clear` take exactly them away.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import ipaddress
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config import Paths
from ..errors import Conflict, InvalidArgument, NotFound
from ..network import balancer, ipam, nftables
from ..state import State
from .networks import Networks

INGRESS_RANGE = (30000, 32767)  # docker's range for an ingress port published without a number


def vip_owner(service_id: str) -> str:
    return f"vip:{service_id}"


def root_tag(root: str) -> str:
    """The prefix of a data root's owners in the balancer's table (the table is the host's, shared)."""
    return hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:8] + "-"


def record_path(paths: Paths) -> str:
    return os.path.join(paths.root, "endpoints.json")


def leftovers(state: State, paths: Paths) -> list[tuple[str, str, str, Callable[[], object]]]:
    """``system check``'s findings: (kind, object, problem, repair) for the balancer rules and the VIP
    allocations of this data root that belong to no recorded service."""
    try:
        with open(record_path(paths)) as f:
            services = set((json.load(f) or {}).get("services") or {})
    except (OSError, ValueError):
        services = set()
    out: list[tuple[str, str, str, Callable[[], object]]] = []
    tag = root_tag(paths.root)
    if nftables.available():
        for owner in sorted(o for o in balancer.owners() if o.startswith(tag) and o[len(tag):] not in services):
            out.append(("service", owner[len(tag):], "has load-balancer rules but is no recorded service",
                        functools.partial(balancer.remove, owner)))
    for net_id, addr, owner in state.allocation_rows():
        if owner.startswith("vip:") and owner[4:] not in services:
            out.append(("ip", f"{net_id[:12]}/{addr}", f"virtual IP of {owner[4:]}, which is no recorded service",
                        functools.partial(state.delete_allocation, net_id, addr)))
    return out


class Endpoints:
    """The contract's ``Endpoints``: built by the Engine with (state, paths, networks)."""

    def __init__(self, state: State, paths: Paths, networks: Networks) -> None:
        self.state = state
        self.paths = paths
        self.networks = networks
        self.reservations = balancer.Reservations()
        self.path = record_path(paths)
        # the balancer's table is the host's, shared by every data root: owners carry this root's tag
        self.tag = root_tag(paths.root)

    def owner(self, service_id: str) -> str:
        """The balancer's owner name of a service of this data root."""
        return self.tag + service_id

    # -- the record ---------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The record, under the lock; written back (atomically) when the block ends without an error."""
        os.makedirs(self.paths.root, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            record = self._read()
            yield record
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path) as f:
                doc: dict[str, Any] = json.load(f)
        except (OSError, ValueError):
            return {"services": {}}
        doc.setdefault("services", {})
        return doc

    # -- ports --------------------------------------------------------------------------------------
    @staticmethod
    def _ingress_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for p in ports if (p.get("PublishMode") or "ingress") == "ingress"]

    def check_ports(self, ports: list[dict[str, Any]], service_id: str | None = None) -> None:
        """Raise Conflict naming the first published ingress port that is taken — by another service, a
        container or any socket on the host; nothing changes."""
        services = self._read()["services"]
        seen: set[tuple[str, int]] = set()
        for p in self._ingress_ports(ports):
            proto = (p.get("Protocol") or "tcp").lower()
            if proto not in balancer.PROTOS:
                raise InvalidArgument(f"invalid protocol {proto!r} for port {p.get('TargetPort')}: tcp or udp")
            published = int(p.get("PublishedPort") or 0)
            if not published:
                continue
            if (proto, published) in seen:
                raise InvalidArgument(f"duplicate published port {published}/{proto}")
            seen.add((proto, published))
            for sid, rec in services.items():
                if sid == service_id:
                    continue
                for q in rec.get("ports") or []:
                    if (q["Protocol"], q["PublishedPort"]) == (proto, published) and q["PublishMode"] == "ingress":
                        raise Conflict(f"port '{published}' is already in use by service '{rec.get('name', '')}' "
                                       f"({sid}) as an ingress port")
            mine = service_id is not None and any(
                (q["Protocol"], q["PublishedPort"]) == (proto, published)
                for q in (services.get(service_id) or {}).get("ports") or [])
            if mine:
                continue
            if not balancer.port_free(proto, published):
                raise Conflict(f"port '{published}' is already in use on this host ({proto})")

    def _assign_ports(self, ports: list[dict[str, Any]], services: dict[str, Any], sid: str) -> list[dict[str, Any]]:
        """PortConfig items with docker's defaults; an ingress port without a number gets one of 30000–32767
        (the one it had, if it had one)."""
        before = {(q["Protocol"], q["TargetPort"]): q["PublishedPort"]
                  for q in (services.get(sid) or {}).get("ports") or [] if q.get("_Assigned")}
        taken = {q["PublishedPort"] for rec in services.values() for q in rec.get("ports") or []}
        out = []
        for p in ports:
            proto = (p.get("Protocol") or "tcp").lower()
            mode = p.get("PublishMode") or "ingress"
            item: dict[str, Any] = {"Protocol": proto, "TargetPort": int(p.get("TargetPort") or 0),
                                    "PublishedPort": int(p.get("PublishedPort") or 0), "PublishMode": mode}
            if p.get("Name"):
                item["Name"] = p["Name"]
            if mode == "ingress" and not item["PublishedPort"]:
                again = before.get((proto, item["TargetPort"]))
                if again:
                    item["PublishedPort"] = again
                else:
                    for port in range(INGRESS_RANGE[0], INGRESS_RANGE[1] + 1):
                        if port not in taken and balancer.port_free(proto, port):
                            item["PublishedPort"] = port
                            break
                    else:
                        raise Conflict("no free port in the ingress range 30000-32767")
                item["_Assigned"] = True
                taken.add(item["PublishedPort"])
            out.append(item)
        return out

    # -- apply ----------------------------------------------------------------------------------------
    def _network_docs(self, service: dict[str, Any], ingress: bool) -> list[tuple[dict[str, Any], list[str]]]:
        """(network document, aliases) of every network of the service, ``ingress`` first when it publishes
        ingress ports."""
        spec = service.get("Spec") or {}
        nets = (spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or []
        out: list[tuple[dict[str, Any], list[str]]] = []
        if ingress:
            try:
                out.append((self.networks.resolve("ingress"), []))
            except NotFound:
                pass
        for n in nets:
            doc = self.networks.resolve(n.get("Target") or "")
            if all(doc["Id"] != d["Id"] for d, _a in out):
                out.append((doc, list(n.get("Aliases") or [])))
        return out

    async def apply(self, service: dict[str, Any], backends: list[dict[str, Any]]) -> dict[str, Any]:
        """Make the service's VIPs, balanced ingress ports and DNS records match ``backends``; returns the
        ``Service.Endpoint`` dict (Spec, Ports, VirtualIPs)."""
        sid = service["ID"]
        spec = service.get("Spec") or {}
        name = spec.get("Name") or sid
        ep_spec = dict(spec.get("EndpointSpec") or {})
        mode = ep_spec.get("Mode") or "vip"
        if mode not in ("vip", "dnsrr"):
            raise InvalidArgument(f"invalid endpoint mode {mode!r}: vip or dnsrr")
        raw_ports = list(ep_spec.get("Ports") or [])
        if mode == "dnsrr" and self._ingress_ports(raw_ports):
            raise InvalidArgument("port published with ingress mode can't be used with dnsrr mode")
        self.check_ports(raw_ports, sid)
        with self._locked() as record:
            services = record["services"]
            ports = self._assign_ports(raw_ports, services, sid)
            ingress_ports = self._ingress_ports(ports)
            nets = self._network_docs(service, bool(ingress_ports))
            old = services.get(sid) or {}
            self._sweep_vips(services, keep=sid)
            vips: dict[str, str] = {}
            fresh: dict[str, str] = {}  # allocated by this apply: released again if it fails
            try:
                for doc, _aliases in nets:
                    if mode != "vip" or not (doc.get("IPAM") or {}).get("Config"):
                        continue
                    vip = (old.get("vips") or {}).get(doc["Id"])
                    if not vip:
                        vip = fresh[doc["Id"]] = ipam.allocate(self.state, doc, vip_owner(sid))
                    vips[doc["Id"]] = vip
                entry = {"name": name, "mode": mode, "ports": ports, "vips": vips,
                         "networks": [{"id": d["Id"], "aliases": a} for d, a in nets],
                         "backends": [{"task_id": b.get("task_id", ""), "slot": b.get("slot"),
                                       "addresses": dict(b.get("addresses") or {})} for b in backends]}
                services[sid] = entry
                self._program(sid, entry, services, had=old)
            except BaseException:
                for net_id, vip in fresh.items():
                    self._drop_vip(sid, net_id, vip)
                if old:
                    services[sid] = old
                    self.reservations.keep_only(sid, {(p["Protocol"], p["PublishedPort"])
                                                      for p in self._ingress_ports(old.get("ports") or [])})
                else:
                    services.pop(sid, None)
                    self.reservations.keep_only(sid, set())
                raise
            for net_id, vip in (old.get("vips") or {}).items():
                if vips.get(net_id) != vip:
                    self._drop_vip(sid, net_id, vip)
        self._forget_flows(old.get("backends") or [], entry["backends"])
        self._write_dns({n["id"] for n in entry["networks"]} | {n["id"] for n in old.get("networks") or []})
        return self._endpoint(ep_spec, mode, ports, vips, nets)

    @staticmethod
    def _forget_flows(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> None:
        """The UDP flows of backends that left: their conntrack entries go, so a client that keeps sending
        from one socket is balanced again to a live replica (engine/network/conntrack.py)."""
        def addresses(backends: list[dict[str, Any]]) -> set[str]:
            return {str(a) for b in backends for a in (b.get("addresses") or {}).values() if a}
        gone = addresses(before) - addresses(now)
        if gone:
            from ..network import conntrack
            try:
                conntrack.forget(gone)
            except OSError:
                pass  # no conntrack in this kernel: no flow to forget

    @staticmethod
    def _endpoint(ep_spec: dict[str, Any], mode: str, ports: list[dict[str, Any]], vips: dict[str, str],
                  nets: list[tuple[dict[str, Any], list[str]]]) -> dict[str, Any]:
        shown = [{k: v for k, v in p.items() if not k.startswith("_")} for p in ports]
        spec: dict[str, Any] = {"Mode": mode}
        if ep_spec.get("Ports"):
            spec["Ports"] = [{k: v for k, v in p.items() if not k.startswith("_")} for p in ep_spec["Ports"]]
        out: dict[str, Any] = {"Spec": spec}
        if shown:
            out["Ports"] = shown
        if vips:
            prefix = {d["Id"]: ipaddress.ip_network(d["IPAM"]["Config"][0]["Subnet"]).prefixlen for d, _a in nets
                      if (d.get("IPAM") or {}).get("Config")}
            out["VirtualIPs"] = [{"NetworkID": nid, "Addr": f"{vip}/{prefix.get(nid, 32)}"}
                                 for nid, vip in vips.items()]
        return out

    def _program(self, sid: str, entry: dict[str, Any], services: dict[str, Any],
                 had: dict[str, Any] | None = None) -> None:
        """The balancer rules, VIP addresses and port reservations of one recorded service."""
        net_ids = [n["id"] for n in entry["networks"]]
        docs = {nid: ipam.network_by_id(self.state, nid) for nid in net_ids}
        preferred = net_ids  # ingress first when it is there

        def address(b: dict[str, Any]) -> str | None:
            addrs = b.get("addresses") or {}
            for nid in preferred:
                if addrs.get(nid):
                    return str(addrs[nid])
            return next((str(a) for a in addrs.values() if a), None)

        routes: list[balancer.Route] = []
        for p in self._ingress_ports(entry["ports"]):
            targets = [(a, p["TargetPort"]) for a in (address(b) for b in entry["backends"]) if a]
            routes.append({"proto": p["Protocol"], "vip": "", "port": p["PublishedPort"], "backends": targets})
        for nid, vip in entry["vips"].items():
            doc = docs.get(nid)
            if doc is None:
                continue
            balancer.add_vip(self.networks.bridge_of(doc), vip)
            targets = [(str(b["addresses"][nid]), 0) for b in entry["backends"] if (b.get("addresses") or {}).get(nid)]
            routes.append({"proto": "", "vip": vip, "port": 0, "backends": targets})
        wanted = {(p["Protocol"], p["PublishedPort"]) for p in self._ingress_ports(entry["ports"])}
        before = {(p["Protocol"], p["PublishedPort"]) for p in self._ingress_ports((had or entry).get("ports") or [])}
        for proto, port in sorted(wanted):
            self.reservations.hold(sid, proto, port, held_elsewhere=(proto, port) in before)
        self.reservations.keep_only(sid, wanted)
        balancer.program(self.owner(sid), routes, list(entry["vips"].values()), self._hairpin(services),
                         self._subnets())

    def _subnets(self) -> list[str]:
        """Every subnet of this data root's networks (the hairpin elements it may add or remove)."""
        return sorted(str(net) for _name, net in ipam.used_subnets(self.state))

    def _hairpin(self, services: dict[str, Any]) -> list[str]:
        subnets: set[str] = set()
        for rec in services.values():
            for n in rec.get("networks") or []:
                doc = ipam.network_by_id(self.state, n["id"])
                for cfg in ((doc or {}).get("IPAM") or {}).get("Config") or []:
                    if cfg.get("Subnet"):
                        subnets.add(cfg["Subnet"])
        return sorted(subnets)

    def _sweep_vips(self, services: dict[str, Any], keep: str = "") -> None:
        """Free the VIPs allocated to services the record does not know (a process killed between the
        allocation and the record's write)."""
        for net_id, addr, owner in self.state.allocation_rows():
            if owner.startswith("vip:") and owner[4:] not in services and owner[4:] != keep:
                self._drop_vip(owner[4:], net_id, addr)

    def _drop_vip(self, sid: str, net_id: str, vip: str) -> None:
        doc = ipam.network_by_id(self.state, net_id)
        if doc is not None and doc.get("Options", {}).get("com.docker.network.bridge.name"):
            balancer.remove_vip(doc["Options"]["com.docker.network.bridge.name"], vip)
        self.state.delete_allocation(net_id, vip)

    # -- remove, clear, recover ------------------------------------------------------------------------
    async def remove(self, service_id: str) -> None:
        """All of a service's rules, VIPs, port reservations and DNS records."""
        with self._locked() as record:
            services = record["services"]
            old = services.pop(service_id, None) or {}
            for net_id, vip in (old.get("vips") or {}).items():
                self._drop_vip(service_id, net_id, vip)
            self.state.release_addresses(vip_owner(service_id))
            self.reservations.keep_only(service_id, set())
            balancer.remove(self.owner(service_id), self._hairpin(services), self._subnets())
        self._write_dns({n["id"] for n in old.get("networks") or []})

    async def clear(self) -> None:
        """``swarm leave --force``: every service's rules, VIPs, reservations and DNS records."""
        with self._locked() as record:
            services = record["services"]
            nets: set[str] = set()
            for sid, old in list(services.items()):
                for net_id, vip in (old.get("vips") or {}).items():
                    self._drop_vip(sid, net_id, vip)
                nets |= {n["id"] for n in old.get("networks") or []}
            services.clear()
            for _net, addr, owner in self.state.allocation_rows():
                if owner.startswith("vip:"):
                    self.state.delete_allocation(_net, addr)
            self.reservations.release_all()
            for owner in sorted(o for o in balancer.owners() if o.startswith(self.tag)):
                balancer.remove(owner, [], self._subnets())
            if not balancer.owners():
                balancer.teardown()  # no data root has a service left: the host is as before
        self._write_dns(nets)

    def recover(self) -> None:
        """The rules, VIPs and reservations as the record says; nothing of a service that is no longer
        recorded. (The swarm's reconciler applies every service on its first pass after a start, which
        does the same one service at a time.)"""
        if not os.path.exists(self.path):
            return
        with self._locked() as record:
            services = record["services"]
            self._sweep_vips(services)
            recorded = {self.owner(sid) for sid in services}
            for owner in sorted(o for o in balancer.owners() if o.startswith(self.tag) and o not in recorded):
                balancer.remove(owner, self._hairpin(services), self._subnets())
            for sid, entry in list(services.items()):
                try:
                    self._program(sid, entry, services)
                except Conflict:
                    pass  # a port another process took while no daemon held it: the next apply says so
            self._write_dns({n["id"] for rec in services.values() for n in rec.get("networks") or []})

    def endpoint_of(self, service_id: str) -> dict[str, Any] | None:
        """The recorded endpoint of a service (ports with their assigned numbers, VIPs), or None."""
        found: dict[str, Any] | None = self._read()["services"].get(service_id)
        return found

    # -- DNS --------------------------------------------------------------------------------------------
    def _write_dns(self, network_ids: set[str]) -> None:
        services = self._read()["services"]
        for nid in network_ids:
            lines: list[str] = []
            for rec in services.values():
                net = next((n for n in rec.get("networks") or [] if n["id"] == nid), None)
                if net is None:
                    continue
                names = list(dict.fromkeys([rec["name"].lower()] + [a.lower() for a in net.get("aliases") or []]))
                task_ips = [str(b["addresses"][nid]) for b in rec.get("backends") or []
                            if (b.get("addresses") or {}).get(nid)]
                vip = (rec.get("vips") or {}).get(nid)
                if rec.get("mode") == "vip" and vip:
                    lines.append(f"{vip} " + " ".join(names))
                else:
                    lines += [f"{ip} " + " ".join(names) for ip in task_ips]
                lines += [f"{ip} " + " ".join(f"tasks.{n}" for n in names) for ip in task_ips]
            self.networks.write_services_dns(nid, lines)
