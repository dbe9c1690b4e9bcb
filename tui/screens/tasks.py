"""One service's tasks: ``portside service ps`` live, with each replica's CPU and memory graphed.

Every refresh is three calls (the service, its tasks, its task containers: their health); each running
replica on screen gets one stats stream, closed when it stops or the screen closes. Under the title, a
live event line says what the swarm just did: ``web.3 died (exit 137) → replaced by web.3 in 0.4 s``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label, Static
from textual.worker import Worker

from engine import aio
from engine.client import Docker
from engine.errors import EngineError, NotFound
from engine.units import parse_rfc3339

from ..actions import bindings
from ..stats import Point, StatsHistory
from ..widgets._format import bytes_size, human_duration
from ..widgets._paint import set_content
from ..widgets.footer import KeyFooter
from ..widgets.columns import Column, plan_columns
from ..widgets.containers_pane import ContainersPane, clip
from ..widgets.resource_table import ResourceTable, Row
from ..widgets.services_pane import (ServicesPane, container_health, replicas_of, service_image, service_mode,
                                     service_name, service_ports, stack_of, task_container_id)
from ..widgets.time_graph import TimeGraph

__all__ = ["TasksScreen", "ReplicaGraphs", "TASK_COLUMNS", "task_rows", "task_name", "replacements", "current_state"]

TASK_COLUMNS = ("NAME", "SLOT", "CURRENT STATE", "DESIRED", "HEALTH", "CPU %", "MEM / LIMIT", "ERROR")
COLUMNS = (
    Column("NAME", 12, 40, enough=22),
    Column("SLOT", 4, drop=1),
    Column("CURRENT STATE", 14, 32, enough=22),
    Column("DESIRED", 8, drop=2),
    Column("HEALTH", 9),
    Column("CPU %", 5),
    Column("MEM / LIMIT", 17, drop=3),
    Column("MEM", 7, replaces="MEM / LIMIT"),
    Column("ERROR", 8, 40, drop=4),
)
"""Narrow screens lose the slot first (the name says it), then the desired state, the memory limit, the
error (inspect shows it); the name, state, health and usage stay."""
GRAPH_WINDOW = 120.0
"""Seconds the replica graphs span."""
ERROR_WIDTH = 32
"""The ERROR column's cells are clipped here (inspect shows the whole text)."""
MAX_GRAPHS = 8
"""Replicas graphed side by side (the first ones by slot); one stats stream each."""
ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


def task_name(service: dict[str, Any], task: dict[str, Any]) -> str:
    """docker service ps' NAME: ``web.3`` (global services: ``web.<node id>``)."""
    name = service_name(service)
    slot = task.get("Slot")
    return f"{name}.{slot}" if slot else f"{name}.{task.get('NodeID', '')}"


def _group(task: dict[str, Any]) -> tuple[int, str]:
    return (int(task.get("Slot") or 0), "" if task.get("Slot") else str(task.get("NodeID", "")))


def _created(task: dict[str, Any]) -> float:
    return parse_rfc3339(str(task.get("CreatedAt") or ""))


def _state_time(task: dict[str, Any]) -> float:
    return parse_rfc3339(str((task.get("Status") or {}).get("Timestamp") or ""))


def task_rows(tasks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """docker service ps' order: by slot, the newest task of each first, its history (``True``) under it."""
    groups = _slots(tasks)
    out: list[tuple[dict[str, Any], bool]] = []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=_created, reverse=True)
        out.extend((task, index > 0) for index, task in enumerate(ordered))
    return out


def current_state(task: dict[str, Any], now: float | None = None) -> str:
    """``Running 3 minutes ago``, as docker service ps prints CURRENT STATE."""
    state = str((task.get("Status") or {}).get("State") or "")
    when = _state_time(task)
    if not when:
        return state.capitalize()
    return f"{state.capitalize()} {human_duration((time.time() if now is None else now) - when)} ago"


def _exit_words(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    state = status.get("State")
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if state == "failed":
        return f"died (exit {code})" if code is not None else f"failed ({status.get('Err') or 'no reason given'})"
    if state == "complete":
        return "completed"
    if state == "rejected":
        return f"was rejected ({status.get('Err') or 'no reason given'})"
    return "was shut down"


def replacements(service: dict[str, Any], tasks: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """What the swarm did, from the tasks' history: ``(when, "web.3 died (exit 137) → replaced by web.3 in
    0.4 s")`` per task that ended and was followed on its slot by one now running, oldest first; and
    ``"web.3 died (exit 137), replacing…"`` while the next one is still on its way."""
    events: list[tuple[float, str]] = []
    for group in _slots(tasks).values():
        ordered = sorted(group, key=_created)
        for old, new in zip(ordered, ordered[1:]):
            old_state = (old.get("Status") or {}).get("State")
            if old_state not in ENDED:
                continue
            new_state = (new.get("Status") or {}).get("State")
            ended = _state_time(old) or _created(new)
            name = task_name(service, old)
            if new_state == "running":
                took = max(0.0, _state_time(new) - ended)
                events.append((_state_time(new), f"{name} {_exit_words(old)} → replaced by {task_name(service, new)} "
                                                 f"in {took:.1f} s"))
            elif new_state not in ENDED and new.get("DesiredState") == "running":
                events.append((ended, f"{name} {_exit_words(old)}, replacing… ({new_state})"))
    return sorted(events)


def _slots(tasks: list[dict[str, Any]]) -> dict[tuple[int, str], list[dict[str, Any]]]:
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for task in tasks:
        groups.setdefault(_group(task), []).append(task)
    return groups


class ReplicaGraphs(Vertical):
    """One replica: its name and usage, CPU and memory graphs over :data:`GRAPH_WINDOW`."""

    DEFAULT_CSS = """
    ReplicaGraphs {
        width: 1fr;
        height: 5;
        margin-right: 1;
        & > Label {
            width: 100%;
            color: $text-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        & > .replica--name {
            color: $text-primary;
            text-style: bold;
        }
        & > .replica--mem {
            color: $secondary;
        }
    }
    """

    def __init__(self, container_id: str, name: str) -> None:
        super().__init__()
        self.container_id = container_id
        self.replica = name

    def compose(self) -> ComposeResult:
        yield Label(self.replica, classes="replica--name", markup=False)
        yield Label("CPU –", classes="replica--cpu-value")
        yield TimeGraph(GRAPH_WINDOW, classes="replica--cpu")
        yield Label("Mem –", classes="replica--mem-value")
        yield TimeGraph(GRAPH_WINDOW, classes="replica--mem")

    def show(self, history: StatsHistory, cpu_limit: float | None) -> None:
        point = history.latest(self.container_id)
        now = history.newest
        cpu_scale = (cpu_limit or 1.0) * 100
        try:
            cpu_graph = self.query_one(".replica--cpu", TimeGraph)
            mem_graph = self.query_one(".replica--mem", TimeGraph)
            cpu_value = self.query_one(".replica--cpu-value", Label)
            mem_value = self.query_one(".replica--mem-value", Label)
        except NoMatches:
            return
        if point is None:
            return
        cpu_graph.plot(history.timed([self.container_id], "cpu"), cpu_scale, now)
        mem_graph.plot(history.timed([self.container_id], "mem"), float(point.mem_limit or 1), now)
        set_content(cpu_value, f"CPU {point.cpu:.1f} % of {cpu_scale:g} %")
        set_content(mem_value, f"{bytes_size(point.mem)} / {bytes_size(point.mem_limit)}")


class TasksScreen(Screen[None]):
    """``TasksScreen(docker, service)``: the service's tasks, refreshed every ``interval`` seconds."""

    BINDINGS = bindings("tasks")

    DEFAULT_CSS = """
    TasksScreen {
        & > #tasks-title {
            height: 1;
            padding: 0 1;
            background: $panel;
            color: $text-primary;
            text-style: bold;
        }
        & > #tasks-event {
            height: 1;
            padding: 0 1;
            color: $text-warning;
        }
        & > ResourceTable {
            height: 1fr;
        }
        & > #tasks-graphs-title {
            height: 1;
            padding: 0 1;
            color: $text-muted;
        }
        & > #tasks-graphs {
            height: auto;
            max-height: 11;
            padding: 0 1;
        }
    }
    """

    class Loaded(Message):
        def __init__(self, service: dict[str, Any], tasks: list[dict[str, Any]],
                     containers: list[dict[str, Any]]) -> None:
            super().__init__()
            self.service = service
            self.tasks = tasks
            self.containers = containers

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TasksScreen.Loaded)

    class Sampled(Message):
        def __init__(self, container_id: str, sample: dict[str, Any], when: float) -> None:
            super().__init__()
            self.container_id = container_id
            self.sample = sample
            self.when = when

    class Gone(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, docker: Docker, service: dict[str, Any], *, interval: float = 1.0) -> None:
        super().__init__()
        self.docker = docker
        self.service = service
        self.service_id = str(service.get("ID", ""))
        self.interval = interval
        self.tasks: list[dict[str, Any]] = []
        self.containers: dict[str, dict[str, Any]] = {}
        self.history = StatsHistory(interval=interval)
        self.loaded = False
        self.event_line = ""
        self._streams: dict[str, Worker[None]] = {}
        self._graphed: list[str] = []
        self.widths: dict[str, int] = {c.name: c.minimum for c in COLUMNS if c.name != "MEM"}
        """The task table's columns shown, in order, with their widths."""

    @property
    def streams(self) -> list[str]:
        """Container ids with a stats stream open."""
        return list(self._streams)

    def compose(self) -> ComposeResult:
        yield Static(f"Service {service_name(self.service)}", id="tasks-title", markup=False)
        yield Static("", id="tasks-event", markup=False)
        yield ResourceTable(TASK_COLUMNS, id="tasks-table")
        yield Static("", id="tasks-graphs-title")
        yield Horizontal(id="tasks-graphs")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(ResourceTable).focus()
        self.poll()

    # -- workers ---------------------------------------------------------------------------------------
    @work(exclusive=True, group="tasks-poll", exit_on_error=False)
    async def poll(self) -> None:
        while True:
            try:
                service = await self.docker.services.inspect(self.service_id)
                tasks = await self.docker.tasks.list(filters={"service": [self.service_id]})
                containers = await self.docker.containers.list(
                    all=True, filters={"label": [f"com.docker.swarm.service.id={self.service_id}"]})
            except NotFound:
                self.post_message(self.Gone(f"service {service_name(self.service)} is gone"))
                return
            except EngineError as exc:
                self.post_message(self.Gone(str(exc)))
                return
            self.post_message(self.Loaded(service, tasks, containers))
            await aio.sleep(self.interval)

    @work(group="tasks-stats", exit_on_error=False)
    async def stream_stats(self, container_id: str) -> None:
        try:
            stream = self.docker.containers.container(container_id).stats_stream(self.interval)
            async with contextlib.aclosing(stream) as samples:  # type: ignore[type-var]
                async for sample in samples:
                    self.post_message(self.Sampled(container_id, sample, time.time()))
        except EngineError:
            return  # the replica stopped: the next refresh closes its graph

    # -- painting --------------------------------------------------------------------------------------
    def on_tasks_screen_gone(self, message: Gone) -> None:
        self.notify(message.error, title="Tasks", severity="warning", timeout=4)
        self._close_streams()
        self.dismiss(None)

    def on_tasks_screen_loaded(self, message: Loaded) -> None:
        self.service, self.tasks = message.service, message.tasks
        self.containers = {c["Id"]: c for c in message.containers if c.get("Id")}
        self.loaded = True
        self._paint()
        self._follow_streams()

    def on_tasks_screen_sampled(self, message: Sampled) -> None:
        self.history.add({message.container_id: message.sample}, None, message.when, keep=set(self._streams))
        point = self.history.latest(message.container_id)
        for task in self.tasks:
            if task_container_id(task) == message.container_id:
                self._usage(str(task.get("ID")), point)
        limit = self._cpu_limit()
        for box in self.query(ReplicaGraphs):
            if box.container_id == message.container_id:
                box.show(self.history, limit)

    def _cpu_limit(self) -> float | None:
        resources = ((self.service.get("Spec") or {}).get("TaskTemplate") or {}).get("Resources") or {}
        nano = (resources.get("Limits") or {}).get("NanoCPUs") or 0
        return nano / 1e9 if nano else None

    def _usage(self, task_id: str, point: Point | None) -> None:
        table = self.query_one(ResourceTable)
        cpu, mem = self._usage_cells(point)
        columns = list(self.widths)
        cells = {columns.index("CPU %"): cpu}
        for name in ("MEM / LIMIT", "MEM"):
            if name in columns:
                cells[columns.index(name)] = mem
        table.update_row_cells(task_id, cells)

    def _usage_cells(self, point: Point | None) -> tuple[Text, Text]:
        if point is None:
            return Text("–", justify="right"), Text("–", justify="right")
        mem = bytes_size(point.mem) if "MEM" in self.widths else f"{bytes_size(point.mem)} / {bytes_size(point.mem_limit)}"
        return Text(f"{point.cpu:.1f}", justify="right"), Text(mem, justify="right")

    def _state_style(self, state: str) -> Style:
        theme = self.app.current_theme
        if state == "running":
            return Style(color=theme.success, bold=True)
        if state in ("failed", "rejected", "orphaned"):
            return Style(color=theme.error)
        if state in ("complete", "shutdown", "remove"):
            return Style(dim=True)
        return Style(color=theme.warning)

    def _health_cell(self, health: str) -> Text:
        theme = self.app.current_theme
        color = {"healthy": theme.success, "starting": theme.warning, "unhealthy": theme.error}.get(health)
        return Text(health or "–", style=Style(color=color) if color else Style(dim=True))

    def _paint(self) -> None:
        service = self.service
        replicas = replicas_of(service, self.tasks, self.containers)
        parts = [f"Service {service_name(service)}", service_mode(service), f"{replicas.running}/{replicas.desired}",
                 service_image(service)]
        if ports := service_ports(service):
            parts.append(ports)
        if state := (service.get("UpdateStatus") or {}).get("State"):
            parts.append(f"update {str(state).replace('_', ' ')}")
        set_content(self.query_one("#tasks-title", Static), " · ".join(parts))
        events = replacements(service, self.tasks)
        self.event_line = events[-1][1] if events else ""
        set_content(self.query_one("#tasks-event", Static), self.event_line)
        now = time.time()
        ordered = task_rows(self.tasks)
        natural = {c.name: len(c.name) for c in COLUMNS}
        for task, history in ordered:
            natural["NAME"] = max(natural["NAME"], len(task_name(service, task)) + (4 if history else 0))
            natural["CURRENT STATE"] = max(natural["CURRENT STATE"], len(current_state(task, now)))
            natural["ERROR"] = max(natural["ERROR"], min(ERROR_WIDTH, len(str((task.get("Status") or {}).get("Err") or ""))))
        table = self.query_one(ResourceTable)
        available = table.scrollable_content_region.width if table.size.width else self.app.size.width - 2
        self.widths = widths = plan_columns(COLUMNS, natural, available)
        rows: list[Row] = []
        for task, history in ordered:
            status = task.get("Status") or {}
            state = str(status.get("State") or "")
            cid = task_container_id(task)
            running = state == "running"
            name = task_name(service, task)
            health = container_health(self.containers.get(cid)) if running else ""
            cpu, mem = self._usage_cells(self.history.latest(cid) if running else None)
            cells = {
                "NAME": Text(clip(f" \\_ {name}" if history else name, widths["NAME"]),
                             style="dim" if history else "bold"),
                "SLOT": Text(str(task.get("Slot") or ""), justify="right"),
                "CURRENT STATE": Text(clip(current_state(task, now), widths["CURRENT STATE"]),
                                      style=self._state_style(state)),
                "DESIRED": Text(str(task.get("DesiredState") or "").capitalize()),
                "HEALTH": self._health_cell(health) if running else Text(""),
                "CPU %": cpu, "MEM / LIMIT": mem, "MEM": mem,
                "ERROR": Text(clip(str(status.get("Err") or ""), widths.get("ERROR")),
                              style=Style(color=self.app.current_theme.error)),
            }
            rows.append((str(task.get("ID")), [cells[column] for column in widths]))
        table.set_columns(list(widths))
        table.sync(rows)

    def _running_replicas(self) -> list[tuple[str, str]]:
        """(container id, task name) of the running replicas, by slot."""
        out = []
        for task, history in task_rows(self.tasks):
            if not history and (task.get("Status") or {}).get("State") == "running" and task_container_id(task):
                out.append((task_container_id(task), task_name(self.service, task)))
        return out

    def _follow_streams(self) -> None:
        running = self._running_replicas()
        visible = running[:MAX_GRAPHS]
        wanted = {cid for cid, _name in visible}
        for cid in [c for c in self._streams if c not in wanted]:
            self._streams.pop(cid).cancel()
        for cid, _name in visible:
            if cid not in self._streams:
                self._streams[cid] = self.stream_stats(cid)
        if [cid for cid, _ in visible] != self._graphed:
            self._graphed = [cid for cid, _ in visible]
            graphs = self.query_one("#tasks-graphs", Horizontal)
            graphs.remove_children()
            stack = stack_of(self.service)
            graphs.mount_all([ReplicaGraphs(cid, name.removeprefix(f"{stack}_") if stack else name)
                              for cid, name in visible])
            self.call_after_refresh(self._paint_graphs)
        more = f" (the first {MAX_GRAPHS} of {len(running)})" if len(running) > MAX_GRAPHS else ""
        cores = self._cpu_limit()
        cpu = f"the service's limit ({cores:g} CPU)" if cores else "one core"
        title = (f"Replicas over the last {GRAPH_WINDOW / 60:g} min: CPU against {cpu}, memory against its "
                 f"limit{more}"
                 if visible else "No replica running")
        set_content(self.query_one("#tasks-graphs-title", Static), title)

    def _paint_graphs(self) -> None:
        limit = self._cpu_limit()
        for box in self.query(ReplicaGraphs):
            box.show(self.history, limit)

    def _close_streams(self) -> None:
        self.workers.cancel_group(self, "tasks-stats")
        self.workers.cancel_group(self, "tasks-poll")
        self._streams.clear()

    # -- actions ---------------------------------------------------------------------------------------
    def _request(self, action: str, argument: int = 0) -> None:
        self.app.post_message(ServicesPane.ActionRequested(action, self.service, stack_of(self.service), argument))

    def action_logs(self) -> None:
        self._request("logs")

    def action_kill(self) -> None:
        """Kill the replica under the cursor (its container): the swarm replaces it."""
        key = self.query_one(ResourceTable).selected_key
        task = next((t for t in self.tasks if t.get("ID") == key), None)
        container = self.containers.get(task_container_id(task)) if task is not None else None
        if task is None or container is None or (task.get("Status") or {}).get("State") != "running":
            self.notify("Put the cursor on a running replica", timeout=2)
            return
        self.app.post_message(ContainersPane.ActionRequested("kill", [container]))

    def action_scale_up(self) -> None:
        self._request("scale", +1)

    def action_scale_down(self) -> None:
        self._request("scale", -1)

    def action_close(self) -> None:
        self._close_streams()
        self.dismiss(None)

    def on_resize(self) -> None:
        if self.loaded:
            self.call_after_refresh(self._paint)

    def on_unmount(self) -> None:
        self._close_streams()

