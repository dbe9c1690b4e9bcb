"""The Live resources pane: graphs of the selected containers over the last minutes, and the host's.

Every graph is a :class:`TimeGraph`: samples at their time (the right edge is now), bars against a
stated scale: CPU against its limit (``--cpus``) or else 100 % of one core (whole cores when busier),
memory against its limit (never more than the host has), network and disk against their peak in the
window. Sizes are the CLI's: memory in ``docker stats``' binary units, rates in its decimal ones.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Label, Static

from ..stats import HISTORY_SECONDS, Point, StatsHistory
from ._format import bytes_size, human_size
from ._paint import set_content, set_titles
from .time_graph import TimeAxis, TimeGraph

__all__ = ["ResourcesPane", "rate", "cpu_scale", "processes"]


def rate(value: float) -> str:
    return f"{human_size(value)}/s"


def percent(value: float) -> str:
    return f"{value:.1f} %"


def processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def cpu_scale(peak: float) -> float:
    """100 % (one core), or as many whole cores as the peak needs."""
    return 100.0 * max(1, math.ceil(peak / 100.0 - 1e-9))


Scale = Callable[[Point, list[float]], float]
Metric = tuple[str, str, tuple[str, ...], Scale, Callable[[Point, float], str]]
"""(row id, label, Point attributes graphed (summed), the graph's full scale from the newest point and
the window's values, the text for the newest point and that scale)."""


def _memory(point: Point, _scale: float) -> str:
    share = f" ({point.mem / point.mem_limit * 100:.1f} %)" if point.mem_limit else ""
    return f"{bytes_size(point.mem)} / {bytes_size(point.mem_limit)}{share}"


def _peak(_point: Point, values: list[float]) -> float:
    return max(values, default=0.0)


def _of_peak(text: Callable[[Point], str]) -> Callable[[Point, float], str]:
    return lambda p, scale: f"{text(p)} · peak {rate(scale)}"


CONTAINER_METRICS: tuple[Metric, ...] = (
    ("cpu", "CPU", ("cpu",), lambda _p, values: cpu_scale(max(values, default=0.0)),
     lambda p, scale: f"{percent(p.cpu)} of {scale:.0f} %"),
    ("mem", "Memory", ("mem",), lambda p, _v: float(p.mem_limit), _memory),
    ("rx", "Net rx", ("rx",), _peak, _of_peak(lambda p: rate(p.rx))),
    ("tx", "Net tx", ("tx",), _peak, _of_peak(lambda p: rate(p.tx))),
    ("read", "Block read", ("read",), _peak, _of_peak(lambda p: rate(p.read))),
    ("write", "Block write", ("write",), _peak, _of_peak(lambda p: rate(p.write))),
)
HOST_METRICS: tuple[Metric, ...] = (
    ("cpu", "CPU", ("cpu",), lambda _p, _v: 100.0, lambda p, _s: f"{percent(p.cpu)} of 100 %"),
    ("mem", "Memory", ("mem",), lambda p, _v: float(p.mem_limit), _memory),
    ("net", "Net rx+tx", ("rx", "tx"), _peak, lambda p, _s: f"{rate(p.rx)} ↓ {rate(p.tx)} ↑"),
    ("disk", "Disk r+w", ("read", "write"), _peak, lambda p, _s: f"{rate(p.read)} r {rate(p.write)} w"),
)


def _sum(points: list[Point], host: Point | None) -> Point:
    """The selection as one: usage summed; the memory limit too, but never past the host's memory
    (two containers without a limit each report the whole host)."""
    out = Point(points[-1].time if points else 0.0)
    for p in points:
        out.cpu += p.cpu
        out.mem += p.mem
        out.mem_limit += p.mem_limit
        out.rx += p.rx
        out.tx += p.tx
        out.read += p.read
        out.write += p.write
        out.pids += p.pids
    if host is not None and host.mem_limit:
        out.mem_limit = min(out.mem_limit, host.mem_limit)
    return out


class ResourcesPane(VerticalScroll):
    """CPU, memory against its limit, network and block I/O of the selection; host totals below."""

    DEFAULT_CSS = """
    ResourcesPane {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $text-primary;
        border-subtitle-color: $text-muted;
        background: $surface;
        &:focus-within, &:focus {
            border: round $border;
        }
        & .resources--section {
            color: $text-primary;
            text-style: bold;
            margin-top: 1;
        }
        & .resources--note {
            color: $text-muted;
        }
        & > Horizontal {
            height: 1;
        }
        & Horizontal > .resources--label {
            width: 12;
            color: $text-muted;
        }
        & Horizontal > TimeGraph, & Horizontal > TimeAxis {
            margin-right: 1;
        }
        & Horizontal > .resources--value {
            width: 30;
        }
        & .host > TimeGraph {
            color: $secondary;
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, can_focus=True)

    def compose(self) -> ComposeResult:
        cpus = os.cpu_count() or 1
        yield Static("Select a running container in the Containers pane (space marks several).",
                     id="resources-title", classes="resources--section")
        yield Static(f"Scales on the right: CPU 100 % = one full core (this host has {cpus}).",
                     classes="resources--note")
        for row, label, *_rest in CONTAINER_METRICS:
            with Horizontal(id=f"container-{row}"):
                yield Label(label, classes="resources--label")
                yield TimeGraph(HISTORY_SECONDS)
                yield Label("–", classes="resources--value")
        with Horizontal(id="time-axis"):
            yield Label("", classes="resources--label")
            yield TimeAxis(HISTORY_SECONDS)
            yield Label("", classes="resources--value")
        yield Static("Host (psutil)", classes="resources--section")
        yield Static(f"CPU 100 % = the whole machine ({cpus} cores).", classes="resources--note")
        for row, label, *_rest in HOST_METRICS:
            with Horizontal(id=f"host-{row}", classes="host"):
                yield Label(label, classes="resources--label")
                yield TimeGraph(HISTORY_SECONDS)
                yield Label("–", classes="resources--value")

    def on_mount(self) -> None:
        self.border_title = "Live resources"

    def _set_row(self, row_id: str, samples: list[tuple[float, float]], scale: float, now: float,
                 text: str) -> None:
        row = self.query_one(f"#{row_id}", Horizontal)
        row.query_one(TimeGraph).plot(samples, scale, now)
        set_content(row.query_one(".resources--value", Label), text)

    def show(self, history: StatsHistory, ids: list[str], names: list[str], cpu_limit: float | None = None) -> None:
        """Paint ``ids``' graphs (summed when several) and the host's from ``history``; ``cpu_limit`` (in
        cores, when every one of them has a limit) is the CPU graph's full scale."""
        try:
            self._show(history, ids, names, cpu_limit)
        except NoMatches:
            return  # the app is closing

    def _show(self, history: StatsHistory, ids: list[str], names: list[str], cpu_limit: float | None) -> None:
        latest = [p for p in (history.latest(cid) for cid in ids) if p is not None]
        if not ids:
            heading = "Select a running container in the Containers pane (space marks several)."
        elif not latest:
            heading = f"{', '.join(names)}: not running, no samples"
        elif len(ids) == 1:
            heading = f"{names[0]} · {processes(latest[0].pids)}"
        else:
            heading = f"{len(ids)} containers, summed: {', '.join(names)}"
        set_content(self.query_one("#resources-title", Static), heading)
        set_titles(self, subtitle=f"every {history.interval:g} s · last {HISTORY_SECONDS / 60:g} min")
        now = history.newest
        host = history.latest("host")
        selection = _sum(latest, host)
        for rows, keys, point, metrics in (("container", ids, selection if latest else None, CONTAINER_METRICS),
                                           ("host", ["host"], host, HOST_METRICS)):
            for row, _label, attrs, scale_of, text in metrics:
                samples = history.timed(keys, *attrs) if point is not None else []
                if point is None:
                    self._set_row(f"{rows}-{row}", [], 1.0, now, "–")
                    continue
                scale = scale_of(point, [v for t, v in samples if t > now - HISTORY_SECONDS])
                value = text(point, scale)
                if rows == "container" and row == "cpu" and cpu_limit:
                    scale = cpu_limit * 100
                    value = f"{percent(point.cpu)} of {scale:.0f} % (limit)"
                self._set_row(f"{rows}-{row}", samples, scale, now, value)
