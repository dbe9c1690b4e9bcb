"""Paths inside a container's or an image's root filesystem, with symlinks resolved as its processes see them.

An absolute link target starts again from the root, ``..`` never climbs above it, so the result always
names something under ``root`` (the caller joins it to ``root``; nothing here opens a file outside it).
"""

from __future__ import annotations

import errno
import os

MAX_LINKS = 40  # as Linux's path walk (ELOOP after 40 links)


def resolve_in(root: str, path: str, *, follow_last: bool = True) -> str:
    """``path`` as an absolute path inside ``root`` with every symlink on the way resolved.

    With ``follow_last`` False a symlink in the last component is followed only when it leads to a
    directory (a builder's COPY destination: a link to a directory receives files, a link to a file
    is replaced). Too many links raise ``OSError(ELOOP)``."""
    parts = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            hops += 1
            if hops > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = os.readlink(here)
            base = [] if target.startswith("/") else list(done)
            rest = [p for p in target.split("/") if p and p != "."]
            if parts or follow_last or os.path.isdir(root + resolve_in(root, "/".join(["", *base, *rest]))):
                done = base
                parts = rest + parts
                continue
        done.append(part)
    return "/" + "/".join(done)
