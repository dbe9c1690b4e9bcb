"""The ``/`` filter line above a list: type to narrow the rows, ``enter`` keeps it, ``esc`` clears it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

__all__ = ["FilterBar"]


class FilterBar(Input):
    """Hidden until :meth:`open`; posts :class:`FilterBar.Done` when the user leaves it."""

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", id="filter-clear")]

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        &.-open {
            display: block;
        }
        &:focus {
            border: none;
            background: $primary 20%;
        }
    }
    """

    class Done(Message):
        """Focus should go back to the list."""

    def __init__(self, placeholder: str = "filter…", *, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, compact=True)

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def action_clear_filter(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.post_message(self.Done())

    async def action_submit(self) -> None:
        if not self.value:
            self.remove_class("-open")
        self.post_message(self.Done())


def matches(query: str, *cells: object) -> bool:
    """Case-insensitive: every word of ``query`` appears in some cell."""
    if not query:
        return True
    haystack = " ".join(str(c) for c in cells).lower()
    return all(word in haystack for word in query.lower().split())
