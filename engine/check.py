"""``portside system check``: the data root's invariants, checked one by one, and repaired on request.

Each check looks at one kind of thing and reports what is inconsistent as a finding::

    {"kind": "blob", "object": "sha256:…", "problem": "content does not match its digest", "repaired": False}

With ``repair=True`` each finding's fix runs at once and ``repaired`` says whether it worked. The checks,
in order (a later one sees what an earlier repair changed):

    blob        every stored blob hashes to its name, and some image (or running build) uses it
    layer       every unpacked layer belongs to an image or a container
    image       its config and layer blobs are present; its parent exists
    tag         points at an image that exists
    build-cache points at an image that exists
    container   its folder exists; its image's layers are unpacked; not recorded running without a monitor
    folder      a container folder has a container row
    volume      a volume row has its folder and a volume folder its row
    ip          allocations belong to existing containers and networks, one address per container and
                network, the one the container records
    cgroup      no cgroup, veth or published-port record is left for a container that is not running,
                and no RUN step's cgroup (``portside/build-<id>``) for a build that is not running
    veth / nat  and the nftables port elements match the running containers' published ports
    service     no load-balancer rule or virtual IP is left of a service the endpoints do not record
    mount       every mount under the data root belongs to a running container or a live operation
    temp        every temp file and dir belongs to a live operation

Nothing here is imported by a command's hot path: only ``system check`` loads it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .runtime import cleanup

if TYPE_CHECKING:
    from .config import Paths
    from .network.nat import PublishedPort
    from .services.containers import Containers
    from .services.images import Images
    from .state import State

Finding = dict[str, Any]


class Checker:
    def __init__(self, state: State, paths: Paths, images: Images, containers: Containers, repair: bool) -> None:
        self.state = state
        self.paths = paths
        self.image_service = images  # (the check steps are named images, containers, …)
        self.container_service = containers
        self.blobstore = images.blobs
        self.root = paths.root
        self.repair = repair
        self.findings: list[Finding] = []
        self.bad_blobs: set[str] = set()  # found corrupt: as good as missing to the images using them

    def add(self, kind: str, obj: str, problem: str, fix: Callable[[], object] | None = None) -> None:
        repaired = False
        if self.repair and fix is not None:
            try:
                fix()
                repaired = True
            except Exception:  # noqa: BLE001 - reported as not repaired
                repaired = False
        self.findings.append({"kind": kind, "object": obj, "problem": problem, "repaired": repaired})

    def run(self) -> list[Finding]:
        for step in (self.blobs, self.images, self.tags, self.build_cache, self.orphans, self.containers, self.folders,
                     self.volumes, self.ips, self.stopped_leftovers, self.build_cgroups, self.nat, self.services,
                     self.mounts, self.temps):
            step()
        return self.findings

    # -- images ---------------------------------------------------------------------------------
    def blobs(self) -> None:
        store = self.blobstore
        for digest in list(store.digests()):
            h = hashlib.sha256()
            try:
                with store.open(digest) as f:
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        h.update(chunk)
            except OSError:
                continue
            if "sha256:" + h.hexdigest() != digest:
                self.bad_blobs.add(digest)
                self.add("blob", digest, "content does not match its digest", partial(store.delete, digest))

    def orphans(self) -> None:
        store = self.blobstore
        stored = list(store.digests())
        live, live_chains = self.image_service.live_blobs()
        for digest in stored:
            if digest not in live and digest not in self.bad_blobs:
                self.add("blob", digest, "is used by no image", partial(store.delete, digest))
        layers = self.paths.layers
        for name in sorted(os.listdir(layers)):
            if name.startswith(".") or name in live_chains or self.image_service.layer_in_use(name):
                continue
            path = os.path.join(layers, name)
            self.add("layer", path, "is used by no image", partial(cleanup.remove_temp, path))

    def _drop_image(self, image_id: str) -> None:
        for ref in self.state.tags_of(image_id):
            self.state.delete_tag(ref)
        self.state.cache_delete_image(image_id)
        self.state.delete_image(image_id)

    def images(self) -> None:
        store = self.blobstore

        def has(digest: str) -> bool:
            return store.has(digest) and digest not in self.bad_blobs
        for image_id, _parent, _i, doc in self.state.image_rows():
            if not has(image_id):
                self.add("image", image_id, "config blob is missing or corrupt", partial(self._drop_image, image_id))
                continue
            missing = [d for d in doc.get("Layers", []) if not has(d)]
            if missing:
                self.add("image", image_id, f"layer {missing[0]} is missing or corrupt",
                         partial(self._drop_image, image_id))
        ids = {row[0] for row in self.state.image_rows()}
        for image_id, parent, _i, doc in self.state.image_rows():
            if parent and parent not in ids:
                def fix(i: str = image_id, d: dict[str, Any] = doc) -> None:
                    self.state.put_image(i, dict(d, Parent=""), parent="", intermediate=self.state.image_intermediate(i))
                self.add("image", image_id, f"parent {parent} does not exist", fix)

    def tags(self) -> None:
        for image_id, refs in self.state.all_tags().items():
            if self.state.image(image_id) is None:
                for ref in refs:
                    self.add("tag", ref, f"points to missing image {image_id}",
                             partial(self.state.delete_tag, ref))

    def build_cache(self) -> None:
        for key, image_id in self.state.cache_rows():
            if self.state.image(image_id) is None:
                def fix(k: str = key) -> None:
                    self.state.cache_delete(k)
                self.add("build-cache", key[:12], f"points to missing image {image_id}", fix)

    # -- containers -----------------------------------------------------------------------------
    def running(self, cid: str) -> bool:
        """Whether a live monitor owns the container (it holds the monitor lock)."""
        cdir = self.paths.container(cid)
        if not os.path.isdir(cdir):
            return False
        lock = cleanup.monitor_lock(cdir)
        if lock is None:
            return True
        os.close(lock)
        return False

    def containers(self) -> None:
        from .services.records import pid_alive
        for doc in self.state.containers():
            cid = doc["Id"]
            cdir = self.paths.container(cid)
            if not os.path.isdir(cdir):
                self.add("container", cid, "has no folder",
                         partial(cleanup.remove_container_files, self.root, cid))
                continue
            st = cleanup.read_state(cdir)
            if st.get("status") in ("running", "restarting") and not pid_alive(st.get("monitor_pid", 0),
                                                                                  st.get("monitor_start")):
                def recover(d: dict[str, Any] = doc) -> None:
                    if self.container_service.recover_lost_monitor(d) is None:
                        raise RuntimeError("another process holds its monitor lock")
                self.add("container", cid, f"recorded {st['status']} but its monitor is gone", recover)
            image = doc.get("Image", "")
            if image and self.state.image(image) is None:
                self.add("container", cid, f"image {image} does not exist",
                         partial(self.image_service.register, image) if self.blobstore.has(image) else None)
            chains = doc.get("GraphDriver", {}).get("Data", {}).get("Chains", [])
            missing = [c for c in chains if not os.path.isdir(os.path.join(self.paths.layers, c))]
            if missing and not self.running(cid):
                image = doc.get("Image", "")
                self.add("container", cid, f"layer {missing[0][:12]} of its image is not unpacked",
                         partial(self.image_service.unpack, image) if self.state.image(image) else None)

    def folders(self) -> None:
        croot = os.path.join(self.root, "containers")
        known = {c["Id"] for c in self.state.containers()}
        for name in sorted(os.listdir(croot)):
            if name in known or name.startswith("."):
                continue
            path = os.path.join(croot, name)
            if len(name) == 64 and (cleanup.creating(croot, name) or self.state.container(name)):
                continue
            if os.path.isdir(path) and self.running(name):
                continue
            self.add("folder", path, "has no container", partial(cleanup.remove_temp, path))

    def volumes(self) -> None:
        rows = {v["Name"] for v in self.state.volumes()}
        for name in sorted(rows):
            if not os.path.isdir(self.paths.volume(name)):
                self.add("volume", name, "has no folder",
                         partial(os.makedirs, self.paths.volume(name), exist_ok=True))
        vroot = self.paths.volumes
        for name in sorted(os.listdir(vroot)):
            if name not in rows and not name.startswith("."):
                path = os.path.join(vroot, name)
                self.add("volume", name, "folder has no volume", partial(cleanup.remove_temp, path))

    # -- networking -----------------------------------------------------------------------------
    def ips(self) -> None:
        try:
            rows = self.state.allocation_rows()
        except Exception:  # noqa: BLE001 - a data root from before networks
            return
        networks = self.state.network_ids()
        docs = {c["Id"]: c for c in self.state.containers()}
        croot = os.path.join(self.root, "containers")

        def drop(net: str, addr: str) -> None:
            self.state.delete_allocation(net, addr)

        def recorded(cid: str, net: str) -> str | None:
            for ep in (docs[cid].get("NetworkSettings", {}).get("Networks") or {}).values():
                if ep.get("NetworkID") == net and ep.get("IPAddress"):
                    return str(ep["IPAddress"])
            return None

        held: dict[tuple[str, str], str] = {}  # (network, address) -> container
        for net, addr, cid in rows:
            obj = f"{net[:12]}/{addr}"
            if cid.startswith("vip:"):
                continue  # a service's virtual IP: the service endpoints' own
            if cid not in docs:
                if not cleanup.creating(croot, cid):
                    self.add("ip", obj, f"allocated to missing container {cid[:12]}",
                             partial(drop, net, addr))
                continue
            if net not in networks:
                self.add("ip", obj, "allocated on a missing network", partial(drop, net, addr))
                continue
            want = recorded(cid, net)
            if want != addr:
                problem = (f"duplicates container {cid[:12]}'s address {want}" if want
                           else f"allocated to container {cid[:12]}, which has no address on that network")
                self.add("ip", obj, problem, partial(drop, net, addr))
                continue
            held[(net, addr)] = cid
        for cid, doc in docs.items():
            for name, ep in (doc.get("NetworkSettings", {}).get("Networks") or {}).items():
                net, addr = ep.get("NetworkID"), ep.get("IPAddress")
                if not net or not addr or net not in networks or held.get((net, addr)) == cid:
                    continue
                owner = held.get((net, addr))
                if owner:
                    self.add("ip", f"{net[:12]}/{addr}", f"recorded by container {cid[:12]} but allocated to "
                             f"container {owner[:12]}")
                    continue

                def allocate(n: str = net, a: str = addr, c: str = cid) -> None:
                    self.state.add_allocation(n, a, c)
                self.add("ip", f"{net[:12]}/{addr}", f"recorded by container {cid[:12]} on {name} but not allocated",
                         allocate)

    def stopped_leftovers(self) -> None:
        """Cgroups, host veths and published-port elements of containers no monitor runs."""
        from .network import setup
        from .runtime import cgroups
        for doc in self.state.containers():
            cid = doc["Id"]
            if self.running(cid):
                continue
            cg = doc.get("HostConfig", {}).get("_Cgroup")
            if cg:
                c = cgroups.Cgroup(cg)
                if c.exists():
                    def fix(c: Any = c) -> None:
                        if c.pids():
                            c.kill_all()
                        c.destroy()
                    self.add("cgroup", cg, "left by a container that is not running", fix)
            for index, _ep in enumerate((doc.get("NetworkSettings", {}).get("Networks") or {}).values()):
                veth = f"ps{cid[:10]}{index}"
                if os.path.exists(f"/sys/class/net/{veth}"):
                    self.add("veth", veth, f"left by container {cid[:12]}, which is not running",
                             partial(setup.remove_endpoint, veth))
            cdir = self.paths.container(cid)
            rec = setup.read_record(cdir)
            if rec is not None:
                self.add("nat", cid[:12], f"{len(rec.get('ports') or [])} published port(s) recorded for a container "
                         "that is not running", partial(setup.release, cdir))

    # a build cgroup younger than this may be a build that made it and is about to start its step
    BUILD_CGROUP_GRACE = 60.0

    def build_cgroups(self) -> None:
        """RUN steps' cgroups whose build is gone. Cgroups are the host's, so a build of another data
        root may own one: it is in use while a process in it has a live build as its parent, or (empty)
        while it is younger than :attr:`BUILD_CGROUP_GRACE`."""
        import time

        from .runtime import cgroups
        try:
            mode = cgroups.detect()
        except Exception:  # noqa: BLE001 - no cgroup filesystem: nothing can be left
            return
        bases = [cgroups.ROOT] if mode == "v2" else [os.path.join(cgroups.ROOT, c) for c in cgroups.V1_CONTROLLERS]
        ages: dict[str, float] = {}
        for base in bases:
            try:
                names = os.listdir(os.path.join(base, "portside"))
            except OSError:
                continue
            for name in names:
                if name.startswith("build-"):
                    try:
                        mtime = os.stat(os.path.join(base, "portside", name)).st_mtime
                    except OSError:
                        continue
                    ages[name] = max(ages.get(name, 0.0), mtime)
        if not ages:
            return
        noted = {v for lines in cleanup.live_operations(self.root) for k, v in lines if k == "cgroup"}
        now = time.time()
        for name in sorted(ages):
            group = cgroups.Cgroup(f"portside/{name}")
            if group.name in noted:
                continue
            pids = group.pids()
            if pids and any(_builder_alive(pid, pids) for pid in pids):
                continue
            if not pids and now - ages[name] < self.BUILD_CGROUP_GRACE:
                continue
            self.add("cgroup", group.name, "belongs to no running build" + (f" ({len(pids)} process(es) still in it)" if pids else ""),
                     partial(cleanup.remove_cgroup, group.name))

    def nat(self) -> None:
        """nftables port elements: each running container's published ports are programmed, and no
        element leads to an address of our networks that no running container publishes."""
        import ipaddress

        from .network import ipam, nat, nftables, setup
        subnets = [net for _name, net in ipam.used_subnets(self.state)]
        if not subnets:
            return
        expected: dict[tuple[str, str], PublishedPort] = {}
        for doc in self.state.containers():
            if not self.running(doc["Id"]):
                continue
            for p in (setup.read_record(self.paths.container(doc["Id"])) or {}).get("ports") or []:
                m, elem = nat.port_element(p)
                expected[(m, elem.split(" : ")[0])] = p
        if not nftables.available():
            return
        present = {(m, key): target for m, key, target in nat.port_elements()}
        for (m, key), target in sorted(present.items()):
            try:
                addr = ipaddress.ip_address(target.split(" . ")[0])
            except ValueError:
                continue
            if (m, key) not in expected and any(addr in net for net in subnets):
                self.add("nat", f"{m} {key}", f"leads to {target}, which no running container publishes",
                         partial(nat._nft, f"delete element ip {nat.TABLE} {m} {{ {key} }}\n"))
        for (m, key), p in sorted(expected.items()):
            if (m, key) not in present:
                self.add("nat", f"{m} {key}", f"published port of a running container is not programmed",
                         partial(nat.add_ports, [p]))

    def services(self) -> None:
        """Load-balancer rules and virtual IPs of services the endpoints' record does not know."""
        from .services.endpoints import leftovers
        for kind, obj, problem, fix in leftovers(self.state, self.paths):
            self.add(kind, obj, problem, fix)

    # -- mounts and temp files ------------------------------------------------------------------
    def mounts(self) -> None:
        root = os.path.realpath(self.root)
        containers = os.path.join(root, "containers") + "/"
        tmp = os.path.join(root, "tmp") + "/"
        for mp in sorted(cleanup.mounts_under(root)):
            if mp.startswith(containers):
                rel = mp[len(containers):].split("/")
                if len(rel) >= 2 and self.state.container(rel[0]) and self.running(rel[0]):
                    continue
                problem = "belongs to a container that is not running" if self.state.container(rel[0]) \
                    else "belongs to no container"
            elif mp.startswith(tmp):
                tag = cleanup.tag_of(mp[len(tmp):].split("/")[0])
                if tag and cleanup.tag_alive(tag):
                    continue
                problem = "belongs to no running operation"
            else:
                problem = "is not one the engine makes"
            self.add("mount", mp, problem, partial(self._umount, mp))

    @staticmethod
    def _umount(mp: str) -> None:
        from .runtime import linux
        linux.umount2(mp, linux.MNT_DETACH)

    def temps(self) -> None:
        ops = cleanup.ops_dir(self.root)
        for place in cleanup.temp_places(self.root):
            try:
                names = sorted(os.listdir(place))
            except FileNotFoundError:
                continue
            for name in names:
                path = os.path.join(place, name)
                if path == ops or not self._is_temp(place, name):
                    continue
                tag = cleanup.tag_of(name)
                if tag and cleanup.tag_alive(tag):
                    continue
                self.add("temp", path, "belongs to no running operation", partial(cleanup.remove_temp, path))
        try:
            names = sorted(os.listdir(ops))
        except FileNotFoundError:
            names = []
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and cleanup.tag_alive(f"{parts[0]}.{parts[1]}"):
                continue
            path = os.path.join(ops, name)
            self.add("temp", path, "operation record of a process that is gone",
                     partial(os.unlink, path))

    def _is_temp(self, place: str, name: str) -> bool:
        if place.endswith("tmp"):
            return True  # everything under <root>/tmp is some operation's
        return name.startswith(".tmp-")


def _builder_alive(pid: int, group_pids: list[int]) -> bool:
    """Whether ``pid`` (in a build cgroup) was started by a live build: its parent, outside the cgroup,
    holds a build operation's lock file (``<root>/ops/<tag>.build.<n>``) open."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        ppid = int(data[data.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    if ppid <= 1 or ppid in group_pids:
        return False
    try:
        fds = os.listdir(f"/proc/{ppid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{ppid}/fd/{fd}")
        except OSError:
            continue
        if f"/{cleanup.OPS}/" in target and ".build." in os.path.basename(target):
            return True
    return False


def check(state: State, paths: Paths, images: Images, containers: Containers, repair: bool = False) -> list[Finding]:
    """Check the data root; with ``repair``, fix what is found."""
    return Checker(state, paths, images, containers, repair).run()


__all__ = ["check", "Finding"]
