"""docker's human units for the CLI and the dashboard (from the client, see engine.units)."""

from engine.client import bytes_size, human_duration, human_size, parse_since, ram_in_bytes, since

__all__ = ["bytes_size", "human_duration", "human_size", "parse_since", "ram_in_bytes", "since"]
