"""A busybox image that also runs ``python``: this host's interpreter and standard library on a busybox rootfs.

aiodocker's suite runs ``python -c …`` and an interactive ``python`` in its ``python:3.x-alpine`` images.
:func:`write_rootfs` writes a tar of the busybox rootfs (engine.images.bootstrap) plus the running
interpreter, the shared libraries it and its extension modules load (as ``ldd`` names them), and the
standard library without its tests, site-packages and GUI parts, all at their host paths (so the
interpreter finds its prefix as it does here); ``/usr/local/bin/python`` and ``python3`` point at it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from typing import IO

from engine.images import bootstrap

SKIP = {"test", "site-packages", "dist-packages", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}


def interpreter() -> str:
    return os.path.realpath(sys.executable)


def stdlib_files() -> Iterator[str]:
    """Every file of the standard library the image carries (absolute host paths)."""
    stdlib = sysconfig.get_paths()["stdlib"]
    for top, dirs, files in os.walk(stdlib):
        rel = os.path.relpath(top, stdlib)
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith("config-")]
        for name in files:
            if ".opt-" in name or name.startswith(("_tkinter", "_test", "_xxtest")):
                continue  # optimised bytecode and the GUI/test extension modules: never loaded here
            yield os.path.join(top, name)


def shared_libraries(binaries: list[str]) -> set[str]:
    """The libraries ``ldd`` resolves for ``binaries`` (the loader included), as host paths."""
    found: set[str] = set()
    for path in binaries:
        proc = subprocess.run(["ldd", path], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            parts = line.split()
            for word in parts:
                if word.startswith("/") and os.path.exists(word):
                    found.add(word)
    return found


def write_rootfs(out: IO[bytes]) -> None:
    base = io.BytesIO()
    bootstrap.write_rootfs(base)
    base.seek(0)
    exe = interpreter()
    stdlib = list(stdlib_files())
    libs = shared_libraries([exe] + [p for p in stdlib if p.endswith(".so")])
    with tarfile.open(fileobj=base, mode="r") as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        names: set[str] = set()
        for member in src.getmembers():
            names.add(member.name)
            tar.addfile(member, src.extractfile(member) if member.isfile() else None)

        def parents(rel: str) -> None:
            parts = rel.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent not in names:
                    names.add(parent)
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)

        def add(path: str) -> None:
            """``path`` with its parent folders; a symlinked library keeps its link and its target."""
            rel = path.lstrip("/")
            parents(rel)
            if rel in names:
                return
            names.add(rel)
            tar.add(path, arcname=rel, recursive=False)
            if os.path.islink(path):
                target = os.readlink(path)
                add(target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), target)))

        add(exe)
        for path in sorted(libs) + stdlib:
            add(path)
        for name in ("python", "python3"):
            parents(f"usr/local/bin/{name}")
            info = tarfile.TarInfo(f"usr/local/bin/{name}")
            info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, exe
            tar.addfile(info)
            names.add(info.name)
