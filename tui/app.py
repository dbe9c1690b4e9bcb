"""The Portside dashboard: containers and images as live tables, driven from the keyboard.

All engine I/O happens in workers (``@work(exclusive=True, group=…)``) through :mod:`engine.client`;
results come back to the app as messages. The tables refresh on engine events, with a slow timer as a
fallback for changes made by other processes (``portside run -d`` in another terminal).
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from engine.client import Docker
from engine.errors import EngineError
from themes import DEFAULT_THEME, register_themes

from .screens.confirm import ConfirmScreen
from .widgets._format import short_id
from .widgets.command_hint import CommandHint
from .widgets.containers_pane import ContainersPane, container_name
from .widgets.images_pane import ImagesPane

__all__ = ["PortsideApp"]

REFRESH_INTERVAL = 2.0
"""Seconds between fallback refreshes (engine events refresh sooner)."""

PANES = ("containers", "images")


def tab_label(key: int, title: str, count: str = "") -> Content:
    """``1 Containers 2/5``: the number key that shows the pane, its name, a count."""
    return Content.assemble((f"{key} ", "dim"), title, (f" {count}" if count else "", "dim"))


class PortsideApp(App[None]):
    """``PortsideApp(root=..., read_only=..., docker=...)``.

    ``docker`` is an (unopened or opened) client to use instead of ``Docker(root=root)``; the app opens
    it, and closes it on exit only if it created it.
    """

    TITLE = "Portside"
    AUTO_FOCUS = "#containers-table"

    CSS = """
    TabbedContent {
        height: 1fr;
    }
    TabPane {
        padding: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("1", "show_pane('containers')", "Containers", show=False, id="show-containers"),
        Binding("2", "show_pane('images')", "Images", show=False, id="show-images"),
        Binding("r", "refresh", "Refresh", id="refresh"),
    ]

    containers_pane: ContainersPane
    images_pane: ImagesPane
    panes: TabbedContent
    command_hint: CommandHint

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

    class EngineFailed(Message):
        """The engine refused or failed; shown as a notification."""

        def __init__(self, error: str, title: str = "Engine error", *, source: str | None = None) -> None:
            super().__init__()
            self.error = error
            self.title = title
            self.source = source
            """The background job that failed (``connect``, ``containers``…), or None for a user action.
            A background failure is shown once, until that job succeeds again."""

    # -- setup ---------------------------------------------------------------------------------------
    def __init__(self, root: str | None = None, read_only: bool = False, docker: Docker | None = None) -> None:
        super().__init__()
        self.root = root
        self.read_only = read_only
        self._owns_docker = docker is None
        self.docker = docker if docker is not None else Docker(root=root)
        self.connected = False
        """The engine is open; refreshes talk to it."""
        self.containers_loaded = False
        self.images_loaded = False
        self._errors: dict[str, str] = {}
        self._panes_ready = False
        self._pane: str | None = "containers"

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes", initial="containers"):
            with TabPane(tab_label(1, "Containers"), id="containers"):
                yield ContainersPane(id="containers-pane")
            with TabPane(tab_label(2, "Images"), id="images"):
                yield ImagesPane(id="images-pane")
        yield CommandHint(id="command-hint")
        yield Footer()

    def on_mount(self) -> None:
        # Kept as attributes: ``self.query_one`` searches the *active* screen, which is the confirm
        # dialog while it is open, and refreshes keep arriving then.
        self.containers_pane = self.query_one(ContainersPane)
        self.images_pane = self.query_one(ImagesPane)
        self.panes = self.query_one(TabbedContent)
        self.command_hint = self.query_one(CommandHint)
        register_themes(self)
        self.theme = DEFAULT_THEME
        if self.read_only:
            self.sub_title = "read-only"
        self.command_hint.command = "portside ps -a"
        self._panes_ready = True
        self.connect()
        self.set_interval(REFRESH_INTERVAL, self.refresh_data, name="fallback-refresh")

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "events")
        if self._owns_docker:
            with contextlib.suppress(EngineError):
                await self.docker.close()

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
            self.post_message(self.EngineFailed(str(exc), "Cannot open the engine", source="connect"))
            return
        self.connected = True
        self._errors.pop("connect", None)
        self.watch_events()
        self.refresh_data()

    @work(exclusive=True, group="events", exit_on_error=False)
    async def watch_events(self) -> None:
        """Follow ``docker.events.subscribe()``; each event posts :class:`EngineEvent`."""
        try:
            async with contextlib.aclosing(self.docker.events.subscribe()) as events:  # type: ignore[type-var]
                async for event in events:
                    self.post_message(self.EngineEvent(event))
        except EngineError:
            return  # a transport without events: the timer still refreshes

    def refresh_data(self) -> None:
        if not self.connected:
            self.connect()
            return
        self.load_containers()
        self.load_images()

    @work(exclusive=True, group="containers", exit_on_error=False)
    async def load_containers(self) -> None:
        try:
            containers = await self.docker.containers.list(all=True)
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), source="containers"))
            return
        self.post_message(self.ContainersLoaded(containers))

    @work(exclusive=True, group="images", exit_on_error=False)
    async def load_images(self) -> None:
        try:
            images = await self.docker.images.list()
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), source="images"))
            return
        self.post_message(self.ImagesLoaded(images))

    @work(group="actions", exit_on_error=False)
    async def stop_container(self, container_id: str, name: str) -> None:
        try:
            stopped = await self.docker.containers.container(container_id).stop()
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), f"Cannot stop {name}"))
        else:
            self.post_message(self.ActionDone(f"Stopped {name}" if stopped else f"{name} was not running"))
        self.load_containers()

    @work(group="actions", exit_on_error=False)
    async def remove_container(self, container_id: str, name: str, force: bool) -> None:
        try:
            await self.docker.containers.container(container_id).delete(force=force)
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), f"Cannot remove {name}"))
        else:
            self.post_message(self.ActionDone(f"Removed {name}"))
        self.load_containers()
        self.load_images()

    @work(group="actions", exit_on_error=False)
    async def remove_image(self, reference: str) -> None:
        try:
            await self.docker.images.delete(reference)
        except EngineError as exc:
            self.post_message(self.EngineFailed(str(exc), f"Cannot remove {reference}"))
        else:
            self.post_message(self.ActionDone(f"Removed {reference}"))
        self.load_images()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker failed with something other than an EngineError: report it, keep running."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error, group = event.worker.error, event.worker.group
            self.post_message(self.EngineFailed(f"{type(error).__name__}: {error}", "Unexpected error",
                                                source=None if group == "actions" else group))

    # -- message handlers: paint results -------------------------------------------------------------
    def on_portside_app_containers_loaded(self, message: ContainersLoaded) -> None:
        self._errors.pop("containers", None)
        self.containers_loaded = True
        self.containers_pane.update_containers(message.containers)
        running = sum(1 for c in message.containers if c.get("State") == "running")
        self.panes.get_tab("containers").label = tab_label(1, "Containers", f"{running}/{len(message.containers)}")

    def on_portside_app_images_loaded(self, message: ImagesLoaded) -> None:
        self._errors.pop("images", None)
        self.images_loaded = True
        pane = self.images_pane
        pane.update_images(message.images)
        self.panes.get_tab("images").label = tab_label(2, "Images", str(len(pane.images)))

    def on_portside_app_engine_event(self, message: EngineEvent) -> None:
        kind = message.event.get("Type")
        if kind in (None, "container"):
            self.load_containers()
        if kind in (None, "image", "container"):
            self.load_images()

    def on_portside_app_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=3)

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

    @on(ContainersPane.StopRequested)
    def _stop_requested(self, message: ContainersPane.StopRequested) -> None:
        if self._refuse_read_only("stop"):
            return
        container = message.container
        name = container_name(container)
        if container.get("State") not in ("running", "restarting", "paused"):
            self.notify(f"{name} is not running", timeout=3)
            return
        self._hint(f"portside stop {short_id(container['Id'])}")
        self.notify(f"Stopping {name}…", timeout=2)
        self.stop_container(container["Id"], name)

    @on(ContainersPane.RemoveRequested)
    def _remove_container_requested(self, message: ContainersPane.RemoveRequested) -> None:
        if self._refuse_read_only("remove"):
            return
        container = message.container
        name = container_name(container)
        running = container.get("State") in ("running", "restarting", "paused")
        command = f"portside rm {'-f ' if running else ''}{short_id(container['Id'])}"
        detail = f"{short_id(container['Id'])} · {container.get('Image', '')} · {container.get('Status', '')}"
        if running:
            detail += "\nIt is running and will be killed."

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._hint(command)
                self.remove_container(container["Id"], name, running)

        self.push_screen(ConfirmScreen(f"Remove container {name}?", detail), done)

    @on(ImagesPane.RemoveRequested)
    def _remove_image_requested(self, message: ImagesPane.RemoveRequested) -> None:
        if self._refuse_read_only("remove"):
            return
        reference = message.reference
        detail = f"{short_id(message.image['Id'])} · used by {message.image.get('Containers', 0)} container(s)"

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._hint(f"portside rmi {reference}")
                self.remove_image(reference)

        self.push_screen(ConfirmScreen(f"Remove image {reference}?", detail), done)

    @on(ContainersPane.ShowAllChanged)
    def _show_all_changed(self, message: ContainersPane.ShowAllChanged) -> None:
        if self._panes_ready:
            self._hint("portside ps -a" if message.show_all else "portside ps")

    @on(TabbedContent.TabActivated)
    def _pane_activated(self, event: TabbedContent.TabActivated) -> None:
        if self._panes_ready and event.pane.id != self._pane:
            self._pane_shown(event.pane.id)  # a click on a tab

    def _pane_shown(self, pane: str | None) -> None:
        self._pane = pane
        if pane == "containers":
            self._hint("portside ps -a" if self.containers_pane.show_all else "portside ps")
        elif pane == "images":
            self._hint("portside images")
        self._focus_table(pane)

    def _focus_table(self, pane: str | None) -> None:
        if pane in PANES:
            # set_focus, not focus(): the next key (``2`` then ``x``) must already reach the new pane.
            table = (self.containers_pane if pane == "containers" else self.images_pane).table
            table.screen.set_focus(table)

    # -- actions -------------------------------------------------------------------------------------
    def action_show_pane(self, pane: str) -> None:
        self.panes.active = pane
        if pane != self._pane:
            self._pane_shown(pane)
        else:
            self._focus_table(pane)

    def action_refresh(self) -> None:
        self.refresh_data()
        self.notify("Refreshing…", timeout=1)
