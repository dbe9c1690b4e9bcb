"""Registries: ``portside pull``, ``push``, ``login``, ``logout`` (and ``search``, which says it is not here)."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, ImageNotFound, InvalidArgument

from .output import out


async def pull_image(docker: Docker, name: str, stream: Any, *, platform: str | None = None,
                     quiet: bool = False) -> str:
    """Pull with docker's progress on ``stream``; returns the full reference pulled."""
    from engine.client import parse_reference

    from .progress import ProgressPrinter
    ref = parse_reference(name, default_tag=False)
    if not ref.tag and not ref.digest:
        if not quiet:
            stream.write("Using default tag: latest\n")
        ref = parse_reference(name)
    printer = ProgressPrinter(stream, quiet=quiet)
    async for msg in docker.images.pull(str(ref), platform=platform, stream=True):
        printer(msg)
    return str(ref)


async def cmd_pull(docker: Docker, args: Any) -> int:
    if args.all_tags:
        raise InvalidArgument("pull --all-tags is not supported; pull the tags one by one")
    full = await pull_image(docker, args.name, sys.stdout, platform=args.platform, quiet=args.quiet)
    out(full)
    return 0


async def cmd_push(docker: Docker, args: Any) -> int:
    from engine.client import parse_reference

    from .progress import ProgressPrinter
    ref = parse_reference(args.name, default_tag=False)
    if ref.digest:
        raise InvalidArgument("cannot push a digest reference")
    names = [str(ref)]
    if args.all_tags:
        if ref.tag:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        names = sorted(t for img in await docker.images.list(all=True) for t in img["RepoTags"]
                       if parse_reference(t).repository == ref.repository)
        if not names:
            raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar}")
    elif not ref.tag:
        out("Using default tag: latest")
        names = [str(parse_reference(args.name))]
    printer = ProgressPrinter(sys.stdout, quiet=args.quiet)
    for name in names:
        async for msg in docker.images.push(name, stream=True, oci=args.oci):
            printer(msg)
    if args.quiet:
        for name in names:
            out(parse_reference(name).familiar)
    return 0


async def cmd_login(docker: Docker, args: Any) -> int:
    username = args.username or ""
    password = args.password or ""
    if args.password and args.password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username or not password:
        if not sys.stdin.isatty():
            raise InvalidArgument("Error: Cannot perform an interactive login from a non TTY device")
        if not username:
            sys.stdout.write("Username: ")
            sys.stdout.flush()
            username = sys.stdin.readline().strip()
        if not password:
            import getpass
            password = getpass.getpass("Password: ")
    result = await docker.auth.login(username, password, server=args.server)
    if result.get("Warning"):
        sys.stderr.write(result["Warning"] + "\n")
    out(result["Status"])
    return 0


async def cmd_logout(docker: Docker, args: Any) -> int:
    out((await docker.auth.logout(args.server))["Status"])
    return 0


async def cmd_registry(docker: Docker, args: Any) -> int:
    raise EngineError("Portside does not search registries; pull, push and login work with any registry")
