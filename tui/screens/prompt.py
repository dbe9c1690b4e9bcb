"""A one-line question (tag as…, pull which image…): ``enter`` answers, ``esc`` cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from .form import FORM_CSS

__all__ = ["PromptScreen"]


class PromptScreen(ModalScreen["str | None"]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog-cancel")]

    DEFAULT_CSS = "PromptScreen {" + FORM_CSS + "}"

    def __init__(self, title: str, label: str, value: str = "", *, note: str = "", submit: str = "OK",
                 placeholder: str = "") -> None:
        super().__init__()
        self._title, self._label, self._value = title, label, value
        self._note, self._submit, self._placeholder = note, submit, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="form--title", markup=False)
            if self._note:
                yield Static(self._note, classes="form--note", markup=False)
            with Horizontal(classes="form--row"):
                yield Label(self._label)
                yield Input(self._value, placeholder=self._placeholder, id="prompt-value", compact=True)
            with Horizontal(classes="form--buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self._submit, id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one(Input).value.strip() or None if event.button.id == "submit" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
