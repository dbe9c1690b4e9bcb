"""What must hold of a data root once every operation on it has ended, however they ended.

:func:`check` returns the list of violations (empty when consistent):

* the data root's own consistency: ``portside system check`` (exit 0 = consistent), the engine's
  check of tags, blobs, layers, build cache, containers, IPs and debris;
* what the suite can see from outside: each running container's rootfs mount, veths, cgroup and
  published-port elements are there, nothing of a container that is not running is left (mount,
  veth, cgroup, nft element, process), no two containers hold one address, and every running
  container's output is still logged (each prints a heartbeat: its log must grow).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

from engine.network import nat
from tests import hostobjects

Cli = Callable[..., CompletedProcess[str]]


def check(root: str, cli: Cli, seen_cids: set[str], seen_ports: set[tuple[str, str]],
          heartbeat_wait: float = 2.0) -> list[str]:
    """``seen_cids``/``seen_ports``: ids of every container and the nft elements of every published
    port this root had during the run (what may have been left behind)."""
    out = data_root_check(root, cli)
    db = _db_rows(root)
    running = {cid for cid, doc in db["containers"].items() if _state(root, cid).get("status") == "running"}
    out += host_check(root, db, running, seen_cids | set(db["containers"]), seen_ports | _port_records(root))
    out += heartbeat_check(root, running, heartbeat_wait)
    return out


def data_root_check(root: str, cli: Cli) -> list[str]:
    """The engine's own check of the data root (engine/check.py): tags, blobs, images, build cache,
    containers, folders, volumes, IPs, leftovers of stopped containers, mounts and temp files."""
    proc = cli("system", "check")
    if proc.returncode != 0:
        return [f"`portside system check` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"]
    return []


# ---- reading the data root

def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _db_rows(root: str) -> dict[str, Any]:
    db = sqlite3.connect(f"file:{os.path.join(root, 'state.db')}?mode=ro", uri=True, timeout=30)
    try:
        return {
            "containers": {i: json.loads(d) for i, d in db.execute("SELECT id, doc FROM containers")},
            "networks": {i: json.loads(d) for i, d in db.execute("SELECT id, doc FROM networks")},
        }
    finally:
        db.close()


def _state(root: str, cid: str) -> dict[str, Any]:
    try:
        with open(os.path.join(root, "containers", cid, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def port_records(cdir: str) -> set[tuple[str, str]]:
    """The nft elements the container in ``cdir`` programmed (its ``net.json``)."""
    try:
        with open(os.path.join(cdir, "net.json")) as f:
            return {nat.port_element(p) for p in json.load(f).get("ports") or []}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _port_records(root: str) -> set[tuple[str, str]]:
    base = os.path.join(root, "containers")
    return set().union(*(port_records(os.path.join(base, c)) for c in _listdir(base)))


# ---- what the suite sees on the host

def _endpoints(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return (doc.get("NetworkSettings") or {}).get("Networks") or {}


def host_check(root: str, db: dict[str, Any], running: set[str], known: set[str],
               seen_ports: set[tuple[str, str]]) -> list[str]:
    """Mounts, veths, cgroups, nft elements and processes of ``root`` match its running containers."""
    out = []
    containers = db["containers"]
    name = {cid: (containers.get(cid) or {}).get("Name", "").lstrip("/") or cid[:12] for cid in known}

    # no two containers share an address on one network
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cid, doc in containers.items():
        for ep in _endpoints(doc).values():
            if ep.get("IPAddress"):
                holders[(ep.get("NetworkID", ""), ep["IPAddress"])].append(cid)
    for (net, addr), cids in sorted(holders.items()):
        if len(cids) > 1:
            out.append(f"duplicate IP {addr}: held by {', '.join(sorted(name.get(c, c[:12]) for c in cids))}")

    # rootfs mounts
    mounts = hostobjects.mounts_under([root])
    for cid in sorted(known):
        target = os.path.realpath(os.path.join(root, "containers", cid, "rootfs"))
        if cid in running and target not in mounts and not os.path.isdir(target):
            out.append(f"running container {name[cid]}: its rootfs is not mounted")
        if cid not in running and target in mounts:
            out.append(f"container {name[cid]} is not running but its rootfs is still mounted")
        mounts.discard(target)
    out += [f"mount left under the data root: {m}" for m in sorted(mounts)]

    # bridges of this root, their veths
    links = hostobjects.links()
    ours = {n for n, ln in links.items() if ln.bridge and ln.alias == f"portside:{root}"}
    net_bridges = {((d.get("Options") or {}).get("com.docker.network.bridge.name") or ""): d["Name"]
                   for d in db["networks"].values() if d.get("Driver") == "bridge"}
    for br in sorted(ours - set(net_bridges)):
        out.append(f"bridge {br} of this data root belongs to no network")
    veths = {n: ln for n, ln in links.items() if not ln.bridge and (ln.master in ours or n[2:12] in
                                                                     {c[:10] for c in known})}
    for v in sorted(veths):
        cid = next((c for c in known if c[:10] == v[2:12]), "")
        if cid not in running:
            out.append(f"veth {v} left of container {name.get(cid, v[2:12])}, which is not running")
    for cid in sorted(running):
        prefix = "ps" + cid[:10]
        n_eps = sum(1 for ep in _endpoints(containers[cid]).values() if ep.get("IPAddress"))
        have = sum(1 for v in veths if v.startswith(prefix))
        if have < n_eps:
            out.append(f"running container {name[cid]}: {n_eps} network endpoints but {have} veths")

    # nftables elements of this root's bridges and subnets
    elems = hostobjects.nft_elements()
    for setname, e in sorted(elems):
        if setname in ("brs", "int_brs") and e in ours | set(net_bridges) and e not in links:
            out.append(f"nft {setname} element {e}: no such bridge")
    expected = set()  # what the monitors of running containers programmed (net.json), to their own address
    for cid in running:
        cdir = os.path.join(root, "containers", cid)
        ips = {ep["IPAddress"] for ep in _endpoints(containers[cid]).values() if ep.get("IPAddress")}
        for m, e in port_records(cdir):
            expected.add((m, e))
            if e.split(" : ")[1].split(" . ")[0] not in ips:
                out.append(f"container {name[cid]}: its published port {e} goes to another address than its own")
    for m, e in sorted(expected - elems):
        out.append(f"nft {m} element {e} of a running container is missing")
    for m, e in sorted((elems & seen_ports) - expected):
        out.append(f"nft {m} element {e} left, of no running container")

    # cgroups
    for cg in sorted(hostobjects.cgroups()):
        cid = hostobjects.cgroup_id(cg)
        if cid in known and cid not in running:
            out.append(f"cgroup {cg} left of container {name[cid]}, which is not running")

    # processes of this data root: monitors of running containers and what runs in their cgroups
    monitors = {}
    for cid in running:
        st = _state(root, cid)
        if st.get("monitor_pid") and hostobjects.alive(int(st["monitor_pid"]), int(st.get("monitor_start") or 0)):
            monitors[int(st["monitor_pid"])] = cid
        else:
            out.append(f"running container {name[cid]} has no monitor")
    procs = hostobjects.processes(f"PORTSIDE_ROOT={root}", [root])
    for pid, p in sorted(procs.items()):
        if p.env_root and p.env_root != root:
            continue
        if p.cgroup_ids and not (p.cgroup_ids & known):
            continue  # another data root's container
        if pid in monitors or p.cgroup_ids & running:
            continue
        anc, seen = p.ppid, 0
        while anc in procs and seen < 50 and anc not in monitors:
            anc, seen = procs[anc].ppid, seen + 1
        if anc in monitors:
            continue
        out.append(f"process {pid} ({p.cmdline[:100]}) left running, of no running container")
    return out


def heartbeat_check(root: str, running: set[str], wait: float) -> list[str]:
    """Every running container prints a heartbeat: its log must grow over ``wait`` seconds (a log
    rotated meanwhile is a new file: that counts as grown)."""
    def stats() -> dict[str, tuple[int, int]]:
        out = {}
        for cid in running:
            try:
                st = os.stat(os.path.join(root, "containers", cid, "log.jsonl"))
                out[cid] = (st.st_ino, st.st_size)
            except OSError:
                out[cid] = (0, -1)
        return out
    before = stats()
    time.sleep(wait)
    after = stats()
    return [f"running container {cid[:12]}: its output is no longer logged (log at {before[cid][1]} bytes)"
            for cid in sorted(running) if after[cid][0] == before[cid][0] and after[cid][1] <= before[cid][1]]
