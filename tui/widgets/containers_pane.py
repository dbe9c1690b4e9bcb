"""The Containers pane: ``portside ps -a`` as a live table."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.theme import Theme
from textual.widgets import Static

from ._format import ago, short_id
from .resource_table import ResourceTable, Row

__all__ = ["ContainersPane", "CONTAINER_COLUMNS"]

CONTAINER_COLUMNS = ("ID", "NAME", "IMAGE", "STATUS", "CREATED")
COMPACT_COLUMNS = ("NAME", "IMAGE", "STATUS", "CREATED")
"""Below :data:`COMPACT_WIDTH` cells the ID column goes (the command hint still names the id)."""
COMPACT_WIDTH = 100


def clip(text: str, width: int | None) -> str:
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def container_name(container: dict[str, Any]) -> str:
    names = container.get("Names") or []
    return names[0].lstrip("/") if names else short_id(container.get("Id", ""))


class ContainersPane(Vertical):
    """Containers from ``docker.containers.list(all=True)``; ``a`` toggles all / running only."""

    BINDINGS = [
        Binding("a", "toggle_all", "All/running", id="toggle-all"),
        Binding("s", "stop", "Stop", id="stop"),
        Binding("x,ctrl+d", "remove", "Remove", id="remove"),
    ]

    DEFAULT_CSS = """
    ContainersPane {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $text-primary;
        border-subtitle-color: $text-muted;
        &:focus-within {
            border: round $border;
        }
        & > .empty {
            display: none;
            height: 1fr;
            content-align: center middle;
            color: $text-muted;
            background: $surface;
        }
        &.-empty > .empty {
            display: block;
        }
        &.-empty > ResourceTable {
            height: auto;
        }
    }
    """

    show_all: reactive[bool] = reactive(True, init=False)
    """Show stopped containers too (``ps -a``), or only running ones (``ps``)."""

    compact: reactive[bool] = reactive(False, init=False)
    """Narrow terminal: no ID column, long names and statuses clipped."""

    class StopRequested(Message):
        """The user asked to stop a container."""

        def __init__(self, container: dict[str, Any]) -> None:
            super().__init__()
            self.container = container

    class RemoveRequested(Message):
        """The user asked to remove a container (the app confirms first)."""

        def __init__(self, container: dict[str, Any]) -> None:
            super().__init__()
            self.container = container

    class ShowAllChanged(Message):
        def __init__(self, show_all: bool) -> None:
            super().__init__()
            self.show_all = show_all

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._containers: list[dict[str, Any]] = []
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield ResourceTable(CONTAINER_COLUMNS, id="containers-table")
        yield Static("Loading…", classes="empty")

    def on_mount(self) -> None:
        self._update_titles()
        self.set_class(True, "-empty")
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    @property
    def containers(self) -> list[dict[str, Any]]:
        """The containers currently shown (after the all/running filter)."""
        if self.show_all:
            return list(self._containers)
        return [c for c in self._containers if c.get("State") in ("running", "restarting", "paused")]

    @property
    def selected(self) -> dict[str, Any] | None:
        key = self.table.selected_key
        return next((c for c in self._containers if c.get("Id") == key), None)

    def update_containers(self, containers: list[dict[str, Any]]) -> None:
        """Replace the data (every container, running or not) and repaint what changed."""
        self._containers = containers
        self._loaded = True
        self._render_rows()

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

    def _render_rows(self) -> None:
        rows: list[Row] = []
        compact = self.compact
        name_width, image_width, status_width = (16, 16, 22) if compact else (None, None, None)
        for c in self.containers:
            state = c.get("State", "")
            status_style = self._status_style(state)
            cells = [
                Text(clip(container_name(c), name_width), style="bold"),
                Text(clip(c.get("Image", ""), image_width)),
                Text.assemble(("● ", status_style), (clip(c.get("Status", state), status_width), status_style)),
                Text(ago(c.get("Created", 0))),
            ]
            if not compact:
                cells.insert(0, Text(short_id(c["Id"])))
            rows.append((c["Id"], cells))
        table = self.table
        table.set_columns(COMPACT_COLUMNS if compact else CONTAINER_COLUMNS)
        table.sync(rows)
        shown, total = len(rows), len(self._containers)
        self.set_class(not rows, "-empty")
        if self._loaded:
            self.query_one(".empty", Static).update(
                "No containers yet — try  portside run -d busybox sleep 60" if not total
                else f"No running containers ({total} stopped) — press a to show all")
        self._update_titles(shown, total)

    def _update_titles(self, shown: int = 0, total: int = 0) -> None:
        self.border_title = "Containers · all" if self.show_all else "Containers · running"
        self.border_subtitle = f"{shown} of {total}" if self._loaded else ""

    def on_resize(self) -> None:
        self.compact = self.size.width < COMPACT_WIDTH

    def watch_compact(self) -> None:
        if self._loaded:
            self._render_rows()

    def watch_show_all(self, show_all: bool) -> None:
        if self._loaded:
            self._render_rows()
        else:
            self._update_titles()
        self.post_message(self.ShowAllChanged(show_all))

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all

    def action_stop(self) -> None:
        if (container := self.selected) is not None:
            self.post_message(self.StopRequested(container))

    def action_remove(self) -> None:
        if (container := self.selected) is not None:
            self.post_message(self.RemoveRequested(container))
