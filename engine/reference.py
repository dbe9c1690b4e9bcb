"""Image references with docker's defaults.

``busybox`` → ``docker.io/library/busybox:latest``; ``localhost:5000/app@sha256:…`` keeps its
registry and digest. Grammar and messages follow distribution/reference.
"""

from __future__ import annotations

import re

from .errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_REFERENCE = re.compile(rf"^((?:{_DOMAIN}/)?{_PATH})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}$")


class Reference:
    """A parsed, normalised image reference (immutable; a plain class: dataclasses cost CLI start-up)."""

    __slots__ = ("domain", "path", "tag", "digest")
    domain: str
    path: str
    tag: str | None
    digest: str | None

    def __init__(self, domain: str, path: str, tag: str | None = None, digest: str | None = None) -> None:
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Reference is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    @property
    def repository(self) -> str:
        """``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """``busybox`` for official images, ``user/app`` for other hub images, else the full name."""
        if self.domain == DEFAULT_DOMAIN:
            if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1:
                return self.path[len(OFFICIAL_PREFIX):]
            return self.path
        return self.repository

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def familiar(self) -> str:
        out = self.familiar_repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)


def split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    if i == -1 or (
        not any(c in name[:i] for c in ".:") and name[:i] != "localhost" and name[:i].lower() == name[:i]
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = name[:i], name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raises InvalidReference with docker's wording."""
    if not text:
        raise InvalidReference("invalid reference format")
    if _ANCHORED_ID.match(text):
        raise InvalidReference(
            f'invalid repository name ({text}), cannot specify 64-byte hexadecimal strings'
        )
    m = _REFERENCE.match(text)
    if not m:
        lowered = text.lower()
        if lowered != text and _REFERENCE.match(lowered):
            name = text.split("@")[0]
            if ":" in name.rsplit("/", 1)[-1]:
                name = name.rsplit(":", 1)[0]
            raise InvalidReference(f"invalid reference format: repository name ({name}) must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    if len(name) > 255:
        raise InvalidReference("invalid reference format: repository name must not be more than 255 characters")
    domain, path = split_domain(name)
    if path.lower() != path:
        raise InvalidReference(f"invalid reference format: repository name ({name}) must be lowercase")
    if tag is None and digest is None and default_tag:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def normalize(text: str) -> str:
    """The canonical string form of ``text`` (``docker.io/library/busybox:latest``)."""
    return str(parse(text))


def familiar(text: str) -> str:
    return parse(text, default_tag=False).familiar


def digest_warning(image: str) -> str:
    """docker's warning when a service's image could not be pinned to a registry digest."""
    return (f"image {image} could not be accessed on a registry to record\nits digest. Each node will access "
            f"{image} independently,\npossibly leading to different nodes running different\nversions of the "
            f"image.\n")


def from_registry(ref: Reference, repo_digests: list[str]) -> bool:
    """Whether an image with these ``RepoDigests`` came from (or went to) a registry under ``ref``'s
    repository: one built, imported or tagged here has none for it, and no registry to ask about it."""
    return any(str(d).split("@", 1)[0] in (ref.repository, ref.familiar_repository) for d in repo_digests)
