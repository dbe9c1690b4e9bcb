"""Portside engine: images, builds and isolated containers, usable as a library."""

__version__ = "0.1.0"
