"""Portside's one error tree.

Every failure the engine reports is an :class:`EngineError`. Each class knows the HTTP status the
Docker Engine API would answer with and the exit code the CLI uses (docker's: 125 for an engine
error, 126 when the container's command cannot be invoked, 127 when it is not found)::

    EngineError (500, exit 125)
    ├── InvalidArgument (400)        bad flag, malformed reference, bad Dockerfile
    │   └── InvalidReference (400)
    ├── NotFound (404)               no such image / container / volume
    │   ├── ImageNotFound
    │   └── ContainerNotFound
    ├── Conflict (409)               name in use, image in use, container running
    ├── NotModified (304)            already started / already stopped
    ├── BuildError (500)             a step failed; carries the step and its log
    ├── ContainerCannotRun (exit 126)   the command exists but cannot be executed
    ├── CommandNotFound (exit 127)      the command does not exist in the image
    ├── KernelFeatureMissing (500)   namespaces, overlayfs, cgroups … not available
    └── RegistryError (500)           a registry failed us or said no (engine/registry/)
        ├── RegistryUnavailable       down, unreachable, garbage answers (retried)
        ├── RegistryUnauthorized (401)   wrong password, token refused, access denied
        ├── RegistryNotFound (404)    unknown repository, tag or blob; no manifest for this platform
        └── DigestMismatch            bytes that do not match their digest (nothing is stored)

Context (a container id, a build step) rides on the error as attributes, never only in the text.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any


class EngineError(Exception):
    """Base of every engine error.

    Attributes:
        status: the HTTP status the Docker Engine API would use.
        exit_code: the CLI's exit code for this error.
    """

    status: int = 500
    exit_code: int = 125

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        for key, value in context.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class InvalidArgument(EngineError):
    status = 400


class InvalidReference(InvalidArgument):
    pass


class NotFound(EngineError):
    status = 404


class ImageNotFound(NotFound):
    pass


class ContainerNotFound(NotFound):
    pass


class Conflict(EngineError):
    status = 409


class NotModified(EngineError):
    status = 304


def shorten(text: str, limit: int = 100) -> str:
    """``text`` cut to ``limit`` characters plus "…": a command or step shown inside a one-line error."""
    return text if len(text) <= limit else text[:limit] + "…"


class BuildError(EngineError):
    """A build step failed. ``step`` names it (shortened), ``log`` holds the step's output."""

    def __init__(self, message: str, *, step: str = "", log: str = "", code: int = 1, **context: Any) -> None:
        super().__init__(message, step=shorten(step), log=log, code=code, **context)


class ContainerCannotRun(EngineError):
    exit_code = 126


class CommandNotFound(EngineError):
    exit_code = 127


class KernelFeatureMissing(EngineError):
    pass


class RegistryError(EngineError):
    pass


class RegistryUnavailable(RegistryError):
    # context, when given: whether a retry may help, and the sentence for a registry that never answered
    retryable: bool
    unreachable: str


class RegistryUnauthorized(RegistryError):
    status = 401


class RegistryNotFound(RegistryError):
    status = 404


class DigestMismatch(RegistryError):
    pass


class NotImplementedByEngine(EngineError):
    """A documented feature this engine does not provide yet; said loudly, never faked."""

    status = 501


class ConnectionLost(EngineError):
    """The engine behind a socket or a network address stopped answering (or never answered)."""

    status = 503


class Unavailable(EngineError):
    """The engine answered that it cannot do this now (503: e.g. not a swarm manager)."""

    status = 503


_BY_STATUS: dict[int, type[EngineError]] = {400: InvalidArgument, 401: RegistryUnauthorized, 404: NotFound,
                                            409: Conflict, 304: NotModified, 501: NotImplementedByEngine,
                                            503: Unavailable}


def from_status(status: int, message: str) -> EngineError:
    """The engine error for an API answer with this status and docker's ``{"message": …}`` text: the one
    place a transport turns an HTTP failure back into the error the engine raised."""
    kind = _BY_STATUS.get(status, EngineError)
    if status == 404:  # docker's words say which object is missing (a create pulls on "No such image")
        words = message.lower()
        kind = ImageNotFound if "no such image" in words else \
            ContainerNotFound if "no such container" in words else NotFound
    return kind(message, status_code=status)
