"""The build dialog: context, Dockerfile and tag; the build's steps stream into the dialog live."""

from __future__ import annotations

import contextlib
import os
import shlex
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from rich.text import Text
from textual.widgets import Button, Input, Label, RichLog, Static

from engine.client import Docker
from engine.errors import EngineError

from .form import FORM_CSS

__all__ = ["BuildScreen", "build_cli"]


def build_cli(context: str, dockerfile: str, tag: str) -> str:
    parts = ["portside", "build"]
    if tag:
        parts += ["-t", tag]
    if dockerfile and dockerfile != "Dockerfile":
        parts += ["-f", dockerfile]
    parts.append(context or ".")
    return " ".join(shlex.quote(p) for p in parts)


class BuildScreen(ModalScreen["str | None"]):
    """Dismisses with the built image's id (or ``None`` if nothing was built); with ``close_when_built``
    it dismisses itself as soon as the build succeeds (the tour's next key must reach the dashboard)."""

    BINDINGS = [Binding("escape", "close", "Close", id="dialog-cancel")]

    # While building, the dialog takes the screen's height and the log the rows left over, so the status
    # line and the buttons stay on screen at 80×24; the log and the status wrap long lines.
    DEFAULT_CSS = "BuildScreen {" + FORM_CSS + """
        & RichLog {
            height: 1fr;
            min-height: 3;
            border: round $border-blurred;
            background: $background;
            display: none;
            margin-top: 1;
        }
        &.-building > Vertical {
            height: 96%;
            max-height: 40;
        }
        &.-building RichLog {
            display: block;
        }
        & .build--status {
            height: auto;
            max-height: 4;
        }
    }"""

    class Line(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Finished(Message):
        def __init__(self, image_id: str | None, error: str | None) -> None:
            super().__init__()
            self.image_id = image_id
            self.error = error

    def __init__(self, docker: Docker, context: str = "", dockerfile: str = "Dockerfile", tag: str = "",
                 read_only: bool = False, close_when_built: bool = False) -> None:
        super().__init__()
        self.close_when_built = close_when_built
        self.log_lines: list[str] = []
        """Every line the log shows, unwrapped."""
        self.docker = docker
        self._defaults = (context or os.getcwd(), dockerfile, tag)
        self.image_id: str | None = None
        self.running = False
        self.read_only = read_only
        self.command = ""

    def compose(self) -> ComposeResult:
        context, dockerfile, tag = self._defaults
        with Vertical():
            yield Label("Build an image", classes="form--title")
            yield Static("enter builds · esc closes", classes="form--note")
            for field_id, label, value, placeholder in (
                ("context", "Context", context, "a directory"),
                ("dockerfile", "Dockerfile", dockerfile, "Dockerfile (relative to the context)"),
                ("tag", "Tag", tag, "name:tag"),
            ):
                with Horizontal(classes="form--row"):
                    yield Label(label)
                    yield Input(value, placeholder=placeholder, id=f"build-{field_id}", compact=True)
            yield RichLog(id="build-log", max_lines=2000, wrap=True, markup=False, highlight=False)
            yield Static("", classes="build--status form--note", id="build-status")
            with Horizontal(classes="form--buttons"):
                yield Button("Close", id="cancel", compact=True)
                yield Button("Build", id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#build-tag" if not self._defaults[2] else "#build-context", Input).focus()

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#build-{field_id}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.action_close()

    def action_submit(self) -> None:
        if self.running:
            return
        if self.read_only:
            self.notify("The dashboard is read-only: build is disabled.", severity="warning", timeout=3)
            return
        context = os.path.expanduser(self._value("context") or ".")
        dockerfile, tag = self._value("dockerfile") or "Dockerfile", self._value("tag")
        self.command = build_cli(context, dockerfile, tag)
        self.running = True
        self.add_class("-building")
        self.query_one(RichLog).clear()
        self.log_lines = []
        self._write(f"$ {self.command}")
        self.query_one("#build-status", Static).update("Building…")
        self.query_one("#submit", Button).disabled = True
        self.build(context, dockerfile, tag)

    @work(exclusive=True, group="build", exit_on_error=False)
    async def build(self, context: str, dockerfile: str, tag: str) -> None:
        image_id: str | None = None
        error: str | None = None
        try:
            stream = self.docker.images.build(path=context, tags=[tag] if tag else [], dockerfile=dockerfile)
            async with contextlib.aclosing(stream) as progress:  # type: ignore[type-var]
                async for item in progress:
                    item: dict[str, Any]
                    if "stream" in item:
                        for line in str(item["stream"]).splitlines():
                            if line.strip():
                                self.post_message(self.Line(line))
                    if "error" in item:
                        error = str(item["error"])
                    aux = item.get("aux") or {}
                    if aux.get("ID"):
                        image_id = str(aux["ID"])
        except EngineError as exc:
            error = str(exc)
        self.post_message(self.Finished(image_id if error is None else None, error))

    def _write(self, line: str) -> None:
        self.log_lines.append(line)
        self.query_one(RichLog).write(Text(line))

    def on_build_screen_line(self, message: Line) -> None:
        self._write(message.text)

    def on_build_screen_finished(self, message: Finished) -> None:
        self.running = False
        self.query_one("#submit", Button).disabled = False
        status = self.query_one("#build-status", Static)
        if message.error:
            error = message.error
            self._write(error if error.upper().startswith("ERROR") else f"ERROR: {error}")
            status.update(f"Build failed: {message.error}")  # whole, wrapped: no toast over the buttons
        else:
            self.image_id = message.image_id
            tag = self._value("tag")
            status.update(f"Built {(message.image_id or '')[7:19]}{f' as {tag}' if tag else ''} — esc closes")
            if self.close_when_built:
                self.notify(f"Built {tag or (message.image_id or '')[7:19]}", timeout=3)
                self.dismiss(self.image_id)

    def action_close(self) -> None:
        if self.running:
            self.workers.cancel_group(self, "build")
        self.dismiss(self.image_id)
