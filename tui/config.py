"""The dashboard's settings file: ``~/.config/portside/config.yaml`` (``PORTSIDE_CONFIG`` overrides).

    theme: portside-dark        # any name in themes.THEMES (the palette's "Theme: …" remembers it)
    refresh_interval: 1.0       # seconds between stats samples (the tables also follow engine events)
    keymap:                     # binding id → keys, comma separated (ids: the ``?`` screen lists them)
      stop: S
      remove: x,delete

A missing or unreadable file gives the defaults; a bad value is ignored with a warning, never a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Config", "config_path", "load_config", "save_config"]

DEFAULT_INTERVAL = 1.0


def config_path() -> str:
    """``$PORTSIDE_CONFIG``, else ``$XDG_CONFIG_HOME/portside/config.yaml`` (``~/.config`` by default)."""
    if os.environ.get("PORTSIDE_CONFIG"):
        return os.environ["PORTSIDE_CONFIG"]
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "portside", "config.yaml")


@dataclass
class Config:
    theme: str | None = None
    refresh_interval: float = DEFAULT_INTERVAL
    keymap: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Problems found while reading the file (the app shows them as notifications)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not know, kept so saving does not drop them."""


def load_config(path: str | None = None) -> Config:
    path = path or config_path()
    config = Config()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        return config
    except (OSError, yaml.YAMLError) as exc:
        config.warnings.append(f"cannot read {path}: {exc}")
        return config
    if not isinstance(data, dict):
        config.warnings.append(f"{path}: expected a mapping at the top")
        return config
    for key, value in data.items():
        if key == "theme":
            if isinstance(value, str):
                config.theme = value
            else:
                config.warnings.append(f"{path}: theme must be a name")
        elif key == "refresh_interval":
            try:
                interval = float(value)
                if not 0.05 <= interval <= 3600:
                    raise ValueError(value)
                config.refresh_interval = interval
            except (TypeError, ValueError):
                config.warnings.append(f"{path}: refresh_interval must be seconds between 0.05 and 3600")
        elif key == "keymap":
            if isinstance(value, dict):
                config.keymap = {str(k): str(v) for k, v in value.items() if v is not None}
            else:
                config.warnings.append(f"{path}: keymap must map binding ids to keys")
        else:
            config.extra[key] = value
    return config


def save_config(config: Config, path: str | None = None) -> None:
    """Write ``config`` back (theme, interval, keymap and any keys we did not understand)."""
    path = path or config_path()
    data: dict[str, Any] = dict(config.extra)
    if config.theme:
        data["theme"] = config.theme
    data["refresh_interval"] = config.refresh_interval
    if config.keymap:
        data["keymap"] = dict(config.keymap)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)
