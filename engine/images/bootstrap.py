"""A parent image with no registry: a busybox rootfs made from this host's static busybox.

Debian's ``busybox-static`` installs one statically linked ``/bin/busybox``; with one symlink per
applet, ``/etc/passwd`` and ``/etc/group`` (root, nobody) and the usual directories it is a working
``busybox`` image, the same shape as Docker Hub's. :func:`write_rootfs` writes that tar;
:func:`recipe` gives the same steps as shell commands, for people who want to see or change them.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tarfile
from typing import IO

from ..errors import EngineError

BUSYBOX = "/bin/busybox"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
DIRS = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "proc", "sys", "dev", "var",
        "var/www", "run")
CMD = '["sh"]'  # Docker Hub's busybox starts a shell too
INSTALL = "install Debian's busybox-static (apt-get install busybox-static)"

_PT_INTERP = 3  # an ELF program header naming the dynamic loader


def check_busybox(path: str | None = None) -> None:
    """Raise :class:`EngineError` unless ``path`` (default :data:`BUSYBOX`) is a static ELF executable."""
    path = path or BUSYBOX
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or len(head) < 64:
                raise EngineError(f"{path} is not an executable: {INSTALL}")
            is64, little = head[4] == 2, head[5] == 1
            end = "<" if little else ">"
            if is64:
                phoff, = struct.unpack_from(end + "Q", head, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
            else:
                phoff, = struct.unpack_from(end + "I", head, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", head, 42)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except FileNotFoundError:
        raise EngineError(f"{path} not found: {INSTALL}") from None
    except OSError as exc:
        raise EngineError(f"cannot read {path} ({exc.strerror}): {INSTALL}") from None
    for i in range(phnum):
        p_type, = struct.unpack_from(end + "I", table, i * phentsize)
        if p_type == _PT_INTERP:
            raise EngineError(f"{path} is dynamically linked (it would not run inside a container): {INSTALL}")
    if not os.access(path, os.X_OK):
        raise EngineError(f"{path} is not executable: {INSTALL}")


def applets(busybox: str) -> list[str]:
    """Where each applet lives, relative to the root (``usr/bin/[``, ``sbin/acpid`` …)."""
    try:
        proc = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise EngineError(f"cannot run {busybox} ({exc.strerror}): {INSTALL}") from None
    if proc.returncode != 0:
        raise EngineError(f"{busybox} --list-full failed: {INSTALL}")
    return [line.strip().lstrip("/") for line in proc.stdout.splitlines() if line.strip()]


def write_rootfs(out: IO[bytes], *, busybox: str | None = None, passwd: str = PASSWD, group: str = GROUP,
                 extra_dirs: tuple[str, ...] = ()) -> None:
    """Write the busybox rootfs as a tar to ``out``. Same busybox, same bytes (times are the binary's)."""
    busybox = busybox or BUSYBOX
    check_busybox(busybox)
    links = applets(busybox)
    mtime = int(os.stat(busybox).st_mtime)
    with open(busybox, "rb") as f:
        binary = f.read()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in DIRS + extra_dirs:
            add(d, tarfile.DIRTYPE, 0o755)
        add("tmp", tarfile.DIRTYPE, 0o1777)
        add("bin/busybox", tarfile.REGTYPE, 0o755, binary)
        seen = {"bin/busybox"}
        for rel in links:
            if rel not in seen:
                seen.add(rel)
                add(rel, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, passwd.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, group.encode())


def rootfs_bytes(busybox: str | None = None) -> bytes:
    buf = io.BytesIO()
    write_rootfs(buf, busybox=busybox)
    return buf.getvalue()


def recipe(tag: str = "busybox") -> str:
    """The same image by hand: shell commands that build the rootfs and import it as ``tag``."""
    def printf(text: str) -> str:
        return "printf '" + text.replace("\n", "\\n") + "'"
    return "\n".join([
        "mkdir rootfs && cd rootfs",
        f"mkdir -p {' '.join(DIRS)} tmp && chmod 1777 tmp",
        f"cp {BUSYBOX} bin/busybox",
        f'bin/busybox --list-full | while read -r a; do [ -e "$a" ] || ln -s {BUSYBOX} "$a"; done',
        f"{printf(PASSWD)} > etc/passwd",
        f"{printf(GROUP)} > etc/group",
        f"tar -c . | portside import -c 'CMD {CMD}' - {tag}",
    ])
