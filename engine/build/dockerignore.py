""".dockerignore handling with moby/patternmatcher semantics.

``parse_dockerignore`` reads the file, :class:`PatternMatcher` decides whether a context-relative
path is excluded (last matching pattern wins, ``!`` re-includes, a pattern also covers everything
below a matched directory) and ``walk_context`` lists what is sent to the builder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from engine.errors import InvalidArgument

__all__ = ["Pattern", "PatternMatcher", "clean_path", "parse_dockerignore", "walk_context"]


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` for ``/``-separated paths (``""`` -> ``"."``)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(comp)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def parse_dockerignore(text: str) -> list[str]:
    """Patterns of a .dockerignore file (moby's ignorefile.ReadAll).

    Lines starting with ``#`` are comments, blank lines are skipped, each pattern is trimmed and
    cleaned, a leading ``/`` is dropped and a leading ``!`` kept.
    """
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        if n == 0 and line.startswith("\ufeff"):
            line = line[1:]
        line = line.rstrip("\r")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    """Translate a patternmatcher glob into an anchored regex."""
    out: list[str] = ["^"]
    i = 0
    n = len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        i += 1
        if in_class:
            if ch == "]":
                in_class = False
                out.append("]")
            elif ch == "\\" and i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            elif ch in "[&~|":
                out.append("\\" + ch)
            else:
                out.append(ch)
            continue
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        elif ch == "[":
            in_class = True
            out.append("[")
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                raise InvalidArgument("syntax error in pattern")
        elif ch == "]":
            raise InvalidArgument("syntax error in pattern")
        else:
            out.append(re.escape(ch))
    if in_class:
        raise InvalidArgument("syntax error in pattern")
    out.append("$")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        raise InvalidArgument("syntax error in pattern") from None


class Pattern:
    """One cleaned pattern; ``exclusion`` is True for ``!`` patterns."""

    def __init__(self, text: str) -> None:
        raw = text.strip()
        self.exclusion = raw.startswith("!")
        if self.exclusion:
            raw = raw[1:]
            if not raw:
                raise InvalidArgument('illegal exclusion pattern: "!"')
        self.cleaned = clean_path(raw)
        self.dirs = self.cleaned.split("/")
        self._regex = _compile(self.cleaned)
        self._dir_regexes: list[re.Pattern[str] | None] = [
            None if "**" in d else _compile(d) for d in self.dirs
        ]

    def match(self, path: str) -> bool:
        """Whether ``path`` itself matches (no parent-directory rule)."""
        return self._regex.match(path) is not None

    def could_match_under(self, dirpath: str) -> bool:
        """Conservatively: could this pattern match ``dirpath`` or something beneath it."""
        parts = dirpath.split("/")
        for i, comp in enumerate(parts):
            if i >= len(self.dirs):
                return True  # the pattern names an ancestor; keep looking
            rx = self._dir_regexes[i]
            if rx is None:
                return True
            if rx.match(comp) is None:
                return False
        return True

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.cleaned

    def __repr__(self) -> str:
        return f"Pattern({str(self)!r})"


class PatternMatcher:
    """moby's PatternMatcher: ``matches`` is MatchesOrParentMatches."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[Pattern] = []
        for p in patterns:
            if not p.strip():
                continue
            self.patterns.append(Pattern(p))
        self.exclusions = any(p.exclusion for p in self.patterns)

    def matches(self, relpath: str) -> bool:
        """True when ``relpath`` (or one of its parent dirs) is matched and not re-included."""
        path = clean_path(relpath.replace(os.sep, "/")).lstrip("/")
        if path in ("", "."):
            return False
        parent = path.rsplit("/", 1)[0] if "/" in path else "."
        parents = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != ".":
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def excluded(self, relpath: str) -> bool:
        """Alias of :meth:`matches`: the path is left out of the build context."""
        return self.matches(relpath)

    def may_include_under(self, dirpath: str) -> bool:
        """Whether some ``!`` pattern could re-include something below excluded ``dirpath``."""
        return any(p.exclusion and p.could_match_under(dirpath) for p in self.patterns)


def walk_context(root: str, matcher: PatternMatcher | Iterable[str] | None = None) -> Iterator[str]:
    """Yield context-relative posix paths (files, dirs, symlinks) that are not excluded.

    Pre-order, names sorted within each directory, parents before children. Excluded directories
    are still descended into when an exception pattern could re-include something below them;
    such a directory is then yielded (just before its first included descendant) so the result is
    always a consistent tree. Symlinks are never followed.
    """
    pm: PatternMatcher | None
    if matcher is None or isinstance(matcher, PatternMatcher):
        pm = matcher
    else:
        pm = PatternMatcher(matcher)
    pending: list[str] = []

    def walk(abs_dir: str, rel_dir: str) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if pm is None or not pm.matches(rel):
                yield from pending
                pending.clear()
                yield rel
                if is_dir:
                    yield from walk(entry.path, rel)
            elif is_dir and pm.exclusions and pm.may_include_under(rel):
                pending.append(rel)
                yield from walk(entry.path, rel)
                if pending and pending[-1] == rel:
                    pending.pop()

    yield from walk(root, "")
