"""Networks (``docker network``) and the network half of container create / start / remove: the
``bridge``/``host``/``none`` networks, user-defined bridge networks, IPAM, published ports and embedded DNS.

Who does what:

- this service keeps networks and address allocations in the store, creates bridges on first use, and
  hands each start a plan (``opts["net"]``: endpoints, ports, DNS);
- the container's monitor carries the plan out with :mod:`engine.network.setup` (the containers service
  names that module in the plan): the namespace, veths, port reservations, DNAT elements and the
  resolver, undone when the container is done;
- crash recovery and ``rm`` release what a killed monitor left (:func:`setup.release`).
"""

from __future__ import annotations

import builtins
import ipaddress
import os
from typing import Any

from ..config import Paths
from ..errors import Conflict, InvalidArgument, NotFound, Unavailable
from ..network import bridge, ipam, ports, setup
from ..state import State
from .events import Events
from .records import ContainerRecords
from .filters import labels_pass, pattern_in, truth

PREDEFINED = ("bridge", "host", "none")
DNS_ADDRESS = "127.0.0.11"
BRIDGED = ("bridge", "overlay")  # an overlay network is a single-node bridge here, shown as docker's overlay
OVERLAY_POOLS = [f"10.0.{n}.0/24" for n in range(256)]  # docker's default address pool for swarm networks
NOT_MANAGER = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect "
               "this node to swarm and try again.")


class NetworkNotFound(NotFound):
    pass


def default_bridge_name(root: str) -> str:
    if root.rstrip("/") == "/var/lib/portside":
        return "portside0"
    import hashlib
    return "ps" + hashlib.sha1(root.encode()).hexdigest()[:9] + "0"


def now() -> str:
    from ..runtime.monitor import now_rfc3339
    return now_rfc3339()


class Networks:
    """``docker network …`` and the network half of container create / start / remove."""

    def __init__(self, state: State, paths: Paths, events: Events, records: ContainerRecords) -> None:
        self.state = state
        self.paths = paths
        self.events = events
        self.records = records
        # what a container's monitor carries the plan out with (attach / detach); the plan names it too
        self.monitor_side = setup
        self.monitor_modules = (setup.__name__, f"{setup.__package__}.dns")  # what a monitor may import of it

    def swarm_manager(self) -> bool:
        """Whether this node is a swarm manager (the swarm service keeps its row in the store)."""
        swarm = getattr(self.state, "swarm", None)
        return bool(swarm()) if callable(swarm) else False

    # -- networks ---------------------------------------------------------------------------------
    def ensure_predefined(self) -> None:
        if ipam.network_by_name(self.state, "bridge") is not None:
            return
        wanted = os.environ.get("PORTSIDE_BRIDGE_SUBNET")
        if wanted:
            net = ipam.parse_subnet(wanted)
        else:
            net = ipam.choose_subnet(self.state)
        gateway = str(next(net.hosts()))
        docs = [self._doc("bridge", "bridge", str(net), gateway, False, {},
                                  default_bridge_name(self.paths.root), default=True),
                self._doc("host", "host", None, None, False, {}, ""),
                self._doc("none", "null", None, None, False, {}, "")]
        for doc in docs:
            try:
                ipam.insert_network(self.state, doc)
            except Conflict:
                pass  # another process made them first

    def _doc(self, name: str, driver: str, subnet: str | None, gateway: str | None, internal: bool,
                     labels: dict[str, str], bridge_name: str, default: bool = False) -> dict[str, Any]:
        options = {"com.docker.network.bridge.name": bridge_name} if driver == "bridge" else {}
        if default:
            options["com.docker.network.bridge.default_bridge"] = "true"
        return {"Name": name, "Id": os.urandom(32).hex(), "Created": now(), "Scope": "local", "Driver": driver,
                "EnableIPv4": True, "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": None,
                         "Config": [{"Subnet": subnet, "Gateway": gateway}] if subnet else []},
                "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": {}, "Options": options, "Labels": labels or {}}

    def resolve(self, name_or_id: str) -> dict[str, Any]:
        self.ensure_predefined()
        doc = ipam.network_by_name(self.state, name_or_id)
        if doc is None and name_or_id and all(c in "0123456789abcdef" for c in name_or_id):
            ids = ipam.network_ids_with_prefix(self.state, name_or_id)
            if len(ids) == 1:
                doc = ipam.network_by_id(self.state, ids[0])
        if doc is None:
            raise NetworkNotFound(f"network {name_or_id} not found", network=name_or_id)
        return doc

    async def create(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
                             gateway: str | None = None, internal: bool = False,
                             labels: dict[str, str] | None = None, attachable: bool = False,
                             ingress: bool = False) -> dict[str, Any]:
        """``POST /networks/create``: returns ``{"Id": …, "Warning": ""}``. ``driver="overlay"`` (a swarm
        manager only) makes a single-node bridge network shown as docker's overlay, Scope swarm;
        ``ingress`` marks the swarm's routing-mesh network (one at most)."""
        self.ensure_predefined()
        if not name:
            raise InvalidArgument("network name is required")
        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network ")
        driver = driver or "bridge"
        if driver not in BRIDGED:
            raise InvalidArgument(f"plugin \"{driver}\" not found: only the bridge and overlay drivers are built in")
        if driver == "overlay" and not self.swarm_manager():
            raise Unavailable(NOT_MANAGER)
        if ingress and driver != "overlay":
            raise InvalidArgument("only an overlay network can be the ingress network")
        if ingress and any(d.get("Ingress") for d in ipam.network_rows(self.state)):
            raise Conflict("ingress network already exists")
        if ipam.network_by_name(self.state, name) is not None:
            raise Conflict(f"network with name {name} already exists")
        if gateway and not subnet:
            raise InvalidArgument("gateway without a subnet: give --subnet too")
        if subnet:
            net = ipam.parse_subnet(subnet)
            if str(net) != subnet and "/" in subnet and ipaddress.ip_interface(subnet).ip != net.network_address:
                raise InvalidArgument(f"invalid subnet {subnet}: it should be {net}")
            ipam.check_overlap(self.state, net)
        else:
            net = ipam.choose_subnet(self.state, OVERLAY_POOLS if driver == "overlay" else None)
        if gateway:
            try:
                gw = ipaddress.IPv4Address(gateway)
            except ValueError:
                raise InvalidArgument(f"invalid gateway address {gateway}") from None
            if gw not in net or gw in (net.network_address, net.broadcast_address):
                raise InvalidArgument(f"no matching subnet for gateway {gateway}")
        else:
            gateway = str(next(net.hosts()))
        doc = self._doc(name, "bridge", str(net), gateway, internal, labels or {}, "")
        doc["Options"]["com.docker.network.bridge.name"] = "br-" + doc["Id"][:12]
        if driver == "overlay":
            doc.update(Driver="overlay", Scope="swarm", Attachable=attachable, Ingress=ingress)
            doc["Options"]["com.docker.network.driver.overlay.vxlanid_list"] = str(4096 + int(doc["Id"][:3], 16))
        ipam.insert_network(self.state, doc)
        self.events.emit("network", "create", doc["Id"], name=name, type=driver)
        return {"Id": doc["Id"], "Warning": ""}

    def bridge_of(self, doc: dict[str, Any]) -> str:
        """The bridge of a bridge or overlay network, made on first use."""
        return self._bridge(doc)

    def _bridge(self, doc: dict[str, Any]) -> str:
        """The bridge of a bridge network, made on first use."""
        name = doc["Options"]["com.docker.network.bridge.name"]
        cfg = doc["IPAM"]["Config"][0]
        bridge.ensure(name, cfg["Subnet"], cfg["Gateway"], bool(doc.get("Internal")), self.paths.root)
        return str(name)

    def _containers(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for cdoc in self.state.containers():
            ep = (cdoc.get("NetworkSettings", {}).get("Networks") or {}).get(doc["Name"])
            if ep is None or ep.get("NetworkID") != doc["Id"]:
                continue
            out[cdoc["Id"]] = {"Name": cdoc["Name"].lstrip("/"), "EndpointID": ep.get("EndpointID", ""),
                               "MacAddress": ep.get("MacAddress", ""),
                               "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}" if ep.get("IPAddress") else "",
                               "IPv6Address": ""}
        return out

    async def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /networks`` with dockerd's filters; ``dangling=true`` keeps the networks no container
        or service uses (never the predefined ones), ``dangling=false`` the others."""
        self.ensure_predefined()
        filters = filters or {}
        dangling = truth(filters, "dangling")
        out = []
        for doc in ipam.network_rows(self.state):
            keep = True
            for key, values in filters.items():
                if key == "name" and not any(pattern_in(v, doc["Name"]) for v in values):
                    keep = False
                elif key == "id" and not any(doc["Id"].startswith(v) for v in values):
                    keep = False
                elif key == "driver" and doc["Driver"] not in values:
                    keep = False
                elif key == "scope" and doc.get("Scope", "local") not in values:
                    keep = False
                elif key == "type" and ("builtin" if doc["Name"] in PREDEFINED else "custom") not in values:
                    keep = False
                elif key in ("label", "label!") and not labels_pass(doc.get("Labels") or {}, {key: values}):
                    keep = False
            if keep and dangling is not None:
                used = doc["Name"] in PREDEFINED or bool(self._containers(doc)) or any(
                    o.startswith("vip:") for o in ipam.allocations(self.state, doc["Id"]))
                keep = used != dangling
            if keep:
                out.append(dict(doc, Containers={}))
        return sorted(out, key=lambda d: d["Name"])

    async def inspect(self, name_or_id: str) -> dict[str, Any]:
        doc = self.resolve(name_or_id)
        return dict(doc, Containers=self._containers(doc))

    async def delete(self, name_or_id: str) -> None:
        doc = self.resolve(name_or_id)
        if doc["Name"] in PREDEFINED:
            raise Conflict(f"{doc['Name']} is a pre-defined network and cannot be removed")
        services = sorted(o[len("vip:"):] for o in ipam.allocations(self.state, doc["Id"]) if o.startswith("vip:"))
        if services:
            raise Conflict(f"network {doc['Name']} is in use by service {services[0]}")
        users = self._containers(doc)
        if users:
            raise Conflict(f"error while removing network: network {doc['Name']} id {doc['Id']} has active "
                           f"endpoints")
        name = doc["Options"].get("com.docker.network.bridge.name", "")
        cfg = (doc["IPAM"]["Config"] or [{}])[0]
        bridge.remove(name, cfg.get("Subnet") or "")
        ipam.delete_network(self.state, doc["Id"])
        for path in (self.hosts_path(doc["Id"]), self.services_path(doc["Id"])):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.events.emit("network", "destroy", doc["Id"], name=doc["Name"], type=doc.get("Driver") or "bridge")

    async def prune(self, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """Remove the networks no container uses; ``label`` / ``label!`` filters narrow it, as dockerd's."""
        deleted = []
        for doc in ipam.network_rows(self.state):
            if doc["Name"] in PREDEFINED or self._containers(doc):
                continue
            if not labels_pass(doc.get("Labels") or {}, filters or {}):
                continue
            await self.delete(doc["Id"])
            deleted.append(doc["Name"])
        return {"NetworksDeleted": deleted or None}

    async def connect(self, name_or_id: str, container: str, *, aliases: builtins.list[str] | None = None,
                              ipv4: str | None = None) -> None:
        doc = self.resolve(name_or_id)
        cid = self.records.resolve(container)
        cdoc = self.state.container(cid) or {}
        mode = cdoc["HostConfig"].get("NetworkMode", "")
        if mode in ("host", "none") or mode.startswith("container:") or doc["Name"] in ("host", "none"):
            raise Conflict("container cannot be disconnected from host network or connected to host network"
                           if "host" in (mode, doc["Name"]) else
                           "container sharing network namespace with another container or host cannot be "
                           "connected to any other network")
        nets = cdoc["NetworkSettings"].setdefault("Networks", {})
        if doc["Name"] in nets:
            raise Conflict(f"endpoint with name {cdoc['Name'].lstrip('/')} already exists in network "
                           f"{doc['Name']}")
        ep = self.endpoint(cid, cdoc, doc, aliases or [], ipv4)
        nets[doc["Name"]] = ep
        try:
            st = self.records.runtime_state(cid)
            if st.get("status") == "running" and st.get("pid"):
                index = len(nets) - 1
                plan = self.endpoint_plan(cid, doc, ep, index, default_route=False)
                nsfd = os.open(f"/proc/{st['pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    setup.add_endpoint(nsfd, plan)
                finally:
                    os.close(nsfd)
                rec = setup.read_record(self.paths.container(cid))
                if rec is not None:
                    rec["veths"].append(plan["veth"])
                    setup._write(os.path.join(self.paths.container(cid), "net.json"), rec)
            self.state.update_container(cid, cdoc)
        except BaseException:
            ipam.release(self.state, cid, doc["Id"])
            raise
        self.write_hosts(doc)
        self.events.emit("network", "connect", doc["Id"], container=cid, name=doc["Name"], type="bridge")

    async def disconnect(self, name_or_id: str, container: str, *, force: bool = False) -> None:
        doc = self.resolve(name_or_id)
        cid = self.records.resolve(container)
        cdoc = self.state.container(cid) or {}
        nets = cdoc["NetworkSettings"].get("Networks") or {}
        if doc["Name"] not in nets:
            raise Conflict(f"container {cid} is not connected to network {doc['Name']}")
        if doc["Name"] in ("host", "none"):
            raise Conflict(f"container cannot be disconnected from {doc['Name']} network")
        index = list(nets).index(doc["Name"])
        ep = nets.pop(doc["Name"])
        st = self.records.runtime_state(cid)
        if st.get("status") == "running":
            veth = ep.get("_Veth") or self.veth_name(cid, index)
            setup.remove_endpoint(veth)
        if cdoc["HostConfig"].get("NetworkMode") == doc["Name"] and nets:
            cdoc["HostConfig"]["NetworkMode"] = next(iter(nets))
        # the last one gone: as dockerd, NetworkMode stays and the container may be connected again
        # (docker-compose disconnects and reconnects a created container to set its aliases)
        self.state.update_container(cid, cdoc)
        ipam.release(self.state, cid, doc["Id"])
        self.write_hosts(doc)
        self.events.emit("network", "disconnect", doc["Id"], container=cid, name=doc["Name"], type="bridge")

    # -- containers -------------------------------------------------------------------------------
    @staticmethod
    def veth_name(cid: str, index: int) -> str:
        return f"ps{cid[:10]}{index}"

    def endpoint(self, cid: str, cdoc: dict[str, Any], doc: dict[str, Any], aliases: builtins.list[str],
                          ipv4: str | None) -> dict[str, Any]:
        """Allocate an address for ``cid`` on ``doc`` and return its ``NetworkSettings.Networks`` entry."""
        if ipv4 and doc["Name"] == "bridge":
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if aliases and doc["Name"] == "bridge":
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        cfg = doc["IPAM"]["Config"][0]
        address = ipam.allocate(self.state, doc, cid, ipv4)
        prefix = ipaddress.ip_network(cfg["Subnet"]).prefixlen
        name = cdoc.get("Name", "").lstrip("/")
        dns_names = [] if doc["Name"] == "bridge" else [name, cid[:12]] + [a for a in aliases if a not in (name,)]
        return {"IPAMConfig": {"IPv4Address": ipv4} if ipv4 else None, "Links": None,
                "Aliases": list(aliases) or None, "MacAddress": "", "DriverOpts": None, "NetworkID": doc["Id"],
                "EndpointID": os.urandom(32).hex(), "Gateway": cfg["Gateway"], "IPAddress": address,
                "IPPrefixLen": prefix, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": dns_names or None}

    def for_create(self, cid: str, name: str, host: dict[str, Any], config: dict[str, Any],
                            hostname_default: str) -> tuple[str, dict[str, Any]]:
        """Check the network mode and ports of a new container and allocate its addresses.

        Returns (NetworkMode, NetworkSettings.Networks). Raises with docker's messages; on a raise nothing
        stays allocated.
        """
        mode = host.get("NetworkMode") or "default"
        if mode == "default":
            mode = "bridge"
        for key in (host.get("PortBindings") or {}):
            port, _, proto = key.partition("/")
            if not port.isdigit() or proto not in ("", "tcp", "udp"):
                raise InvalidArgument(f"invalid port specification: \"{key}\"")
        if mode in ("host", "none"):
            if host.get("PortBindings") and mode == "host":
                pass  # docker: published ports are discarded when using host network mode
            return mode, {mode: {}}
        if mode.startswith("container:"):
            other = self.records.resolve(mode.split(":", 1)[1])
            if other == cid:
                raise InvalidArgument("cannot join own network namespace")
            if host.get("PortBindings"):
                raise InvalidArgument("conflicting options: port publishing and the container type network mode")
            return f"container:{other}", {}
        doc = self.resolve(mode)
        if doc["Driver"] not in BRIDGED:
            return doc["Name"], {doc["Name"]: {}}
        endpoint = config.get("NetworkingConfig", {}).get("EndpointsConfig", {}).get(doc["Name"]) or \
            config.get("NetworkingConfig", {}).get("EndpointsConfig", {}).get(mode) or {}
        aliases = list(endpoint.get("Aliases") or [])
        ipv4 = (endpoint.get("IPAMConfig") or {}).get("IPv4Address")
        ep = self.endpoint(cid, {"Name": "/" + name}, doc, aliases, ipv4)
        return doc["Name"], {doc["Name"]: ep}

    def etc_files(self, cid: str, hostname: str, networks: dict[str, Any]) -> None:
        """/etc/hosts with the container's address; resolv.conf pointing at the embedded DNS on user networks."""
        cdir = self.paths.container(cid)
        first = next((ep for ep in networks.values() if ep.get("IPAddress")), None)
        if first is not None:
            path = os.path.join(cdir, "hosts")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace(f"127.0.1.1\t{hostname}\n", f"{first['IPAddress']}\t{hostname}\n"))
        if any(name not in PREDEFINED for name in networks):
            path = os.path.join(cdir, "resolv.conf")
            with open(path) as f:
                lines = [ln for ln in f.read().splitlines() if not ln.strip().startswith("nameserver")]
            with open(path, "w") as f:
                f.write(f"nameserver {DNS_ADDRESS}\n" + "\n".join(lines) + ("\n" if lines else "")
                        + ("options ndots:0\n" if not any(ln.startswith("options") for ln in lines) else ""))

    def release_ips(self, cid: str) -> None:
        ipam.release(self.state, cid)

    def endpoint_plan(self, cid: str, doc: dict[str, Any], ep: dict[str, Any], index: int,
                       default_route: bool) -> dict[str, Any]:
        return {"bridge": self._bridge(doc), "veth": self.veth_name(cid, index), "ifname": f"eth{index}",
                "address": ep["IPAddress"], "prefixlen": ep["IPPrefixLen"], "gateway": ep["Gateway"],
                "default_route": default_route and not doc.get("Internal"), "internal": bool(doc.get("Internal"))}

    def plan(self, cid: str, doc: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
        """The monitor's network plan for a start (``opts["net"]``); None when the spec's netns is enough."""
        mode = doc["HostConfig"].get("NetworkMode") or "none"
        if mode == "host":
            return None
        if mode.startswith("container:"):
            other = mode.split(":", 1)[1]
            st = self.records.runtime_state(other)
            if st.get("status") != "running" or not st.get("pid"):
                raise Conflict(f"cannot join network of a non running container: {other}")
            for ns in spec.get("linux", {}).get("namespaces", []):
                if ns.get("type") == "network":
                    ns["path"] = f"/proc/{st['pid']}/ns/net"
            return None
        nets = doc.get("NetworkSettings", {}).get("Networks") or {}
        endpoints: builtins.list[dict[str, Any]] = []
        user_nets: builtins.list[dict[str, Any]] = []
        for index, (name, ep) in enumerate(nets.items()):
            if not ep.get("IPAddress"):
                continue
            ndoc = ipam.network_by_id(self.state, ep["NetworkID"])
            if ndoc is None:
                raise NotFound(f"network {name} not found (it was removed while the container was stopped)")
            endpoints.append(self.endpoint_plan(cid, ndoc, ep, index, default_route=not endpoints))
            if name not in PREDEFINED:
                user_nets.append(ndoc)
        published = ports.plan(self._port_bindings(doc))
        dns = None
        if user_nets:
            dns = {"hosts": [p for n in user_nets for p in (self.hosts_path(n["Id"]), self.services_path(n["Id"]))],
                   "forward": not all(n.get("Internal") for n in user_nets)}
            for n in user_nets:
                self.write_hosts(n)  # the resolvers of the others re-read it on change
        return {"endpoints": endpoints, "ports": published, "dns": dns, "module": self.monitor_side.__name__}

    @staticmethod
    def _port_bindings(doc: dict[str, Any]) -> dict[str, builtins.list[dict[str, str]]]:
        host = doc.get("HostConfig", {})
        bindings = dict(host.get("PortBindings") or {})
        if host.get("PublishAllPorts"):
            for key in doc.get("Config", {}).get("ExposedPorts") or {}:
                bindings.setdefault(key if "/" in key else key + "/tcp", [{"HostIp": "", "HostPort": ""}])
        return bindings

    def release(self, cid: str) -> None:
        """Release the ports and veths a dead monitor left (no-op when it cleaned up itself)."""
        setup.release(self.paths.container(cid))

    def removed(self, doc: dict[str, Any]) -> None:
        """After ``rm``: the container's addresses go back to the pools, its names out of the DNS."""
        ipam.release(self.state, doc["Id"])
        for name, ep in (doc.get("NetworkSettings", {}).get("Networks") or {}).items():
            if name not in PREDEFINED and ep.get("NetworkID"):
                ndoc = ipam.network_by_id(self.state, ep["NetworkID"])
                if ndoc is not None:
                    self.write_hosts(ndoc)

    def recover(self) -> None:
        from ..runtime import cleanup
        croot = os.path.join(self.paths.root, "containers")
        ipam.release_orphans(self.state, lambda cid: cleanup.creating(croot, cid))
        bridge.gc_orphans()

    def summary(self, doc: dict[str, Any], running: bool) -> tuple[builtins.list[dict[str, Any]],
                                                                                   dict[str, Any]]:
        """(summary ``Ports``, inspect ``NetworkSettings.Ports``) for a container."""
        published: builtins.list[dict[str, Any]] = []
        if running:
            rec = setup.read_record(self.paths.container(doc["Id"]))
            published = (rec or {}).get("ports") or []
        exposed = doc.get("Config", {}).get("ExposedPorts")
        if doc.get("HostConfig", {}).get("NetworkMode") in ("host",):
            return [], {}
        return ports.docker_ports(published, exposed), ports.network_settings_ports(published, exposed)

    # -- embedded DNS data --------------------------------------------------------------------------
    def hosts_path(self, network_id: str) -> str:
        return os.path.join(self.paths.root, "networks", network_id + ".hosts")

    def services_path(self, network_id: str) -> str:
        """The service names on a network (``address name alias…``, several lines for one name: several
        A records), written by the service endpoints and read by the resolver beside the hosts file."""
        return os.path.join(self.paths.root, "networks", network_id + ".services")

    def write_services_dns(self, network_id: str, lines: builtins.list[str]) -> None:
        path = self.services_path(network_id)
        if not lines:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)

    def write_hosts(self, doc: dict[str, Any]) -> None:
        """The names the embedded DNS answers on this network: container name, short id and aliases."""
        lines = []
        for cdoc in self.state.containers():
            ep = (cdoc.get("NetworkSettings", {}).get("Networks") or {}).get(doc["Name"])
            if not ep or ep.get("NetworkID") != doc["Id"] or not ep.get("IPAddress"):
                continue
            names = [cdoc["Name"].lstrip("/"), cdoc["Id"][:12]] + list(ep.get("Aliases") or [])
            lines.append(ep["IPAddress"] + " " + " ".join(dict.fromkeys(n.lower() for n in names)))
        path = self.hosts_path(doc["Id"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + ("\n" if lines else ""))
        os.replace(tmp, path)
