"""The Images pane: ``portside images`` as a live table."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from ._format import ago, human_size, short_id
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


class ImagesPane(Vertical):
    """Images from ``docker.images.list()``, one row per tag."""

    BINDINGS = [
        Binding("x,ctrl+d", "remove", "Remove", id="remove"),
    ]

    DEFAULT_CSS = """
    ImagesPane {
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

    class RemoveRequested(Message):
        """The user asked to remove an image (``reference`` is the tag under the cursor, or the id)."""

        def __init__(self, image: dict[str, Any], reference: str) -> None:
            super().__init__()
            self.image = image
            self.reference = reference

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[tuple[str, str, str, dict[str, Any]]] = []
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield ResourceTable(IMAGE_COLUMNS, id="images-table")
        yield Static("Loading…", classes="empty")

    def on_mount(self) -> None:
        self.border_title = "Images"
        self.set_class(True, "-empty")

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    @property
    def images(self) -> list[dict[str, Any]]:
        """The images shown, deduplicated (an image with two tags appears once)."""
        seen: dict[str, dict[str, Any]] = {}
        for _key, _repo, _tag, image in self._rows:
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
        self._rows = image_rows(images)
        self._loaded = True
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
        self.set_class(not rows, "-empty")
        self.query_one(".empty", Static).update("No images yet — try  portside import busybox.tar busybox")
        self.border_subtitle = f"{len(self.images)} images"

    def action_remove(self) -> None:
        if (selected := self.selected) is not None:
            self.post_message(self.RemoveRequested(*selected))
