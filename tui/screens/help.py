"""``?``: every key, grouped by where it works, as the keymap currently binds it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from themes import THEMES

from ..actions import ACTIONS, SCOPES, key_display
from ..config import config_path

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    """The keys, the palette, remapping and themes; arrows, PageUp/PageDown, Home/End scroll it at once."""

    AUTO_FOCUS = "#help-scroll"
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help-close")]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
        & > VerticalScroll {
            width: 90;
            max-width: 96%;
            height: 90%;
            border: thick $primary 70%;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def __init__(self, keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.keymap = keymap or {}

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column("key", style="bold", width=16, no_wrap=True)
        table.add_column("what")
        table.add_column("id", style="dim", no_wrap=True)
        for scope, title in SCOPES.items():
            rows = [a for a in ACTIONS if a.scope == scope]
            if not rows:
                continue
            table.add_row(Text(title, style="bold underline"), "", "")
            for action in rows:
                table.add_row(key_display(self.keymap.get(action.id, action.keys)), action.title, action.id)
            table.add_row("", "", "")
        note = Text.assemble(
            ("Portside keys", "bold"), "  ·  ctrl+p or : opens the command palette  ·  esc closes\n",
            ("↑ ↓ PgUp PgDn Home End scroll this list\n", "dim"),
            ("Themes: ", "bold"), f"ctrl+p, then type theme: {', '.join(THEMES)}. ",
            f"The one you pick is saved in {config_path()} (theme:).\n",
            (f"Remap any key by its id in that file under keymap:, e.g.  keymap: {{stop: S}}", "dim"))
        with VerticalScroll(id="help-scroll"):
            yield Static(note)
            yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
