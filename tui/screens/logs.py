"""Logs of one container, or of several merged (each line tagged with its container's name), or of a
service (``service=(id, name)``: every task's lines merged, tagged with the task's name).

``/`` searches (matches highlighted, ``n``/``N`` jump), ``&`` keeps only matching lines, ``f`` follows,
``w`` wraps, ``t`` shows timestamps, ``g``/``G`` jump to the top/bottom, ``esc`` goes back.
"""

from __future__ import annotations

import bisect
import contextlib
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, RichLog, Static

from engine.client import Docker
from engine.errors import EngineError

from ..actions import bindings
from ..widgets.footer import KeyFooter

__all__ = ["LogsScreen", "LogEntry", "split_service_line"]

MAX_ENTRIES = 20_000
TAIL = 1000


def split_service_line(line: str) -> tuple[str, dict[str, str], str]:
    """``2026-…Z com.docker.swarm.node.id=…,com.docker.swarm.task.id=… text`` (``service logs -t
    --details``) → (timestamp, the details, the text); either prefix may be missing."""
    when = ""
    head, sep, rest = line.partition(" ")
    if sep and len(head) > 19 and head[4] == "-" and head[10] == "T":
        when, line = head, rest
    attrs: dict[str, str] = {}
    head, sep, rest = line.partition(" ")
    if "=" in head and "com.docker." in head:
        for pair in head.split(","):
            key, _, value = pair.partition("=")
            attrs[key] = value
        line = rest
    return when, attrs, line


@dataclass(order=True)
class LogEntry:
    time: str
    seq: int
    source: int
    """Index of the container in the screen's list."""
    stream: str
    text: str


class LogsScreen(Screen[None]):
    """``LogsScreen(docker, [(id, name), …])``; one follow worker per container. ``service=(id, name)``:
    one follow of ``docker.services.logs``, each task's lines tagged ``web.3`` (its sources are the tasks,
    added as they appear)."""

    BINDINGS = bindings("logs")

    DEFAULT_CSS = """
    LogsScreen {
        & > #logs-title {
            height: 1;
            padding: 0 1;
            background: $panel;
            color: $text-primary;
            text-style: bold;
        }
        & > RichLog {
            height: 1fr;
            background: $surface;
            padding: 0 1;
        }
        & > Input {
            display: none;
            border: none;
            height: 1;
            padding: 0 1;
            background: $primary 20%;
        }
        & > Input.-open {
            display: block;
        }
        & > #logs-status {
            height: 1;
            padding: 0 1;
            background: $panel;
            color: $text-muted;
        }
    }
    """

    class Lines(Message):
        def __init__(self, entries: list[LogEntry]) -> None:
            super().__init__()
            self.entries = entries

    class Ended(Message):
        def __init__(self, source: int, error: str | None) -> None:
            super().__init__()
            self.source = source
            self.error = error

    def __init__(self, docker: Docker, containers: list[tuple[str, str]], *, follow: bool = True,
                 service: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.docker = docker
        self.containers = list(containers)
        self.service = service
        self.follow = follow
        self.wrap = False
        self.timestamps = False
        self.search = ""
        self.filter = ""
        self.entries: list[LogEntry] = []
        self._pending: list[LogEntry] = []
        self._flush_scheduled = False
        self._seq = 0
        self._match_rows: list[int] = []
        self._match_index = -1
        self._input_mode = ""
        self._ended: set[int] = set()

    @property
    def merged(self) -> bool:
        return len(self.containers) > 1 or self.service is not None

    def compose(self) -> ComposeResult:
        names = f"service {self.service[1]} (every task)" if self.service else \
            ", ".join(name for _id, name in self.containers)
        yield Static(f"Logs · {names}", id="logs-title", markup=False)
        yield RichLog(id="logs-view", wrap=False, highlight=False, markup=False, auto_scroll=True,
                      max_lines=MAX_ENTRIES)
        yield Input(id="logs-input", compact=True)
        yield Static("", id="logs-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self._update_status()
        if self.service is not None:
            self.read_service_log(*self.service)
        for index, (container_id, _name) in enumerate(self.containers):
            self.read_log(index, container_id)

    # -- workers ---------------------------------------------------------------------------------------
    @work(group="logs", exit_on_error=False)
    async def read_log(self, index: int, container_id: str) -> None:
        error: str | None = None
        try:
            stream = self.docker.containers.container(container_id).log(follow=True, tail=TAIL)
            async with contextlib.aclosing(stream) as entries:  # type: ignore[type-var]
                async for entry in entries:
                    self._seq += 1
                    self.post_message(self.Lines([LogEntry(entry.get("time", ""), self._seq, index,
                                                           entry.get("stream", "stdout"),
                                                           entry.get("log", "").rstrip("\n"))]))
        except EngineError as exc:
            error = str(exc)
        self.post_message(self.Ended(index, error))

    @work(group="logs", exit_on_error=False)
    async def read_service_log(self, service_id: str, service_name: str) -> None:
        """``service logs -f --details -t``: the details name each line's task, looked up once per task."""
        error: str | None = None
        sources: dict[str, int] = {}
        try:
            stream = self.docker.services.logs(service_id, follow=True, tail=str(TAIL), timestamps=True, details=True)
            async with contextlib.aclosing(stream) as lines:  # type: ignore[type-var]
                async for stream_name, raw in lines:
                    when, attrs, text = split_service_line(raw.decode("utf-8", "replace"))
                    task_id = attrs.get("com.docker.swarm.task.id", "")
                    if task_id not in sources:
                        sources[task_id] = len(self.containers)
                        self.containers.append((task_id, await self._task_name(service_name, task_id)))
                    self._seq += 1
                    self.post_message(self.Lines([LogEntry(when, self._seq, sources[task_id], stream_name,
                                                           text.rstrip("\n"))]))
        except EngineError as exc:
            error = str(exc)
        self.post_message(self.Ended(0, error))

    async def _task_name(self, service_name: str, task_id: str) -> str:
        """``web.3`` (docker service logs' tag), or the task's short id if it is gone."""
        try:
            task = await self.docker.tasks.inspect(task_id)
        except EngineError:
            return f"{service_name}.{task_id[:12]}"
        slot = task.get("Slot")
        return f"{service_name}.{slot}" if slot else f"{service_name}.{task.get('NodeID', '')[:12]}"

    def on_logs_screen_lines(self, message: Lines) -> None:
        self._pending.extend(message.entries)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(0.05, self._flush)

    def on_logs_screen_ended(self, message: Ended) -> None:
        self._ended.add(message.source)
        if message.error:
            self.notify(message.error, title="Logs", severity="error", timeout=5)
        self._update_status()

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        if not pending:
            return
        in_order = True
        for entry in pending:
            if self.entries and entry < self.entries[-1]:
                bisect.insort(self.entries, entry)
                in_order = False
            else:
                self.entries.append(entry)
        if len(self.entries) > MAX_ENTRIES:
            del self.entries[: len(self.entries) - MAX_ENTRIES]
            in_order = False
        if in_order:
            log = self.query_one(RichLog)
            for entry in pending:
                self._write(log, entry)
            self._update_status()
        else:
            self._rewrite()

    # -- drawing ---------------------------------------------------------------------------------------
    def _tag_style(self, source: int) -> Style:
        theme = self.app.current_theme
        colors = [theme.primary, theme.accent, theme.success, theme.secondary, theme.warning]
        return Style(color=colors[source % len(colors)], bold=True)

    def _visible(self, entry: LogEntry) -> bool:
        return not self.filter or self.filter.lower() in entry.text.lower()

    def _line(self, entry: LogEntry) -> Text:
        parts: list[Text | tuple[str, Style | str]] = []
        if self.timestamps:
            parts.append((entry.time[:23].replace("T", " ") + " ", "dim"))
        if self.merged:
            name = self.containers[entry.source][1]
            width = self._tag_width()
            parts.append((f"{name[:width]:<{width}} │ ", self._tag_style(entry.source)))
        body = Text(entry.text, style=Style(color=self.app.current_theme.error) if entry.stream == "stderr" else "")
        if self.search:
            body.highlight_words([self.search], Style(reverse=True, bold=True), case_sensitive=False)
        return Text.assemble(*parts, body)

    def _tag_width(self) -> int:
        """Tags as wide as the longest name (``getstartedlab_web.3``), 16 to 28 cells."""
        return max(16, min(28, max((len(name) for _id, name in self.containers), default=16)))

    def _write(self, log: RichLog, entry: LogEntry) -> None:
        if not self._visible(entry):
            return
        y = len(log.lines)
        if self.search and self.search.lower() in entry.text.lower():
            self._match_rows.append(y)
        log.write(self._line(entry), scroll_end=self.follow)

    def _rewrite(self) -> None:
        log = self.query_one(RichLog)
        log.wrap = self.wrap
        log.auto_scroll = self.follow
        log.clear()
        self._match_rows = []
        for entry in self.entries:
            self._write(log, entry)
        if self.follow:
            log.scroll_end(animate=False)
        self._update_status()

    def _update_status(self) -> None:
        shown = sum(1 for e in self.entries if self._visible(e))
        flags = [
            "following" if self.follow else "paused (f follows)",
            "wrap" if self.wrap else "no wrap",
            "timestamps" if self.timestamps else "no timestamps",
        ]
        if self.filter:
            flags.append(f"filter “{self.filter}” {shown}/{len(self.entries)}")
        if self.search:
            flags.append(f"“{self.search}”: {len(self._match_rows)} matches")
        done = len(self._ended)
        if done and (done == len(self.containers) or self.service is not None):
            flags.append("stream ended")
        self.query_one("#logs-status", Static).update(f"{len(self.entries)} lines · " + " · ".join(flags))

    # -- input line ------------------------------------------------------------------------------------
    def _open_input(self, mode: str) -> None:
        field = self.query_one("#logs-input", Input)
        self._input_mode = mode
        field.placeholder = "search (enter keeps, esc clears)" if mode == "search" else "show only lines containing…"
        field.value = self.search if mode == "search" else self.filter
        field.add_class("-open")
        field.focus()

    @on(Input.Changed, "#logs-input")
    def _input_changed(self, event: Input.Changed) -> None:
        if self._input_mode == "search":
            self.search = event.value
        else:
            self.filter = event.value
        self._match_index = -1
        self._rewrite()

    @on(Input.Submitted, "#logs-input")
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.remove_class("-open")
        self.query_one(RichLog).focus()
        if self._input_mode == "search" and self.search:
            self.action_next_match()


    # -- actions ---------------------------------------------------------------------------------------
    def action_search(self) -> None:
        self._open_input("search")

    def action_filter(self) -> None:
        self._open_input("filter")

    def _jump(self, step: int) -> None:
        if not self._match_rows:
            if self.search:
                self.notify(f"No match for “{self.search}”", timeout=2)
            return
        self.follow = False
        log = self.query_one(RichLog)
        log.auto_scroll = False
        self._match_index = (self._match_index + step) % len(self._match_rows)
        log.scroll_to(y=max(0, self._match_rows[self._match_index] - log.size.height // 2), animate=False)
        self._update_status()

    def action_next_match(self) -> None:
        self._jump(1)

    def action_previous_match(self) -> None:
        self._jump(-1)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        log = self.query_one(RichLog)
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self._update_status()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._rewrite()

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._rewrite()

    def action_top(self) -> None:
        self.follow = False
        log = self.query_one(RichLog)
        log.auto_scroll = False
        log.scroll_home(animate=False)
        self._update_status()

    def action_bottom(self) -> None:
        """The end, and follow again from there."""
        self.follow = True
        log = self.query_one(RichLog)
        log.auto_scroll = True
        log.scroll_end(animate=False)
        self._update_status()

    def action_close(self) -> None:
        field = self.query_one("#logs-input", Input)
        if field.has_focus:  # esc in the search line clears it and stays
            field.value = ""
            field.remove_class("-open")
            self.query_one(RichLog).focus()
            return
        self.workers.cancel_group(self, "logs")
        self.dismiss(None)
