"""The monitor's half of container networking: it owns the container's network for the monitor's life.

:func:`attach` runs in the monitor before the container starts: a new network namespace held by an
fd of the monitor, a veth pair per endpoint into its bridge (netlink, no process spawned), address,
default route and ``lo`` up inside, the host ports bound, the DNAT elements programmed, and the
embedded DNS resolver started. The spec's network namespace then points at the monitor's fd, so
restarts join the same namespace. What was programmed is written to ``net.json`` in the container
folder; :func:`release` undoes it from there — called by the monitor when the container is done, and
by the engine's crash recovery (``system.recover()``) / ``rm`` when a monitor died without doing it (``kill -9``).
The namespace, the reserved ports and the resolver die with the monitor's fds and children by
themselves; the veth goes with the namespace.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import EngineError
from . import nat, ports
from .netlink import Netlink, if_index, in_netns, new_netns

if TYPE_CHECKING:
    from ..runtime.monitor import MonitorOptions


class NetworkOwner(Protocol):
    """What :func:`attach` and :func:`detach` use of the container's monitor."""
    cdir: str  # the container folder (net.json, config.json)
    spec: dict[str, Any]  # the OCI spec: its network namespace is pointed at the monitor's fd
    opts: MonitorOptions  # "net" (the plan), "runtime"; attach adds "_net_fds" and "_dns"


def _configure_inside(endpoints: list[dict[str, Any]]) -> None:
    with Netlink() as nl:
        nl.set_up(1)
        for ep in endpoints:
            idx = if_index(ep["ifname"])
            nl.set_up(idx)
            nl.add_address(idx, ep["address"], ep["prefixlen"])
            if ep.get("default_route"):
                nl.add_default_route(ep["gateway"], idx)


def add_endpoint(nsfd: int, ep: dict[str, Any]) -> None:
    """One veth into ``ep["bridge"]``, its inside end configured (also used by ``network connect``)."""
    try:
        with Netlink() as nl:
            try:
                nl.delete_link(ep["veth"])  # a leftover of a monitor killed mid-set-up
            except OSError:
                pass
            nl.add_veth(ep["veth"], ep["ifname"], nsfd, master=if_index(ep["bridge"]))
        in_netns(nsfd, _configure_inside, [ep])
    except OSError as exc:
        raise EngineError(f"failed to set up the network endpoint {ep['ifname']} on {ep['bridge']}: "
                          f"{exc.strerror or exc}") from None


def remove_endpoint(veth: str) -> None:
    try:
        with Netlink() as nl:
            nl.delete_link(veth)
    except OSError:
        pass


def attach(mon: NetworkOwner) -> None:
    """Set up the container's network from ``mon.opts["net"]`` (raises EngineError, leaving nothing)."""
    net = mon.opts["net"]
    fds: list[int] = []
    record: dict[str, Any] = {"veths": [], "ports": []}
    path = os.path.join(mon.cdir, "net.json")
    try:
        nsfd = new_netns()
        fds.append(nsfd)
        endpoints = net.get("endpoints") or []
        if endpoints:
            with Netlink() as nl:
                for ep in endpoints:
                    try:
                        nl.delete_link(ep["veth"])
                    except OSError:
                        pass
                    try:
                        nl.add_veth(ep["veth"], ep["ifname"], nsfd, master=if_index(ep["bridge"]))
                    except OSError as exc:
                        raise EngineError(f"failed to set up the network endpoint on {ep['bridge']}: "
                                          f"{exc.strerror or exc}") from None
                    record["veths"].append(ep["veth"])
            try:
                in_netns(nsfd, _configure_inside, endpoints)
            except OSError as exc:
                raise EngineError(f"failed to configure the container's network: {exc.strerror or exc}") from None
        else:
            in_netns(nsfd, _configure_inside, [])
        published: list[nat.PublishedPort] = []
        target = next((ep for ep in endpoints if not ep.get("internal")), None)
        for p in net.get("ports") or []:
            if target is None:
                break  # docker: nothing is published from internal networks or --network none
            sock, host_port = ports.reserve(p)
            fds.append(sock.detach())
            published.append({"proto": p["proto"], "host_ip": p["host_ip"], "host_port": host_port,
                              "ip": target["address"], "port": p["port"]})
        record["ports"] = published
        _write(path, record)  # before programming: a crash after it still gets cleaned
        nat.add_ports(published)
        if net.get("dns"):
            from . import dns
            listen_fd, upstream_fd = dns.bind(nsfd)
            fds += [listen_fd, upstream_fd]
            mon.opts["_dns"] = {"module": dns.__name__, "fds": [listen_fd, upstream_fd],
                                "forward": bool(net["dns"].get("forward")), "hosts": list(net["dns"].get("hosts") or [])}
        for ns in mon.spec.get("linux", {}).get("namespaces", []):
            if ns.get("type") == "network":
                ns["path"] = f"/proc/{os.getpid()}/fd/{nsfd}"
        if mon.opts.get("runtime", "native") != "native":
            _write(os.path.join(mon.cdir, "config.json"), mon.spec)
    except BaseException as exc:
        if record["ports"] and isinstance(exc, EngineError) and "already allocated" in str(exc):
            record["ports"] = []  # the elements are someone else's
        release(mon.cdir, record)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        raise
    mon.opts["_net_fds"] = fds


def _write(path: str, doc: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def detach(mon: NetworkOwner) -> None:
    """The monitor's clean-up: undo what :func:`attach` did. The veths are left to go with the namespace
    (closing its fd below): deleting them here would cost the caller milliseconds of RCU grace periods."""
    release(mon.cdir, keep_veths=True)
    for fd in mon.opts.pop("_net_fds", None) or []:
        try:
            os.close(fd)
        except OSError:
            pass
    mon.opts.pop("_dns", None)


def read_record(cdir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(cdir, "net.json")) as f:
            record: dict[str, Any] = json.load(f)
            return record
    except (OSError, ValueError):
        return None


def release(cdir: str, record: dict[str, Any] | None = None, keep_veths: bool = False) -> None:
    """Delete the DNAT elements and host veths recorded for a container, then the record."""
    path = os.path.join(cdir, "net.json")
    if record is None:
        record = read_record(cdir)
        if record is None:
            return
    try:
        nat.remove_ports(record.get("ports") or [])
    except EngineError:
        pass
    for veth in [] if keep_veths else record.get("veths") or []:
        if os.path.exists(f"/sys/class/net/{veth}"):
            remove_endpoint(veth)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

