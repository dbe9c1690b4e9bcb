"""The ``/`` filter line above a list: ``filter:`` and the text; type to narrow the rows, ``enter`` keeps
the filter (the line stays, labelled, so the list says it is filtered), ``esc`` clears it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

__all__ = ["FilterBar", "matches"]


class FilterBar(Horizontal):
    """Hidden until :meth:`open`; posts :class:`FilterBar.Changed` as the text changes and
    :class:`FilterBar.Done` when the user leaves it."""

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", id="filter-clear")]

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        height: 1;
        background: $boost;
        &.-open {
            display: block;
        }
        & > Label {
            width: auto;
            padding: 0 1;
            color: $text-accent;
            text-style: bold;
        }
        & > Input {
            width: 1fr;
            border: none;
            padding: 0 1;
            background: transparent;
        }
        &:focus-within {
            background: $primary 20%;
        }
    }
    """

    class Changed(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    class Done(Message):
        """Focus should go back to the list."""

    def __init__(self, placeholder: str = "filter…", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Label("filter:")
        yield Input(placeholder=self._placeholder, compact=True)

    @property
    def input(self) -> Input:
        return self.query_one(Input)

    @property
    def value(self) -> str:
        return self.input.value

    def open(self) -> None:
        self.add_class("-open")
        self.input.focus()

    def action_clear_filter(self) -> None:
        self.input.value = ""
        self.remove_class("-open")
        self.post_message(self.Done())

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.remove_class("-open")
        self.post_message(self.Done())


def matches(query: str, *cells: object) -> bool:
    """Case-insensitive: every word of ``query`` appears in some cell."""
    if not query:
        return True
    haystack = " ".join(str(c) for c in cells).lower()
    return all(word in haystack for word in query.lower().split())
