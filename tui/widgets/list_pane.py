"""What the list panes share: the framed look, the empty-state line, and the ``/`` filter bar."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.containers import Vertical

from .filter_bar import FilterBar
from .resource_table import ResourceTable

__all__ = ["ListPane"]


class ListPane(Vertical):
    """A framed pane holding a :class:`ResourceTable`, an empty-state line and a :class:`FilterBar`.

    Subclasses set ``self._table`` and implement ``_render_rows`` (which reads ``filter_text``).
    """

    DEFAULT_CSS = """
    ListPane {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $text-primary;
        border-subtitle-color: $text-muted;
        &:focus-within {
            border: round $border;
        }
        & > .empty {
            display: none;
            height: 1fr;
            content-align: center middle;
            text-align: center;
            padding: 0 2;
            color: $text-muted;
            background: $surface;
        }
        &.-empty > .empty {
            display: block;
        }
        &.-empty > ResourceTable {
            height: auto;
        }
    }
    """

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", id="clear-filter")]
    """``esc`` in the list clears a kept filter (in the filter line too: :class:`FilterBar`)."""

    filter_text: str = ""
    _table: ResourceTable

    @property
    def table(self) -> ResourceTable:
        return self._table

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self.refresh_bindings()
        self._render_rows()  # type: ignore[attr-defined]  # each pane draws its own rows

    @on(FilterBar.Done)
    def _filter_done(self, event: FilterBar.Done) -> None:
        event.stop()
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.filter_text)  # otherwise esc is not this pane's (and the footer hides it)
        return True

    def action_clear_filter(self) -> None:
        self.query_one(FilterBar).action_clear_filter()
