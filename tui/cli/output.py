"""Output shared by the commands: lines, docker's tables and templates, per-object results, prompts."""

from __future__ import annotations

import json
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

from engine.errors import EngineError



def out(text: str = "") -> None:
    sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))


def render_rows(fmt: str | None, default: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    fmt = fmt or default
    if fmt == "json":
        for row in rows:
            out(json.dumps(row, separators=(",", ":")))
        return
    from .template import format_table
    text = format_table(fmt, rows, headers)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def render_one(fmt: str, data: Any) -> str:
    if fmt == "json":
        return json.dumps(data, separators=(",", ":"))
    from .template import prepare_format, render  # the template engine loads only when a command prints one
    return render(prepare_format(fmt), data)


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


def daemon_error(exc: BaseException) -> str:
    """An engine's error as this CLI prints it: docker's words (a Portside daemon answers as dockerd
    does), with the commands they name given as this CLI's."""
    return f"Error response from daemon: {exc}".replace('"docker swarm ', '"portside swarm ')


async def each(names: list[str], action: Any) -> int:
    """docker's per-object verbs: the name on stdout when ``action(name)`` succeeds, the error line when not;
    1 if any failed."""
    failed = False
    for name in names:
        try:
            await action(name)
            out(name)
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    return 1 if failed else 0


def confirm(warning: str) -> bool:
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
