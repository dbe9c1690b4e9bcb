"""``portside inspect`` as a tree: ``/`` keeps only the branches whose key or value matches."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from ..actions import bindings
from ..widgets.footer import KeyFooter

__all__ = ["InspectScreen", "matching_paths"]


def _leaf(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def matching_paths(doc: Any, query: str, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Paths (and all their ancestors) whose key or scalar value contains ``query`` (case-insensitive)."""
    query = query.lower()
    found: set[tuple[str, ...]] = set()
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        here = path + (str(key),)
        hit = query in str(key).lower()
        if not isinstance(value, (dict, list)):
            hit = hit or query in _leaf(value).lower()
        below = matching_paths(value, query, here) if isinstance(value, (dict, list)) else set()
        if hit or below:
            found |= below
            for i in range(1, len(here) + 1):
                found.add(here[:i])
    return found


class InspectScreen(Screen[None]):
    BINDINGS = bindings("inspect")

    DEFAULT_CSS = """
    InspectScreen {
        & > #inspect-title {
            height: 1;
            padding: 0 1;
            background: $panel;
            color: $text-primary;
            text-style: bold;
        }
        & > Tree {
            height: 1fr;
            background: $surface;
        }
        & > Input {
            border: none;
            height: 1;
            padding: 0 1;
            background: $primary 20%;
            display: none;
        }
        & > Input.-open {
            display: block;
        }
    }
    """

    def __init__(self, title: str, document: Any) -> None:
        super().__init__()
        self.title_text = title
        self.document = document
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="inspect-title", markup=False)
        yield Tree("·", id="inspect-tree")
        yield Input(placeholder="search keys and values (enter keeps, esc clears)", id="inspect-search",
                    compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        tree = self.query_one(Tree)
        tree.show_root = False
        self._fill()
        tree.focus()

    def _fill(self) -> None:
        tree: Tree[Any] = self.query_one(Tree)
        tree.clear()
        keep = matching_paths(self.document, self.query_text) if self.query_text else None
        self._add(tree.root, self.document, (), keep)
        tree.root.expand()
        if keep is not None:
            tree.root.expand_all()
        else:
            for child in tree.root.children:
                if child.allow_expand and len(child.children) <= 12:
                    child.expand()

    def _label(self, key: str, value: Any) -> Text:
        q = self.query_text
        if isinstance(value, dict):
            text = Text.assemble((key, "bold"), (f"  {{{len(value)}}}", "dim"))
        elif isinstance(value, list):
            text = Text.assemble((key, "bold"), (f"  [{len(value)}]", "dim"))
        else:
            text = Text.assemble((key, "bold"), ": ", (_leaf(value), self.app.current_theme.secondary or ""))
        if q:
            text.highlight_words([q], "reverse bold", case_sensitive=False)
        return text

    def _add(self, node: TreeNode[Any], doc: Any, path: tuple[str, ...], keep: set[tuple[str, ...]] | None) -> None:
        items = doc.items() if isinstance(doc, dict) else enumerate(doc)
        for key, value in items:
            here = path + (str(key),)
            if keep is not None and here not in keep:
                continue
            if isinstance(value, (dict, list)) and value:
                child = node.add(self._label(str(key), value), data=here)
                self._add(child, value, here, keep)
            else:
                node.add_leaf(self._label(str(key), value), data=here)

    @on(Input.Changed, "#inspect-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._fill()

    @on(Input.Submitted, "#inspect-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(Tree).focus()

    def action_search(self) -> None:
        field = self.query_one(Input)
        field.add_class("-open")
        field.focus()

    def action_expand_all(self) -> None:
        self.query_one(Tree).root.expand_all()

    def action_close(self) -> None:
        field = self.query_one(Input)
        if field.has_focus:
            field.value = ""
            field.remove_class("-open")
            self.query_one(Tree).focus()
            return
        self.dismiss(None)
