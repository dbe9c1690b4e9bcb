"""The Portside dashboard: containers, images and live resource graphs, driven from the keyboard.

All engine I/O happens in workers (``@work(group=…)``) through :mod:`engine.client`; results come back
to the app as messages. The lists refresh on engine events (``docker.events.subscribe()``), with a slow
timer as a fallback for changes made by other processes (``portside run -d`` in another terminal). One
central sampler takes ``container.stats()`` of every running container once per ``refresh_interval``
(1 s by default) and posts one coalescing :class:`PortsideApp.StatsSampled` message.

The header names the engine (the embedded one and its data root, a portside daemon, or another Docker
host's address: the transport's ``kind`` and ``address``). When a call raises
:class:`engine.errors.ConnectionLost`, a banner says so and the fallback timer keeps retrying (every
``REFRESH_INTERVAL``); the first call that succeeds again removes it and follows the events anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.theme import Theme
from textual.widgets import Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from engine.client import Docker
from engine.errors import ConnectionLost, EngineError, Unavailable
from themes import DEFAULT_THEME, THEMES, register_themes

from .actions import ACTIONS, bindings, by_id
from .config import Config, config_path, load_config, save_config
from .palette import PortsideCommands
from .screens.build_dialog import BuildScreen
from .screens.confirm import ConfirmScreen
from .screens.deploy_dialog import DeployRequest, DeployScreen
from .screens.help import HelpScreen
from .screens.inspect import InspectScreen
from .screens.logs import LogsScreen
from .screens.prompt import PromptScreen
from .screens.run_dialog import RunRequest, RunScreen
from .screens.tasks import TasksScreen
from .stats import HostProbe, Point, StatsHistory
from .tour import (COMPOSE_FILE, TOUR_IMAGE, TOUR_NAME, TOUR_PORT, TOUR_STACK, Tour, TourState, has_busybox, tour_dir,
                   write_compose, write_sample)
from .widgets._format import short_id
from .widgets.command_hint import CommandHint
from .widgets.connection_banner import ConnectionBanner, engine_label
from .widgets.containers_pane import RUNNING, ContainersPane, container_name
from .widgets.footer import KeyFooter
from .widgets.images_pane import ImagesPane
from .widgets.resources_pane import ResourcesPane
from .widgets.services_pane import ServicesPane, desired_replicas, service_image, service_mode, service_name
from .widgets.tour_panel import TourPanel

__all__ = ["PortsideApp", "REFRESH_INTERVAL"]

REFRESH_INTERVAL = 2.0
"""Seconds between fallback list refreshes (engine events refresh sooner)."""
IMAGES_FALLBACK = 10.0
"""Seconds between fallback refreshes of the images while their pane is hidden."""

SERVICES_FALLBACK = 10.0
"""Seconds between fallback refreshes of the services while their pane is hidden."""

PANES = ("containers", "images", "resources", "services")


def tab_label(key: int, title: str, count: str = "") -> Content:
    """``1 Containers 2/5``: the number key that shows the pane, its name, a count."""
    return Content.assemble((f"{key} ", "dim"), title, (f" {count}" if count else "", "dim"))


def parse_ports(specs: list[str]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``-p`` values → (``ExposedPorts``, ``HostConfig.PortBindings``); raises ValueError when malformed."""
    exposed: dict[str, Any] = {}
    bindings_: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        spec_body, _, proto = spec.partition("/")
        parts = spec_body.split(":")
        if not parts[-1].isdigit() or len(parts) > 3:
            raise ValueError(f"invalid port specification: {spec!r} (use host:container, e.g. 8080:80)")
        key = f"{parts[-1]}/{proto or 'tcp'}"
        exposed[key] = {}
        if len(parts) >= 2:
            host_ip = parts[0] if len(parts) == 3 else ""
            bindings_.setdefault(key, []).append({"HostIp": host_ip, "HostPort": parts[-2]})
    return exposed, bindings_


def images_command(show_dangling: bool) -> str:
    """docker lists dangling images by default; the pane hides them until ``d``."""
    return "portside images" if show_dangling else "portside images -f dangling=false"


def portside_argv() -> list[str]:
    """How to start the ``portside`` command from here (the installed script, else this interpreter)."""
    script = shutil.which("portside")
    return [script] if script else [sys.executable, "-m", "tui.cli"]


class PortsideApp(App[None]):
    """``PortsideApp(root=..., read_only=..., docker=...)``.

    ``docker`` is an (unopened or opened) client to use instead of ``Docker(root=root)``; the app opens
    it, and closes it on exit only if it created it. ``refresh_interval`` overrides the config file's
    sampling interval; ``host_probe`` replaces psutil's host totals (drawing tests); ``tour`` starts the
    guided tour.
    """

    TITLE = "Portside"
    AUTO_FOCUS = "#containers-table"
    COMMANDS = {PortsideCommands}  # every action is in it, with its key; themes too

    CSS = """
    TabbedContent {
        height: 1fr;
    }
    TabPane {
        padding: 0;
    }
    .-touring ToastRack {
        /* the tour panel sits at the bottom, where toasts pop up: during the tour they go to the top */
        dock: top;
        align: right top;
        margin-bottom: 0;
        margin-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        *bindings("app"),
        Binding("w", "tour_write", "Write the tour's file", id="tour-write"),
        Binding("right_square_bracket", "tour_skip", "Skip step", show=False, id="tour-skip"),
    ]

    containers_pane: ContainersPane
    images_pane: ImagesPane
    resources_pane: ResourcesPane
    services_pane: ServicesPane
    panes: TabbedContent
    command_hint: CommandHint
    tour_panel: TourPanel
    connection_banner: ConnectionBanner

    # -- messages: worker results --------------------------------------------------------------------
    class ContainersLoaded(Message):
        def __init__(self, containers: list[dict[str, Any]]) -> None:
            super().__init__()
            self.containers = containers

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.ContainersLoaded)

    class ImagesLoaded(Message):
        def __init__(self, images: list[dict[str, Any]]) -> None:
            super().__init__()
            self.images = images

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.ImagesLoaded)

    class ServicesLoaded(Message):
        """Services with their ``ServiceStatus`` and every task; ``services`` None: ``not_manager`` says
        why there are none (the node is not a swarm manager)."""

        def __init__(self, services: list[dict[str, Any]] | None, tasks: list[dict[str, Any]],
                     not_manager: str | None = None) -> None:
            super().__init__()
            self.services = services
            self.tasks = tasks
            self.not_manager = not_manager

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.ServicesLoaded)

    class StatsSampled(Message):
        """One tick of the sampler: raw stats per running container, and the host's totals."""

        def __init__(self, samples: dict[str, dict[str, Any]], host: Point | None, when: float,
                     running: set[str] | None = None) -> None:
            super().__init__()
            self.samples = samples
            self.running = running if running is not None else set(samples)
            self.host = host
            self.when = when

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.StatsSampled)

    class EngineEvent(Message):
        """Something changed in the engine (``Type`` is ``container``, ``image``…)."""

        def __init__(self, event: dict[str, Any]) -> None:
            super().__init__()
            self.event = event

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.EngineEvent) and message.event.get("Type") == self.event.get("Type")

    class ActionDone(Message):
        """A container or image action finished."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Inspected(Message):
        def __init__(self, title: str, document: Any) -> None:
            super().__init__()
            self.title = title
            self.document = document

    class EngineFailed(Message):
        """The engine refused or failed; shown as a notification."""

        def __init__(self, error: str, title: str = "Engine error", *, source: str | None = None) -> None:
            super().__init__()
            self.error = error
            self.title = title
            self.source = source
            """The background job that failed (``connect``, ``containers``…), or None for a user action.
            A background failure is shown once, until that job succeeds again."""

    class Disconnected(Message):
        """A client call raised ConnectionLost: the engine does not answer."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PortsideApp.Disconnected)

    # -- setup ---------------------------------------------------------------------------------------
    def __init__(self, root: str | None = None, read_only: bool = False, docker: Docker | None = None, *,
                 refresh_interval: float | None = None, tour: bool = False,
                 host_probe: Callable[[], Point] | None = None, config: Config | None = None) -> None:
        super().__init__()
        self.root = root
        self.read_only = read_only
        self._owns_docker = docker is None
        self.docker = docker if docker is not None else Docker(root=root)
        self.config = config if config is not None else load_config()
        self.refresh_interval = refresh_interval or self.config.refresh_interval
        self.history = StatsHistory(interval=self.refresh_interval)
        self._host_probe = host_probe
        self.connected = False
        """The engine is open; refreshes talk to it."""
        self.lost: str | None = None
        """Why the engine stopped answering (a ConnectionLost's text) until a call succeeds again."""
        self.ever_connected = False
        self.containers_loaded = False
        self.images_loaded = False
        self.services_loaded = False
        self.samples_taken = 0
        self._errors: dict[str, str] = {}
        self._loaded_at: dict[str, float] = {}
        self._panes_ready = False
        self._pane: str | None = "containers"
        self.tour: Tour | None = None
        self._start_tour = tour
        self.tour_directory = tour_dir()
        self.shell_runner: Callable[[list[str]], int] = subprocess.call
        """Runs the shell command while the app is suspended (tests replace it)."""
        self.first_paint: float | None = None
        self._service_lock = asyncio.Lock()
        self._services_loading = False
        self._services_again = False
        self._via_daemon = False
        """The dashboard moved from the embedded engine to its data root's daemon for swarm mode."""
        self._retired: list[tuple[Docker, bool]] = []
        """Clients replaced by the daemon's (:meth:`_to_daemon`), and whether the app made them."""
        self.cpu_limits: dict[str, float | None] = {}
        """Container id → CPU limit in cores (None: no limit), for the CPU graph's scale."""

    @property
    def keymap(self) -> dict[str, str]:
        return dict(self.config.keymap)

    @property
    def current_pane(self) -> str | None:
        return self._pane

    def compose(self) -> ComposeResult:
        yield Header()
        yield ConnectionBanner(id="connection-banner")
        with TabbedContent(id="panes", initial="containers"):
            with TabPane(tab_label(1, "Containers"), id="containers"):
                yield ContainersPane(id="containers-pane")
            with TabPane(tab_label(2, "Images"), id="images"):
                yield ImagesPane(id="images-pane")
            with TabPane(tab_label(3, "Resources"), id="resources"):
                yield ResourcesPane(id="resources-pane")
            with TabPane(tab_label(4, "Services"), id="services"):
                yield ServicesPane(id="services-pane")
        yield TourPanel(id="tour-panel")
        yield CommandHint(id="command-hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        # Kept as attributes: ``self.query_one`` searches the *active* screen, which is a dialog while
        # one is open, and refreshes keep arriving then.
        self.containers_pane = self.query_one(ContainersPane)
        self.images_pane = self.query_one(ImagesPane)
        self.resources_pane = self.query_one(ResourcesPane)
        self.services_pane = self.query_one(ServicesPane)
        self.panes = self.query_one(TabbedContent)
        self.command_hint = self.query_one(CommandHint)
        self.tour_panel = self.query_one(TourPanel)
        self.connection_banner = self.query_one(ConnectionBanner)
        register_themes(self)
        theme = self.config.theme if self.config.theme in self.available_themes else DEFAULT_THEME
        if self.config.theme and self.config.theme not in self.available_themes:
            self.config.warnings.append(f"unknown theme {self.config.theme!r}; themes: {', '.join(THEMES)}")
        self.theme = theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
        for warning in self.config.warnings:
            self.notify(warning, title="Config", severity="warning", timeout=6)
        self._show_engine()
        self.command_hint.command = "portside ps -a"
        self._panes_ready = True
        self.connect()
        self.set_interval(REFRESH_INTERVAL, self._fallback_refresh, name="fallback-refresh")
        self.set_interval(self.refresh_interval, self.sample_stats, name="stats-sampler")
        if self._start_tour:
            self.action_tour()
        self.call_after_refresh(self._painted)

    @property
    def embedded(self) -> bool:
        """The engine runs in this process (the local transport), not behind a socket."""
        from engine.client.transport import LocalTransport
        return isinstance(self.docker.transport, LocalTransport)

    @property
    def engine_label(self) -> str:
        """The engine this dashboard talks to, as the header names it."""
        return engine_label(self.docker.transport.kind, self.docker.transport.address)

    def _show_engine(self) -> None:
        """The header's subtitle: which engine (a transport learns whether it is a daemon when it opens)."""
        label = self.engine_label + (" · read-only" if self.read_only else "")
        if self.sub_title != label:
            self.sub_title = label

    def _failed(self, exc: EngineError, title: str = "Engine error", *, source: str | None = None) -> None:
        """Report a failed call: a lost connection shows the banner (and, for what the user asked, a
        notification too); any other error is a notification."""
        if isinstance(exc, ConnectionLost):
            self.post_message(self.Disconnected(str(exc)))
            if source is not None:
                return
        self.post_message(self.EngineFailed(str(exc), title, source=source))

    def _painted(self) -> None:
        self.first_paint = time.perf_counter()

    def _apply_keymap(self) -> None:
        known = {a.id for a in ACTIONS} | {"tour-write", "tour-skip"}
        unknown = [k for k in self.config.keymap if k not in known]
        if unknown:
            self.config.warnings.append(f"keymap: unknown binding ids {', '.join(unknown)} (? lists them)")
        self.set_keymap({k: v for k, v in self.config.keymap.items() if k in known})

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name in THEMES and theme.name != self.config.theme:
            self.config.theme = theme.name
            try:
                save_config(self.config)
            except OSError as exc:
                self.notify(f"cannot save the theme: {exc}", severity="warning", timeout=4)

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "events")
        self.workers.cancel_group(self, "stats")
        for docker, owned in [*self._retired, (self.docker, self._owns_docker)]:
            if owned:
                with contextlib.suppress(EngineError):
                    await docker.close()

    @property
    def data_loaded(self) -> bool:
        """Both tables have been filled at least once."""
        return self.containers_loaded and self.images_loaded

    # -- workers: all engine I/O ---------------------------------------------------------------------
    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect(self) -> None:
        try:
            await self.docker.transport.open()
        except EngineError as exc:
            self._failed(exc, "Cannot open the engine", source="connect")
            return
        self.connected = True
        self._errors.pop("connect", None)
        self._reconnected(follow=False)
        self.ever_connected = True
        self._show_engine()
        self.watch_events()
        self.refresh_data()

    @work(exclusive=True, group="events", exit_on_error=False)
    async def watch_events(self) -> None:
        """Follow ``docker.events.subscribe()``; each event posts :class:`EngineEvent`."""
        try:
            async with contextlib.aclosing(self.docker.events.subscribe()) as events:  # type: ignore[type-var]
                async for event in events:
                    self.post_message(self.EngineEvent(event))
        except ConnectionLost as exc:
            self.post_message(self.Disconnected(str(exc)))  # followed again once a call succeeds
        except EngineError:
            return  # a transport without events: the timer still refreshes

    def refresh_data(self) -> None:
        if not self.connected:
            self.connect()
            return
        self.load_containers()
        self.load_images()
        self.load_services()

    def _fallback_refresh(self) -> None:
        """Catch changes made by other processes: containers every tick unless an event just refreshed
        them; images (which change rarely) only while their pane shows, else every few ticks."""
        if not self.connected:
            self.connect()
            return
        now = time.monotonic()
        if now - self._loaded_at.get("containers", 0.0) >= REFRESH_INTERVAL * 0.9:
            self.load_containers()
        if self._pane == "images" or now - self._loaded_at.get("images", 0.0) >= IMAGES_FALLBACK:
            self.load_images()
        if self._pane == "services" or self.tour is not None or \
                now - self._loaded_at.get("services", 0.0) >= SERVICES_FALLBACK:
            self.load_services()

    @work(exclusive=True, group="containers", exit_on_error=False)
    async def load_containers(self) -> None:
        try:
            containers = await self.docker.containers.list(all=True)
        except EngineError as exc:
            self._failed(exc, source="containers")
            return
        self.post_message(self.ContainersLoaded(containers))

    @work(exclusive=True, group="images", exit_on_error=False)
    async def load_images(self) -> None:
        try:
            images = await self.docker.images.list()
        except EngineError as exc:
            self._failed(exc, source="images")
            return
        self.post_message(self.ImagesLoaded(images))

    def load_services(self) -> None:
        """Refresh the services: at once, or (one is on its way) once more when it is done. A burst of
        events (five replicas starting) must not cancel each load before it answers."""
        if self._services_loading:
            self._services_again = True
            return
        self._services_loading = True
        self._load_services()

    @work(group="services", exit_on_error=False)
    async def _load_services(self) -> None:
        try:
            while True:
                self._services_again = False
                await self._list_services()
                if not self._services_again:
                    return
        finally:
            self._services_loading = False

    async def _list_services(self) -> None:
        """``service ls`` with its counts and every task: two calls, whatever the number of services."""
        try:
            services = await self.docker.services.list(status=True)
            tasks = await self.docker.tasks.list()
        except Unavailable as exc:  # not a swarm manager (docker's 503)
            self.post_message(self.ServicesLoaded(None, [], str(exc)))
            return
        except EngineError as exc:
            self._failed(exc, source="services")
            return
        self.post_message(self.ServicesLoaded(services, tasks))

    def sample_stats(self) -> None:
        if self.connected and self.containers_loaded and self.lost is None:
            self._sample_stats()

    @work(exclusive=True, group="stats", exit_on_error=False)
    async def _sample_stats(self) -> None:
        """The one stats sampler: ``container.stats()`` for each running container, then the host."""
        pane = self.containers_pane
        running = [c["Id"] for c in pane.all_containers if c.get("State") == "running"]
        wanted = pane.wanted_stats(on_screen=self._pane == "containers")
        sampled = running if wanted is None else [cid for cid in running if cid in wanted]  # off-screen rows
        samples: dict[str, dict[str, Any]] = {}
        for cid in sampled:
            try:
                samples[cid] = await self.docker.containers.container(cid).stats()
            except ConnectionLost as exc:
                self.post_message(self.Disconnected(str(exc)))
                return
            except EngineError:
                continue  # it stopped between the list and the sample
        if self._host_probe is None:
            self._host_probe = HostProbe()
        host = self._host_probe()
        self.post_message(self.StatsSampled(samples, host, time.time(), set(running)))

    @work(group="actions", exit_on_error=False)
    async def container_action(self, action: str, targets: list[tuple[str, str]]) -> None:
        done = {"start": "Started", "stop": "Stopped", "restart": "Restarted", "kill": "Killed", "remove": "Removed"}
        for container_id, name in targets:
            container = self.docker.containers.container(container_id)
            try:
                if action == "start":
                    await container.start()
                elif action == "stop":
                    if not await container.stop():
                        self.post_message(self.ActionDone(f"{name} was not running"))
                        continue
                elif action == "restart":
                    await container.restart()
                elif action == "kill":
                    await container.kill()
                elif action == "remove":
                    await container.delete(force=True)
            except EngineError as exc:
                self._failed(exc, f"Cannot {action} {name}")
            else:
                self.post_message(self.ActionDone(f"{done[action]} {name}"))
        self.load_containers()
        if action == "remove":
            self.load_images()

    @work(group="actions", exit_on_error=False)
    async def image_action(self, action: str, reference: str, argument: str = "") -> None:
        images = self.docker.images
        try:
            if action == "remove":
                await images.delete(reference)
                text = f"Removed {reference}"
            elif action == "tag":
                repo, _, tag = argument.rpartition(":")
                if not repo or "/" in tag:
                    repo, tag = argument, "latest"
                await images.tag(reference, repo, tag=tag)
                text = f"Tagged {reference} as {repo}:{tag}"
            elif action == "prune":
                result = await images.prune()
                deleted = result.get("ImagesDeleted") or []
                text = f"Pruned {len(deleted)} image(s), reclaimed {result.get('SpaceReclaimed', 0)} bytes"
            elif action in ("pull", "push"):
                last = ""
                progress = getattr(images, action)(reference, stream=True)
                async with contextlib.aclosing(progress) as items:  # type: ignore[type-var]
                    async for item in items:
                        if isinstance(item, dict):
                            if item.get("error"):
                                raise EngineError(str(item["error"]))
                            last = str(item.get("status") or last)
                text = f"{'Pulled' if action == 'pull' else 'Pushed'} {reference}" + (f": {last}" if last else "")
            else:
                return
        except EngineError as exc:
            self._failed(exc, f"Cannot {action} {reference}".strip())
        else:
            self.post_message(self.ActionDone(text))
        self.load_images()

    @work(exclusive=True, group="busybox", exit_on_error=False)
    async def make_busybox(self) -> None:
        """``portside image busybox``: a busybox image from the host's busybox-static, no registry."""
        try:
            image = await self.docker.images.make_busybox()
        except EngineError as exc:
            self._failed(exc, "Cannot make busybox")
            return
        tag = (image.get("RepoTags") or ["busybox:latest"])[0]
        self.post_message(self.ActionDone(f"Made {tag} from the host's busybox"))
        self.load_images()

    @work(group="actions", exit_on_error=False)
    async def run_container(self, request: RunRequest) -> None:
        try:
            exposed, port_bindings = parse_ports(request.ports)
        except ValueError as exc:
            self.post_message(self.EngineFailed(str(exc), "Cannot run"))
            return
        config: dict[str, Any] = {"Image": request.image, "Env": request.env,
                                  "HostConfig": {"Binds": request.volumes, "PortBindings": port_bindings}}
        if request.network:
            config["HostConfig"]["NetworkMode"] = request.network
        if request.command:
            config["Cmd"] = request.command
        if exposed:
            config["ExposedPorts"] = exposed
        try:
            container = await self.docker.containers.run(config, name=request.name or None)
            info = await container.show()
        except EngineError as exc:
            self._failed(exc, f"Cannot run {request.image}")
            self.load_containers()
            return
        name = str(info.get("Name", "")).lstrip("/") or short_id(container.id)
        self.post_message(self.ActionDone(f"Started {name} from {request.image}"))
        if not request.detach:
            self.post_message(self.OpenLogs([(container.id, name)]))
        self.load_containers()

    @work(group="limits", exit_on_error=False)
    async def load_cpu_limits(self, ids: list[str]) -> None:
        """Each container's CPU limit in cores (``--cpus``, or quota / period), None without one: the
        CPU graph's full scale."""
        for cid in ids:
            try:
                host = (await self.docker.containers.container(cid).show()).get("HostConfig") or {}
            except EngineError:
                continue
            quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 100_000
            cores = host["NanoCpus"] / 1e9 if host.get("NanoCpus") else quota / period if quota > 0 else None
            self.cpu_limits[cid] = cores
        self.call_later(self._paint_resources)

    class OpenLogs(Message):
        def __init__(self, containers: list[tuple[str, str]]) -> None:
            super().__init__()
            self.containers = containers

    @work(group="actions", exit_on_error=False)
    async def inspect_object(self, kind: str, reference: str, title: str) -> None:
        try:
            if kind == "container":
                document = await self.docker.containers.container(reference).show()
            elif kind == "service":
                document = await self.docker.services.inspect(reference)
            else:
                document = await self.docker.images.inspect(reference)
        except EngineError as exc:
            self._failed(exc, f"Cannot inspect {title}")
            return
        self.post_message(self.Inspected(title, document))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker failed with something other than an EngineError: report it, keep running."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error, group = event.worker.error, event.worker.group
            self.post_message(self.EngineFailed(f"{type(error).__name__}: {error}", "Unexpected error",
                                                source=None if group == "actions" else group))

    # -- message handlers: paint results -------------------------------------------------------------
    def on_portside_app_disconnected(self, message: Disconnected) -> None:
        if self.lost is None:
            self.workers.cancel_group(self, "events")
            self.workers.cancel_group(self, "stats")
        self.lost = message.error
        self.connection_banner.show_lost(self.engine_label, ever_connected=self.ever_connected)

    def _reconnected(self, follow: bool = True) -> None:
        """A call succeeded while the banner showed: the engine answers again. ``follow``: follow its
        events again and reload the lists (the caller does not already)."""
        if self.lost is None:
            return
        self.lost = None
        self.connection_banner.show_lost(None)
        self._show_engine()
        again = " again" if self.ever_connected else ""
        self.notify(f"Connected{again} to {self.engine_label}", timeout=3)
        if follow:
            self.watch_events()
            self.refresh_data()

    def on_portside_app_containers_loaded(self, message: ContainersLoaded) -> None:
        self._reconnected()
        self._errors.pop("containers", None)
        self._loaded_at["containers"] = time.monotonic()
        first = not self.containers_loaded
        self.containers_loaded = True
        self.containers_pane.update_containers(message.containers)
        ids = {c["Id"] for c in message.containers}
        self.cpu_limits = {cid: cores for cid, cores in self.cpu_limits.items() if cid in ids}
        running = sum(1 for c in message.containers if c.get("State") == "running")
        self._set_tab("containers", tab_label(1, "Containers", f"{running}/{len(message.containers)}"))
        if first:
            self.sample_stats()
        services = self.services_pane
        if services.loaded:  # the task containers' health
            services.update_services(services.all_services, services.all_tasks, message.containers,
                                     services.not_manager)
        self._tour_check()

    def on_portside_app_images_loaded(self, message: ImagesLoaded) -> None:
        self._reconnected()
        self._errors.pop("images", None)
        self._loaded_at["images"] = time.monotonic()
        self.images_loaded = True
        pane = self.images_pane
        pane.update_images(message.images)
        self.containers_pane.set_busybox_missing(not has_busybox(pane.all_images))
        self._set_tab("images", tab_label(2, "Images", str(len(pane.all_images))))
        self._tour_check()

    def on_portside_app_services_loaded(self, message: ServicesLoaded) -> None:
        self._reconnected()
        self._errors.pop("services", None)
        self._loaded_at["services"] = time.monotonic()
        self.services_loaded = True
        self.services_pane.update_services(message.services, message.tasks, self.containers_pane.all_containers,
                                           message.not_manager)
        if message.services is not None and self.embedded:
            self.use_daemon()  # a swarm on this data root: its services converge only in the daemon
        count = "–" if message.services is None else str(len(message.services))
        self._set_tab("services", tab_label(4, "Services", count))
        self._tour_check()

    def _set_tab(self, pane: str, label: Content) -> None:
        try:
            tab = self.panes.get_tab(pane)
        except NoMatches:  # a worker's result arriving while the app shuts down: nothing left to label
            return
        if tab.label != label:
            tab.label = label

    def on_portside_app_stats_sampled(self, message: StatsSampled) -> None:
        self.samples_taken += 1
        self.history.add(message.samples, message.host, message.when, keep=message.running)
        latest = {cid: p for cid in message.running if (p := self.history.latest(cid)) is not None}
        self.containers_pane.update_stats(latest)
        self._paint_resources()

    def _paint_resources(self) -> None:
        if self._pane != "resources":
            return  # hidden: nothing to redraw
        targets = self.containers_pane.targets
        ids = [c["Id"] for c in targets]
        if unknown := [cid for cid in ids if cid not in self.cpu_limits]:
            self.cpu_limits.update(dict.fromkeys(unknown))  # asked once, even if the inspect fails
            self.load_cpu_limits(unknown)
        limits = [self.cpu_limits.get(cid) for cid in ids]
        cpu_limit = sum(limit for limit in limits if limit) if limits and all(limits) else None
        self.resources_pane.show(self.history, ids, [container_name(c) for c in targets], cpu_limit=cpu_limit)

    @on(ContainersPane.SelectionChanged)
    def _selection_changed(self) -> None:
        self._paint_resources()
        self._tour_check()

    def on_portside_app_engine_event(self, message: EngineEvent) -> None:
        kind = message.event.get("Type")
        if kind in (None, "container"):
            self.load_containers()
        if kind in (None, "image", "container"):
            self.load_images()
        if kind in (None, "container", "service", "node", "secret", "config", "network"):
            self.load_services()

    def on_portside_app_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=3)

    def on_portside_app_inspected(self, message: Inspected) -> None:
        self.push_screen(InspectScreen(message.title, message.document))

    def on_portside_app_open_logs(self, message: OpenLogs) -> None:
        self.push_screen(LogsScreen(self.docker, message.containers))

    def on_portside_app_engine_failed(self, message: EngineFailed) -> None:
        if message.source is not None:
            if self._errors.get(message.source) == message.error:
                return  # the fallback timer would repeat the same failure every tick
            self._errors[message.source] = message.error
        self.notify(message.error, title=message.title, severity="error", timeout=6)

    # -- pane requests -------------------------------------------------------------------------------
    def _refuse_read_only(self, what: str) -> bool:
        if self.read_only:
            self.notify(f"The dashboard is read-only: {what} is disabled.", title="Read-only",
                        severity="warning", timeout=3)
        return self.read_only

    def _hint(self, command: str) -> None:
        self.command_hint.command = command

    @on(ContainersPane.ActionRequested)
    def _container_action_requested(self, message: ContainersPane.ActionRequested) -> None:
        action, containers = message.action, message.containers
        names = [container_name(c) for c in containers]
        refs = " ".join(short_id(c["Id"]) for c in containers)
        if action == "logs":
            self._hint(f"portside logs -f {refs}" if len(containers) == 1
                       else " & ".join(f"portside logs -f {short_id(c['Id'])}" for c in containers))
            self.push_screen(LogsScreen(self.docker, [(c["Id"], n) for c, n in zip(containers, names)]))
            return
        if action == "inspect":
            self._hint(f"portside inspect {refs}")
            self.inspect_object("container", containers[0]["Id"], f"Container {names[0]} ({refs})")
            return
        if self._refuse_read_only(action):
            return
        if action == "shell":
            self._shell(containers[0])
            return
        running = [c for c in containers if c.get("State") in RUNNING]
        if action == "stop" and not running:
            self.notify(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not running", timeout=3)
            return
        if action == "start":
            containers = [c for c in containers if c.get("State") not in ("running", "restarting")]
            if not containers:
                self.notify(f"{', '.join(names)} already running", timeout=3)
                return
        if action == "stop":
            containers = running
        targets = [(c["Id"], container_name(c)) for c in containers]
        refs = " ".join(short_id(c["Id"]) for c in containers)
        if action == "remove":
            force = any(c.get("State") in RUNNING for c in containers)
            command = f"portside rm {'-f ' if force else ''}{refs}"
            what = names[0] if len(names) == 1 else f"{len(names)} containers"
            detail = "\n".join(f"{short_id(c['Id'])} · {c.get('Image', '')} · {c.get('Status', '')}"
                               for c in containers[:8])
            if force:
                detail += "\nRunning ones will be killed."

            def done(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint(command)
                    self.container_action("remove", targets)

            self.push_screen(ConfirmScreen(f"Remove container {what}?", detail), done)
            return
        self._hint(f"portside {action} {refs}")
        verb = {"start": "Starting", "stop": "Stopping", "restart": "Restarting", "kill": "Killing"}[action]
        self.notify(f"{verb} {', '.join(n for _i, n in targets)}…", timeout=2)
        self.container_action(action, targets)

    def shell_command(self, container_id: str) -> list[str]:
        root = ["--root", self.root] if self.root else []
        return portside_argv() + root + ["exec", "-it", container_id, "sh"]

    def _shell(self, container: dict[str, Any]) -> None:
        name = container_name(container)
        if container.get("State") != "running":
            self.notify(f"{name} is not running: start it first (u)", timeout=3)
            return
        self._hint(f"portside exec -it {short_id(container['Id'])} sh")
        command = self.shell_command(container["Id"])
        try:
            with self.suspend():
                sys.stdout.write(f"\n$ portside exec -it {short_id(container['Id'])} sh   "
                                 f"(exit returns to the dashboard)\n")
                sys.stdout.flush()
                code = self.shell_runner(command)
        except SuspendNotSupported:
            self.notify(f"This terminal cannot hand over to a shell; run: {shlex.join(command)}",
                        severity="warning", timeout=6)
            return
        except OSError as exc:
            self.notify(f"cannot start the shell: {exc}", severity="error", timeout=6)
            return
        self.notify(f"Shell in {name} exited ({code})", timeout=3)
        self.refresh_data()

    @on(ImagesPane.ActionRequested)
    def _image_action_requested(self, message: ImagesPane.ActionRequested) -> None:
        action, image, reference = message.action, message.image, message.reference
        if action == "inspect":
            self._hint(f"portside image inspect {reference}")
            self.inspect_object("image", image["Id"] if image else reference, f"Image {reference}")
            return
        if self._refuse_read_only(action):
            return
        if action == "remove":
            detail = f"{short_id(image['Id'])} · used by {image.get('Containers', 0)} container(s)" if image else ""

            def remove(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint(f"portside rmi {reference}")
                    self.image_action("remove", reference)

            self.push_screen(ConfirmScreen(f"Remove image {reference}?", detail), remove)
        elif action == "tag":
            def tag(target: str | None) -> None:
                if target:
                    self._hint(f"portside tag {reference} {target}")
                    self.image_action("tag", reference, target)

            self.push_screen(PromptScreen(f"Tag {reference}", "New tag", placeholder="name:tag",
                                          note="another name for the same image (nothing is copied)",
                                          submit="Tag"), tag)
        elif action == "prune":
            dangling = [i for i in self.images_pane.all_images
                        if not [t for t in i.get("RepoTags") or [] if t != "<none>:<none>"]]

            def prune(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint("portside image prune -f")
                    self.image_action("prune", "")

            self.push_screen(ConfirmScreen("Prune dangling images?",
                                           f"{len(dangling)} untagged image(s) not used by any container.",
                                           confirm_label="Prune"), prune)
        elif action == "pull":
            def pull(target: str | None) -> None:
                if target:
                    self._hint(f"portside pull {target}")
                    self.notify(f"Pulling {target}…", timeout=2)
                    self.image_action("pull", target)

            self.push_screen(PromptScreen("Pull an image", "Image", placeholder="busybox:latest",
                                          submit="Pull"), pull)
        elif action == "push":
            self._hint(f"portside push {reference}")
            self.notify(f"Pushing {reference}…", timeout=2)
            self.image_action("push", reference)

    @on(ServicesPane.ActionRequested)
    def _service_action_requested(self, message: ServicesPane.ActionRequested) -> None:
        action, service, stack = message.action, message.service, message.stack
        name = service_name(service) if service is not None else ""
        if action == "tasks" and service is not None:
            self._hint(f"portside service ps {name}")
            self.push_screen(TasksScreen(self.docker, service, interval=self.refresh_interval))
            return
        if action == "logs" and service is not None:
            self._hint(f"portside service logs -f {name}")
            self.push_screen(LogsScreen(self.docker, [], service=(str(service["ID"]), name)))
            return
        if action == "inspect" and service is not None:
            self._hint(f"portside service inspect {name}")
            self.inspect_object("service", str(service["ID"]), f"Service {name}")
            return
        if self._refuse_read_only(action.replace("-", " ")):
            return
        if action == "scale" and service is not None:
            self._scale(service, message.argument)
        elif action == "update-image" and service is not None:
            def update(image: str | None) -> None:
                if image:
                    self._hint(f"portside service update --image {shlex.quote(image)} {name}")
                    self.notify(f"Updating {name} to {image}…", timeout=2)
                    self.service_update(str(service["ID"]), "image", image)

            self.push_screen(PromptScreen(f"Update the image of {name}", "Image", service_image(service),
                                          note="the tasks are replaced as the service's update_config says",
                                          submit="Update"), update)
        elif action == "rollback" and service is not None:
            self._hint(f"portside service rollback {name}")
            self.notify(f"Rolling back {name}…", timeout=2)
            self.service_update(str(service["ID"]), "rollback", "")
        elif action == "remove-stack":
            self._remove_stack_or_service(stack, service)
        elif action == "deploy":
            self._deploy_dialog()
        elif action == "swarm-init":
            def init(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint("portside swarm init --advertise-addr 127.0.0.1")
                    self.swarm_action("init")

            self.push_screen(ConfirmScreen("Make this node a swarm manager?",
                                           "swarm init: a single-node swarm, ready to run services and stacks.",
                                           confirm_label="Init"), init)
        elif action == "swarm-leave":
            def leave(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint("portside swarm leave --force")
                    self.swarm_action("leave")

            count = len(self.services_pane.all_services)
            self.push_screen(ConfirmScreen("Leave the swarm?", f"swarm leave --force removes every service "
                                           f"({count}), its tasks, and the stack networks.",
                                           confirm_label="Leave"), leave)

    def _scale(self, service: dict[str, Any], step: int) -> None:
        name = service_name(service)
        current = desired_replicas(service)
        if current is None:
            self.notify(f"{name}: scale can only be used with replicated or replicated-job mode "
                        f"(this service is {service_mode(service)})", severity="error", timeout=4)
            return

        def scale(value: str | None) -> None:
            if value is None:
                return
            if not value.isdigit():
                self.notify(f"invalid replicas value {value!r}: a number of 0 or more", severity="error", timeout=4)
                return
            self.notify(f"Scaling {name} to {int(value)}…", timeout=2)
            self.service_update(str(service["ID"]), "replicas", value)

        if step:
            self.service_update(str(service["ID"]), "replicas", f"{step:+d}")  # from the spec as it is then
            return
        self.push_screen(PromptScreen(f"Scale {name}", "Replicas", str(current), submit="Scale",
                                      note=f"now {current}; the swarm starts or stops tasks to match"), scale)

    def _remove_stack_or_service(self, stack: str, service: dict[str, Any] | None) -> None:
        if stack:
            members = [s for s in self.services_pane.all_services if s.get("Spec", {}).get("Labels", {})
                       .get("com.docker.stack.namespace") == stack]
            detail = "\n".join(service_name(s) for s in members[:8]) + "\nand the stack's networks, secrets, configs."

            def remove(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint(f"portside stack rm {stack}")
                    self.notify(f"Removing stack {stack}…", timeout=2)
                    self.stack_action("rm", stack)

            self.push_screen(ConfirmScreen(f"Remove stack {stack}?", detail), remove)
        elif service is not None:
            name = service_name(service)

            def remove_service(confirmed: bool | None) -> None:
                if confirmed:
                    self._hint(f"portside service rm {name}")
                    self.service_update(str(service["ID"]), "remove", "")

            self.push_screen(ConfirmScreen(f"Remove service {name}?", "Its tasks are stopped and removed."),
                             remove_service)
        else:
            self.notify("No stack or service selected", timeout=2)

    def _deploy_dialog(self) -> None:
        file, name, note = "", "", ""
        if self.tour is not None and self.tour.step is not None and self.tour.step.id == "deploy":
            file, name = os.path.join(self.tour_directory, COMPOSE_FILE), TOUR_STACK
            note = "Tour: enter deploys the guide's stack"
        elif os.path.isfile("docker-compose.yml"):
            file = os.path.abspath("docker-compose.yml")

        def done(request: DeployRequest | None) -> None:
            if request is not None:
                self._hint(request.cli())
                self.notify(f"Deploying {request.name}…", timeout=2)
                self.stack_action("deploy", request.name, request.file)

        self.push_screen(DeployScreen(file=file, name=name, note=note), done)

    @work(group="actions", exit_on_error=False)
    async def service_update(self, service_id: str, change: str, value: str) -> None:
        """Change one thing of a service's spec (``replicas``, ``image``), roll it back, or remove it: the
        spec and its version are read first, as docker's CLI does."""
        services = self.docker.services
        async with self._service_lock:  # one change at a time: each reads the version the last one made
            await self._service_update(services, service_id, change, value)
        self.load_services()

    async def _service_update(self, services: Any, service_id: str, change: str, value: str) -> None:
        try:
            if change == "remove":
                await services.delete(service_id)
                text = "Removed the service"
            else:
                current = await services.inspect(service_id)
                version = int((current.get("Version") or {}).get("Index", 0))
                spec = current["Spec"]
                name = service_name(current)
                rollback = None
                if change == "replicas":
                    replicated = spec.setdefault("Mode", {}).setdefault("Replicated", {})
                    wanted = max(0, int(replicated.get("Replicas", 1)) + int(value)) if value[0] in "+-" \
                        else int(value)
                    replicated["Replicas"] = wanted
                    self._hint(f"portside service scale {name}={wanted}")
                    text = f"{name} scaled to {wanted}"
                elif change == "image":
                    spec["TaskTemplate"]["ContainerSpec"]["Image"] = value
                    text = f"{name}: image {value}"
                else:
                    rollback = "previous"
                    text = f"{name}: rolled back"
                result = await services.update(service_id, version, spec, rollback=rollback)
                warnings = [w for w in (result or {}).get("Warnings") or [] if w]
                if warnings:
                    text += " (" + "; ".join(warnings) + ")"
        except EngineError as exc:
            self._failed(exc, f"Cannot {change if change != 'replicas' else 'scale'} the service")
        else:
            self.post_message(self.ActionDone(text))

    async def _to_daemon(self) -> bool:
        """Swarm mode runs in ``portside daemon`` (its reconciler): on the embedded engine, start the data
        root's daemon if none answers and talk to it from now on. False (said why) if it cannot start."""
        if not self.embedded:
            return True
        from engine.client.contexts import connect, start_daemon
        try:
            sock = await asyncio.to_thread(start_daemon, self.root)  # the CLI's: one daemon per data root
            docker = Docker(transport=connect(host=f"unix://{sock}", env={}))
            await docker.transport.open()
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), "Swarm mode needs portside daemon"))
            return False
        self._switch(docker)
        self._via_daemon = True
        self.notify(f"Swarm mode runs in portside daemon: the dashboard now talks to it (unix://{sock})",
                    title="Swarm", timeout=5)
        return True

    async def _back_to_embedded(self) -> None:
        """After ``swarm leave``: stop the daemon started for the swarm (as the CLI's leave does) and use the
        embedded engine again."""
        if not self._via_daemon:
            return
        from engine.client.contexts import stop_started_daemon
        from engine.client.transport import LocalTransport
        self._via_daemon = False
        self._switch(Docker(transport=LocalTransport(self.root)))
        await asyncio.to_thread(stop_started_daemon, self.root)

    def _switch(self, docker: Docker) -> None:
        """Talk to ``docker`` from now on (the old client is closed on exit: workers may still hold it)."""
        self._retired.append((self.docker, self._owns_docker))
        self.docker, self._owns_docker = docker, True
        self.workers.cancel_group(self, "events")
        self.watch_events()
        self._show_engine()

    @work(exclusive=True, group="daemon", exit_on_error=False)
    async def use_daemon(self) -> None:
        if await self._to_daemon():
            self.refresh_data()

    @work(exclusive=True, group="swarm", exit_on_error=False)
    async def swarm_action(self, action: str) -> None:
        if action == "init":
            if not await self._to_daemon():
                return
            self._hint("portside swarm init --advertise-addr 127.0.0.1")
        try:
            if action == "init":
                node = await self.docker.swarm.init(advertise_addr="127.0.0.1")
                text = f"Swarm initialized: this node ({short_id(node)}) is now a manager."
            else:
                await self.docker.swarm.leave(force=True)
                await self._back_to_embedded()
                text = "Node left the swarm."
        except EngineError as exc:
            self._failed(exc, f"Cannot {action} the swarm" if action == "init" else "Cannot leave the swarm")
        else:
            self.post_message(self.ActionDone(text))
        self.load_services()
        self.load_containers()

    @work(group="stacks", exit_on_error=False)
    async def stack_action(self, action: str, name: str, file: str = "") -> None:
        """``stack deploy`` / ``stack rm`` through the client's stack code (the CLI's own), output unseen."""
        try:
            from engine.client import stacks
        except ImportError:
            self.post_message(self.EngineFailed("stack deploy is not available in this build", "Stacks"))
            return
        lines: list[str] = []
        try:
            if action == "deploy":
                plan, warnings = stacks.load_plan([file], name)
                await stacks.deploy(self.docker, name, plan, say=lines.append, warn=lines.append)
                text = f"Deployed stack {name}: " + "; ".join(lines + list(warnings)) if lines else \
                    f"Stack {name} is up to date"
            else:
                removed = await stacks.remove(self.docker, name, say=lines.append, warn=lines.append, wait=False)
                text = f"Removed stack {name}" if removed else f"Stack {name}: " + "; ".join(lines)
        except EngineError as exc:
            self._failed(exc, f"Cannot {'deploy' if action == 'deploy' else 'remove'} stack {name}")
        else:
            self.post_message(self.ActionDone(text))
        self.load_services()

    @on(ContainersPane.ShowAllChanged)
    def _show_all_changed(self, message: ContainersPane.ShowAllChanged) -> None:
        if self._panes_ready:
            self._hint("portside ps -a" if message.show_all else "portside ps")

    @on(ImagesPane.DanglingChanged)
    def _dangling_changed(self, message: ImagesPane.DanglingChanged) -> None:
        if self._panes_ready:
            self._hint(images_command(message.show_dangling))

    @on(TabbedContent.TabActivated)
    def _pane_activated(self, event: TabbedContent.TabActivated) -> None:
        if self._panes_ready and event.pane.id != self._pane:
            self._pane_shown(event.pane.id)  # a click on a tab

    def _pane_shown(self, pane: str | None) -> None:
        self._pane = pane
        if pane == "containers":
            self._hint("portside ps -a" if self.containers_pane.show_all else "portside ps")
        elif pane == "images":
            self._hint(images_command(self.images_pane.show_dangling))
        elif pane == "resources":
            targets = self.containers_pane.targets
            self._hint("portside stats " + " ".join(short_id(c["Id"]) for c in targets) if targets
                       else "portside stats")
            self._paint_resources()
        elif pane == "services":
            self._hint("portside service ls")
            self.load_services()
        self._focus_pane(pane)
        self._tour_check()

    def _focus_pane(self, pane: str | None) -> None:
        # set_focus, not focus(): the next key (``2`` then ``x``) must already reach the new pane.
        if pane == "containers":
            self.screen.set_focus(self.containers_pane.table)
        elif pane == "images":
            self.screen.set_focus(self.images_pane.table)
        elif pane == "resources":
            self.screen.set_focus(self.resources_pane)
        elif pane == "services":
            self.screen.set_focus(self.services_pane.table)

    # -- actions -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tour_write":
            return self.tour is not None and self.tour.step is not None and self.tour.step.id in ("dockerfile", "compose")
        if action == "tour_skip":
            return self.tour is not None
        return True

    def action_show_pane(self, pane: str) -> None:
        self.panes.active = pane
        if pane != self._pane:
            self._pane_shown(pane)
        else:
            self._focus_pane(pane)

    def action_refresh(self) -> None:
        self.refresh_data()
        self.notify("Refreshing…", timeout=1)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.keymap))

    def action_run_dialog(self) -> None:
        if self._refuse_read_only("run"):
            return
        image, name, note = "", "", ""
        if self._pane == "images" and (selected := self.images_pane.selected) is not None:
            image = selected[1]
        ports = ""
        if self.tour is not None and self.tour.step is not None and self.tour.step.id == "run":
            image, name, ports = TOUR_IMAGE, TOUR_NAME, TOUR_PORT
            note = f"Tour: enter runs it; then open http://localhost:{TOUR_PORT.split(':')[0]}"

        def done(request: RunRequest | None) -> None:
            if request is not None:
                self._hint(request.cli())
                self.notify(f"Running {request.image}…", timeout=2)
                self.run_container(request)

        self.push_screen(RunScreen(image=image, name=name, ports=ports, note=note), done)

    def action_build_dialog(self) -> None:
        if self._refuse_read_only("build"):
            return
        context, tag, touring = "", "", False
        if self.tour is not None and self.tour.step is not None and self.tour.step.id == "build":
            context, tag, touring = self.tour_directory, TOUR_IMAGE, True
        # In the tour the dialog closes itself once built: the next step's key must reach the dashboard.
        screen = BuildScreen(self.docker, context=context, tag=tag, read_only=self.read_only,
                             close_when_built=touring)

        def done(_image_id: str | None) -> None:
            if screen.command:
                self._hint(screen.command)
            self.load_images()

        self.push_screen(screen, done)

    def action_make_busybox(self) -> None:
        if self._refuse_read_only("make busybox"):
            return
        self._hint("portside image busybox")
        self.notify("Making busybox:latest from the host's busybox…", timeout=2)
        self.make_busybox()

    async def run_palette_action(self, binding_id: str) -> None:
        """Run an action chosen in the palette, on the pane it belongs to."""
        action = by_id(binding_id)
        if action.scope == "app":
            await self.run_action(action.action)
            return
        pane = {"containers": self.containers_pane, "images": self.images_pane,
                "services": self.services_pane}.get(action.scope)
        if pane is None:
            return
        self.action_show_pane(action.scope)
        await pane.run_action(action.action)

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.notify(f"Theme {name}", timeout=1.5)

    # -- tour ----------------------------------------------------------------------------------------
    def action_tour(self) -> None:
        if self.tour is not None:
            self.tour = None
            self.tour_panel.show_tour(None)
            self.set_class(False, "-touring")
            self.notify("Tour closed — T or the palette starts it again", timeout=2)
            return
        self.tour = Tour(self.tour_directory, config_file=config_path())
        self.set_class(True, "-touring")  # toasts move to the top: the tour panel is at the bottom
        self._tour_check(force=True)
        if not hasattr(self, "_tour_timer"):
            self._tour_timer = self.set_interval(0.5, self._tour_check, name="tour")
        self._hint("portside tour")

    def action_tour_write(self) -> None:
        if self.tour is not None and self.tour.step is not None and self.tour.step.id == "compose":
            try:
                path = write_compose(self.tour_directory)
            except OSError as exc:
                self.notify(f"cannot write the compose file: {exc}", severity="error", timeout=5)
                return
            self._hint(f"cat > {path}")
            self.notify(f"Wrote {path}", timeout=3)
            self._tour_check()
            return
        try:
            write_sample(self.tour_directory)
        except OSError as exc:
            self.notify(f"cannot write the Dockerfile: {exc}", severity="error", timeout=5)
            return
        self._hint(f"cat > {os.path.join(self.tour_directory, 'Dockerfile')}")
        self.notify(f"Wrote {self.tour_directory}/Dockerfile and index.html", timeout=3)
        self._tour_check()

    def action_tour_skip(self) -> None:
        if self.tour is not None:
            self.tour.skip()
            self._tour_check(force=True)

    def _tour_state(self) -> TourState:
        pane = self.containers_pane
        return TourState(directory=self.tour_directory, pane=self._pane, containers=pane.all_containers,
                         containers_loaded=self.containers_loaded, images=self.images_pane.all_images,
                         images_loaded=self.images_loaded, selected=pane.selected,
                         services=self.services_pane.all_services, tasks=self.services_pane.all_tasks,
                         services_loaded=self.services_loaded,
                         swarm=None if not self.services_pane.loaded else self.services_pane.not_manager is None)

    def _tour_check(self, force: bool = False) -> None:
        tour = self.tour
        if tour is None or not self._panes_ready:
            return
        if self.images_loaded:
            tour.needs_busybox = not has_busybox(self.images_pane.all_images)
        if tour.advance(self._tour_state()) or force:
            self.refresh_bindings()
        self.tour_panel.show_tour(tour)  # repaints only what changed (the busybox offer comes and goes)
