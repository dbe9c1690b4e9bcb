"""The Live resources pane: graphs of the selected containers over the last minutes, and the host's."""

from __future__ import annotations

import os
from collections.abc import Callable

from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from ..stats import HISTORY_SECONDS, Point, StatsHistory
from ._format import human_size
from ._paint import set_titles

__all__ = ["ResourcesPane", "rate"]


def rate(value: float) -> str:
    return f"{human_size(value)}/s"


def percent(value: float) -> str:
    return f"{value:.1f} %"


Metric = tuple[str, str, str, Callable[[Point, list[Point]], str]]
"""(row id, label, Point attribute graphed, text for the newest value)."""


def _memory(point: Point, _points: list[Point]) -> str:
    share = f" ({point.mem / point.mem_limit * 100:.1f} %)" if point.mem_limit else ""
    return f"{human_size(point.mem)} / {human_size(point.mem_limit)}{share}"


CONTAINER_METRICS: tuple[Metric, ...] = (
    ("cpu", "CPU", "cpu", lambda p, _: percent(p.cpu)),
    ("mem", "Memory", "mem", _memory),
    ("rx", "Net rx", "rx", lambda p, _: rate(p.rx)),
    ("tx", "Net tx", "tx", lambda p, _: rate(p.tx)),
    ("read", "Block read", "read", lambda p, _: rate(p.read)),
    ("write", "Block write", "write", lambda p, _: rate(p.write)),
)
HOST_METRICS: tuple[Metric, ...] = (
    ("cpu", "CPU", "cpu", lambda p, _: percent(p.cpu)),
    ("mem", "Memory", "mem", _memory),
    ("net", "Net rx+tx", "rx", lambda p, _: f"{rate(p.rx)} ↓ {rate(p.tx)} ↑"),
    ("disk", "Disk r+w", "read", lambda p, _: f"{rate(p.read)} r {rate(p.write)} w"),
)


def _sum(points: list[Point]) -> Point:
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
        & Horizontal > Sparkline {
            width: 1fr;
            height: 1;
            margin-right: 1;
        }
        & Horizontal > .resources--value {
            width: 30;
        }
        & .host > Sparkline > .sparkline--max-color {
            color: $secondary;
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, can_focus=True)
        self._shown: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        cpus = os.cpu_count() or 1
        yield Static("Select a running container in the Containers pane (space marks several).",
                     id="resources-title", classes="resources--section")
        yield Static(f"CPU % of one core, as docker stats counts it: 100 % is one full core, this host has "
                     f"{cpus} ({cpus * 100} % max). Last {int(HISTORY_SECONDS // 60)} minutes.",
                     classes="resources--note")
        for row, label, _attr, _text in CONTAINER_METRICS:
            with Horizontal(id=f"container-{row}"):
                yield Label(label, classes="resources--label")
                yield Sparkline([], summary_function=max)
                yield Label("–", classes="resources--value")
        yield Static("Host (psutil)", classes="resources--section")
        yield Static(f"CPU % of the whole machine ({cpus} cores = 100 %).", classes="resources--note")
        for row, label, _attr, _text in HOST_METRICS:
            with Horizontal(id=f"host-{row}", classes="host"):
                yield Label(label, classes="resources--label")
                yield Sparkline([], summary_function=max)
                yield Label("–", classes="resources--value")

    def on_mount(self) -> None:
        self.border_title = "Live resources"

    def _set_row(self, row_id: str, data: list[float], text: str) -> None:
        row = self.query_one(f"#{row_id}", Horizontal)
        spark = row.query_one(Sparkline)
        if list(spark.data or []) != data:
            spark.data = data
        value = row.query_one(".resources--value", Label)
        if str(value.content) != text:
            value.update(text)

    def show(self, history: StatsHistory, ids: list[str], names: list[str]) -> None:
        """Paint ``ids``' graphs (summed when several) and the host's from ``history``."""
        try:
            self._show(history, ids, names)
        except NoMatches:
            return  # the app is closing

    def _show(self, history: StatsHistory, ids: list[str], names: list[str]) -> None:
        title = self.query_one("#resources-title", Static)
        latest = [p for p in (history.latest(cid) for cid in ids) if p is not None]
        if not ids:
            heading = "Select a running container in the Containers pane (space marks several)."
        elif not latest:
            heading = f"{', '.join(names)}: not running, no samples"
        elif len(ids) == 1:
            heading = f"{names[0]} · {latest[0].pids} processes"
        else:
            heading = f"{len(ids)} containers, summed: {', '.join(names)}"
        if str(title.content) != heading:
            title.update(heading)
        set_titles(self, subtitle=f"every {history.interval:g} s")
        now = _sum(latest)
        for row, _label, attr, text in CONTAINER_METRICS:
            data = history.series(ids, attr) if latest else []
            self._set_row(f"container-{row}", data, text(now, []) if latest else "–")
        host = history.latest("host")
        for row, _label, attr, text in HOST_METRICS:
            data = history.series(["host"], attr)
            if row in ("net", "disk"):
                other = "tx" if row == "net" else "write"
                data = [a + b for a, b in zip(data, history.series(["host"], other))]
            self._set_row(f"host-{row}", data, text(host, []) if host else "–")
