"""What the list panes share: the framed look, the empty-state line, and the ``/`` filter bar."""

from __future__ import annotations

from textual import on
from textual.containers import Vertical
from textual.widgets import Input

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

    filter_text: str = ""
    _table: ResourceTable

    @property
    def table(self) -> ResourceTable:
        return self._table

    @on(Input.Changed, "FilterBar")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self._render_rows()  # type: ignore[attr-defined]  # each pane draws its own rows

    @on(FilterBar.Done)
    def _filter_done(self, event: FilterBar.Done) -> None:
        event.stop()
        self.table.focus()

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()
