"""``portside image …`` (and images, rmi, tag, history, save, load, import): docker's image commands."""

from __future__ import annotations

import os
import sys
import time
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, InvalidArgument

from .. import units
from .output import confirm, daemon_error, out, render_rows, short_id
from .filters import parse_filters
from .system import inspect_objects


IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                  "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


async def cmd_images(docker: Docker, args: Any) -> int:
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = await docker.images.list(all=args.all, filters=filters)
    rows = []
    for img in images:
        tags = img["RepoTags"] or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            if "/" in tag:
                repo, tag = t, "<none>"
            rows.append({"Repository": repo, "Tag": tag, "ID": img["Id"] if args.no_trunc else short_id(img["Id"]),
                         "Digest": (img["RepoDigests"] or ["<none>"])[0].partition("@")[2] or "<none>",
                         "CreatedSince": units.since(img["Created"]),
                         "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(img["Created"])),
                         "Size": units.human_size(img["Size"]), "Containers": str(img["Containers"]),
                         "VirtualSize": units.human_size(img["Size"]), "SharedSize": "N/A", "UniqueSize": "N/A"})
    if args.quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        for i in seen:
            out(i)
        return 0
    fmt = args.format or (IMAGES_FORMAT.replace("\t{{.ID}}", "\t{{.Digest}}\t{{.ID}}") if args.digests
                          else IMAGES_FORMAT)
    render_rows(fmt, IMAGES_FORMAT, rows, IMAGES_HEADERS)
    return 0


async def cmd_rmi(docker: Docker, args: Any) -> int:
    failed = False
    for name in args.images:
        try:
            for item in await docker.images.delete(name, force=args.force, noprune=args.no_prune):
                for k, v in item.items():
                    out(f"{k}: {v}")
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    return 1 if failed else 0


async def cmd_tag(docker: Docker, args: Any) -> int:
    await docker.images.tag(args.source, args.target)
    return 0


async def cmd_history(docker: Docker, args: Any) -> int:
    rows = []
    for h in await docker.images.history(args.image):
        created_by = h["CreatedBy"]
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": h["Id"] if h["Id"] == "<missing>" or args.no_trunc else short_id(h["Id"]),
                     "CreatedSince": units.since(h["Created"]) if h["Created"] else "N/A",
                     "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(h["Created"])),
                     "CreatedBy": created_by, "Size": units.human_size(h["Size"]) if args.human != "false"
                     else str(h["Size"]), "Comment": h["Comment"]})
    if args.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    render_rows(args.format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", rows,
                {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                 "Size": "SIZE", "Comment": "COMMENT"})
    return 0


async def cmd_import_(docker: Docker, args: Any) -> int:
    changes = args.change or None
    if args.file == "-":
        image_id = await docker.images.import_image(sys.stdin.buffer, repo=args.reference, message=args.message,
                                                    changes=changes)
    else:
        if "://" in args.file:
            raise InvalidArgument(f"importing from a URL is not supported; download it, then: portside import FILE"
                                  f"{' ' + args.reference if args.reference else ''}")
        try:
            f = open(args.file, "rb")
        except OSError as exc:
            raise InvalidArgument(f"open {args.file}: {(exc.strerror or str(exc)).lower()}") from None
        with f:
            image_id = await docker.images.import_image(f, repo=args.reference, message=args.message,
                                                        changes=changes)
    out(image_id)
    return 0


async def cmd_image_busybox(docker: Docker, args: Any) -> int:
    """``portside image busybox``: the image id on stdout, the same steps by hand on stderr."""
    image = await docker.images.make_busybox(args.tag)
    out(image["Id"])
    sys.stderr.write(f"Made {image['RepoTags'][0]} from this host's busybox-static. By hand, the same image is:\n")
    sys.stderr.write("".join(f"  {line}\n" for line in docker.images.busybox_recipe(image["RepoTags"][0]).splitlines()))
    return 0


async def cmd_save(docker: Docker, args: Any) -> int:
    fmt = "oci" if args.format.startswith("oci") else "docker"
    if args.output:
        tmp = args.output + ".portside-tmp"
        try:
            with open(tmp, "wb") as f:
                await docker.images.export_image(args.images, f, format=fmt)
            os.replace(tmp, args.output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    sys.stdout.flush()
    await docker.images.export_image(args.images, sys.stdout.buffer, format=fmt)
    sys.stdout.buffer.flush()
    return 0


async def cmd_load(docker: Docker, args: Any) -> int:
    if args.input:
        try:
            f = open(args.input, "rb")
        except OSError as exc:
            raise InvalidArgument(f"open {args.input}: {(exc.strerror or str(exc)).lower()}") from None
        with f:
            lines = await docker.images.load(f)
    else:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        lines = await docker.images.load(sys.stdin.buffer)
    for line in lines:
        out(line)
    return 0


async def cmd_image_prune(docker: Docker, args: Any) -> int:
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if args.all else "WARNING! This will remove all dangling images.")
    if not args.force and not confirm(warning):
        return 0
    result = await docker.images.prune(all=args.all, filters=parse_filters(args.filter))
    if result["ImagesDeleted"]:
        out("Deleted Images:")
        for item in result["ImagesDeleted"]:
            for k, v in item.items():
                out(f"{k.lower()}: {v}")
        out()
    out(f"Total reclaimed space: {units.human_size(result['SpaceReclaimed'])}")
    return 0


async def cmd_inspect_image(docker: Docker, args: Any) -> int:
    return await inspect_objects(docker, args.names, args.format, "image")
