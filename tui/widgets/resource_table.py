"""A DataTable for engine objects: vim keys, and row updates that repaint only what changed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from ..actions import bindings

__all__ = ["ResourceTable", "Row"]

Row = tuple[str, Sequence[Text]]
"""A row key (unique, stable across refreshes) and its cells, one per column."""


class ResourceTable(DataTable[Text]):
    """Rows keyed by a stable id; :meth:`sync` keeps the cursor on the same object across refreshes."""

    BINDINGS = bindings("lists")

    DEFAULT_CSS = """
    ResourceTable {
        height: 1fr;
        background: $surface;
        scrollbar-gutter: stable;
        & > .datatable--header {
            background: $panel;
            color: $text-primary;
            text-style: bold;
        }
    }
    """

    def __init__(self, columns: Sequence[str], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._column_names = list(columns)
        self._rows: dict[str, tuple[Text, ...]] = {}
        self._reselect: str | None = None

    def on_mount(self) -> None:
        for name in self._column_names:
            self.add_column(name, key=name)

    @property
    def column_names(self) -> list[str]:
        return list(self._column_names)

    def set_columns(self, columns: Sequence[str]) -> None:
        """Show different columns; the next :meth:`sync` rebuilds the rows (the cursor keeps its row)."""
        if list(columns) == self._column_names:
            return
        self._reselect = self.selected_key
        self._column_names = list(columns)
        self._rows = {}
        self.clear(columns=True)
        for name in self._column_names:
            self.add_column(name, key=name)

    @property
    def visible_keys(self) -> list[str]:
        """Keys of the rows on screen (the header row excluded)."""
        keys = list(self._rows)
        top = int(self.scroll_offset.y)
        return keys[top: top + max(1, self.size.height)]

    @property
    def row_keys(self) -> list[str]:
        """Row keys, top to bottom."""
        return list(self._rows)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self._rows or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key

    def update_row_cells(self, key: str, cells: dict[int, Text]) -> None:
        """Change some cells (by column index) of one row, if they differ from what is shown."""
        old = self._rows.get(key)
        if old is None:
            return
        new = list(old)
        for column, after in cells.items():
            if column < len(new) and new[column] != after:
                new[column] = after
                name = self._column_names[column]
                wider = after.cell_len > self.columns[name].content_width  # type: ignore[index]
                self.update_cell(key, name, after, update_width=wider)
        self._rows[key] = tuple(new)

    def sync(self, rows: Sequence[Row]) -> None:
        """Show ``rows``. Same keys in the same order → only changed cells are repainted; otherwise the
        table is rebuilt and the cursor follows its row (or stays at the same index)."""
        new = {key: tuple(cells) for key, cells in rows}
        if list(new) == list(self._rows):
            for key, cells in new.items():
                old = self._rows[key]
                for column, (before, after) in enumerate(zip(old, cells)):
                    if before != after:
                        name = self._column_names[column]
                        # Widening the column re-lays the table out; most ticks change a number in place.
                        wider = after.cell_len > self.columns[name].content_width  # type: ignore[index]
                        self.update_cell(key, name, after, update_width=wider)
            self._rows = new
            return
        selected = self._reselect or self.selected_key
        self._reselect = None
        index = self.cursor_row
        self._rows = new
        self.clear()
        for key, cells in new.items():
            self.add_row(*cells, key=key)
        if selected in new:
            index = list(new).index(selected)
        if new:
            self.move_cursor(row=max(0, min(index, len(new) - 1)), animate=False, scroll=True)
