"""Every dashboard action in one table: its binding id, default keys, title, where it applies.

Widgets build their ``BINDINGS`` from this table (:func:`bindings`), and the command palette and the
``?`` screen list it, so a key remapped in the config file shows up everywhere at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

__all__ = ["Action", "ACTIONS", "bindings", "by_id", "key_display", "SCOPES"]


@dataclass(frozen=True)
class Action:
    id: str
    """Binding id (the key in the config file's ``keymap``)."""
    keys: str
    """Default keys, comma separated, Textual names (``question_mark``, ``ctrl+d``)."""
    title: str
    scope: str
    """``app``, ``containers``, ``images``, ``services``, ``tasks``, ``logs`` or ``inspect``."""
    action: str
    """The action string run on the widget of that scope."""
    destructive: bool = False
    """Changes the engine's state; refused in ``--read-only``."""
    show: bool = True
    """Shown in the footer."""
    palette: bool = True
    """Listed in the command palette (screen-local actions are not)."""


SCOPES = {
    "app": "Everywhere",
    "lists": "Every list",
    "containers": "Containers pane",
    "images": "Images pane",
    "resources": "Resources pane",
    "services": "Services pane",
    "tasks": "Tasks screen",
    "logs": "Logs screen",
    "inspect": "Inspect screen",
}

ACTIONS: tuple[Action, ...] = (
    # everywhere
    Action("quit", "q", "Quit", "app", "quit"),
    Action("help", "question_mark", "Help", "app", "help"),
    Action("palette", "colon,ctrl+p", "Command palette", "app", "command_palette", show=False, palette=False),
    Action("show-containers", "1", "Show containers", "app", "show_pane('containers')", show=False),
    Action("show-images", "2", "Show images", "app", "show_pane('images')", show=False),
    Action("show-resources", "3", "Show live resources", "app", "show_pane('resources')", show=False),
    Action("show-services", "4", "Show services (swarm)", "app", "show_pane('services')", show=False),
    Action("run", "n", "Run…", "app", "run_dialog", destructive=True),
    Action("build", "b", "Build an image…", "app", "build_dialog", destructive=True, show=False),
    Action("busybox", "B", "Make a busybox image from the host's busybox (no network)", "app", "make_busybox",
           destructive=True, show=False),
    Action("refresh", "ctrl+r", "Refresh now", "app", "refresh", show=False),
    Action("tour", "T", "Tour: the guide, step by step", "app", "tour", show=False),
    # every list
    Action("cursor-down", "j", "Down", "lists", "cursor_down", show=False, palette=False),
    Action("cursor-up", "k", "Up", "lists", "cursor_up", show=False, palette=False),
    Action("cursor-top", "g", "Top", "lists", "scroll_top", show=False, palette=False),
    Action("cursor-bottom", "G", "Bottom", "lists", "scroll_bottom", show=False, palette=False),
    # containers
    Action("filter-containers", "slash", "Filter containers", "containers", "filter", show=False),
    Action("toggle-all", "a", "All/running", "containers", "toggle_all"),
    Action("sort", "o", "Sort by next column", "containers", "sort", show=False),
    Action("sort-reverse", "O", "Reverse the sort", "containers", "sort_reverse", show=False),
    Action("mark", "space", "Mark (several: merged logs, summed graphs)", "containers", "mark", show=False),
    Action("start", "u", "Start container", "containers", "start", destructive=True, show=False),
    Action("stop", "s", "Stop", "containers", "stop", destructive=True),
    Action("restart", "r", "Restart container", "containers", "restart", destructive=True, show=False),
    Action("kill", "K", "Kill container", "containers", "kill", destructive=True, show=False),
    Action("remove", "x,ctrl+d", "Remove", "containers", "remove", destructive=True),
    Action("logs", "l", "Logs", "containers", "logs"),
    Action("inspect", "i", "Inspect container", "containers", "inspect", show=False),
    Action("shell", "e", "Shell inside the container", "containers", "shell", destructive=True, show=False),
    # images
    Action("filter-images", "slash", "Filter images", "images", "filter", show=False),
    Action("toggle-dangling", "d", "Dangling", "images", "toggle_dangling"),
    Action("tag", "t", "Tag…", "images", "tag", destructive=True),
    Action("remove-image", "x,ctrl+d", "Remove", "images", "remove", destructive=True),
    Action("prune", "X", "Prune dangling images", "images", "prune", destructive=True),
    Action("inspect-image", "i", "Inspect image", "images", "inspect", show=False),
    Action("pull", "p", "Pull image…", "images", "pull", destructive=True, show=False),
    Action("push", "P", "Push image", "images", "push", destructive=True, show=False),
    # services
    Action("filter-services", "slash", "Filter services", "services", "filter", show=False),
    Action("service-tasks", "enter", "Tasks of the service", "services", "tasks"),
    Action("deploy", "d", "Deploy a stack (compose file)…", "services", "deploy", destructive=True),
    Action("scale-up", "plus", "Scale up by one", "services", "scale_up", destructive=True, show=False),
    Action("scale-down", "minus", "Scale down by one", "services", "scale_down", destructive=True, show=False),
    Action("scale", "s", "Scale…", "services", "scale", destructive=True),
    Action("update-image", "u", "Update the image…", "services", "update_image", destructive=True, show=False),
    Action("rollback", "R", "Roll back to the previous spec", "services", "rollback", destructive=True,
           show=False),
    Action("service-logs", "l", "Service logs", "services", "logs"),
    Action("inspect-service", "i", "Inspect service", "services", "inspect", show=False),
    Action("remove-stack", "x,ctrl+d", "Remove stack", "services", "remove_stack", destructive=True),
    Action("swarm-init", "I", "Swarm init (a single-node manager)", "services", "swarm_init", destructive=True,
           show=False),
    Action("swarm-leave", "L", "Swarm leave (removes every service)", "services", "swarm_leave",
           destructive=True, show=False),
    # tasks screen
    Action("tasks-logs", "l", "Service logs", "tasks", "logs", palette=False),
    Action("tasks-scale-up", "plus", "Scale +1", "tasks", "scale_up", destructive=True, palette=False),
    Action("tasks-scale-down", "minus", "Scale -1", "tasks", "scale_down", destructive=True, palette=False),
    Action("tasks-kill", "K", "Kill the replica", "tasks", "kill", destructive=True, palette=False),
    Action("tasks-close", "escape,q", "Back", "tasks", "close", palette=False),
    # logs screen
    Action("logs-search", "slash", "Search", "logs", "search", palette=False),
    Action("logs-next", "n", "Next match", "logs", "next_match", show=False, palette=False),
    Action("logs-previous", "N", "Previous match", "logs", "previous_match", show=False, palette=False),
    Action("logs-filter", "ampersand", "Filter", "logs", "filter", palette=False),
    Action("logs-follow", "f", "Follow", "logs", "toggle_follow", palette=False),
    Action("logs-wrap", "w", "Wrap", "logs", "toggle_wrap", palette=False),
    Action("logs-timestamps", "t", "Timestamps", "logs", "toggle_timestamps", palette=False),
    Action("logs-top", "g,home", "Top", "logs", "top", show=False, palette=False),
    Action("logs-bottom", "G,end", "Bottom", "logs", "bottom", show=False, palette=False),
    Action("logs-close", "escape,q", "Back", "logs", "close", palette=False),
    # inspect screen
    Action("inspect-search", "slash", "Search", "inspect", "search", palette=False),
    Action("inspect-expand", "e", "Expand all", "inspect", "expand_all", palette=False),
    Action("inspect-close", "escape,q", "Back", "inspect", "close", palette=False),
)


def by_id(binding_id: str) -> Action:
    return next(a for a in ACTIONS if a.id == binding_id)


def bindings(scope: str) -> list[Binding]:
    """The ``BINDINGS`` of the widget or screen for ``scope``."""
    return [Binding(a.keys, a.action, a.title, show=a.show, id=a.id) for a in ACTIONS if a.scope == scope]


_KEY_NAMES = {"question_mark": "?", "colon": ":", "slash": "/", "ampersand": "&", "space": "space",
              "escape": "esc", "enter": "enter",
              "plus": "+", "minus": "-"}


def key_display(keys: str) -> str:
    """``x,ctrl+d`` → ``x / ^d``."""
    out = []
    for key in keys.split(","):
        key = key.strip()
        key = _KEY_NAMES.get(key, key)
        out.append(key.replace("ctrl+", "^"))
    return " / ".join(out)
