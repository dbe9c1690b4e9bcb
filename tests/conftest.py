"""The whole test session is checked for leaks: what Portside made on the host must be gone at the end.

Before the first test and after the last, the host objects Portside makes are listed
(:mod:`tests.hostobjects`: mounts, network links, the ``ip portside`` table's elements, iptables
FORWARD rules commented ``portside``, ``portside/<id>`` cgroups, processes); anything there at the end
that was not there at the start fails the session, with the list of what leaked.

Every temporary directory of the session (``tempfile``'s and so every test data root, pytest's
``tmp_path``) is made under one directory of its own, and every process started by the session
carries ``PORTSIDE_TEST_SESSION=<token>`` in its environment. ``PORTSIDE_LEAK_CHECK`` picks the scope:

``session`` (default outside CI)  only what this session made counts: mounts under its directory,
    bridges whose alias names a data root under it, the veths, cgroups and processes of its
    containers (a child process notes them while the tests run), nft elements and FORWARD rules of its
    bridges and subnets. Other users of the host (other test runs at the same time) are left out.
``host`` (default when ``CI`` is set)  every new Portside object on the host counts (mounts: under
    the session's directory and /var/lib/portside).
``off``  no check.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests import hostobjects  # noqa: E402 - needs ROOT on sys.path

MARK_VAR = "PORTSIDE_TEST_SESSION"


@dataclass
class Snapshot:
    mounts: set[str]
    links: dict[str, hostobjects.Link]
    nft: set[tuple[str, str]]
    forward: set[str]
    cgroups: set[str]
    procs: dict[int, hostobjects.Proc]

    @classmethod
    def take(cls, mark: str, dirs: list[str], mount_dirs: list[str]) -> Snapshot:
        return cls(hostobjects.mounts_under(mount_dirs), hostobjects.links(), hostobjects.nft_elements(),
                   hostobjects.forward_rules(), hostobjects.cgroups(), hostobjects.processes(mark, dirs))


@dataclass
class LeakCheck:
    scope: str
    base: str                      # the session's temporary directory
    token: str
    before: Snapshot | None = None
    bridges: dict[str, str] = field(default_factory=dict)   # ours: name -> subnet ("" unknown)
    veths: set[str] = field(default_factory=set)
    cgroup_ids: set[str] = field(default_factory=set)
    leaks: list[str] = field(default_factory=list)
    clean: bool = False

    def __post_init__(self) -> None:
        self._watcher = 0  # pid of the process that notes what the session makes
        self._watcher_start = 0
        self._noted = os.path.join(self.base, ".leak-check.json")

    @property
    def mark(self) -> str:
        return f"{MARK_VAR}={self.token}"

    def ours(self, path: str) -> bool:
        return path == self.base or path.startswith(self.base + "/")

    # ---- noting what the session makes while it runs (what is gone by the end cannot be attributed then)
    # A child process does it, not a thread: tests fork the pytest process (the native executor), and
    # a fork while another thread holds a lock can hang the child.

    def start(self) -> None:
        mount_dirs = [self.base] if self.scope == "session" else [self.base, "/var/lib/portside"]
        self._mount_dirs = mount_dirs
        self.before = Snapshot.take(self.mark, [self.base], mount_dirs)
        # started through a launcher that exits at once: the watcher is no child of the test run
        # (tests assert the pytest process has none left)
        code = (f"import sys; sys.path.insert(0, {ROOT!r}); from tests.conftest import LeakCheck; "
                f"LeakCheck({self.scope!r}, {self.base!r}, {self.token!r}).watch()")
        launcher = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', sys.argv[1]], "
                    "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, "
                    "start_new_session=True); print(p.pid)")
        out = subprocess.run([sys.executable, "-c", launcher, code], capture_output=True, text=True,
                             timeout=30).stdout
        self._watcher = int(out)
        stat = hostobjects.proc_stat(self._watcher)
        self._watcher_start = stat[1] if stat else 0

    def watch(self, interval: float = 0.4) -> None:
        """Note, until killed, what the session's tests make; written to a file at each change."""
        last = None
        while True:
            try:
                self.note()
            except Exception:  # noqa: BLE001 - an object that vanished while being read
                pass
            now = {"bridges": self.bridges, "veths": sorted(self.veths), "cgroup_ids": sorted(self.cgroup_ids)}
            if now != last:
                tmp = self._noted + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(now, f)
                os.replace(tmp, self._noted)
                last = now
            time.sleep(interval)

    def _load_noted(self) -> None:
        try:
            with open(self._noted) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return
        self.bridges.update(doc.get("bridges") or {})
        self.veths.update(doc.get("veths") or [])
        self.cgroup_ids.update(doc.get("cgroup_ids") or [])

    def note(self) -> None:
        links = hostobjects.links()
        for name, ln in links.items():
            if ln.bridge and ln.alias.startswith("portside:") and self.ours(ln.alias[len("portside:"):]):
                if name not in self.bridges or not self.bridges[name]:
                    self.bridges[name] = _subnet(name)
        for name, ln in links.items():
            if not ln.bridge and ln.master in self.bridges:
                self.veths.add(name)
        looked: set[str] = set()
        for cg in hostobjects.cgroups():
            cid = hostobjects.cgroup_id(cg)
            if cid in self.cgroup_ids or cid in looked:
                continue
            looked.add(cid)
            for pid in _cgroup_pids(cg):
                if self._pid_ours(pid):
                    self.cgroup_ids.add(cid)
                    break

    def _pid_ours(self, pid: int) -> bool:
        """The process or its parent (a container's init's parent is its monitor) carries our mark."""
        for p in (pid, _ppid(pid)):
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if self.mark.encode() in f.read().split(b"\0"):
                        return True
            except OSError:
                pass
        return False

    # ---- the end

    def finish(self) -> list[str]:
        if self._watcher and hostobjects.alive(self._watcher, self._watcher_start):
            os.kill(self._watcher, 9)  # the watcher we started, by its pid (checked by its start time)
            deadline = time.monotonic() + 5
            while hostobjects.alive(self._watcher, self._watcher_start) and time.monotonic() < deadline:
                time.sleep(0.05)
        self._load_noted()
        self.note()
        deadline = time.monotonic() + 5  # what is being torn down right now (a monitor exiting) may finish
        while True:
            leaks = self.diff()
            if not leaks or time.monotonic() > deadline:
                self.leaks = leaks
                return leaks
            time.sleep(0.5)
            self.note()

    def diff(self) -> list[str]:
        assert self.before is not None
        before, after = self.before, Snapshot.take(self.mark, [self.base], self._mount_dirs)
        host = self.scope == "host"
        out = []
        for m in sorted(after.mounts - before.mounts):
            if host or self.ours(m):
                out.append(f"mount {m}")
        ours_cids = {c[:10] for c in self.cgroup_ids}
        for name in sorted(set(after.links) - set(before.links)):
            ln = after.links[name]
            if host or name in self.bridges or name in self.veths or name[2:12] in ours_cids:
                out.append(f"link {name}" + (f" (alias {ln.alias})" if ln.alias else "")
                           + (f" (in bridge {ln.master})" if ln.master else ""))
        foreign_subnets = {_subnet(n) for n, ln in after.links.items() if ln.bridge and n not in self.bridges}
        our_subnets = {s for s in self.bridges.values() if s} - foreign_subnets
        for setname, e in sorted(after.nft - before.nft):
            if host or _nft_ours(setname, e, set(self.bridges), our_subnets):
                out.append(f"nft element {e} in ip portside {setname}")
        for rule in sorted(after.forward - before.forward):
            if host or hostobjects.rule_interface(rule) in self.bridges:
                out.append(f"iptables rule {rule}")
        for cg in sorted(after.cgroups - before.cgroups):
            if host or hostobjects.cgroup_id(cg) in self.cgroup_ids:
                out.append(f"cgroup {cg}")
        for pid, p in sorted(after.procs.items()):
            if pid in before.procs and before.procs[pid].start == p.start:
                continue
            if pid == os.getpid():
                continue
            marked = p.cgroup_ids & self.cgroup_ids or self._pid_ours(pid) or \
                (p.root_upper and self.ours(p.root_upper))
            if host or marked:
                out.append(f"process {pid} ({p.cmdline[:120]})")
        known = set(after.procs)
        for child in _children(os.getpid()):
            if child not in known:
                out.append(f"process {child} (a child of the test run: {_cmdline(child)[:120]})")
        return out


def _subnet(bridge: str) -> str:
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True,
                             timeout=10).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if "inet" not in out:
        return ""
    import ipaddress
    return str(ipaddress.ip_network(out[out.index("inet") + 1], strict=False))


def _nft_ours(setname: str, e: str, bridges: set[str], subnets: set[str]) -> bool:
    import ipaddress
    if setname in ("brs", "int_brs"):
        return e in bridges
    if setname == "masq_nets":
        return e in subnets
    if " : " in e:  # a published port: host key : container address . port
        addr = e.split(" : ")[1].split(" . ")[0]
        try:
            return any(ipaddress.ip_address(addr) in ipaddress.ip_network(s) for s in subnets)
        except ValueError:
            return False
    return False


def _cgroup_pids(cg: str) -> list[int]:
    try:
        with open(os.path.join(hostobjects.CGROUP_ROOT, cg, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return []


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    """Live descendants of ``pid`` (zombies excluded)."""
    try:
        import psutil
        return [c.pid for c in psutil.Process(pid).children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
    except Exception:  # noqa: BLE001 - psutil missing or a child gone meanwhile
        return []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


_check: LeakCheck | None = None


def pytest_sessionstart(session: Any) -> None:
    global _check
    scope = os.environ.get("PORTSIDE_LEAK_CHECK") or ("host" if os.environ.get("CI") else "session")
    if scope == "off" or hasattr(session.config, "workerinput"):
        return
    if scope not in ("session", "host"):
        raise SystemExit(f"PORTSIDE_LEAK_CHECK={scope}: expected session, host or off")
    base = os.path.realpath(tempfile.mkdtemp(prefix="portside-tests-"))
    token = secrets.token_hex(8)
    os.environ["TMPDIR"] = base
    tempfile.tempdir = base
    os.environ[MARK_VAR] = token
    _check = LeakCheck(scope, base, token)
    if os.geteuid() == 0 and sys.platform == "linux":
        _check.start()
    else:
        _check.before = Snapshot(set(), {}, set(), set(), set(), {})
        _check._mount_dirs = [base]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _check is None or _check.before is None:
        return
    if os.geteuid() == 0 and _check.finish():
        session.exitstatus = 1
    elif exitstatus == 0:
        _check.clean = True


def pytest_unconfigure(config: Any) -> None:
    if _check is not None and _check.clean:  # kept when something failed or leaked: to look at
        shutil.rmtree(_check.base, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _check is None or not _check.leaks:
        return
    terminalreporter.section("leak check", red=True)
    terminalreporter.write_line(f"the test session left {len(_check.leaks)} things behind "
                                f"(scope: {_check.scope}; its files: {_check.base}):")
    for line in _check.leaks:
        terminalreporter.write_line(f"  {line}")
