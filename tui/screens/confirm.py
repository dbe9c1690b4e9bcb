"""A yes/no question before anything destructive."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with ``True`` (``y`` / the confirm button) or ``False`` (``n``, ``esc``, Cancel).

    Cancel has the focus, so a stray ``enter`` never deletes anything."""

    AUTO_FOCUS = "#cancel"

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm"),
        Binding("n,escape", "cancel", "No", id="cancel"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 64;
            max-width: 90%;
            height: auto;
            padding: 1 2;
            border: thick $error 80%;
            background: $surface;
        }
        & .confirm--title {
            width: 100%;
            text-style: bold;
            color: $text-error;
            margin-bottom: 1;
        }
        & .confirm--detail {
            width: 100%;
            color: $text-muted;
            margin-bottom: 1;
        }
        & Horizontal {
            width: 100%;
            height: auto;
            align-horizontal: right;
        }
        & Button {
            margin-left: 2;
        }
    }
    """

    def __init__(self, question: str, detail: str = "", *, confirm_label: str = "Remove") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="confirm--title", markup=False)
            if self.detail:
                yield Static(self.detail, classes="confirm--detail", markup=False)
            with Horizontal():
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
