"""The Images pane: ``portside images`` as a live table; dangling images behind ``d``."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ..actions import bindings
from ._format import ago, human_size, short_id
from ._paint import set_content, set_titles
from .filter_bar import FilterBar, matches
from .list_pane import ListPane
from .resource_table import ResourceTable, Row

__all__ = ["ImagesPane", "IMAGE_COLUMNS", "image_rows"]

IMAGE_COLUMNS = ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")


def image_rows(images: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """One ``(key, repository, tag, image)`` per tag, like ``docker images``; untagged → ``<none>``."""
    out = []
    for image in images:
        tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
        if not tags:
            out.append((f"{image['Id']}|", "<none>", "<none>", image))
        for ref in tags:
            repo, _, tag = ref.rpartition(":")
            if not repo or "/" in tag:
                repo, tag = ref, "<none>"
            out.append((f"{image['Id']}|{ref}", repo, tag, image))
    return out


class ImagesPane(ListPane):
    """Images from ``docker.images.list()``, one row per tag."""

    BINDINGS = bindings("images")


    show_dangling: reactive[bool] = reactive(False, init=False)
    """Also list untagged (``<none>``) images, as ``docker images -a`` would show them."""

    class ActionRequested(Message):
        """``action`` (``remove``, ``tag``, ``inspect``, ``prune``, ``pull``, ``push``) on ``image``; ``reference``
        is the tag under the cursor, or the short id."""

        def __init__(self, action: str, image: dict[str, Any] | None, reference: str) -> None:
            super().__init__()
            self.action = action
            self.image = image
            self.reference = reference

    class DanglingChanged(Message):
        def __init__(self, show_dangling: bool) -> None:
            super().__init__()
            self.show_dangling = show_dangling

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._all_rows: list[tuple[str, str, str, dict[str, Any]]] = []
        self._rows: list[tuple[str, str, str, dict[str, Any]]] = []
        self._loaded = False
        self._table = ResourceTable(IMAGE_COLUMNS, id="images-table")
        self.filter_text = ""
        self._shown_ages: list[str] = []

    def compose(self) -> ComposeResult:
        yield FilterBar("filter images: repository, tag, id…", id="images-filter")
        yield self._table
        yield Static("Loading…", classes="empty")

    def on_mount(self) -> None:
        self._titles()
        self.set_class(True, "-empty")

    @property
    def images(self) -> list[dict[str, Any]]:
        """The images shown, deduplicated (an image with two tags appears once)."""
        seen: dict[str, dict[str, Any]] = {}
        for _key, _repo, _tag, image in self._rows:
            seen.setdefault(image["Id"], image)
        return list(seen.values())

    @property
    def all_images(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for _key, _repo, _tag, image in self._all_rows:
            seen.setdefault(image["Id"], image)
        return list(seen.values())

    @property
    def selected(self) -> tuple[dict[str, Any], str] | None:
        key = self.table.selected_key
        for row_key, repo, tag, image in self._rows:
            if row_key == key:
                return image, (f"{repo}:{tag}" if repo != "<none>" else short_id(image["Id"]))
        return None

    def update_images(self, images: list[dict[str, Any]]) -> None:
        rows = image_rows(images)
        if self._loaded and rows == self._all_rows and self._ages() == self._shown_ages:
            return  # nothing new, and every "… ago" still reads the same
        self._all_rows = rows
        self._loaded = True
        self._render_rows()

    def _render_rows(self) -> None:
        if not self._table.is_attached:
            return  # the app is closing
        dangling = sum(1 for _k, repo, _t, _i in self._all_rows if repo == "<none>")
        self._rows = [
            r for r in self._all_rows
            if (self.show_dangling or r[1] != "<none>")
            and matches(self.filter_text, r[1], r[2], short_id(r[3]["Id"]))
        ]
        rows: list[Row] = [
            (key, (
                Text(repo, style="bold" if repo != "<none>" else "dim"),
                Text(tag, style="" if tag != "<none>" else "dim"),
                Text(short_id(image["Id"])),
                Text(ago(image.get("Created", 0))),
                Text(human_size(image.get("Size", 0)), justify="right"),
            ))
            for key, repo, tag, image in self._rows
        ]
        self.table.sync(rows)
        self._shown_ages = self._ages()
        self.set_class(not rows, "-empty")
        if not self._all_rows:
            empty = ("No images yet. Press B to make busybox from the host's busybox, no network needed "
                     "(portside image busybox), or b to build one from a Dockerfile")
        elif self.filter_text:
            empty = f"Nothing matches “{self.filter_text}” — esc clears the filter"
        else:
            empty = f"Only dangling images ({dangling}) — press d to show them"
        set_content(self.query_one(".empty", Static), empty)
        self._titles(dangling)

    def _ages(self) -> list[str]:
        now = time.time()
        return [ago(image.get("Created", 0), now) for _key, _repo, _tag, image in self._rows]

    def _titles(self, dangling: int = 0) -> None:
        set_titles(self, "Images · with dangling" if self.show_dangling else "Images")
        if self._loaded:
            hidden = "" if self.show_dangling or not dangling else f" · {dangling} dangling hidden (d)"
            set_titles(self, subtitle=f"{len(self.images)} images{hidden}")

    def watch_show_dangling(self, show: bool) -> None:
        if self._loaded:
            self._render_rows()
        self.post_message(self.DanglingChanged(show))

    def _request(self, action: str, need_image: bool = True) -> None:
        selected = self.selected
        if selected is None and need_image:
            self.app.notify("No image selected", timeout=2)
            return
        image, reference = selected if selected is not None else (None, "")
        self.post_message(self.ActionRequested(action, image, reference))

    def action_toggle_dangling(self) -> None:
        self.show_dangling = not self.show_dangling

    def action_remove(self) -> None:
        self._request("remove")

    def action_tag(self) -> None:
        self._request("tag")

    def action_inspect(self) -> None:
        self._request("inspect")

    def action_prune(self) -> None:
        self._request("prune", need_image=False)

    def action_pull(self) -> None:
        self._request("pull", need_image=False)

    def action_push(self) -> None:
        self._request("push")
