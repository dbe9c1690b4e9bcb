"""Turn raw ``container.stats()`` samples into rates and keep a short history per container.

One :class:`StatsHistory` lives in the app; the app's single sampler worker feeds it every tick
(:meth:`StatsHistory.add`) with one sample per running container and the host's totals from psutil.

CPU % follows ``docker stats``: the container's CPU time over the host's, times the number of CPUs,
so **100 % is one full core** and a busy container on a 2-core host can show 200 %.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Point", "StatsHistory", "host_sample", "HISTORY_SECONDS"]

HISTORY_SECONDS = 300.0
"""How far back the graphs go."""


@dataclass
class Point:
    """One container (or the host) at one moment: rates are per second since the previous sample."""

    time: float
    cpu: float = 0.0
    """Percent of one core (100 = one core busy)."""
    mem: int = 0
    mem_limit: int = 0
    rx: float = 0.0
    tx: float = 0.0
    read: float = 0.0
    write: float = 0.0
    pids: int = 0


def _net(sample: dict[str, Any]) -> tuple[int, int]:
    rx = tx = 0
    for iface in (sample.get("networks") or {}).values():
        rx += int(iface.get("rx_bytes", 0))
        tx += int(iface.get("tx_bytes", 0))
    return rx, tx


def _blk(sample: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value", 0))
        elif op == "write":
            write += int(entry.get("value", 0))
    return read, write


@dataclass
class _Raw:
    time: float
    cpu_total: int
    system: int
    rx: int
    tx: int
    read: int
    write: int


@dataclass
class StatsHistory:
    """Points per container id, plus ``"host"``; at most :data:`HISTORY_SECONDS` of them."""

    interval: float = 1.0
    points: dict[str, deque[Point]] = field(default_factory=dict)
    _raw: dict[str, _Raw] = field(default_factory=dict)

    @property
    def maxlen(self) -> int:
        return max(10, int(HISTORY_SECONDS / max(self.interval, 0.05)))

    def _push(self, key: str, point: Point) -> None:
        series = self.points.get(key)
        if series is None or series.maxlen != self.maxlen:
            series = self.points[key] = deque(series or (), maxlen=self.maxlen)
        series.append(point)

    def add(self, samples: dict[str, dict[str, Any]], host: Point | None, now: float | None = None,
            keep: set[str] | None = None) -> None:
        """Record one tick: ``samples`` maps container ids to raw stats. Containers not in ``keep`` (by
        default: not sampled this tick) are forgotten; kept ones not sampled just get no new point."""
        now = time.time() if now is None else now
        keep = set(samples) if keep is None else keep | set(samples)
        for cid in [c for c in self._raw if c not in keep]:
            del self._raw[cid]
        for cid in [c for c in self.points if c != "host" and c not in keep]:
            del self.points[cid]
        for cid, sample in samples.items():
            cpu = sample.get("cpu_stats") or {}
            rx, tx = _net(sample)
            read, write = _blk(sample)
            raw = _Raw(now, int((cpu.get("cpu_usage") or {}).get("total_usage", 0)),
                       int(cpu.get("system_cpu_usage", 0)), rx, tx, read, write)
            mem = sample.get("memory_stats") or {}
            point = Point(now, mem=int(mem.get("usage", 0)), mem_limit=int(mem.get("limit", 0)),
                          pids=int((sample.get("pids_stats") or {}).get("current", 0)))
            before = self._raw.get(cid)
            if before is not None and raw.time > before.time:
                seconds = raw.time - before.time
                system_delta = raw.system - before.system
                cpus = int(cpu.get("online_cpus") or 1)
                if system_delta > 0:
                    point.cpu = max(0.0, (raw.cpu_total - before.cpu_total) / system_delta * cpus * 100)
                point.rx = max(0.0, (raw.rx - before.rx) / seconds)
                point.tx = max(0.0, (raw.tx - before.tx) / seconds)
                point.read = max(0.0, (raw.read - before.read) / seconds)
                point.write = max(0.0, (raw.write - before.write) / seconds)
            self._raw[cid] = raw
            self._push(cid, point)
        if host is not None:
            self._push("host", host)

    def latest(self, cid: str) -> Point | None:
        series = self.points.get(cid)
        return series[-1] if series else None

    def timed(self, ids: list[str], *attrs: str) -> list[tuple[float, float]]:
        """``(time, value)`` oldest first: the sum of ``attrs`` (``rx``, ``tx``…) over ``ids``, per tick
        (one tick's samples share its time), so a graph can draw each at its time."""
        totals: dict[float, float] = {}
        for cid in ids:
            for point in self.points.get(cid, ()):
                totals[point.time] = totals.get(point.time, 0.0) + sum(float(getattr(point, a)) for a in attrs)
        return sorted(totals.items())

    @property
    def newest(self) -> float:
        """The time of the newest sample (of anything), 0 before the first."""
        return max((series[-1].time for series in self.points.values() if series), default=0.0)


class HostProbe:
    """The host's totals from psutil: CPU % of the whole machine, memory, network and disk rates."""

    def __init__(self) -> None:
        import psutil
        self._psutil = psutil
        psutil.cpu_percent(None)
        self._last: tuple[float, int, int, int, int] | None = None

    def __call__(self) -> Point:
        psutil = self._psutil
        now = time.time()
        mem = psutil.virtual_memory()
        net = psutil.net_io_counters()
        disk = psutil.disk_io_counters()
        counters = (now, net.bytes_recv if net else 0, net.bytes_sent if net else 0,
                    disk.read_bytes if disk else 0, disk.write_bytes if disk else 0)
        point = Point(now, cpu=psutil.cpu_percent(None), mem=mem.total - mem.available, mem_limit=mem.total)
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            point.rx, point.tx, point.read, point.write = (
                max(0.0, (b - a) / dt) for a, b in zip(self._last[1:], counters[1:]))
        self._last = counters
        return point


def host_sample() -> HostProbe:
    return HostProbe()
