"""Container cgroups for cgroup v1, v2 and hybrid hosts (v1 controllers are used on hybrid hosts).

Paths: v1 ``/sys/fs/cgroup/<controller>/<name>``, v2 ``/sys/fs/cgroup/<name>``; ``name`` is like
``"portside/<id>"``. :meth:`Cgroup.create` takes an OCI ``linux.resources`` object.

Stats (:meth:`Cgroup.stats`) are a :class:`Stats`: memory (limit None when unlimited), cpu, pids, blkio.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from typing import Any, TypedDict

from engine.errors import EngineError, KernelFeatureMissing

ROOT = "/sys/fs/cgroup"

# v1 controllers a container cgroup is made in (the first three are needed when their limits are
# requested; the others are best effort)
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices", "cpuset")
V2_CONTROLLERS = ("cpu", "memory", "pids", "io", "cpuset")
_UNLIMITED_V1 = 1 << 62

# runc's default device allow-list (v1 devices controller), appended after the spec's rules
_DEFAULT_DEVICE_RULES = [
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
]

_mode: str | None = None


class MemoryStats(TypedDict):
    usage: int
    limit: int | None
    max_usage: int | None
    oom_kill: int


class CpuStats(TypedDict):
    total_usage_ns: int


class PidsStats(TypedDict):
    current: int
    limit: int | None


class BlkioStats(TypedDict):
    read_bytes: int
    write_bytes: int


class Stats(TypedDict):
    memory: MemoryStats
    cpu: CpuStats
    pids: PidsStats
    blkio: BlkioStats


def detect(root: str = ROOT) -> str:
    """``"v2"`` (unified), ``"hybrid"`` (v1 controllers + a cgroup2 at ``unified``) or ``"v1"``."""
    global _mode
    if root == ROOT and _mode is not None:
        return _mode
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        mode = "v2"
    elif any(os.path.isdir(os.path.join(root, c)) for c in ("memory", "cpu", "pids", "cpu,cpuacct")):
        mode = "hybrid" if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")) else "v1"
    else:
        raise KernelFeatureMissing(f"cgroups: no cgroup filesystem mounted at {root}")
    if root == ROOT:
        _mode = mode
    return mode


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: object) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"writing {value!r}: {os.strerror(exc.errno or 0)}", path) from None


def _int(path: str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = int(parts[1])
                except ValueError:
                    pass
    except OSError:
        pass
    return out


class Cgroup:
    def __init__(self, name: str, root: str = ROOT) -> None:
        self.name = name.strip("/")
        self.root = root
        self.mode = detect(root)

    # --- paths --------------------------------------------------------------------------------
    @property
    def v2(self) -> bool:
        return self.mode == "v2"

    def path(self, controller: str | None = None) -> str:
        """Directory of this cgroup (v2) or of its ``controller`` hierarchy (v1)."""
        if self.v2:
            return os.path.join(self.root, self.name)
        return os.path.join(self.root, controller or "memory", self.name)

    def _v1_dirs(self) -> list[str]:
        """Existing v1 controller dirs of this cgroup, deduplicated (cpu/cpuacct may be one)."""
        seen: set[str] = set()
        out: list[str] = []
        for c in V1_CONTROLLERS:
            p = os.path.join(self.root, c, self.name)
            if os.path.isdir(p):
                real = os.path.realpath(p)
                if real not in seen:
                    seen.add(real)
                    out.append(p)
        return out

    def dirs(self) -> list[str]:
        if self.v2:
            p = self.path()
            return [p] if os.path.isdir(p) else []
        return self._v1_dirs()

    def exists(self) -> bool:
        return bool(self.dirs())

    # --- create -------------------------------------------------------------------------------
    def create(self, resources: dict[str, Any] | None = None) -> None:
        """Make the cgroup dir(s) and apply the OCI ``linux.resources`` limits.

        Raises KernelFeatureMissing when a requested controller is absent, EngineError when the
        kernel refuses a value (the half-made cgroup is removed first).
        """
        resources = resources or {}
        try:
            if self.v2:
                self._create_v2(resources)
            else:
                self._create_v1(resources)
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise EngineError(f"cgroups: creating {self.name}:{where}: {exc.strerror}",
                              path=exc.filename) from None

    def _create_v1(self, r: dict[str, Any]) -> None:
        mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}
        wanted = {"memory": bool(mem), "cpu": any(cpu.get(k) for k in ("quota", "period", "shares")),
                  "pids": bool(pids.get("limit")), "cpuset": bool(cpu.get("cpus") or cpu.get("mems")),
                  "devices": False}
        for ctrl, needed in wanted.items():
            if needed and not os.path.isdir(os.path.join(self.root, ctrl)):
                raise KernelFeatureMissing(
                    f"cgroups: the {ctrl} controller is not mounted at {self.root}/{ctrl}", controller=ctrl)
        try:
            for ctrl in V1_CONTROLLERS:
                base = os.path.join(self.root, ctrl)
                if not os.path.isdir(base):
                    continue
                if ctrl == "cpuset" and not wanted["cpuset"]:
                    continue
                if ctrl == "cpuset":
                    self._mkdir_cpuset(base)
                else:
                    os.makedirs(os.path.join(base, self.name), exist_ok=True)
            self._apply_v1(r)
        except BaseException:
            try:
                self.destroy(timeout=0)
            except Exception:
                pass
            raise

    def _mkdir_cpuset(self, base: str) -> None:
        # every level of a v1 cpuset must have cpus/mems before tasks can join
        cur = base
        for part in self.name.split("/"):
            parent, cur = cur, os.path.join(cur, part)
            os.makedirs(cur, exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(cur, f)).strip():
                    _write(os.path.join(cur, f), _read(os.path.join(parent, f)).strip())

    def _apply_v1(self, r: dict[str, Any]) -> None:
        mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}
        m = self.path("memory")
        if mem:
            limit = mem.get("limit")
            if limit is not None and limit != 0:
                _write(f"{m}/memory.limit_in_bytes", -1 if limit < 0 else limit)
            swap = mem.get("swap")
            if swap is not None and swap != 0 and os.path.exists(f"{m}/memory.memsw.limit_in_bytes"):
                _write(f"{m}/memory.memsw.limit_in_bytes", -1 if swap < 0 else swap)
            if mem.get("reservation"):
                _write(f"{m}/memory.soft_limit_in_bytes", mem["reservation"])
            if mem.get("swappiness") is not None and os.path.exists(f"{m}/memory.swappiness"):
                _write(f"{m}/memory.swappiness", mem["swappiness"])
            if mem.get("disableOOMKiller"):
                _write(f"{m}/memory.oom_control", 1)
        c = self.path("cpu")
        if cpu.get("period"):
            _write(f"{c}/cpu.cfs_period_us", cpu["period"])
        if cpu.get("quota"):
            _write(f"{c}/cpu.cfs_quota_us", cpu["quota"])
        if cpu.get("shares"):
            _write(f"{c}/cpu.shares", cpu["shares"])
        if cpu.get("cpus") or cpu.get("mems"):
            s = self.path("cpuset")
            if cpu.get("cpus"):
                _write(f"{s}/cpuset.cpus", cpu["cpus"])
            if cpu.get("mems"):
                _write(f"{s}/cpuset.mems", cpu["mems"])
        if pids.get("limit"):
            _write(f"{self.path('pids')}/pids.max", "max" if pids["limit"] < 0 else pids["limit"])
        devices = r.get("devices")
        d = self.path("devices")
        if devices and os.path.isdir(d):
            for rule in devices + [{"allow": True, "_raw": x} for x in _DEFAULT_DEVICE_RULES]:
                if "_raw" in rule:
                    line = rule["_raw"]
                else:
                    kind = rule.get("type", "a")
                    if kind == "a" and rule.get("major") is None:
                        line = "a"
                    else:
                        major = "*" if rule.get("major") in (None, -1) else rule["major"]
                        minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
                        line = f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"
                _write(f"{d}/devices.{'allow' if rule.get('allow') else 'deny'}", line)

    def _create_v2(self, r: dict[str, Any]) -> None:
        mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}
        wanted = set()
        if mem:
            wanted.add("memory")
        if any(cpu.get(k) for k in ("quota", "period", "shares")):
            wanted.add("cpu")
        if cpu.get("cpus") or cpu.get("mems"):
            wanted.add("cpuset")
        if pids.get("limit"):
            wanted.add("pids")
        available = set(_read(os.path.join(self.root, "cgroup.controllers")).split())
        missing = wanted - available
        if missing:
            raise KernelFeatureMissing(
                f"cgroups: controller(s) {', '.join(sorted(missing))} not available in {self.root}/cgroup.controllers",
                controller=sorted(missing)[0])
        # enable the controllers down to our parent
        cur = self.root
        parts = self.name.split("/")
        created_parents = []
        for part in parts[:-1]:
            self._enable(cur, available)
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                os.mkdir(cur)
                created_parents.append(cur)
        self._enable(cur, available)
        os.makedirs(self.path(), exist_ok=True)
        try:
            self._apply_v2(r)
        except BaseException:
            try:
                self.destroy(timeout=0)
            except Exception:
                pass
            raise

    @staticmethod
    def _enable(directory: str, available: set[str]) -> None:
        try:
            have = set(_read(os.path.join(directory, "cgroup.controllers")).split())
            on = set(_read(os.path.join(directory, "cgroup.subtree_control")).split())
        except OSError:
            return
        for c in V2_CONTROLLERS:
            if c in have and c not in on:
                try:
                    _write(os.path.join(directory, "cgroup.subtree_control"), "+" + c)
                except OSError:
                    pass  # e.g. cpu refused while realtime tasks exist; checked when writing limits

    def _apply_v2(self, r: dict[str, Any]) -> None:
        p = self.path()
        mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}

        def put(fname: str, value: object) -> None:
            fp = os.path.join(p, fname)
            if not os.path.exists(fp):
                ctrl = fname.split(".")[0]
                raise KernelFeatureMissing(f"cgroups: controller {ctrl} is not enabled for {p} ({fname} missing)",
                                           controller=ctrl)
            _write(fp, value)

        if mem:
            limit = mem.get("limit")
            if limit:
                put("memory.max", "max" if limit < 0 else limit)
            swap = mem.get("swap")
            if swap:
                if os.path.exists(os.path.join(p, "memory.swap.max")):
                    if swap < 0:
                        _write(os.path.join(p, "memory.swap.max"), "max")
                    elif limit and limit > 0:
                        _write(os.path.join(p, "memory.swap.max"), max(swap - limit, 0))
            if mem.get("reservation"):
                put("memory.low", mem["reservation"])
            if mem.get("disableOOMKiller") and os.path.exists(os.path.join(p, "memory.oom.group")):
                pass  # no v2 equivalent
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota")
            period = cpu.get("period") or 100000
            put("cpu.max", f"{'max' if not quota or quota < 0 else quota} {period}")
        if cpu.get("shares"):
            shares = int(cpu["shares"])
            put("cpu.weight", 1 + ((max(shares, 2) - 2) * 9999) // 262142)
        if cpu.get("cpus"):
            put("cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            put("cpuset.mems", cpu["mems"])
        if pids.get("limit"):
            put("pids.max", "max" if pids["limit"] < 0 else pids["limit"])

    # --- membership ---------------------------------------------------------------------------
    def add(self, pid: int) -> None:
        """Move ``pid`` (0 = the calling process) into this cgroup (every v1 hierarchy)."""
        dirs = self.dirs()
        if not dirs:
            raise EngineError(f"cgroups: {self.name} does not exist")
        for d in dirs:
            _write(os.path.join(d, "cgroup.procs"), pid)

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in self.dirs():
            try:
                out.update(int(x) for x in _read(os.path.join(d, "cgroup.procs")).split())
            except OSError:
                pass
            if not self.v2:
                break  # every process is in every v1 hierarchy we made
        return sorted(out)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process in the cgroup (freezing it first on v1 for SIGKILL, to beat forks)."""
        if self.v2 and sig == signal.SIGKILL and os.path.exists(os.path.join(self.path(), "cgroup.kill")):
            _write(os.path.join(self.path(), "cgroup.kill"), 1)
            return
        freezer = None if self.v2 else self.path("freezer")
        frozen = False
        if sig == signal.SIGKILL and freezer and os.path.exists(os.path.join(freezer, "freezer.state")):
            try:
                _write(os.path.join(freezer, "freezer.state"), "FROZEN")
                frozen = True
            except OSError:
                pass
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen and freezer:
                _write(os.path.join(freezer, "freezer.state"), "THAWED")

    def freeze(self, frozen: bool) -> None:
        """Freeze (``docker pause``) or thaw every process of the cgroup: v2 ``cgroup.freeze``, v1 freezer."""
        if self.v2:
            _write(os.path.join(self.path(), "cgroup.freeze"), 1 if frozen else 0)
        else:
            _write(os.path.join(self.path("freezer"), "freezer.state"), "FROZEN" if frozen else "THAWED")

    # --- stats --------------------------------------------------------------------------------
    def stats(self) -> Stats:
        return self._stats_v2() if self.v2 else self._stats_v1()

    def _stats_v1(self) -> Stats:
        m, pd = self.path("memory"), self.path("pids")
        limit = _int(f"{m}/memory.limit_in_bytes")
        oom = _keyed(f"{m}/memory.oom_control").get("oom_kill", 0)
        pids_max = None
        try:
            raw = _read(f"{pd}/pids.max").strip()
            pids_max = None if raw == "max" else int(raw)
        except (OSError, ValueError):
            pass
        read_b = write_b = 0
        b = self.path("blkio")
        for fname in ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes",
                      "blkio.io_service_bytes_recursive"):
            try:
                text = _read(f"{b}/{fname}")
            except OSError:
                continue
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[1] == "Read":
                    read_b += int(parts[2])
                elif len(parts) == 3 and parts[1] == "Write":
                    write_b += int(parts[2])
            break
        return {
            "memory": {"usage": _int(f"{m}/memory.usage_in_bytes") or 0,
                       "limit": None if limit is None or limit >= _UNLIMITED_V1 else limit,
                       "max_usage": _int(f"{m}/memory.max_usage_in_bytes"),
                       "oom_kill": oom},
            "cpu": {"total_usage_ns": _int(f"{self.path('cpuacct')}/cpuacct.usage") or 0},
            "pids": {"current": _int(f"{pd}/pids.current") or 0, "limit": pids_max},
            "blkio": {"read_bytes": read_b, "write_bytes": write_b},
        }

    def _stats_v2(self) -> Stats:
        p = self.path()
        try:
            raw = _read(f"{p}/memory.max").strip()
            limit = None if raw == "max" else int(raw)
        except (OSError, ValueError):
            limit = None
        try:
            raw = _read(f"{p}/pids.max").strip()
            pids_max = None if raw == "max" else int(raw)
        except (OSError, ValueError):
            pids_max = None
        read_b = write_b = 0
        try:
            for line in _read(f"{p}/io.stat").splitlines():
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    if k == "rbytes":
                        read_b += int(v)
                    elif k == "wbytes":
                        write_b += int(v)
        except OSError:
            pass
        return {
            "memory": {"usage": _int(f"{p}/memory.current") or 0, "limit": limit,
                       "max_usage": _int(f"{p}/memory.peak"),
                       "oom_kill": _keyed(f"{p}/memory.events").get("oom_kill", 0)},
            "cpu": {"total_usage_ns": _keyed(f"{p}/cpu.stat").get("usage_usec", 0) * 1000},
            "pids": {"current": _int(f"{p}/pids.current") or 0, "limit": pids_max},
            "blkio": {"read_bytes": read_b, "write_bytes": write_b},
        }

    # --- destroy ------------------------------------------------------------------------------
    def destroy(self, timeout: float = 2.0) -> None:
        """rmdir the cgroup (all v1 hierarchies), retrying while exiting processes drain."""
        if self.v2:
            paths = [self.path()]
        else:
            paths = [os.path.join(self.root, c, self.name) for c in V1_CONTROLLERS]
        deadline = time.monotonic() + timeout
        for p in paths:
            delay = 0.001
            while True:
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() >= deadline:
                        if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                            raise EngineError(f"cgroups: cannot remove {p}: processes still running",
                                              path=p) from None
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 0.05)

    def __repr__(self) -> str:
        return f"Cgroup({self.name!r}, mode={self.mode!r})"
