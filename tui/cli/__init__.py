"""``portside``: docker's command line over the Portside client.

No arguments opens the dashboard. Everything else follows docker's commands, flags, output columns
and exit codes (125 for an engine error; 126/127 when the container's command cannot run / is not
found; 1 for a failed management command). The CLI talks to the engine only through
:mod:`engine.client`.

The package: :mod:`.parser` (argparse, docker's help texts), :mod:`.dispatch` (runs the command it
names), one module per docker noun (:mod:`.container`, :mod:`.image`, :mod:`.network`, :mod:`.volume`,
:mod:`.system`, :mod:`.registry`, :mod:`.builder`, and the swarm's :mod:`.swarm`, :mod:`.node`,
:mod:`.service`, :mod:`.stack`, :mod:`.secret`, :mod:`.config`), shared output (:mod:`.output`, :mod:`.progress`,
:mod:`.filters`) and the Go templates of ``--format`` (:mod:`.template`).
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any, NoReturn

from .parser import PROG, UsageError, build_parser, command_words

# asyncio and the engine load only when a command needs them: `portside --version` stays instant.

__all__ = ["PROG", "build_parser", "entry", "main"]


def fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(message.rstrip() + "\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-v"]):
        from engine import __version__
        print(f"Portside version {__version__}")
        return 0
    if not argv or argv[0] in ("--read-only",) and len(argv) == 1:
        return open_dashboard(read_only=bool(argv))
    try:
        try:
            args = build_parser(command_words(argv)).parse_args(argv)
        except UsageError:
            args = build_parser().parse_args(argv)  # the whole parser: docker's message, or a parse after all
    except UsageError as exc:
        fail(f"{exc}\nSee '{PROG} --help'.", 125)
    if args.version:
        from engine import __version__
        print(f"Portside version {__version__}")
        return 0
    if getattr(args, "func", None) in (None, "group"):
        build_parser().parse_args(argv + ["--help"])
        return 0
    if args.func == "daemon":
        from .system import daemon
        return daemon(args)
    if args.func.startswith("context_"):
        from .context import run as run_context
        return run_context(args)
    from engine.errors import ConnectionLost, EngineError

    from .dispatch import ContextError, connect
    try:
        transport = connect(args)
    except ContextError as exc:
        fail(str(exc), 1)
    if args.func in ("dashboard", "tour"):
        return open_dashboard(read_only=getattr(args, "read_only", False), root=args.root, tour=args.func == "tour",
                              transport=transport)
    from .dispatch import run
    try:
        return run(args, transport)
    except ConnectionLost as exc:
        fail(str(exc), 1)  # docker's "Cannot connect to the Docker daemon …": its own line, exit 1
    except EngineError as exc:
        code = exc.exit_code if args.func in ("run", "create", "start") else 1
        if args.func == "exec" and exc.exit_code in (126, 127):
            code = exc.exit_code  # docker exec: 1 for daemon errors (no such / not running), 126/127 for the command
        from .output import daemon_error
        prefix = f"{PROG}: " if args.func in ("run", "create") else ""
        fail(f"{prefix}{daemon_error(exc)}" if exc.status != 400 or args.func not in ("build",)
             else f"ERROR: {exc}", code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def open_dashboard(read_only: bool = False, root: str | None = None, tour: bool = False,
                   transport: Any = None) -> int:
    """The dashboard, over ``transport`` (the endpoint -H/--context/DOCKER_HOST… chose) or the default one."""
    from engine.client import Docker

    from ..app import PortsideApp
    docker = Docker(root=root, transport=transport) if transport is not None else None
    PortsideApp(root=root, read_only=read_only, tour=tour, docker=docker).run()
    return 0


def entry() -> None:
    """The console script: run, flush, and leave without the interpreter's slow teardown."""
    try:
        code = main()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    import os
    os._exit(code)

