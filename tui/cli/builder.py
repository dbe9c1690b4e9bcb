"""``portside build``: docker's classic build output over the client's build stream."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import InvalidArgument

from .output import out


async def cmd_build(docker: Docker, args: Any) -> int:
    buildargs = {}
    for item in args.build_arg:
        k, eq, v = item.partition("=")
        buildargs[k] = v if eq else os.environ.get(k, "")
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    if args.path == "-":
        raise InvalidArgument("a build context on stdin (-) is not supported; pass a directory")
    if not os.path.isdir(args.path):
        raise InvalidArgument(f'unable to prepare context: path "{args.path}" not found')
    dockerfile = args.file or os.path.join(args.path, "Dockerfile")
    image_id = ""
    async for msg in docker.images.build(path=args.path, tags=args.tag, dockerfile=dockerfile, buildargs=buildargs,
                                         nocache=args.no_cache, target=args.target, labels=labels,
                                         networkmode=args.network):
        if "error" in msg:
            sys.stderr.write("ERROR: " + msg["error"].rstrip("\n") + "\n")
            return 1
        if "aux" in msg:
            image_id = msg["aux"]["ID"]
        elif "stream" in msg and not args.quiet:
            sys.stdout.write(msg["stream"])
            sys.stdout.flush()
    if args.quiet:
        out(image_id)
    return 0
