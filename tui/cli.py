"""``portside``: docker's command line over the Portside client.

No arguments opens the dashboard. Everything else follows docker's commands, flags, output columns
and exit codes (125 for an engine error; 126/127 when the container's command cannot run / is not
found; 1 for a failed management command). The CLI talks to the engine only through
:mod:`engine.client`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

# asyncio and the engine load only when a command needs them: `portside --version` stays instant.

PROG = "portside"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with docker's exit code (125) and one-line errors for bad flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            message = "unknown flag: " + message.split(":", 1)[1].strip().split()[0]
        elif message.startswith("argument cmd: invalid choice: "):  # docker's words for an unknown command
            raise UsageError(f"{PROG}: '{message.split(': ')[2].split(chr(39))[1]}' is not a {PROG} command.")
        raise UsageError(f"{self.prog}: {message}")


def fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(message.rstrip() + "\n")
    raise SystemExit(code)


# -- the parser ---------------------------------------------------------------------------------------
class _Skipped:
    """Stands in for the parser of a command the command line does not name (and all below it).

    Building every one of the ~80 real sub-parsers costs ~20 ms, a quarter of `portside ps`.
    """

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


_SKIPPED = _Skipped()


class _Only:
    """A sub-parsers action that builds only the parser named ``word`` (every one when ``word`` is None)."""

    def __init__(self, action: Any, word: str | None) -> None:
        self.action = action
        self.word = word

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.word is None or self.word == name or self.word in kwargs.get("aliases", ()):
            return self.action.add_parser(name, **kwargs)
        return _SKIPPED


def command_words(argv: list[str]) -> tuple[str | None, str | None]:
    """The first two words of a command line that are not options (``image``, ``ls`` …)."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--root":
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
            if len(words) == 2:
                break
    words += [None, None]  # type: ignore[list-item]
    return words[0], words[1]


def build_parser(words: tuple[str | None, str | None] = (None, None)) -> Parser:
    """The whole parser, or (with ``words``) only the branch a command line names."""
    p = Parser(prog=PROG, description="A container engine and terminal dashboard.")
    p.add_argument("-v", "--version", action="store_true", help="Print version information and quit")
    p.add_argument("--root", help="Data root (default /var/lib/portside as root; PORTSIDE_ROOT overrides)")
    sub = _Only(p.add_subparsers(dest="cmd", parser_class=Parser), words[0])

    def add(parent: Any, name: str, func: str, help: str = "", aliases: list[str] | None = None) -> Parser:
        sp = parent.add_parser(name, help=help, aliases=aliases or [])
        sp.set_defaults(func=func)
        return sp

    def run_flags(sp: Parser) -> None:
        sp.add_argument("-d", "--detach", action="store_true")
        sp.add_argument("-i", "--interactive", action="store_true")
        sp.add_argument("-t", "--tty", action="store_true")
        sp.add_argument("--rm", action="store_true")
        sp.add_argument("--name")
        sp.add_argument("-e", "--env", action="append", default=[])
        sp.add_argument("--env-file", action="append", default=[])
        sp.add_argument("-w", "--workdir")
        sp.add_argument("-u", "--user")
        sp.add_argument("--entrypoint")
        sp.add_argument("-v", "--volume", action="append", default=[])
        sp.add_argument("--restart", default="no")
        sp.add_argument("-m", "--memory")
        sp.add_argument("--memory-swap")
        sp.add_argument("--cpus")
        sp.add_argument("--cpu-shares", type=int)
        sp.add_argument("--pids-limit", type=int)
        sp.add_argument("-h", "--hostname")
        sp.add_argument("--init", action="store_true")
        sp.add_argument("--stop-signal")
        sp.add_argument("--stop-timeout", type=int)
        sp.add_argument("--network", "--net", default="default")
        sp.add_argument("--network-alias", "--net-alias", action="append", default=[])
        sp.add_argument("--ip")
        sp.add_argument("--expose", action="append", default=[])
        sp.add_argument("-l", "--label", action="append", default=[])
        sp.add_argument("--runtime")
        sp.add_argument("--read-only", action="store_true")
        sp.add_argument("--cap-add", action="append", default=[])
        sp.add_argument("--cap-drop", action="append", default=[])
        sp.add_argument("-p", "--publish", action="append", default=[])
        sp.add_argument("-P", "--publish-all", action="store_true")
        sp.add_argument("--pull", default="missing", choices=["always", "missing", "never"])
        sp.add_argument("--log-driver", help="Logging driver for the container (json-file)")
        sp.add_argument("--log-opt", action="append", default=[],
                        help="Log driver options: max-size=SIZE (rotate when the log reaches it; -1: never), "
                             "max-file=N (log files kept); default max-size=20m max-file=5")
        sp.add_argument("--help", action="help")
        sp.add_argument("image")
        sp.add_argument("command", nargs=argparse.REMAINDER)

    # containers
    container = add(sub, "container", "group", "Manage containers")
    csub = _Only(container.add_subparsers(dest="sub", parser_class=Parser), words[1])
    for parent, prefix in ((sub, ""), (csub, "container ")):
        del prefix
        sp = parent.add_parser("run", help="Create and run a new container from an image", add_help=False)
        sp.set_defaults(func="run")
        run_flags(sp)
        sp = parent.add_parser("create", help="Create a new container", add_help=False)
        sp.set_defaults(func="create")
        run_flags(sp)
        sp = add(parent, "start", "start", "Start one or more stopped containers")
        sp.add_argument("-a", "--attach", action="store_true")
        sp.add_argument("-i", "--interactive", action="store_true")
        sp.add_argument("containers", nargs="+")
        for name in ("stop", "restart"):
            sp = add(parent, name, name)
            sp.add_argument("-t", "--time", "--timeout", type=int, dest="time")
            sp.add_argument("-s", "--signal")
            sp.add_argument("containers", nargs="+")
        sp = add(parent, "kill", "kill")
        sp.add_argument("-s", "--signal", default="KILL")
        sp.add_argument("containers", nargs="+")
        sp = add(parent, "rm", "rm", aliases=["remove"] if parent is csub else [])
        sp.add_argument("-f", "--force", action="store_true")
        sp.add_argument("-v", "--volumes", action="store_true")
        sp.add_argument("containers", nargs="+")
        sp = add(parent, "logs", "logs")
        sp.add_argument("-f", "--follow", action="store_true")
        sp.add_argument("-n", "--tail", default="all")
        sp.add_argument("-t", "--timestamps", action="store_true")
        sp.add_argument("--since", default="")
        sp.add_argument("--until", default="")
        sp.add_argument("container")
        sp = add(parent, "exec", "exec")
        sp.add_argument("-i", "--interactive", action="store_true")
        sp.add_argument("-t", "--tty", action="store_true")
        sp.add_argument("-d", "--detach", action="store_true")
        sp.add_argument("-e", "--env", action="append", default=[])
        sp.add_argument("-u", "--user", default="")
        sp.add_argument("-w", "--workdir", default="")
        sp.add_argument("container")
        sp.add_argument("command", nargs=argparse.REMAINDER)
        sp = add(parent, "wait", "wait")
        sp.add_argument("containers", nargs="+")
        sp = add(parent, "top", "top")
        sp.add_argument("container")
        sp.add_argument("ps_args", nargs="*")
        sp = add(parent, "stats", "stats")
        sp.add_argument("-a", "--all", action="store_true")
        sp.add_argument("--no-stream", action="store_true")
        sp.add_argument("--no-trunc", action="store_true")
        sp.add_argument("--format")
        sp.add_argument("containers", nargs="*")
        sp = add(parent, "rename", "rename")
        sp.add_argument("container")
        sp.add_argument("new_name")
        sp = add(parent, "port", "port")
        sp.add_argument("container")
        sp.add_argument("private", nargs="?")
    for parent in (sub, csub):
        sp = add(parent, "ps" if parent is sub else "ls", "ps", aliases=["list", "ps"] if parent is csub else [])
        sp.add_argument("-a", "--all", action="store_true")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("-f", "--filter", action="append", default=[])
        sp.add_argument("--format")
        sp.add_argument("-n", "--last", type=int, default=-1)
        sp.add_argument("-l", "--latest", action="store_true")
        sp.add_argument("-s", "--size", action="store_true")
        sp.add_argument("--no-trunc", action="store_true")
    sp = add(csub, "inspect", "inspect_container")
    sp.add_argument("-f", "--format")
    sp.add_argument("-s", "--size", action="store_true")
    sp.add_argument("names", nargs="+")
    sp = add(csub, "prune", "container_prune")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--filter", action="append", default=[])

    # images
    image = add(sub, "image", "group", "Manage images")
    isub = _Only(image.add_subparsers(dest="sub", parser_class=Parser), words[1])
    for parent in (sub, isub):
        top = parent is sub
        sp = add(parent, "images" if top else "ls", "images", aliases=[] if top else ["list"])
        sp.add_argument("-a", "--all", action="store_true")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("-f", "--filter", action="append", default=[])
        sp.add_argument("--format")
        sp.add_argument("--no-trunc", action="store_true")
        sp.add_argument("--digests", action="store_true")
        sp.add_argument("repository", nargs="?")
        sp = add(parent, "rmi" if top else "rm", "rmi", aliases=[] if top else ["remove"])
        sp.add_argument("-f", "--force", action="store_true")
        sp.add_argument("--no-prune", action="store_true")
        sp.add_argument("images", nargs="+")
        sp = add(parent, "tag", "tag")
        sp.add_argument("source")
        sp.add_argument("target")
        sp = add(parent, "history", "history")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("-H", "--human", default="true")
        sp.add_argument("--no-trunc", action="store_true")
        sp.add_argument("--format")
        sp.add_argument("image")
        sp = add(parent, "import", "import_")
        sp.add_argument("-c", "--change", action="append", default=[])
        sp.add_argument("-m", "--message", default="")
        sp.add_argument("file")
        sp.add_argument("reference", nargs="?")
        sp = add(parent, "save", "save")
        sp.add_argument("-o", "--output")
        sp.add_argument("--format", default="docker", choices=["docker", "oci", "docker-archive", "oci-archive"])
        sp.add_argument("images", nargs="+")
        sp = add(parent, "load", "load")
        sp.add_argument("-i", "--input")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp = add(parent, "build", "build")
        sp.add_argument("-t", "--tag", action="append", default=[])
        sp.add_argument("-f", "--file")
        sp.add_argument("--build-arg", action="append", default=[])
        sp.add_argument("--no-cache", action="store_true")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("--target", default="")
        sp.add_argument("--label", action="append", default=[])
        sp.add_argument("--progress", default="auto")
        sp.add_argument("--pull", action="store_true")
        sp.add_argument("path")
    sp = add(isub, "inspect", "inspect_image")
    sp.add_argument("-f", "--format")
    sp.add_argument("names", nargs="+")
    sp = add(isub, "prune", "image_prune")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--filter", action="append", default=[])
    for parent in (sub, isub):
        sp = add(parent, "pull", "pull", "Download an image from a registry")
        sp.add_argument("-a", "--all-tags", action="store_true")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("--platform")
        sp.add_argument("name")
        sp = add(parent, "push", "push", "Upload an image to a registry")
        sp.add_argument("-a", "--all-tags", action="store_true")
        sp.add_argument("-q", "--quiet", action="store_true")
        sp.add_argument("--oci", action="store_true", help="push an OCI manifest instead of docker's schema 2")
        sp.add_argument("name")
    sp = add(sub, "login", "login", "Log in to a registry")
    sp.add_argument("-u", "--username")
    sp.add_argument("-p", "--password")
    sp.add_argument("--password-stdin", action="store_true")
    sp.add_argument("server", nargs="?")
    sp = add(sub, "logout", "logout", "Log out from a registry")
    sp.add_argument("server", nargs="?")
    sp = add(sub, "search", "registry")
    sp.add_argument("args", nargs=argparse.REMAINDER)
    for name in ("swarm", "stack", "service", "node"):
        sp = add(sub, name, "not_built")
        sp.add_argument("args", nargs=argparse.REMAINDER)
    network = add(sub, "network", "group", "Manage networks")
    nsub = _Only(network.add_subparsers(dest="sub", parser_class=Parser), words[1])
    sp = add(nsub, "create", "network_create")
    sp.add_argument("-d", "--driver", default="bridge")
    sp.add_argument("--subnet", action="append", default=[])
    sp.add_argument("--gateway", action="append", default=[])
    sp.add_argument("--internal", action="store_true")
    sp.add_argument("--label", action="append", default=[])
    sp.add_argument("--ipv6", action="store_true")
    sp.add_argument("name")
    sp = add(nsub, "ls", "network_ls", aliases=["list"])
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format")
    sp.add_argument("--no-trunc", action="store_true")
    sp = add(nsub, "rm", "network_rm", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("names", nargs="+")
    sp = add(nsub, "inspect", "network_inspect")
    sp.add_argument("-f", "--format")
    sp.add_argument("names", nargs="+")
    sp = add(nsub, "connect", "network_connect")
    sp.add_argument("--alias", action="append", default=[])
    sp.add_argument("--ip")
    sp.add_argument("network")
    sp.add_argument("container")
    sp = add(nsub, "disconnect", "network_disconnect")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("network")
    sp.add_argument("container")
    sp = add(nsub, "prune", "network_prune")
    sp.add_argument("-f", "--force", action="store_true")

    # volumes, system
    volume = add(sub, "volume", "group", "Manage volumes")
    vsub = _Only(volume.add_subparsers(dest="sub", parser_class=Parser), words[1])
    sp = add(vsub, "ls", "volume_ls", aliases=["list"])
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--format")
    sp = add(vsub, "create", "volume_create")
    sp.add_argument("name", nargs="?")
    sp = add(vsub, "rm", "volume_rm", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("names", nargs="+")
    sp = add(vsub, "inspect", "volume_inspect")
    sp.add_argument("-f", "--format")
    sp.add_argument("names", nargs="+")
    sp = add(vsub, "prune", "volume_prune")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--filter", action="append", default=[])
    sp = add(sub, "inspect", "inspect")
    sp.add_argument("-f", "--format")
    sp.add_argument("--type", choices=["container", "image", "volume"])
    sp.add_argument("-s", "--size", action="store_true")
    sp.add_argument("names", nargs="+")
    sp = add(sub, "version", "version")
    sp.add_argument("-f", "--format")
    sp = add(sub, "info", "info")
    sp.add_argument("-f", "--format")
    sp = add(sub, "events", "events")
    sp.add_argument("--since")
    sp.add_argument("--until")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format")
    system = add(sub, "system", "group", "Manage Portside")
    ssub = _Only(system.add_subparsers(dest="sub", parser_class=Parser), words[1])
    sp = add(ssub, "info", "info")
    sp.add_argument("-f", "--format")
    sp = add(ssub, "prune", "system_prune")
    sp.add_argument("-a", "--all", action="store_true")
    sp.add_argument("-f", "--force", action="store_true")
    sp.add_argument("--volumes", action="store_true")
    sp = add(ssub, "check", "system_check", "Check the engine's data for inconsistencies")
    sp.add_argument("--repair", action="store_true")
    sp = add(ssub, "events", "events")
    sp.add_argument("--since")
    sp.add_argument("--until")
    sp.add_argument("-f", "--filter", action="append", default=[])
    sp.add_argument("--format")
    sp = add(sub, "dashboard", "dashboard", "Open the dashboard")
    sp.add_argument("--read-only", action="store_true")
    add(sub, "tour", "tour", "A guided tour of images and containers, inside the dashboard")
    return p


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
    if args.func in ("dashboard", "tour"):
        return open_dashboard(read_only=getattr(args, "read_only", False), root=args.root, tour=args.func == "tour")
    from . import commands
    from engine.errors import EngineError
    try:
        return commands.run(args)
    except EngineError as exc:
        code = exc.exit_code if args.func in ("run", "create", "start") else 1
        if args.func == "exec" and exc.exit_code in (126, 127):
            code = exc.exit_code  # docker exec: 1 for daemon errors (no such / not running), 126/127 for the command
        prefix = f"{PROG}: " if args.func in ("run", "create") else ""
        fail(f"{prefix}Error response from daemon: {exc}" if exc.status != 400 or args.func not in ("build",)
             else f"ERROR: {exc}", code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def open_dashboard(read_only: bool = False, root: str | None = None, tour: bool = False) -> int:
    from .app import PortsideApp
    PortsideApp(root=root, read_only=read_only, tour=tour).run()
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


if __name__ == "__main__":
    entry()
