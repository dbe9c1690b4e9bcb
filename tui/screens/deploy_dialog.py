"""The deploy dialog: a compose file and a stack name — ``portside stack deploy -c FILE NAME`` as a form."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from .form import FORM_CSS

__all__ = ["DeployRequest", "DeployScreen"]


@dataclass(frozen=True)
class DeployRequest:
    file: str
    name: str

    def cli(self) -> str:
        return shlex.join(["portside", "stack", "deploy", "-c", self.file, self.name])


def problem(file: str, name: str) -> str | None:
    """What is wrong with the form, in one line (None: nothing)."""
    if not file:
        return "the compose file is missing"
    if not os.path.isfile(file):
        return f"no such file: {file}"
    if not name:
        return "the stack name is missing"
    if not all(c.isalnum() or c in "_-." for c in name) or not name[0].isalnum():
        return f"invalid stack name {name!r}: letters, digits, '_', '-' and '.' only, starting with a letter or digit"
    return None


class DeployScreen(ModalScreen["DeployRequest | None"]):
    """Dismisses with a :class:`DeployRequest`, or ``None`` on ``esc``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog-cancel"),
        Binding("ctrl+s", "submit", "Deploy", id="dialog-submit"),
    ]

    DEFAULT_CSS = "DeployScreen {" + FORM_CSS + "& #deploy-problem { color: $text-error; } }"

    def __init__(self, file: str = "", name: str = "", note: str = "") -> None:
        super().__init__()
        self._file, self._name, self._note = file, name, note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Deploy a stack", classes="form--title")
            yield Static(self._note or "a compose file's services, networks, secrets and configs, named "
                         "<stack>_<name> · enter deploys · esc cancels", classes="form--note", markup=False)
            with Horizontal(classes="form--row"):
                yield Label("Compose file")
                yield Input(self._file, placeholder="docker-compose.yml", id="deploy-file", compact=True)
            with Horizontal(classes="form--row"):
                yield Label("Stack name")
                yield Input(self._name, placeholder="getstartedlab", id="deploy-name", compact=True)
            yield Static("", id="deploy-problem", classes="form--note")
            with Horizontal(classes="form--buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Deploy", id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#deploy-name" if self._file and not self._name else "#deploy-file", Input).focus()

    def action_submit(self) -> None:
        file = os.path.expanduser(self.query_one("#deploy-file", Input).value.strip())
        name = self.query_one("#deploy-name", Input).value.strip()
        if (why := problem(file, name)) is not None:
            self.query_one("#deploy-problem", Static).update(why)
            return
        self.dismiss(DeployRequest(file, name))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
