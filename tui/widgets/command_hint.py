"""One line under the panes: the ``portside …`` command that does what you just did."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["CommandHint"]


class CommandHint(Widget):
    """Shows ``$ portside stop 1fa4ab2cf395`` after the dashboard stops that container."""

    DEFAULT_CSS = """
    CommandHint {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        & > .command-hint--command {
            color: $text-accent;
            text-style: bold;
        }
    }
    """

    COMPONENT_CLASSES = {"command-hint--command"}

    command: reactive[str] = reactive("")
    """The command line, without the prompt."""

    def render(self) -> Text:
        if not self.command:
            return Text("")
        style = self.get_component_rich_style("command-hint--command")
        return Text.assemble(("$ ", ""), (self.command, style), ("   CLI equivalent", "dim"))
