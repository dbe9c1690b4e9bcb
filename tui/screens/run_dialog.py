"""The run dialog: image, name, command, ports, env, volumes, detach — ``portside run`` as a form."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from .form import FORM_CSS

__all__ = ["RunScreen", "RunRequest"]


def _split(text: str) -> list[str]:
    """``a, b c`` → ``[a, b, c]`` (commas or spaces separate items)."""
    return [item for item in text.replace(",", " ").split() if item]


@dataclass
class RunRequest:
    image: str
    name: str = ""
    command: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    network: str = ""
    detach: bool = True

    def cli(self) -> str:
        """The equivalent ``portside run …`` line."""
        parts = ["portside", "run"]
        if self.detach:
            parts.append("-d")
        if self.name:
            parts += ["--name", self.name]
        for port in self.ports:
            parts += ["-p", port]
        for env in self.env:
            parts += ["-e", env]
        for volume in self.volumes:
            parts += ["-v", volume]
        if self.network:
            parts += ["--network", self.network]
        parts.append(self.image)
        parts += self.command
        return " ".join(shlex.quote(p) for p in parts)


class RunScreen(ModalScreen["RunRequest | None"]):
    """Dismisses with a :class:`RunRequest`, or ``None`` on ``esc``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("ctrl+s", "submit", "Run", id="dialog-submit"),
    ]

    DEFAULT_CSS = "RunScreen {" + FORM_CSS + "}"

    def __init__(self, image: str = "", name: str = "", command: str = "", ports: str = "",
                 note: str = "") -> None:
        super().__init__()
        self._defaults = {"image": image, "name": name, "command": command, "ports": ports}
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Run a container", classes="form--title")
            yield Static(self._note or "enter runs it · esc cancels · lists take commas or spaces",
                         classes="form--note")
            for field_id, label, placeholder in (
                ("image", "Image", "busybox"),
                ("name", "Name", "(random)"),
                ("command", "Command", "(the image's CMD)   e.g. sleep 300"),
                ("ports", "Ports", "host:container   e.g. 8080:80"),
                ("env", "Env", "KEY=value …"),
                ("volumes", "Volumes", "/host/path:/in/container  or  name:/path"),
                ("network", "Network", "(the default bridge)   or none, host, a network's name"),
            ):
                with Horizontal(classes="form--row"):
                    yield Label(label)
                    yield Input(self._defaults.get(field_id, ""), placeholder=placeholder, id=f"run-{field_id}",
                                compact=True)
            yield Checkbox("Detach (-d): run in the background; otherwise its logs open", True, id="run-detach",
                           compact=True)
            with Horizontal(classes="form--buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Run", id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        first_empty = next((i for i in self.query(Input) if not i.value), None)
        (first_empty or self.query_one("#run-image", Input)).focus()

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#run-{field_id}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        image = self._value("image")
        if not image:
            self.notify("Which image? (e.g. busybox)", severity="warning", timeout=3)
            self.query_one("#run-image", Input).focus()
            return
        try:
            command = shlex.split(self._value("command"))
        except ValueError as exc:
            self.notify(f"Command: {exc}", severity="warning", timeout=3)
            return
        self.dismiss(RunRequest(
            image=image, name=self._value("name"), command=command, ports=_split(self._value("ports")),
            env=_split(self._value("env")), volumes=_split(self._value("volumes")), network=self._value("network"),
            detach=self.query_one("#run-detach", Checkbox).value))

    def action_cancel(self) -> None:
        self.dismiss(None)
