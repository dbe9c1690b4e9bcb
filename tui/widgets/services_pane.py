"""The Services pane: ``portside service ls`` grouped by stack, replicas drawn as a health-coloured bar.

Stacks (label ``com.docker.stack.namespace``) head their services; services without a stack follow.
The data is one ``docker.services.list(status=True)`` and one ``docker.tasks.list()`` per refresh, and
the Containers pane's list (the task containers' ``(healthy)`` / ``(health: starting)`` status); the
app hands them in (:meth:`ServicesPane.update_services`). When the node is not a swarm manager, the
pane says so and offers ``swarm init``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.theme import Theme
from textual.widgets import DataTable, Static

from ..actions import bindings, by_id, key_display
from ._format import short_id
from ._paint import set_content, set_titles
from .columns import Column, plan_columns
from .containers_pane import clip
from .filter_bar import FilterBar, matches
from .list_pane import ListPane
from .resource_table import ResourceTable, Row

__all__ = ["ServicesPane", "SERVICE_COLUMNS", "STACK_LABEL", "Replicas", "replicas_of", "service_ports",
           "service_image", "service_mode", "service_name", "stack_of", "container_health", "task_health",
           "desired_replicas"]

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_COLUMNS = ("NAME", "MODE", "REPLICAS", "IMAGE", "PORTS", "UPDATE")
COLUMNS = (
    Column("NAME", 12, 40, enough=20),
    Column("MODE", 10),
    Column("REPLICAS", 16),  # "██████░░ 10/10 "
    Column("IMAGE", 10, 40, drop=2),
    Column("PORTS", 10, 30, drop=1),
    Column("UPDATE", 9, 20, drop=3),
)
BAR = 8
"""Cells of the replicas bar."""
STARTING = ("new", "pending", "assigned", "accepted", "preparing", "starting", "ready")
"""Task states on the way to running (docker's order)."""


def service_name(service: dict[str, Any]) -> str:
    return str((service.get("Spec") or {}).get("Name") or short_id(service.get("ID", "")))


def stack_of(service: dict[str, Any]) -> str:
    """The stack the service belongs to (``""``: none)."""
    return str(((service.get("Spec") or {}).get("Labels") or {}).get(STACK_LABEL) or "")


def service_mode(service: dict[str, Any]) -> str:
    """docker service ls' MODE: ``replicated``, ``global``, ``replicated job``, ``global job``."""
    mode = (service.get("Spec") or {}).get("Mode") or {}
    if "Global" in mode:
        return "global"
    if "ReplicatedJob" in mode:
        return "replicated job"
    if "GlobalJob" in mode:
        return "global job"
    return "replicated"


def desired_replicas(service: dict[str, Any]) -> int | None:
    """The spec's replica count (None for a global service)."""
    mode = (service.get("Spec") or {}).get("Mode") or {}
    if "Replicated" in mode:
        return int((mode["Replicated"] or {}).get("Replicas", 1))
    return None


def service_image(service: dict[str, Any]) -> str:
    """The image without its pinned digest (``nginx:alpine``, as docker service ls prints it)."""
    spec = (service.get("Spec") or {}).get("TaskTemplate") or {}
    image = str((spec.get("ContainerSpec") or {}).get("Image") or "")
    return image.split("@", 1)[0]


def service_ports(service: dict[str, Any]) -> str:
    """docker service ls' PORTS: ``*:80->8000/tcp`` (ingress), ``80->8000/tcp`` only when host mode…"""
    ports = (service.get("Endpoint") or {}).get("Ports") or \
        ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    out = []
    for port in ports:
        published, target = port.get("PublishedPort"), port.get("TargetPort")
        proto = port.get("Protocol") or "tcp"
        if not published:
            continue
        prefix = "*:" if (port.get("PublishMode") or "ingress") == "ingress" else ""
        out.append(f"{prefix}{published}->{target}/{proto}")
    return ", ".join(out)


def container_health(container: dict[str, Any] | None) -> str:
    """``healthy``, ``unhealthy``, ``starting``, or ``""`` (no health check) from a container list row
    (docker's ``Up 3 minutes (healthy)``) or an inspect (``State.Health.Status``)."""
    if not container:
        return ""
    state = container.get("State")
    if isinstance(state, dict):
        return str((state.get("Health") or {}).get("Status") or "")
    status = str(container.get("Status") or "")
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    if "(health: starting)" in status:
        return "starting"
    return ""


def task_container_id(task: dict[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")


def task_health(task: dict[str, Any], containers: dict[str, dict[str, Any]]) -> str:
    """The task's health: its container's (list row by id, or inspect) when known."""
    return container_health(containers.get(task_container_id(task)))


@dataclass(frozen=True)
class Replicas:
    """Counts behind the replicas bar."""

    running: int
    desired: int
    ready: int
    """Running and healthy (or without a health check)."""
    starting: int
    """On the way: a task state before running, or running with its health check still starting."""

    @property
    def failing(self) -> int:
        """Missing or unhealthy: what the bar draws red."""
        return max(0, self.desired - self.ready - self.starting)


def replicas_of(service: dict[str, Any], tasks: list[dict[str, Any]],
                containers: dict[str, dict[str, Any]]) -> Replicas:
    """The service's replicas from ``ServiceStatus`` (``?status=true``) and its tasks that should run."""
    status = service.get("ServiceStatus") or {}
    own = [t for t in tasks if t.get("ServiceID") == service.get("ID") and t.get("DesiredState") == "running"]
    running_tasks = [t for t in own if (t.get("Status") or {}).get("State") == "running"]
    healths = [task_health(t, containers) for t in running_tasks]
    ready = sum(1 for h in healths if h in ("", "healthy"))
    starting = sum(1 for h in healths if h == "starting") + \
        sum(1 for t in own if (t.get("Status") or {}).get("State") in STARTING)
    running = int(status.get("RunningTasks", len(running_tasks)))
    desired = status.get("DesiredTasks")
    if desired is None:
        desired = desired_replicas(service)
    if desired is None:
        desired = len(own)
    return Replicas(running, int(desired), min(ready, int(desired)), starting)


class ServicesPane(ListPane):
    """Stacks and services; ``enter`` opens a service's tasks."""

    BINDINGS = bindings("services")

    class ActionRequested(Message):
        """The user asked for ``action`` (``scale``, ``logs``…) on ``service`` (None: no service row, e.g.
        ``deploy``, ``swarm-init``) in ``stack`` (the stack of the row under the cursor, if any)."""

        def __init__(self, action: str, service: dict[str, Any] | None, stack: str = "",
                     argument: int = 0) -> None:
            super().__init__()
            self.action = action
            self.service = service
            self.stack = stack
            self.argument = argument

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._services: list[dict[str, Any]] = []
        self._tasks: list[dict[str, Any]] = []
        self._containers: dict[str, dict[str, Any]] = {}
        self._loaded = False
        self.not_manager: str | None = None
        """The engine's words when this node is not a swarm manager (None: it is, or not known yet)."""
        self._table = ResourceTable(SERVICE_COLUMNS, id="services-table")
        self.filter_text = ""
        self.widths = {c.name: c.minimum for c in COLUMNS}

    def compose(self) -> ComposeResult:
        yield FilterBar("filter services: name, stack, image…", id="services-filter")
        yield self._table
        yield Static("Loading…", classes="empty")

    def on_mount(self) -> None:
        self._update_titles()
        self.set_class(True, "-empty")
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    # -- data ------------------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def all_services(self) -> list[dict[str, Any]]:
        return list(self._services)

    @property
    def all_tasks(self) -> list[dict[str, Any]]:
        return list(self._tasks)

    @property
    def stacks(self) -> list[str]:
        return sorted({s for s in map(stack_of, self._services) if s})

    @property
    def services(self) -> list[dict[str, Any]]:
        """The services shown (after the filter): stack by stack, by name, then the ones without a stack."""
        shown = self._services
        if self.filter_text:
            shown = [s for s in shown if matches(self.filter_text, service_name(s), stack_of(s), service_image(s),
                                                 service_ports(s))]
        return sorted(shown, key=lambda s: (not stack_of(s), stack_of(s), service_name(s)))

    def replicas(self, service: dict[str, Any]) -> Replicas:
        return replicas_of(service, self._tasks, self._containers)

    @property
    def selected(self) -> dict[str, Any] | None:
        """The service under the cursor (None on a stack's heading)."""
        key = self.table.selected_key
        return next((s for s in self._services if s.get("ID") == key), None)

    @property
    def selected_stack(self) -> str:
        """The stack under the cursor: its heading, or the stack of the service there."""
        key = self.table.selected_key or ""
        if key.startswith("stack:"):
            return key[len("stack:"):]
        service = self.selected
        return stack_of(service) if service is not None else ""

    def update_services(self, services: list[dict[str, Any]] | None, tasks: list[dict[str, Any]],
                        containers: list[dict[str, Any]], not_manager: str | None = None) -> None:
        """Replace the data (``services`` None: ``not_manager`` says why there are none) and repaint."""
        by_id = {c["Id"]: c for c in containers if c.get("Id")}
        new = (services or [], tasks, not_manager)
        if self._loaded and new == (self._services, self._tasks, self.not_manager) and by_id == self._containers:
            return
        self._services, self._tasks, self.not_manager = new
        self._containers = by_id
        self._loaded = True
        self._render_rows()

    # -- drawing ---------------------------------------------------------------------------------------
    def _on_theme_changed(self, _theme: Theme) -> None:
        self._render_rows()

    def replicas_cell(self, replicas: Replicas) -> Text:
        """``██████░░ 3/5``: green ready, yellow starting, red missing or failing (one cell each when few)."""
        theme = self.app.current_theme
        desired = replicas.desired
        text = Text(no_wrap=True)
        if desired:
            cells = [(replicas.ready, theme.success), (replicas.starting, theme.warning),
                     (replicas.failing, theme.error)]
            widths = [round(count * BAR / desired) for count, _ in cells]
            widths[2] = max(0, BAR - widths[0] - widths[1])  # the rounding's remainder stays red
            if replicas.failing and not widths[2]:
                widths[0 if widths[0] >= widths[1] else 1] -= 1
                widths[2] = 1
            for width, (_count, color) in zip(widths, cells):
                text.append("█" * width, Style(color=color))
        else:
            text.append("░" * BAR, "dim")
        all_good = replicas.ready >= desired
        color = theme.success if all_good else theme.warning if not replicas.failing else theme.error
        text.append(f" {replicas.running}/{desired}", Style(color=color, bold=True))
        return text

    def _update_cell(self, service: dict[str, Any]) -> Text:
        state = str((service.get("UpdateStatus") or {}).get("State") or "")
        theme = self.app.current_theme
        color = {"updating": theme.warning, "rollback_started": theme.warning, "paused": theme.error,
                 "rollback_paused": theme.error}.get(state)
        return Text(state.replace("_", " "), style=Style(color=color) if color else Style(dim=True))

    def _plan(self, shown: list[dict[str, Any]]) -> dict[str, int]:
        natural = {c.name: len(c.name) for c in COLUMNS}
        for s in shown:
            indent = 2 if stack_of(s) else 0
            for name, text in (("NAME", service_name(s)), ("IMAGE", service_image(s)), ("PORTS", service_ports(s)),
                               ("UPDATE", str((s.get("UpdateStatus") or {}).get("State") or ""))):
                natural[name] = max(natural[name], len(text) + (indent if name == "NAME" else 0))
        for stack in self.stacks:
            natural["NAME"] = max(natural["NAME"], len(stack) + 2)
        table = self._table
        available = table.scrollable_content_region.width if table.size.width else self.app.size.width - 4
        return plan_columns(COLUMNS, natural, available)

    def _render_rows(self) -> None:
        if not self._table.is_attached:
            return
        shown = self.services
        self.widths = widths = self._plan(shown)
        rows: list[Row] = []
        stack = None
        heading = Style(color=self.app.current_theme.accent, bold=True)
        for s in shown:
            here = stack_of(s)
            if here and here != stack:
                members = [x for x in shown if stack_of(x) == here]
                cells = {column: Text("") for column in widths}
                cells["NAME"] = Text(clip(f"▾ {here}", widths["NAME"]), style=heading)
                cells["MODE"] = Text(f"{len(members)} service{'s' if len(members) != 1 else ''}", style="dim")
                rows.append((f"stack:{here}", [cells[column] for column in widths]))
            stack = here
            indent = "  " if here else ""
            name = service_name(s)  # docker's full name (``getstartedlab_web``), as service ls shows it
            cells = {
                "NAME": Text(clip(indent + name, widths["NAME"]), style="bold"),
                "MODE": Text(service_mode(s)),
                "REPLICAS": self.replicas_cell(self.replicas(s)),
                "IMAGE": Text(clip(service_image(s), widths.get("IMAGE"))),
                "PORTS": Text(clip(service_ports(s), widths.get("PORTS"))),
                "UPDATE": self._update_cell(s),
            }
            rows.append((str(s.get("ID")), [cells[column] for column in widths]))
        table = self.table
        table.set_columns(list(widths))
        table.sync(rows)
        self.set_class(not rows, "-empty")
        if self._loaded:
            set_content(self.query_one(".empty", Static), self._empty_text())
        self._update_titles()

    def _key(self, binding_id: str) -> str:
        keymap: dict[str, str] = getattr(self.app, "keymap", {})
        return key_display(keymap.get(binding_id, by_id(binding_id).keys)).split(" / ")[0]

    def _empty_text(self) -> str:
        if self.not_manager is not None:
            return (f"This node is not a swarm manager, so it runs no services. Press {self._key('swarm-init')} "
                    "to make it a single-node swarm (portside swarm init); "
                    f"then {self._key('deploy')} deploys a stack from a compose file.")
        if self.filter_text and self._services:
            return f"Nothing matches “{self.filter_text}” — esc clears the filter"
        return (f"No services yet — press {self._key('deploy')} to deploy a stack from a compose file "
                "(portside stack deploy -c docker-compose.yml NAME)")

    def _update_titles(self) -> None:
        if self.not_manager is not None:
            set_titles(self, "Services · not a swarm manager", "")
            return
        stacks = len(self.stacks)
        title = "Services" + (f" · {stacks} stack{'s' if stacks != 1 else ''}" if stacks else "")
        set_titles(self, title, f"{len(self._services)} service{'s' if len(self._services) != 1 else ''}"
                   if self._loaded else "")

    def on_resize(self) -> None:
        if self._loaded:
            self.call_after_refresh(self._render_rows)

    # -- actions ---------------------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_tasks()

    def _request(self, action: str, *, need_service: bool = True, argument: int = 0) -> None:
        service = self.selected
        if need_service and service is None:
            what = "a service" if not self.selected_stack else "a service of the stack (j moves down)"
            self.app.notify(f"Put the cursor on {what}", timeout=2)
            return
        self.post_message(self.ActionRequested(action, service, self.selected_stack, argument))

    def action_tasks(self) -> None:
        if self.selected is None and self.selected_stack:
            return  # a stack's heading
        self._request("tasks")

    def action_scale_up(self) -> None:
        self._request("scale", argument=+1)

    def action_scale_down(self) -> None:
        self._request("scale", argument=-1)

    def action_scale(self) -> None:
        self._request("scale")

    def action_update_image(self) -> None:
        self._request("update-image")

    def action_rollback(self) -> None:
        self._request("rollback")

    def action_logs(self) -> None:
        self._request("logs")

    def action_inspect(self) -> None:
        self._request("inspect")

    def action_remove_stack(self) -> None:
        self._request("remove-stack", need_service=False)

    def action_deploy(self) -> None:
        self._request("deploy", need_service=False)

    def action_swarm_init(self) -> None:
        self._request("swarm-init", need_service=False)

    def action_swarm_leave(self) -> None:
        self._request("swarm-leave", need_service=False)
