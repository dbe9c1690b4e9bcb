"""The ``portside`` argparse parser: docker's commands and flags, each described in docker's words.

Only the branch a command line names is built (:func:`command_words`, :class:`_Only`): building all
~80 sub-parsers costs ~20 ms.
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any, NoReturn


def _same(message: str) -> str:
    return message


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


# argparse's words in the default domain ("messages", under sys.base_prefix/share/locale while nothing
# has bound it elsewhere) come from no catalogue on most systems: then gettext's own module (~0.7 ms, its
# plural-forms regex compiled at import) is not needed at all, and argparse imports a stand-in with
# NullTranslations' two functions (see _translate_once, which sets the same ones)
_NO_GETTEXT = "gettext" not in sys.modules and "argparse" not in sys.modules and not os.path.isdir(
    os.path.join(sys.base_prefix, "share", "locale"))
if _NO_GETTEXT:
    _stand_in = type(sys)("gettext")
    _stand_in.gettext, _stand_in.ngettext = _same, _plural  # type: ignore[attr-defined]
    sys.modules["gettext"] = _stand_in
    try:
        import argparse
    finally:
        del sys.modules["gettext"]  # anything importing gettext later gets the real one
else:
    import argparse


PROG = "portside"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with docker's exit code (125) and one-line errors for bad flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument (to check the metavar); its own way of
        # sizing it imports shutil (~2 ms) for shutil.get_terminal_size, whose rule this is
        formatter: argparse.HelpFormatter = self.formatter_class(prog=self.prog, width=terminal_columns() - 2)
        return formatter

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            message = "unknown flag: " + message.split(":", 1)[1].strip().split()[0]
        elif message.startswith("argument COMMAND: invalid choice: "):  # docker's words for an unknown command
            word = message.split(": ")[2].split(chr(39))[1]
            words = " ".join(self.prog.split()[1:] + [word])
            raise UsageError(f"{PROG}: '{words}' is not a {PROG} command.")
        raise UsageError(f"{self.prog}: {message}")


def _translate_once() -> None:
    """argparse words its own messages through ``gettext.gettext``, which looks for a catalogue in the
    locale folders on every call (a dozen calls for a short command, ~3 ms). Looked up once, the
    catalogue is the same one (the default domain; nothing here changes it), so the words are too."""
    if _NO_GETTEXT:  # no locale folder: no catalogue, the null one's words
        argparse._ = _same  # type: ignore[attr-defined]
        argparse.ngettext = _plural  # type: ignore[attr-defined]
        return
    import gettext
    domain = gettext.textdomain()
    localedir = gettext.bindtextdomain(domain)
    if _no_catalogue(localedir, f"{domain}.mo"):  # the usual case: no need of gettext's locale module (~1.5 ms)
        catalogue = gettext.NullTranslations()
    else:
        catalogue = gettext.translation(domain, localedir, fallback=True)
    argparse._ = catalogue.gettext  # type: ignore[attr-defined]
    argparse.ngettext = catalogue.ngettext  # type: ignore[attr-defined]


def _no_catalogue(localedir: str | None, mofile: str) -> bool:
    """Whether no language of ``localedir`` has ``mofile``: then ``gettext.translation(…, fallback=True)``
    finds none for any language the environment names, and is the null catalogue."""
    if localedir is None:
        return False
    try:
        langs = os.listdir(localedir)
    except OSError:
        return True
    return not any(os.path.exists(os.path.join(localedir, lang, "LC_MESSAGES", mofile)) for lang in langs)


_translate_once()


def terminal_columns(fallback: int = 80) -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else stdout's terminal, else ``fallback``."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or fallback
    except (AttributeError, ValueError, OSError):
        return fallback


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


GLOBAL_VALUE_FLAGS = ("--root", "-H", "--host", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey")


def command_words(argv: list[str]) -> tuple[str | None, str | None]:
    """The first two words of a command line that are not options (``image``, ``ls`` …)."""
    words: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in GLOBAL_VALUE_FLAGS:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
            if len(words) == 2:
                break
    words += [None, None]  # type: ignore[list-item]
    return words[0], words[1]


# docker's one-line descriptions (docker CLI 28's `--help`), shared by the commands that take the flag
FORMAT_TABLE = ("Format output using a custom template: 'table', 'table TEMPLATE' (a Go template with column "
                "headers), 'json' or 'TEMPLATE' (a Go template)")
FORMAT_ONE = "Format output using a custom template: 'json' or 'TEMPLATE' (a Go template)"
FILTER = "Filter output based on conditions provided"
NOT_HERE = "not supported by Portside"


def build_parser(words: tuple[str | None, str | None] = (None, None)) -> Parser:
    """The whole parser, or (with ``words``) only the branch a command line names."""
    p = Parser(prog=PROG, description="A container engine and terminal dashboard.",
               epilog=f"Run '{PROG} COMMAND --help' for more information on a command.")
    p.add_argument("-v", "--version", action="store_true", help="Print version information and quit")
    p.add_argument("--root", help="Data root (default /var/lib/portside as root; PORTSIDE_ROOT overrides)")
    p.add_argument("-c", "--context", help="Name of the context to use to connect to the daemon (overrides "
                   "DOCKER_HOST env var and default context set with \"docker context use\")")
    p.add_argument("-H", "--host", help="Daemon socket to connect to")
    p.add_argument("--tls", action="store_true", help="Use TLS; implied by --tlsverify")
    p.add_argument("--tlscacert", help="Trust certs signed only by this CA (default \"~/.docker/ca.pem\")")
    p.add_argument("--tlscert", help="Path to TLS certificate file (default \"~/.docker/cert.pem\")")
    p.add_argument("--tlskey", help="Path to TLS key file (default \"~/.docker/key.pem\")")
    p.add_argument("--tlsverify", action="store_true", default=None, help="Use TLS and verify the remote")
    sub = _Only(p.add_subparsers(dest="cmd", parser_class=Parser, title="commands", metavar="COMMAND"), words[0])

    def add(parent: Any, name: str, func: str, help: str, aliases: list[str] | None = None, **kw: Any) -> Parser:
        sp: Parser = parent.add_parser(name, help=help, description=help, aliases=aliases or [], **kw)
        sp.set_defaults(func=func)
        return sp

    def group(parent: Any, name: str, help: str, word: str | None) -> _Only:
        sp = add(parent, name, "group", help)
        return _Only(sp.add_subparsers(dest="sub", parser_class=Parser, title="commands", metavar="COMMAND"), word)

    def fmt(sp: Parser, help: str = FORMAT_TABLE) -> None:
        sp.add_argument("--format", help=help)

    def inspect(parent: Any, func: str, what: str, metavar: str) -> Parser:
        sp = add(parent, "inspect", func, f"Display detailed information on one or more {what}")
        sp.add_argument("-f", "--format", help=FORMAT_ONE)
        sp.add_argument("names", nargs="+", metavar=metavar, help=f"The {what} to inspect")
        return sp

    def run_flags(sp: Parser, verb: str) -> None:
        if sp is _SKIPPED:  # ~100 flags for a parser the command line does not name
            return
        sp.add_argument("-d", "--detach", action="store_true",
                        help="Run container in background and print container ID")
        sp.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
        sp.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
        sp.add_argument("--rm", action="store_true",
                        help="Automatically remove the container and its associated anonymous volumes when it exits")
        sp.add_argument("--name", help="Assign a name to the container")
        sp.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
        sp.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
        sp.add_argument("-w", "--workdir", help="Working directory inside the container")
        sp.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
        sp.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
        sp.add_argument("-v", "--volume", action="append", default=[], help="Bind mount a volume")
        sp.add_argument("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
        sp.add_argument("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
        sp.add_argument("--restart", default="no", help='Restart policy to apply when a container exits (default "no")')
        sp.add_argument("-m", "--memory", help="Memory limit")
        sp.add_argument("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
        sp.add_argument("--cpus", help="Number of CPUs")
        sp.add_argument("--cpu-shares", type=int, help="CPU shares (relative weight)")
        sp.add_argument("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
        sp.add_argument("-h", "--hostname", help="Container host name")
        sp.add_argument("--init", action="store_true",
                        help="Run an init inside the container that forwards signals and reaps processes")
        sp.add_argument("--health-cmd", help="Command to run to check health")
        sp.add_argument("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
        sp.add_argument("--health-retries", help="Consecutive failures needed to report unhealthy")
        sp.add_argument("--health-start-interval", help="Time between running the check during the start "
                        "period (ms|s|m|h) (default 0s)")
        sp.add_argument("--health-start-period", help="Start period for the container to initialize before "
                        "starting health-retries countdown (ms|s|m|h) (default 0s)")
        sp.add_argument("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
        sp.add_argument("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
        sp.add_argument("--stop-signal", help="Signal to stop the container")
        sp.add_argument("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
        sp.add_argument("--network", "--net", default="default", help="Connect a container to a network")
        sp.add_argument("--network-alias", "--net-alias", action="append", default=[],
                        help="Add network-scoped alias for the container")
        sp.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
        sp.add_argument("--expose", action="append", default=[], help="Expose a port or a range of ports")
        sp.add_argument("-l", "--label", action="append", default=[], help="Set meta data on a container")
        sp.add_argument("--runtime", help="Runtime to use for this container")
        sp.add_argument("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
        sp.add_argument("--cap-add", action="append", default=[], help="Add Linux capabilities")
        sp.add_argument("--cap-drop", action="append", default=[], help="Drop Linux capabilities")
        sp.add_argument("--security-opt", action="append", default=[],
                        help="Security Options (seccomp=PROFILE|unconfined, no-new-privileges)")
        sp.add_argument("-p", "--publish", action="append", default=[],
                        help="Publish a container's port(s) to the host")
        sp.add_argument("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
        sp.add_argument("--pull", default="missing", choices=["always", "missing", "never"],
                        help=f'Pull image before {verb} ("always", "missing", "never") (default "missing")')
        sp.add_argument("--log-driver", help="Logging driver for the container (json-file)")
        sp.add_argument("--log-opt", action="append", default=[],
                        help="Log driver options: max-size=SIZE (rotate when the log reaches it; -1: never), "
                             "max-file=N (log files kept); default max-size=20m max-file=5")
        sp.add_argument("--help", action="help", help="Print usage")
        sp.add_argument("image", metavar="IMAGE", help="The image to start the container from")
        sp.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]",
                        help="The command to run and its arguments (default: the image's CMD)")

    def containers_arg(sp: Parser, what: str) -> None:
        sp.add_argument("containers", nargs="+", metavar="CONTAINER", help=f"The containers to {what}, by name or ID")

    def container_arg(sp: Parser) -> None:
        sp.add_argument("container", metavar="CONTAINER", help="The container, by name or ID")

    # containers
    csub = group(sub, "container", "Manage containers", words[1])
    for parent in (sub, csub):
        sp = add(parent, "run", "run", "Create and run a new container from an image", add_help=False)
        run_flags(sp, "running")
        sp = add(parent, "create", "create", "Create a new container", add_help=False)
        run_flags(sp, "creating")
        sp = add(parent, "start", "start", "Start one or more stopped containers")
        sp.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
        sp.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
        containers_arg(sp, "start")
        for name, help in (("stop", "Stop one or more running containers"),
                           ("restart", "Restart one or more containers")):
            sp = add(parent, name, name, help)
            sp.add_argument("-t", "--time", "--timeout", type=int, dest="time",
                            help="Seconds to wait before killing the container")
            sp.add_argument("-s", "--signal", help="Signal to send to the container")
            containers_arg(sp, name)
        sp = add(parent, "kill", "kill", "Kill one or more running containers")
        sp.add_argument("-s", "--signal", default="KILL", help='Signal to send to the container (default "KILL")')
        containers_arg(sp, "kill")
        sp = add(parent, "rm", "rm", "Remove one or more containers", aliases=["remove"] if parent is csub else [])
        sp.add_argument("-f", "--force", action="store_true",
                        help="Force the removal of a running container (uses SIGKILL)")
        sp.add_argument("-v", "--volumes", action="store_true",
                        help="Remove anonymous volumes associated with the container")
        containers_arg(sp, "remove")
        sp = add(parent, "logs", "logs", "Fetch the logs of a container")
        sp.add_argument("-f", "--follow", action="store_true", help="Follow log output")
        sp.add_argument("-n", "--tail", default="all",
                        help='Number of lines to show from the end of the logs (default "all")')
        sp.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
        sp.add_argument("--since", default="", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or '
                                                    'relative (e.g. "42m" for 42 minutes)')
        sp.add_argument("--until", default="", help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or '
                                                    'relative (e.g. "42m" for 42 minutes)')
        container_arg(sp)
        sp = add(parent, "exec", "exec", "Execute a command in a running container")
        sp.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
        sp.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
        sp.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
        sp.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
        sp.add_argument("-u", "--user", default="", help='Username or UID (format: "<name|uid>[:<group|gid>]")')
        sp.add_argument("-w", "--workdir", default="", help="Working directory inside the container")
        container_arg(sp)
        sp.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]",
                        help="The command to run and its arguments")
        sp = add(parent, "wait", "wait", "Block until one or more containers stop, then print their exit codes")
        containers_arg(sp, "wait for")
        sp = add(parent, "top", "top", "Display the running processes of a container")
        container_arg(sp)
        sp.add_argument("ps_args", nargs="*", metavar="PS_OPTIONS", help="Options for ps")
        sp = add(parent, "stats", "stats", "Display a live stream of container(s) resource usage statistics")
        sp.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
        sp.add_argument("--no-stream", action="store_true",
                        help="Disable streaming stats and only pull the first result")
        sp.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
        fmt(sp)
        sp.add_argument("containers", nargs="*", metavar="CONTAINER",
                        help="The containers to sample, by name or ID (default: the running ones)")
        sp = add(parent, "rename", "rename", "Rename a container")
        container_arg(sp)
        sp.add_argument("new_name", metavar="NEW_NAME", help="The container's new name")
        sp = add(parent, "port", "port", "List port mappings or a specific mapping for the container")
        container_arg(sp)
        sp.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]", help="Only this port of the container")
        sp = add(parent, "cp", "cp", "Copy files/folders between a container and the local filesystem",
                 epilog="Use '-' as the source to read a tar archive from stdin and extract it to a directory "
                        "destination in a container. Use '-' as the destination to stream a tar archive of a "
                        "container source to stdout.")
        sp.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
        sp.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
        sp.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress progress output during copy. Progress output is automatically suppressed "
                             "if no terminal is attached")
        sp.add_argument("src", metavar="SRC_PATH", help="CONTAINER:SRC_PATH, a local path, or - (a tar on stdin)")
        sp.add_argument("dest", metavar="DEST_PATH", help="CONTAINER:DEST_PATH, a local path, or - (a tar on stdout)")
    for parent in (sub, csub):
        sp = add(parent, "ps" if parent is sub else "ls", "ps", "List containers",
                 aliases=["list", "ps"] if parent is csub else [])
        sp.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
        sp.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
        sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
        fmt(sp)
        sp.add_argument("-n", "--last", type=int, default=-1,
                        help="Show n last created containers (includes all states) (default -1)")
        sp.add_argument("-l", "--latest", action="store_true",
                        help="Show the latest created container (includes all states)")
        sp.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
        sp.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    sp = inspect(csub, "inspect_container", "containers", "CONTAINER")
    sp.add_argument("-s", "--size", action="store_true", help="Display total file sizes")
    sp = add(csub, "prune", "container_prune", "Remove all stopped containers")
    sp.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    sp.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')

    # images
    isub = group(sub, "image", "Manage images", words[1])
    for parent in (sub, isub):
        top = parent is sub
        sp = add(parent, "images" if top else "ls", "images", "List images", aliases=[] if top else ["list"])
        sp.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
        sp.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
        fmt(sp)
        sp.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        sp.add_argument("--digests", action="store_true", help="Show digests")
        sp.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]", help="Only images of this repository")
        sp = add(parent, "rmi" if top else "rm", "rmi", "Remove one or more images", aliases=[] if top else ["remove"])
        sp.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
        sp.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
        sp.add_argument("images", nargs="+", metavar="IMAGE", help="The images to remove, by name or ID")
        sp = add(parent, "tag", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
        sp.add_argument("source", metavar="SOURCE_IMAGE[:TAG]", help="The image to tag, by name or ID")
        sp.add_argument("target", metavar="TARGET_IMAGE[:TAG]", help="The new name (tag) for it")
        sp = add(parent, "history", "history", "Show the history of an image")
        sp.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        sp.add_argument("-H", "--human", default="true",
                        help="Print sizes and dates in human readable format (default true)")
        sp.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        fmt(sp)
        sp.add_argument("image", metavar="IMAGE", help="The image, by name or ID")
        sp = add(parent, "import", "import_", "Import the contents from a tarball to create a filesystem image")
        sp.add_argument("-c", "--change", action="append", default=[],
                        help="Apply Dockerfile instruction to the created image")
        sp.add_argument("-m", "--message", default="", help="Set commit message for imported image")
        sp.add_argument("file", metavar="file|-", help="A tar of the root filesystem, or - to read it from STDIN")
        sp.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]", help="The name (and tag) to give it")
        sp = add(parent, "save", "save", "Save one or more images to a tar archive (streamed to STDOUT by default)")
        sp.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
        sp.add_argument("--format", default="docker", choices=["docker", "oci", "docker-archive", "oci-archive"],
                        help='Archive layout: "docker" (docker save, the default) or "oci" (an OCI image layout)')
        sp.add_argument("images", nargs="+", metavar="IMAGE", help="The images to save, by name or ID")
        sp = add(parent, "load", "load", "Load an image from a tar archive or STDIN")
        sp.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
        sp.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
        sp = add(parent, "build", "build", "Build an image from a Dockerfile")
        sp.add_argument("-t", "--tag", action="append", default=[],
                        help='Name and optionally a tag in the "name:tag" format')
        sp.add_argument("-f", "--file", help='Name of the Dockerfile (Default is "PATH/Dockerfile")')
        sp.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
        sp.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
        sp.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress the build output and print image ID on success")
        sp.add_argument("--target", default="", help="Set the target build stage to build.")
        sp.add_argument("--label", action="append", default=[], help="Set metadata for an image")
        sp.add_argument("--progress", default="auto",
                        help="Set type of progress output (accepted for docker's scripts; the output is always plain)")
        sp.add_argument("--pull", action="store_true",
                        help="Accepted for docker's scripts: a missing base image is pulled, a present one is used")
        sp.add_argument("--network", default="default",
                        help='Set the networking mode for the RUN instructions during build (default "default")')
        sp.add_argument("path", metavar="PATH",
                        help="The build context: the directory whose files the Dockerfile can COPY and ADD")
    inspect(isub, "inspect_image", "images", "IMAGE")
    sp = add(isub, "prune", "image_prune", "Remove unused images")
    sp.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    sp.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    sp.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "until=<timestamp>")')
    sp = add(isub, "busybox", "image_busybox",
             "Make a busybox image from this host's busybox-static, no registry needed")
    sp.add_argument("tag", nargs="?", default="busybox:latest", metavar="NAME[:TAG]",
                    help='Name and tag of the image (default "busybox:latest")')
    for parent in (sub, isub):
        sp = add(parent, "pull", "pull", "Download an image from a registry")
        sp.add_argument("-a", "--all-tags", action="store_true",
                        help=f"Download all tagged images in the repository ({NOT_HERE})")
        sp.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        sp.add_argument("--platform", help="Set platform if server is multi-platform capable")
        sp.add_argument("name", metavar="NAME[:TAG|@DIGEST]", help="The image to pull")
        sp = add(parent, "push", "push", "Upload an image to a registry")
        sp.add_argument("-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository")
        sp.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        sp.add_argument("--oci", action="store_true", help="Push an OCI manifest instead of docker's schema 2")
        sp.add_argument("name", metavar="NAME[:TAG]", help="The image to push; its name says to which registry")
    sp = add(sub, "login", "login", "Authenticate to a registry")
    sp.add_argument("-u", "--username", help="Username")
    sp.add_argument("-p", "--password", help="Password or Personal Access Token (PAT)")
    sp.add_argument("--password-stdin", action="store_true",
                    help="Take the Password or Personal Access Token (PAT) from stdin")
    sp.add_argument("server", nargs="?", metavar="SERVER", help="The registry (default Docker Hub)")
    sp = add(sub, "logout", "logout", "Log out from a registry")
    sp.add_argument("server", nargs="?", metavar="SERVER", help="The registry (default Docker Hub)")
    sp = add(sub, "search", "registry", f"Search Docker Hub for images ({NOT_HERE})")
    sp.add_argument("args", nargs=argparse.REMAINDER, metavar="TERM", help="What to search for")
    swarm_parsers(sub, add, group, fmt, words)
    nsub = group(sub, "network", "Manage networks", words[1])
    sp = add(nsub, "create", "network_create", "Create a network")
    sp.add_argument("-d", "--driver", default="bridge", help='Driver to manage the Network (default "bridge")')
    sp.add_argument("--subnet", action="append", default=[],
                    help="Subnet in CIDR format that represents a network segment")
    sp.add_argument("--gateway", action="append", default=[], help="IPv4 Gateway for the master subnet")
    sp.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    sp.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    sp.add_argument("--ipv6", action="store_true", help=f"Enable IPv6 address assignment ({NOT_HERE})")
    sp.add_argument("name", metavar="NETWORK", help="The network's name")
    sp = add(nsub, "ls", "network_ls", "List networks", aliases=["list"])
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    sp.add_argument("-f", "--filter", action="append", default=[], help='Provide filter values (e.g. "driver=bridge")')
    fmt(sp)
    sp.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    sp = add(nsub, "rm", "network_rm", "Remove one or more networks", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")
    sp.add_argument("names", nargs="+", metavar="NETWORK", help="The networks to remove, by name or ID")
    inspect(nsub, "network_inspect", "networks", "NETWORK")
    sp = add(nsub, "connect", "network_connect", "Connect a container to a network")
    sp.add_argument("--alias", action="append", default=[], help="Add network-scoped alias for the container")
    sp.add_argument("--ip", help='IPv4 address (e.g., "172.30.100.104")')
    sp.add_argument("network", metavar="NETWORK", help="The network, by name or ID")
    container_arg(sp)
    sp = add(nsub, "disconnect", "network_disconnect", "Disconnect a container from a network")
    sp.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
    sp.add_argument("network", metavar="NETWORK", help="The network, by name or ID")
    container_arg(sp)
    sp = add(nsub, "prune", "network_prune", "Remove all unused networks")
    sp.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")

    # volumes, system
    vsub = group(sub, "volume", "Manage volumes", words[1])
    sp = add(vsub, "ls", "volume_ls", "List volumes", aliases=["list"])
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    sp.add_argument("-f", "--filter", action="append", default=[], help='Provide filter values (e.g. "dangling=true")')
    fmt(sp)
    sp = add(vsub, "create", "volume_create", "Create a volume")
    sp.add_argument("name", nargs="?", metavar="VOLUME", help="The volume's name (default: a random ID)")
    sp = add(vsub, "rm", "volume_rm", "Remove one or more volumes", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    sp.add_argument("names", nargs="+", metavar="VOLUME", help="The volumes to remove")
    inspect(vsub, "volume_inspect", "volumes", "VOLUME")
    sp = add(vsub, "prune", "volume_prune", "Remove unused local volumes")
    sp.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    sp.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    sp.add_argument("--filter", action="append", default=[], help='Provide filter values (e.g. "label=<label>")')
    xsub = group(sub, "context", "Manage contexts", words[1])
    sp = add(xsub, "ls", "context_ls", "List contexts", aliases=["list"])
    fmt(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="Only show context names")
    sp = add(xsub, "inspect", "context_inspect", "Display detailed information on one or more contexts")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    sp.add_argument("names", nargs="*", metavar="CONTEXT", help="The contexts to inspect (default: the current one)")
    sp = add(xsub, "use", "context_use", "Set the current docker context")
    sp.add_argument("name", metavar="CONTEXT", help="The context to use (\"default\": the default choice)")
    sp = add(xsub, "show", "context_show", "Print the name of the current context")
    sp = add(xsub, "create", "context_create", "Create a context")
    sp.add_argument("--description", help="Description of the context")
    sp.add_argument("--docker", action="append", metavar="host=…,ca=…,cert=…,key=…,skip-tls-verify=…",
                    help="set the docker endpoint (default [])")
    sp.add_argument("--from", dest="from_", help="create context from a named context")
    sp.add_argument("name", metavar="CONTEXT", help="The new context's name")
    sp = add(xsub, "rm", "context_rm", "Remove one or more contexts", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true", help="Force the removal of a context in use")
    sp.add_argument("names", nargs="+", metavar="CONTEXT", help="The contexts to remove")
    sp = add(sub, "inspect", "inspect", "Return low-level information on Portside objects")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    sp.add_argument("--type", choices=["container", "image", "volume", "service", "task", "node"],
                    help="Only inspect objects of the given type")
    sp.add_argument("-s", "--size", action="store_true", help="Display total file sizes if the type is container")
    sp.add_argument("names", nargs="+", metavar="NAME|ID", help="The objects to inspect")
    sp = add(sub, "version", "version", "Show the Portside version information")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    ssub = group(sub, "system", "Manage Portside", words[1])
    for parent in (sub, ssub):
        sp = add(parent, "info", "info", "Display system-wide information")
        sp.add_argument("-f", "--format", help=FORMAT_ONE)
        sp = add(parent, "events", "events", "Get real time events from the server")
        sp.add_argument("--since", help="Show all events created since timestamp")
        sp.add_argument("--until", help="Stream events until this timestamp")
        sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
        sp.add_argument("--format", help=FORMAT_ONE)
    sp = add(ssub, "prune", "system_prune", "Remove unused data")
    sp.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    sp.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    sp.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    sp = add(ssub, "check", "system_check", "Check the engine's data for inconsistencies (blobs, images, tags, "
             "containers, mounts, cgroups, veths, nftables elements, addresses, temp files)")
    sp.add_argument("--repair", action="store_true", help="Repair what is inconsistent")
    sp = add(sub, "dashboard", "dashboard", "Open the dashboard")
    sp.add_argument("--read-only", action="store_true", help="Watch only: the dashboard changes nothing")
    add(sub, "tour", "tour", "A guided tour of images and containers, inside the dashboard")
    sp = add(sub, "daemon", "daemon", "Serve the Docker Engine API on a unix socket (or tcp with TLS)")
    sp.add_argument("-H", "--host", dest="listen", action="append", default=[], metavar="HOST",
                    help="Daemon socket(s) to listen on: unix://PATH, tcp://HOST:PORT (TLS only), fd:// "
                         "(default unix:///run/portside/portside.sock)")
    sp.add_argument("-p", "--pidfile", help="Path to use for the daemon PID file (default /run/portside/portside.pid)")
    sp.add_argument("--log-file", help="Write the daemon's log here (default: stderr; with -d, "
                                       "/var/log/portside/daemon.log)")
    sp.add_argument("-d", "--detach", action="store_true", help="Run in the background; return once it serves")
    sp.add_argument("--tls", action="store_true", help="Use TLS; implied by --tlsverify")
    sp.add_argument("--tlsverify", action="store_true", help="Use TLS and verify the remote")
    sp.add_argument("--tlscacert", help="Trust certs signed only by this CA (default ~/.docker/ca.pem)")
    sp.add_argument("--tlscert", help="Path to TLS certificate file (default ~/.docker/cert.pem)")
    sp.add_argument("--tlskey", help="Path to TLS key file (default ~/.docker/key.pem)")
    return p


# -- swarm mode: swarm, node, service, stack, secret, config ------------------------------------------
DETACH = "Exit immediately instead of waiting for the service to converge"
QUIET_PROGRESS = "Suppress progress output"


def _service_flags(sp: Parser, update: bool) -> None:
    """The flags ``service create`` and ``service update`` share (docker's words)."""
    a = sp.add_argument
    a("-d", "--detach", action="store_true", help=DETACH)
    a("-q", "--quiet", action="store_true", help=QUIET_PROGRESS)
    a("--limit-cpu", help="Limit CPUs")
    a("--limit-memory", help="Limit Memory")
    a("--limit-pids", type=int, help="Limit maximum number of processes (default 0 = unlimited)")
    a("--reserve-cpu", help="Reserve CPUs")
    a("--reserve-memory", help="Reserve Memory")
    a("--restart-condition", help='Restart when condition is met ("none", "on-failure", "any") (default "any")')
    a("--restart-delay", help="Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)")
    a("--restart-max-attempts", help="Maximum number of restarts before giving up")
    a("--restart-window", help="Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
    for which, verb in (("update", "updated"), ("rollback", "rolled back")):
        a(f"--{which}-parallelism", help=f"Maximum number of tasks {verb} simultaneously (0 to {which} all at once) "
          "(default 1)")
        a(f"--{which}-delay", help=f"Delay between {which}s (ns|us|ms|s|m|h) (default 0s)")
        a(f"--{which}-monitor", help=f"Duration after each task {which} to monitor for failure (ns|us|ms|s|m|h) "
          "(default 5s)")
        a(f"--{which}-failure-action", help=f"Action on {which} failure (\"pause\", \"continue\""
          + (', "rollback"' if which == "update" else "") + ') (default "pause")')
        a(f"--{which}-max-failure-ratio", type=float, help=f"Failure rate to tolerate during an {which} (default 0)")
        a(f"--{which}-order", help=f'{which.capitalize()} order ("start-first", "stop-first") (default "stop-first")')
    a("--health-cmd", help="Command to run to check health")
    a("--health-interval", help="Time between running the check (ms|s|m|h)")
    a("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h)")
    a("--health-retries", type=int, help="Consecutive failures needed to report unhealthy")
    a("--health-start-period", help="Start period for the container to initialize before counting retries towards "
      "unstable (ms|s|m|h)")
    a("--health-start-interval", help="Time between running the check during the start period (ms|s|m|h)")
    a("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    a("-w", "--workdir", help="Working directory inside the container")
    a("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    a("--hostname", help="Container hostname")
    a("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    a("--init", action="store_true", help="Use an init inside each service container to forward signals and reap "
      "processes")
    a("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    a("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    a("--stop-signal", help="Signal to stop the container")
    a("--stop-grace-period", help="Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)")
    a("--endpoint-mode", help='Endpoint mode (vip or dnsrr) (default "vip")')
    a("--with-registry-auth", action="store_true", help="Send registry authentication details to swarm agents")
    a("--no-resolve-image", action="store_true", help="Do not query the registry to resolve image digest and "
      "supported platforms")
    a("--replicas", help="Number of tasks")
    if not update:
        a("--name", help="Service name")
        a("--mode", default="replicated", help='Service mode ("replicated", "global", "replicated-job", '
          '"global-job") (default "replicated")')
        a("--max-concurrent", help="Number of job tasks to run concurrently (default equal to --replicas)")
        a("-e", "--env", action="append", default=[], help="Set environment variables")
        a("--env-file", action="append", default=[], help="Read in a file of environment variables")
        a("-l", "--label", action="append", default=[], help="Service labels")
        a("--container-label", action="append", default=[], help="Container labels")
        a("--constraint", action="append", default=[], help="Placement constraints")
        a("--network", action="append", default=[], help="Network attachments")
        a("--mount", action="append", default=[], help="Attach a filesystem mount to the service")
        a("-p", "--publish", action="append", default=[], help="Publish a port as a node port")
        a("--secret", action="append", default=[], help="Specify secrets to expose to the service")
        a("--config", action="append", default=[], help="Specify configurations to expose to the service")
        a("image", metavar="IMAGE", help="The image the service's tasks run")
        a("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]", help="The command and its arguments")
        return
    a("--image", help="Service image tag")
    a("--args", help="Service command args")
    a("--force", action="store_true", help="Force update even if no changes require it")
    a("--rollback", action="store_true", help="Rollback to previous specification")
    for flag, what in (("env", "an environment variable"), ("label", "a service label"),
                       ("container-label", "a container label"), ("constraint", "a placement constraint"),
                       ("mount", "a mount on a service"), ("network", "a network"), ("publish", "a published port"),
                       ("secret", "a secret on a service"), ("config", "a config file on a service")):
        a(f"--{flag}-add", action="append", default=[], help=f"Add or update {what}")
        a(f"--{flag}-rm", action="append", default=[], help=f"Remove {what}")
    a("service", metavar="SERVICE", help="The service, by name or ID")


def _tasks_flags(sp: Parser) -> None:
    sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
    sp.add_argument("--format", help="Pretty-print tasks using a Go template")
    sp.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names")
    sp.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display task IDs")


def swarm_parsers(sub: Any, add: Any, group: Any, fmt: Any, words: tuple[str | None, str | None]) -> None:
    wsub = group(sub, "swarm", "Manage Swarm", words[1])
    sp = add(wsub, "init", "swarm_init", "Initialize a swarm")
    sp.add_argument("--advertise-addr", help='Advertised address (format: "<ip|interface>[:port]")')
    sp.add_argument("--listen-addr", default="0.0.0.0:2377",
                    help='Listen address (format: "<ip|interface>[:port]") (default 0.0.0.0:2377)')
    sp.add_argument("--autolock", action="store_true",
                    help="Enable manager autolocking (requiring an unlock key to start a stopped manager)")
    sp.add_argument("--force-new-cluster", action="store_true", help="Force create a new cluster from current state")
    sp.add_argument("--task-history-limit", type=int, help="Task history retention limit (default 5)")
    sp = add(wsub, "join", "swarm_join", "Join a swarm as a node and/or manager")
    sp.add_argument("--token", help="Token for entry into the swarm")
    sp.add_argument("--advertise-addr", help='Advertised address (format: "<ip|interface>[:port]")')
    sp.add_argument("--listen-addr", default="0.0.0.0:2377", help="Listen address (default 0.0.0.0:2377)")
    sp.add_argument("remote", metavar="HOST:PORT", help="A manager of the swarm to join")
    sp = add(wsub, "leave", "swarm_leave", "Leave the swarm")
    sp.add_argument("-f", "--force", action="store_true", help="Force this node to leave the swarm, ignoring warnings")
    sp = add(wsub, "inspect", "swarm_inspect", "Display detailed information on the swarm")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    sp = add(wsub, "join-token", "swarm_join_token", "Manage join tokens")
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    sp.add_argument("--rotate", action="store_true", help="Rotate join token")
    sp.add_argument("role", metavar="(worker|manager)", help="The role the token admits")
    sp = add(wsub, "unlock-key", "swarm_unlock_key", "Manage the unlock key")
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    sp.add_argument("--rotate", action="store_true", help="Rotate unlock key")
    add(wsub, "unlock", "swarm_unlock", "Unlock swarm")
    sp = add(wsub, "update", "swarm_update", "Update the swarm")
    sp.add_argument("--autolock", choices=["true", "false"], help="Change manager autolocking setting (true|false)")
    sp.add_argument("--task-history-limit", type=int, help="Task history retention limit (default 5)")

    nsub = group(sub, "node", "Manage Swarm nodes", words[1])
    sp = add(nsub, "ls", "node_ls", "List nodes in the swarm", aliases=["list"])
    sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
    fmt(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    sp = add(nsub, "inspect", "node_inspect", "Display detailed information on one or more nodes")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    sp.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
    sp.add_argument("names", nargs="+", metavar="self|NODE", help="The nodes to inspect")
    sp = add(nsub, "ps", "node_ps", "List tasks running on one or more nodes, defaults to current node")
    _tasks_flags(sp)
    sp.add_argument("nodes", nargs="*", metavar="NODE", help="The nodes (default: self)")
    sp = add(nsub, "update", "node_update", "Update a node")
    sp.add_argument("--availability", choices=["active", "pause", "drain"], help="Availability of the node")
    sp.add_argument("--role", choices=["worker", "manager"], help="Role of the node")
    sp.add_argument("--label-add", action="append", default=[], help="Add or update a node label (key=value)")
    sp.add_argument("--label-rm", action="append", default=[], help="Remove a node label if exists")
    sp.add_argument("node", metavar="NODE", help="The node")
    sp = add(nsub, "rm", "node_rm", "Remove one or more nodes from the swarm", aliases=["remove"])
    sp.add_argument("-f", "--force", action="store_true", help="Force remove a node from the swarm")
    sp.add_argument("names", nargs="+", metavar="NODE", help="The nodes to remove")

    ssub = group(sub, "service", "Manage Swarm services", words[1])
    sp = add(ssub, "create", "service_create", "Create a new service")
    _service_flags(sp, update=False)
    sp = add(ssub, "update", "service_update", "Update a service")
    _service_flags(sp, update=True)
    sp = add(ssub, "ls", "service_ls", "List services", aliases=["list"])
    sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
    fmt(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    sp = add(ssub, "ps", "service_ps", "List the tasks of one or more services")
    _tasks_flags(sp)
    sp.add_argument("services", nargs="+", metavar="SERVICE", help="The services, by name or ID")
    sp = add(ssub, "inspect", "service_inspect", "Display detailed information on one or more services")
    sp.add_argument("-f", "--format", help=FORMAT_ONE)
    sp.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
    sp.add_argument("names", nargs="+", metavar="SERVICE", help="The services to inspect")
    sp = add(ssub, "logs", "service_logs", "Fetch the logs of a service or task")
    sp.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    sp.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    sp.add_argument("--no-resolve", action="store_true", help="Do not map IDs to Names in output")
    sp.add_argument("--no-task-ids", action="store_true", help="Do not include task IDs in output")
    sp.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    sp.add_argument("--raw", action="store_true", help="Do not neatly format logs")
    sp.add_argument("--since", default="", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or '
                                                'relative (e.g. "42m" for 42 minutes)')
    sp.add_argument("-n", "--tail", default="all", help='Number of lines to show from the end of the logs '
                                                        '(default "all")')
    sp.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    sp.add_argument("service", metavar="SERVICE|TASK", help="The service or task")
    sp = add(ssub, "scale", "service_scale", "Scale one or multiple replicated services")
    sp.add_argument("-d", "--detach", action="store_true", help=DETACH)
    sp.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS", help="The services and their replicas")
    sp = add(ssub, "rollback", "service_rollback", "Revert changes to a service's configuration")
    sp.add_argument("-d", "--detach", action="store_true", help=DETACH)
    sp.add_argument("-q", "--quiet", action="store_true", help=QUIET_PROGRESS)
    sp.add_argument("service", metavar="SERVICE", help="The service, by name or ID")
    sp = add(ssub, "rm", "service_rm", "Remove one or more services", aliases=["remove"])
    sp.add_argument("names", nargs="+", metavar="SERVICE", help="The services to remove")

    ksub = group(sub, "stack", "Manage Swarm stacks", words[1])
    sp = add(ksub, "deploy", "stack_deploy", "Deploy a new stack or update an existing stack", aliases=["up"])
    sp.add_argument("-c", "--compose-file", action="append", default=[],
                    help='Path to a Compose file, or "-" to read from stdin')
    sp.add_argument("-d", "--detach", action="store_true",
                    help="Exit immediately instead of waiting for the stack services to converge")
    sp.add_argument("--prune", action="store_true", help="Prune services that are no longer referenced")
    sp.add_argument("-q", "--quiet", action="store_true", help=QUIET_PROGRESS)
    sp.add_argument("--resolve-image", default="always", choices=["always", "changed", "never"],
                    help='Query the registry to resolve image digest and supported platforms ("always", '
                         '"changed", "never") (default "always")')
    sp.add_argument("--with-registry-auth", action="store_true",
                    help="Send registry authentication details to Swarm agents")
    sp.add_argument("stack", metavar="STACK", help="The stack's name")
    sp = add(ksub, "ls", "stack_ls", "List stacks", aliases=["list"])
    fmt(sp)
    sp = add(ksub, "ps", "stack_ps", "List the tasks in the stack")
    _tasks_flags(sp)
    sp.add_argument("stack", metavar="STACK", help="The stack")
    sp = add(ksub, "services", "stack_services", "List the services in the stack")
    sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
    fmt(sp)
    sp.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    sp.add_argument("stack", metavar="STACK", help="The stack")
    sp = add(ksub, "rm", "stack_rm", "Remove one or more stacks", aliases=["remove", "down"])
    sp.add_argument("-d", "--detach", action="store_true", help="Do not wait for stack removal")
    sp.add_argument("stacks", nargs="+", metavar="STACK", help="The stacks to remove")

    for kind, what in (("secret", "secrets"), ("config", "configs")):
        osub = group(sub, kind, f"Manage Swarm {what}", words[1])
        sp = add(osub, "create", f"{kind}_create", f"Create a {kind} from a file or STDIN as content")
        sp.add_argument("-l", "--label", action="append", default=[], help=f"{kind.capitalize()} labels")
        sp.add_argument("name", metavar=kind.upper(), help=f"The {kind}'s name")
        sp.add_argument("file", metavar="file|-", help="The content, or - to read it from STDIN")
        sp = add(osub, "ls", f"{kind}_ls", f"List {what}", aliases=["list"])
        sp.add_argument("-f", "--filter", action="append", default=[], help=FILTER)
        fmt(sp)
        sp.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
        sp = add(osub, "inspect", f"{kind}_inspect", f"Display detailed information on one or more {what}")
        sp.add_argument("-f", "--format", help=FORMAT_ONE)
        sp.add_argument("--pretty", action="store_true", help="Print the information in a human friendly format")
        sp.add_argument("names", nargs="+", metavar=kind.upper(), help=f"The {what} to inspect")
        sp = add(osub, "rm", f"{kind}_rm", f"Remove one or more {what}", aliases=["remove"])
        sp.add_argument("names", nargs="+", metavar=kind.upper(), help=f"The {what} to remove")
