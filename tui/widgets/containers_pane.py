"""The Containers pane: ``portside ps -a`` as a live table with CPU and memory from the stats sampler."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.theme import Theme
from textual.widgets import DataTable, Static

from engine.client import format_ports as client_format_ports

from ..actions import bindings
from ..stats import Point
from ._format import bytes_size, short_id
from ._paint import set_content, set_titles
from .columns import Column, plan_columns
from .filter_bar import FilterBar, matches
from .list_pane import ListPane
from .resource_table import ResourceTable, Row

__all__ = ["ContainersPane", "CONTAINER_COLUMNS", "container_name", "format_ports"]

CONTAINER_COLUMNS = ("ID", "NAME", "IMAGE", "STATUS", "PORTS", "CPU %", "MEM / LIMIT")
COLUMNS = (
    Column("ID", 12, drop=1),  # the command hint still names the id
    Column("NAME", 10, 40, enough=20),
    Column("IMAGE", 8, 32, drop=4),
    Column("STATUS", 14, 40, enough=20),
    Column("PORTS", 10, 48, drop=3),
    Column("CPU %", 5),  # "200.0" on a busy 2-core host
    Column("MEM / LIMIT", 17, drop=2),  # "1023MiB / 23.5GiB"
    Column("MEM", 7, replaces="MEM / LIMIT"),
)
"""Narrow terminals lose the ID first, then the memory limit, then PORTS, then IMAGE; the name, the
status and the usage always stay."""
RUNNING = ("running", "restarting", "paused")
STATE_ORDER = {"running": 0, "restarting": 1, "paused": 2, "created": 3, "exited": 4, "dead": 5}


def clip(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def container_name(container: dict[str, Any]) -> str:
    names = container.get("Names") or []
    return names[0].lstrip("/") if names else short_id(container.get("Id", ""))


def format_ports(container: dict[str, Any], short: bool = False) -> str:
    """docker ps's PORTS (``0.0.0.0:8080->80/tcp, 443/tcp``, the CLI's own helper); ``short`` drops the
    any-address ``0.0.0.0:`` where the column is narrow (``8080->80/tcp``)."""
    text = client_format_ports(container.get("Ports") or [])
    return text.replace("0.0.0.0:", "") if short else text


class ContainersPane(ListPane):
    """Containers from ``docker.containers.list(all=True)``; ``a`` toggles all / running only."""

    BINDINGS = bindings("containers")


    show_all: reactive[bool] = reactive(True, init=False)
    """Show stopped containers too (``ps -a``), or only running ones (``ps``)."""

    widths: dict[str, int]
    """The columns shown, in order, with their cell widths (from :func:`plan_columns`)."""

    class ActionRequested(Message):
        """The user asked for ``action`` (``stop``, ``logs``…) on ``containers`` (the marked ones, or the
        one under the cursor)."""

        def __init__(self, action: str, containers: list[dict[str, Any]]) -> None:
            super().__init__()
            self.action = action
            self.containers = containers

    class ShowAllChanged(Message):
        def __init__(self, show_all: bool) -> None:
            super().__init__()
            self.show_all = show_all

    class SelectionChanged(Message):
        """The cursor moved or the marks changed (the resources pane follows)."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ContainersPane.SelectionChanged)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._containers: list[dict[str, Any]] = []
        self._loaded = False
        self._table = ResourceTable(CONTAINER_COLUMNS, id="containers-table")
        self._stats: dict[str, Point] = {}
        self.marked: set[str] = set()
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self.widths = {c.name: c.minimum for c in COLUMNS if c.name != "MEM"}
        self.busybox_missing = False
        """No busybox image yet: the empty state offers B (the app keeps this fresh)."""

    def compose(self) -> ComposeResult:
        yield FilterBar("filter containers: name, image, status…", id="containers-filter")
        yield self._table
        yield Static("Loading…", classes="empty")

    def on_mount(self) -> None:
        self._update_titles()
        self.set_class(True, "-empty")
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    @property
    def all_containers(self) -> list[dict[str, Any]]:
        return list(self._containers)

    @property
    def containers(self) -> list[dict[str, Any]]:
        """The containers currently shown (after the all/running toggle and the filter), in table order."""
        shown = [c for c in self._containers if self.show_all or c.get("State") in RUNNING]
        if self.filter_text:
            shown = [c for c in shown if matches(self.filter_text, container_name(c), c.get("Image", ""),
                                                 c.get("Status", ""), c.get("Id", "")[:12], format_ports(c))]
        if self.sort_column is not None:
            shown.sort(key=self._sort_key, reverse=self.sort_reverse)
        return shown

    def _sort_key(self, c: dict[str, Any]) -> Any:
        column = self.sort_column
        stats = self._stats.get(c["Id"])
        if column in ("CPU %",):
            return stats.cpu if stats else -1.0
        if column in ("MEM / LIMIT", "MEM"):
            return stats.mem if stats else -1
        if column == "STATUS":
            return (STATE_ORDER.get(c.get("State", ""), 9), c.get("Status", ""))
        if column == "IMAGE":
            return c.get("Image", "")
        if column == "PORTS":
            return format_ports(c)
        if column == "ID":
            return c.get("Id", "")
        return container_name(c)

    def wanted_stats(self, on_screen: bool) -> set[str] | None:
        """Containers whose stats this pane needs: all of them (None) when sorted by CPU or memory, else
        the rows on screen and the marked ones."""
        if on_screen and self.sort_column in ("CPU %", "MEM / LIMIT"):
            return None
        wanted = set(self.marked)
        if (c := self.selected) is not None:
            wanted.add(c["Id"])
        if on_screen:
            wanted.update(self.table.visible_keys)
        return wanted

    @property
    def selected(self) -> dict[str, Any] | None:
        key = self.table.selected_key
        return next((c for c in self._containers if c.get("Id") == key), None)

    @property
    def targets(self) -> list[dict[str, Any]]:
        """The marked containers (in table order), or else the one under the cursor."""
        marked = [c for c in self._containers if c["Id"] in self.marked]
        if marked:
            return marked
        return [c] if (c := self.selected) is not None else []

    def set_busybox_missing(self, missing: bool) -> None:
        if missing != self.busybox_missing:
            self.busybox_missing = missing
            if self._loaded:
                self._render_rows()

    def update_containers(self, containers: list[dict[str, Any]]) -> None:
        """Replace the data (every container, running or not) and repaint what changed."""
        if self._loaded and containers == self._containers:
            return  # the fallback refresh found nothing new
        self._containers = containers
        ids = {c["Id"] for c in containers}
        self.marked &= ids
        self._loaded = True
        self._render_rows()

    def update_stats(self, latest: dict[str, Point]) -> None:
        """The sampler's newest point per running container: only the CPU and memory cells change,
        unless the rows are sorted by them."""
        changed = [cid for cid, point in latest.items() if self._stats.get(cid) is not point]
        self._stats = latest
        if not self._loaded or not self._table.is_attached:
            return
        if self.sort_column in ("CPU %", "MEM / LIMIT"):
            self._render_rows()
            return
        width = len(self._table.column_names)
        states = {c["Id"]: c.get("State") for c in self._containers}
        for cid in changed:
            if states.get(cid) == "running":
                cpu, mem = self._usage_cells(self._stats.get(cid))
                self._table.update_row_cells(cid, {width - 2: cpu, width - 1: mem})

    def _usage_cells(self, point: Point | None) -> tuple[Text, Text]:
        """CPU and memory in ``docker stats``' units (binary sizes: ``432KiB / 23.5GiB``)."""
        cpu = Text(f"{point.cpu:.1f}" if point else "–", justify="right")
        if "MEM" in self.widths:
            mem = Text(bytes_size(point.mem) if point else "–", justify="right")
        else:
            mem = Text(f"{bytes_size(point.mem)} / {bytes_size(point.mem_limit)}" if point else "–",
                       justify="right")
        return cpu, mem

    def _on_theme_changed(self, _theme: Theme) -> None:
        self._render_rows()

    def _status_style(self, state: str) -> Style:
        theme = self.app.current_theme
        color = {
            "running": theme.success,
            "restarting": theme.warning,
            "paused": theme.warning,
            "removing": theme.warning,
            "dead": theme.error,
        }.get(state)
        return Style(color=color, bold=state == "running") if color else Style(dim=True)

    def _plan(self, shown: list[dict[str, Any]]) -> dict[str, int]:
        labels = {c.name: self._column_label(c.name) for c in COLUMNS}
        natural = {name: len(label) for name, label in labels.items()}
        for c in shown:
            mark = 2 if c["Id"] in self.marked else 0
            for name, text in (("NAME", container_name(c)), ("IMAGE", c.get("Image", "")),
                               ("STATUS", "● " + c.get("Status", "")), ("PORTS", format_ports(c))):
                natural[name] = max(natural[name], len(text) + (mark if name == "NAME" else 0))
        table = self._table
        available = table.scrollable_content_region.width if table.size.width else self.app.size.width - 4
        return plan_columns(COLUMNS, natural, available)

    def _render_rows(self) -> None:
        if not self._table.is_attached:
            return  # the app is closing
        rows: list[Row] = []
        shown = self.containers
        self.widths = widths = self._plan(shown)
        mark_style = Style(color=self.app.current_theme.accent, bold=True)
        for c in shown:
            state = c.get("State", "")
            status_style = self._status_style(state)
            point = self._stats.get(c["Id"]) if state == "running" else None
            marked = c["Id"] in self.marked
            name = Text(clip(container_name(c), widths["NAME"] - (2 if marked else 0)), style="bold")
            if marked:
                name = Text.assemble(("✚ ", mark_style), name)
            cpu, mem = self._usage_cells(point)
            ports = format_ports(c)
            if len(ports) > widths.get("PORTS", 0):
                ports = format_ports(c, short=True)
            cells = {
                "ID": Text(short_id(c["Id"])),
                "NAME": name,
                "IMAGE": Text(clip(c.get("Image", ""), widths.get("IMAGE"))),
                "STATUS": Text.assemble(("● ", status_style),
                                        (clip(c.get("Status", state), widths["STATUS"] - 2), status_style)),
                "PORTS": Text(clip(ports, widths.get("PORTS"))),
                "CPU %": cpu, "MEM / LIMIT": mem, "MEM": mem,
            }
            rows.append((c["Id"], [cells[column] for column in widths]))
        table = self.table
        table.set_columns([self._column_label(column) for column in widths])
        table.sync(rows)
        shown, total = len(rows), len(self._containers)
        self.set_class(not rows, "-empty")
        if self._loaded:
            if not total and self.busybox_missing:
                empty = ("No containers yet, and no image to run. Press B to make a busybox image from the host's "
                         "busybox, no network needed (portside image busybox), then n to run one "
                         "(portside run -d busybox sleep 60)")
            elif not total:
                empty = "No containers yet — press n to run one (portside run -d busybox sleep 60)"
            elif self.filter_text:
                empty = f"Nothing matches “{self.filter_text}” — esc clears the filter"
            else:
                empty = f"No running containers ({total} stopped) — press a to show all"
            set_content(self.query_one(".empty", Static), empty)
        self._update_titles(shown, total)

    def _column_label(self, column: str) -> str:
        arrow = " ▼" if self.sort_reverse else " ▲"
        sorted_here = column == self.sort_column or (column == "MEM" and self.sort_column == "MEM / LIMIT")
        return f"{column}{arrow}" if sorted_here else column

    def _update_titles(self, shown: int = 0, total: int = 0) -> None:
        title = "Containers · all" if self.show_all else "Containers · running"
        if self.marked:
            title += f" · {len(self.marked)} marked"
        set_titles(self, title, f"{shown} of {total}" if self._loaded else "")

    def on_resize(self) -> None:
        if self._loaded:
            self.call_after_refresh(self._render_rows)  # once the table has its new width

    def watch_show_all(self, show_all: bool) -> None:
        if self._loaded:
            self._render_rows()
        else:
            self._update_titles()
        self.post_message(self.ShowAllChanged(show_all))

    # -- events ---------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self.post_message(self.SelectionChanged())

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        label = str(event.label).rstrip(" ▲▼")
        column = "MEM / LIMIT" if label == "MEM" else label
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in ("CPU %", "MEM / LIMIT")
        self._render_rows()

    # -- actions -------------------------------------------------------------------------------------
    def _request(self, action: str) -> None:
        if targets := self.targets:
            self.post_message(self.ActionRequested(action, targets))
        else:
            self.app.notify("No container selected", timeout=2)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all

    def action_sort(self) -> None:
        columns = ["MEM / LIMIT" if c == "MEM" else c for c in self.widths]
        if self.sort_column not in columns:
            self.sort_column = columns[0]
        else:
            index = columns.index(self.sort_column) + 1
            self.sort_column = columns[index] if index < len(columns) else None
        self.sort_reverse = self.sort_column in ("CPU %", "MEM / LIMIT")
        self._render_rows()
        what = f"Sorted by {self.sort_column}" if self.sort_column else "Engine order (newest first)"
        self.app.notify(what, timeout=1.5)

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._render_rows()

    def action_mark(self) -> None:
        if (c := self.selected) is None:
            return
        self.marked ^= {c["Id"]}
        self._render_rows()  # the cursor stays on the row: space marks, j/k move
        self.post_message(self.SelectionChanged())

    def action_start(self) -> None:
        self._request("start")

    def action_stop(self) -> None:
        self._request("stop")

    def action_restart(self) -> None:
        self._request("restart")

    def action_kill(self) -> None:
        self._request("kill")

    def action_remove(self) -> None:
        self._request("remove")

    def action_logs(self) -> None:
        self._request("logs")

    def action_inspect(self) -> None:
        if (c := self.selected) is not None:
            self.post_message(self.ActionRequested("inspect", [c]))

    def action_shell(self) -> None:
        if (c := self.selected) is not None:
            self.post_message(self.ActionRequested("shell", [c]))
