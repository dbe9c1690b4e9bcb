"""What Portside has made on this host, read from the kernel: a snapshot of its host objects.

Used by the session leak check (``tests/conftest.py``) and the stress suite (``tests/stress``). Only
objects that Portside makes are listed, by the names and marks it gives them:

``mounts``     mount points under the given directories (the tests' temporary roots)
``links``      network links named ``portside*`` / ``ps*`` or with the alias ``portside:<root>`` that
               Portside's bridges carry (host veth ends are ``ps<container id[:10]><n>``)
``nft``        the elements of the ``ip portside`` table's sets and maps (its rules are fixed)
``forward``    iptables FORWARD rules commented ``portside``
``cgroups``    ``<controller>/portside/<container id>`` (engine/runtime/cgroups.py names them so)
``processes``  pid → :class:`Proc` for processes that carry ``mark`` in their environment, run in a
               ``portside/<id>`` cgroup, or whose root mount is an overlay under one of the directories
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
NFT_TABLE = ("ip", "portside")
SVC_TABLE = ("ip", "portside_svc")  # engine/network/balancer.py
_CID = re.compile(r"[0-9a-f]{64}")


def _read(path: str, mode: str = "r") -> str | bytes:
    with open(path, mode) as f:
        return f.read()


def mounts_under(dirs: list[str]) -> set[str]:
    """Mount points at or below any of ``dirs`` (real paths)."""
    dirs = [os.path.realpath(d) for d in dirs]
    found = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if any(mp == d or mp.startswith(d + "/") for d in dirs):
                found.add(mp)
    return found


@dataclass(frozen=True)
class Link:
    name: str
    alias: str
    master: str
    bridge: bool


def links() -> dict[str, Link]:
    """Links whose name Portside would give (``portside*``, ``ps*``)."""
    out = {}
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return out
    for name in names:
        base = f"/sys/class/net/{name}"
        try:
            alias = str(_read(f"{base}/ifalias")).strip()
        except OSError:
            continue  # gone meanwhile
        if not (name.startswith(("portside", "ps")) or alias.startswith("portside:")):
            continue
        try:
            master = os.path.basename(os.readlink(f"{base}/master"))
        except OSError:
            master = ""
        out[name] = Link(name, alias, master, os.path.isdir(f"{base}/bridge"))
    return out


def _elem_text(e: object) -> str:
    if isinstance(e, dict):
        if "prefix" in e:
            return f"{e['prefix']['addr']}/{e['prefix']['len']}"
        if "concat" in e:
            return " . ".join(_elem_text(x) for x in e["concat"])
        if "range" in e:
            return "-".join(_elem_text(x) for x in e["range"])
        if "elem" in e:
            return _elem_text(e["elem"]["val"])
    if isinstance(e, list) and len(e) == 2:  # a map element: [key, value]
        return f"{_elem_text(e[0])} : {_elem_text(e[1])}"
    return str(e)


def nft_elements() -> set[tuple[str, str]]:
    """(set or map name, element) of every element of the ``ip portside`` table, and of the service load
    balancer's ``ip portside_svc`` (names prefixed ``svc:``, its per-service chains as ``svc:chain``)."""
    out = set()
    for table, prefix in ((NFT_TABLE, ""), (SVC_TABLE, "svc:")):
        try:
            proc = subprocess.run(["nft", "-j", "list", "table", *table], capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode != 0:
            continue
        for obj in json.loads(proc.stdout).get("nftables", []):
            for kind in ("set", "map"):
                if kind in obj:
                    for e in obj[kind].get("elem", []):
                        out.add((prefix + obj[kind]["name"], _elem_text(e)))
            if prefix and "chain" in obj and obj["chain"]["name"].startswith(("i_", "v_")):
                out.add((prefix + "chain", obj["chain"]["name"]))
    return out


def forward_rules() -> set[str]:
    """iptables FORWARD rules that Portside added (commented ``portside``)."""
    try:
        proc = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line for line in proc.stdout.splitlines() if line.startswith("-A") and "portside" in line.split()}


def rule_interface(rule: str) -> str:
    words = rule.split()
    return next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-i", "-o")), "")


def cgroups() -> set[str]:
    """``<hierarchy>/portside/<id>`` for every container cgroup (v1 controllers, or ``unified``/v2)."""
    out = set()
    candidates = [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in _listdir(CGROUP_ROOT)]
    for base in candidates:
        parent = os.path.join(base, "portside")
        for name in _listdir(parent):
            if _CID.fullmatch(name):
                out.add(os.path.relpath(os.path.join(parent, name), CGROUP_ROOT))
    return out


def cgroup_id(path: str) -> str:
    return os.path.basename(path)


def _listdir(path: str) -> list[str]:
    try:
        return [n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n))]
    except OSError:
        return []


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int          # clock ticks since boot (field 22 of /proc/pid/stat): with pid, names the process
    cmdline: str
    env_root: str       # its PORTSIDE_ROOT, if any
    cgroup_ids: frozenset[str] = field(default_factory=frozenset)  # ``portside/<id>`` cgroups it is in
    root_upper: str = ""  # the upperdir of its root overlay, when its root is one


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid``, None when it is gone."""
    try:
        data = bytes(_read(f"/proc/{pid}/stat", "rb"))
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[19])


def _root_upper(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            for line in f:
                parts = line.split()
                if parts[4] != "/":
                    continue
                sep = parts.index("-")
                if parts[sep + 1] != "overlay":
                    return ""
                for opt in parts[sep + 3].split(","):
                    if opt.startswith("upperdir="):
                        return opt[len("upperdir="):]
                return ""
    except (OSError, ValueError, IndexError):
        pass
    return ""


def processes(mark: str, dirs: list[str]) -> dict[int, Proc]:
    """Processes that are Portside's and carry ``mark`` (``NAME=value`` in their environment), are in a
    ``portside/<id>`` cgroup, or have their root on an overlay whose upper dir is under ``dirs``."""
    dirs = [os.path.realpath(d) for d in dirs]
    me = os.getpid()
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            environ = bytes(_read(f"/proc/{pid}/environ", "rb")).split(b"\0")
            cg = str(_read(f"/proc/{pid}/cgroup"))
            cmdline = bytes(_read(f"/proc/{pid}/cmdline", "rb")).replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone, or a kernel thread
        ids = frozenset(m for m in re.findall(r"/portside/([0-9a-f]{64})", cg))
        marked = mark.encode() in environ
        env_root = next((e[len(b"PORTSIDE_ROOT="):].decode(errors="replace") for e in environ
                         if e.startswith(b"PORTSIDE_ROOT=")), "")
        upper = _root_upper(pid) if not (marked or ids) else ""
        if not (marked or ids or (upper and any(upper.startswith(d + "/") for d in dirs))):
            continue
        st = proc_stat(pid)
        if st is None:
            continue
        out[pid] = Proc(pid, st[0], st[1], cmdline.strip(), env_root, ids, upper)
    return out


def alive(pid: int, start: int) -> bool:
    """The process ``pid`` that started at ``start`` is still there (and not a zombie)."""
    try:
        data = bytes(_read(f"/proc/{pid}/stat", "rb"))
    except OSError:
        return False
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0] != b"Z" and int(rest[19]) == start
