"""Dockerfile parser with Docker's (moby/buildkit frontend) semantics.

``parse`` turns Dockerfile text into :class:`Instruction` records; ``expand`` and ``expand_words``
implement buildkit's ``shell.Lex`` variable substitution; ``parse_kv`` and ``parse_arg`` split the
arguments of ENV/LABEL and ARG. Everything here is pure: no file system, no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import InvalidArgument

__all__ = [
    "DEFAULT_SHELL",
    "MAX_DOCKERFILE",
    "EXPANDS",
    "KNOWN_INSTRUCTIONS",
    "Dockerfile",
    "Instruction",
    "expand",
    "expand_words",
    "healthcheck_test",
    "parse",
    "parse_arg",
    "parse_duration",
    "parse_instruction",
    "parse_kv",
    "shell_form_to_argv",
    "to_argv",
]

KNOWN_INSTRUCTIONS: frozenset[str] = frozenset({
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
})

#: Instructions whose arguments the builder expands with ARG/ENV values (Docker docs,
#: "Environment replacement"). RUN/CMD/ENTRYPOINT/HEALTHCHECK/SHELL are left to the shell;
#: ONBUILD is expanded only when its trigger runs in the child build. FROM sees only the
#: global (pre-FROM) ARGs.
EXPANDS: frozenset[str] = frozenset({
    "ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR", "ARG",
})

DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")
MAX_DOCKERFILE = 16 << 20  # characters; parsing is linear, this bounds what a build will read

# Flags each instruction accepts: name -> kind ("str", "bool" or "list" = repeatable).
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": "str"},
    "RUN": {"mount": "list", "network": "str", "security": "str"},
    "COPY": {"from": "str", "chown": "str", "chmod": "str", "link": "bool", "parents": "bool",
             "exclude": "list"},
    "ADD": {"chown": "str", "chmod": "str", "link": "bool", "keep-git-dir": "bool", "checksum": "str",
            "exclude": "list", "unpack": "bool"},
    "HEALTHCHECK": {"interval": "str", "timeout": "str", "start-period": "str", "start-interval": "str",
                    "retries": "str"},
}

_WS = re.compile(r"[\t\v\f\r ]+")
_SPACE_RUN = re.compile(r"\s+")  # what str.isspace() calls blank, as a run
_SPECIALS: dict[str, re.Pattern[str]] = {}
_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


@dataclass
class Instruction:
    """One Dockerfile instruction.

    ``args`` is the JSON list for exec form, ``[rest_of_line]`` for shell form, or a word list for
    FROM/EXPOSE/VOLUME/ADD/COPY/ARG (see module docs). ``flags`` holds ``--name=value`` options
    (repeatable ones such as ``--mount`` keep their last value there; ``flag_list`` keeps all).
    """

    cmd: str
    args: list[str]
    json_form: bool = False
    flags: dict[str, str] = field(default_factory=dict)
    original: str = ""
    lineno: int = 0
    end_lineno: int = 0
    flag_list: list[tuple[str, str]] = field(default_factory=list)
    escape: str = "\\"


@dataclass
class Dockerfile:
    """A parsed Dockerfile: all instructions in order, the escape token, and the global ARGs."""

    instructions: list[Instruction]
    escape: str = "\\"
    meta_args: list[Instruction] = field(default_factory=list)

    def stages(self) -> list[list[Instruction]]:
        """Instructions grouped per build stage, each list starting with its FROM."""
        out: list[list[Instruction]] = []
        for inst in self.instructions:
            if inst.cmd == "FROM":
                out.append([inst])
            elif out:
                out[-1].append(inst)
        return out


# --------------------------------------------------------------------------- errors


def _err(lineno: int, msg: str) -> InvalidArgument:
    return InvalidArgument(f"dockerfile parse error on line {lineno}: {msg}", lineno=lineno)


class _ParseError(Exception):
    """Internal: an instruction-level error, located by the caller."""


# --------------------------------------------------------------------------- line handling


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Strip a trailing escape token (plus blanks); return (line, is_end_of_line)."""
    m = re.search(re.escape(escape) + r"[ \t]*\Z", line)
    if m:
        return line[: m.start()], False
    return line, True


def parse(text: str) -> Dockerfile:
    """Parse Dockerfile text. Raises InvalidArgument with Docker's messages.

    Bytes that are not UTF-8 come in as surrogate escapes and go on to the image as they were; a NUL
    byte (which no command or environment can hold) and a text over ``MAX_DOCKERFILE`` are refused.
    """
    if len(text) > MAX_DOCKERFILE:
        raise InvalidArgument(f"the Dockerfile is too large (more than {MAX_DOCKERFILE >> 20} MiB)")
    if "\0" in text:
        raise _err(text.count("\n", 0, text.index("\0")) + 1, "the line holds a NUL byte")
    lines = text.split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    escape = "\\"
    directives_done = False
    seen: set[str] = set()
    instructions: list[Instruction] = []
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i].rstrip("\r")
        i += 1
        start = i
        token = raw.lstrip()
        if not directives_done:
            m = _DIRECTIVE.match(token)
            key = m.group(1).lower() if m else ""
            if m is None or key not in _VALID_DIRECTIVES:
                directives_done = True
            else:
                if key in seen:
                    raise _err(start, f"only one {key} parser directive can be used")
                seen.add(key)
                if key == "escape":
                    value = m.group(2)
                    if value not in ("`", "\\"):
                        raise _err(start, f"invalid escape token '{value}' does not match ` or \\")
                    escape = value
        if _is_comment(token):
            token = ""
        line, end = _trim_continuation(token, escape)
        if end and line == "":
            continue
        display = [line.strip()]
        while not end and i < n:
            raw = lines[i].rstrip("\r")
            i += 1
            if _is_comment(raw) or raw.strip() == "":
                continue
            cont, end = _trim_continuation(raw, escape)
            line += cont
            display.append(cont.strip())
        original = " ".join(p for p in display if p)
        inst = _parse_line(line, start, i, escape, original)
        if inst is None:
            continue
        instructions.append(inst)

    if not instructions:
        raise InvalidArgument("the Dockerfile cannot be empty")
    meta: list[Instruction] = []
    seen_from = False
    for inst in instructions:
        if inst.cmd == "FROM":
            seen_from = True
        elif not seen_from:
            if inst.cmd != "ARG":
                raise InvalidArgument("no build stage in current context", lineno=inst.lineno)
            meta.append(inst)
    return Dockerfile(instructions=instructions, escape=escape, meta_args=meta)


def parse_instruction(line: str, lineno: int = 1, escape: str = "\\") -> Instruction:
    """Parse a single logical line (no continuations), e.g. an ONBUILD trigger."""
    inst = _parse_line(line, lineno, lineno, escape, line.strip())
    if inst is None:
        raise _err(lineno, "empty instruction")
    return inst


def _parse_line(line: str, start: int, end: int, escape: str, original: str) -> Instruction | None:
    parts = _WS.split(line.strip(), maxsplit=1)
    if not parts or parts[0] == "":
        return None
    word = parts[0]
    rest = ""
    flag_words: list[str] = []
    if len(parts) == 2:
        rest, flag_words = _extract_flags(parts[1])
        rest = rest.strip()
    cmd = word.upper()
    if cmd not in KNOWN_INSTRUCTIONS:
        raise _err(start, f"unknown instruction: {word}")
    inst = Instruction(cmd=cmd, args=[], original=original, lineno=start, end_lineno=end, escape=escape)
    try:
        inst.flag_list = _parse_flags(cmd, flag_words)
        inst.flags = dict(inst.flag_list)
        _DISPATCH[cmd](inst, rest, line)
    except _ParseError as exc:
        raise _err(start, str(exc)) from None
    return inst


# --------------------------------------------------------------------------- flags


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """buildkit's extractBuilderFlags: leading ``--x`` words, then the rest of the line."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    word = ""
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == in_word:
            if ch.isspace():
                phase = in_spaces
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word += ch
        pos += 1
    return "", words


def _parse_flags(cmd: str, words: list[str]) -> list[tuple[str, str]]:
    allowed = _FLAGS.get(cmd, {})
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for w in words:
        if not w.startswith("--"):
            raise _ParseError(f"Arg should start with -- : {w}")
        body = w[2:]
        name, eq, value = body.partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise _ParseError(f"Unknown flag: {name}")
        if name in seen and kind != "list":
            raise _ParseError(f"Duplicate flag specified: {name}")
        seen.add(name)
        if kind == "bool":
            low = value.lower()
            if not eq or low in ("", "true"):
                value = "true"
            elif low == "false":
                value = "false"
            else:
                raise _ParseError(f"expecting boolean value for flag {name}, not: {value}")
        elif not eq:
            raise _ParseError(f"Missing a value on flag: {name}")
        out.append((name, value))
    return out


# --------------------------------------------------------------------------- argument forms


def _parse_json(rest: str) -> list[str] | None:
    """Exec form: a JSON array of strings (trailing text ignored, like Go's json.Decoder)."""
    s = rest.lstrip()
    if not s.startswith("["):
        return None

    def _no_const(name: str) -> object:
        raise ValueError(name)

    try:
        value, _ = json.JSONDecoder(parse_constant=_no_const).raw_decode(s)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if any(not isinstance(x, str) for x in value):
        raise _ParseError(_NOT_STRINGS)
    return value


def _maybe_json(inst: Instruction, rest: str) -> None:
    if rest == "":
        inst.args = []
        return
    parsed = _parse_json(rest)
    if parsed is not None:
        inst.args, inst.json_form = parsed, True
    else:
        inst.args, inst.json_form = [rest], False


def _maybe_json_to_list(inst: Instruction, rest: str) -> None:
    parsed = _parse_json(rest)
    if parsed is not None:
        inst.args, inst.json_form = parsed, True
    else:
        inst.args = _split_ws(rest)


def _split_ws(rest: str) -> list[str]:
    return [w for w in _WS.split(rest) if w] if rest else []


def _word_re(escape: str, dangling: bool) -> re.Pattern[str]:
    """One word of buildkit's parseWords as a pattern: plain runs, escape pairs, quoted strings.

    ``dangling``: the text ends with the escape character, which is dropped when it escapes nothing
    (groups ``d1``/``d2`` say so); without it the pattern has no groups, for ``findall``.
    """
    key = f"words{escape}{dangling}"
    pattern = _SPECIALS.get(key)
    if pattern is None:
        e = re.escape(escape)
        d1, d2 = (f"(?P<d1>{e})", f"(?P<d2>{e})") if dangling else (e, e)
        pattern = _SPECIALS[key] = re.compile(
            rf"""(?:[^\s'"{e}]+|{e}(?s:.)|"(?:[^"{e}]+|{e}(?s:.))*(?:"|{d2}?\Z)|'[^']*(?:'|\Z)|{d1}\Z)+""")
    return pattern


def _parse_words(rest: str, escape: str) -> list[str]:
    """buildkit's parseWords: split on blanks outside quotes, keeping quotes and escapes."""
    if not rest.endswith(escape):
        return _word_re(escape, False).findall(rest)
    matches = list(_word_re(escape, True).finditer(rest))
    words = [m.group() for m in matches]
    if matches and (matches[-1].group("d1") or matches[-1].group("d2")):
        words[-1] = words[-1][:-1]
        if not words[-1]:
            words.pop()
    return words


def _kv_raw(rest: str, key: str, escape: str) -> list[tuple[str, str]]:
    """parseNameVal + parseKvps: raw (unexpanded) key/value pairs of ENV or LABEL."""
    words = _parse_words(rest, escape)
    if not words:
        raise _ParseError(f"{key} requires at least one argument")
    if "=" not in words[0]:
        parts = _WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _ParseError(f"{key} must have two arguments")
        return [(parts[0], parts[1])]
    out: list[tuple[str, str]] = []
    for w in words:
        if "=" not in w:
            raise _ParseError(f"Syntax error - can't find = in {_goq(w)}. Must be of the form: name=value")
        k, _, v = w.partition("=")
        if not k:
            raise _ParseError(f"{key} names can not be blank")
        out.append((k, v))
    return out


def _goq(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# --------------------------------------------------------------------------- dispatch


def _d_from(inst: Instruction, rest: str, line: str) -> None:
    args = _split_ws(rest)
    inst.args = args
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _ParseError(
                f"invalid name for build stage: {_goq(args[2])}, name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise _ParseError("FROM requires either one or three arguments")


def _d_exec(inst: Instruction, rest: str, line: str) -> None:
    _maybe_json(inst, rest)
    if not inst.args and not (inst.json_form and inst.cmd != "RUN"):
        raise _ParseError(f"{inst.cmd} requires at least one argument")


def _d_shell(inst: Instruction, rest: str, line: str) -> None:
    _maybe_json(inst, rest)
    if not inst.args:
        raise _ParseError("SHELL requires at least one argument")
    if not inst.json_form:
        raise _ParseError("SHELL requires the arguments to be in JSON form")


def _d_kv(inst: Instruction, rest: str, line: str) -> None:
    _kv_raw(rest, inst.cmd, inst.escape)
    inst.args = [rest]


def _d_single(inst: Instruction, rest: str, line: str) -> None:
    inst.args = [rest] if rest else []
    if not inst.args:
        raise _ParseError(f"{inst.cmd} requires exactly one argument")


def _d_expose(inst: Instruction, rest: str, line: str) -> None:
    inst.args = _split_ws(rest)
    if not inst.args:
        raise _ParseError("EXPOSE requires at least one argument")


def _d_volume(inst: Instruction, rest: str, line: str) -> None:
    _maybe_json_to_list(inst, rest)
    if not inst.args:
        raise _ParseError("VOLUME requires at least one argument")
    if any(not a.strip() for a in inst.args):
        raise _ParseError("VOLUME specified can not be an empty string")


def _d_copy(inst: Instruction, rest: str, line: str) -> None:
    _maybe_json_to_list(inst, rest)
    if not inst.args:
        raise _ParseError(f"{inst.cmd} requires at least two arguments")
    if len(inst.args) < 2:
        raise _ParseError(f"{inst.cmd} requires at least two arguments, but only one was provided. "
                          "Destination could not be determined")


def _d_arg(inst: Instruction, rest: str, line: str) -> None:
    inst.args = _parse_words(rest, inst.escape)
    if not inst.args:
        raise _ParseError("ARG requires at least one argument")
    for a in inst.args:
        if a.startswith("="):
            raise _ParseError("ARG names can not be blank")


def _d_onbuild(inst: Instruction, rest: str, line: str) -> None:
    if not rest:
        raise _ParseError("ONBUILD requires at least one argument")
    trigger = _WS.split(rest, maxsplit=1)[0].upper()
    if trigger == "ONBUILD":
        raise _ParseError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _ParseError(f"{trigger} isn't allowed as an ONBUILD trigger")
    inst.args = [re.sub(r"(?i)^\s*ONBUILD\s*", "", line).strip()]


def _d_healthcheck(inst: Instruction, rest: str, line: str) -> None:
    if not rest:
        raise _ParseError("HEALTHCHECK requires at least one argument")
    parts = re.split(r"\s+", rest, maxsplit=1)
    typ = parts[0].upper()
    remainder = parts[1] if len(parts) > 1 else ""
    if typ == "NONE":
        if remainder.strip():
            raise _ParseError("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    if typ != "CMD":
        raise _ParseError(f"Unknown type {_goq(typ)} in HEALTHCHECK (try CMD)")
    sub = Instruction(cmd="CMD", args=[])
    _maybe_json(sub, remainder)
    if not sub.args:
        raise _ParseError("missing command after HEALTHCHECK CMD")
    inst.args = ["CMD", *sub.args]
    inst.json_form = sub.json_form
    for name in ("interval", "timeout", "start-period", "start-interval"):
        value = inst.flags.get(name, "")
        if value:
            try:
                d = parse_duration(value)
            except ValueError as exc:
                raise _ParseError(str(exc)) from None
            if d != 0 and d < 0.001:
                raise _ParseError(f"Interval {_goq(name)} cannot be less than 1ms")
    retries = inst.flags.get("retries", "")
    if retries:
        try:
            count = int(retries, 10)
        except ValueError:
            raise _ParseError(f'strconv.ParseInt: parsing {_goq(retries)}: invalid syntax') from None
        if count < 0:
            raise _ParseError(f"--retries cannot be negative ({count})")


_DISPATCH = {
    "FROM": _d_from,
    "RUN": _d_exec,
    "CMD": _d_exec,
    "ENTRYPOINT": _d_exec,
    "SHELL": _d_shell,
    "ENV": _d_kv,
    "LABEL": _d_kv,
    "MAINTAINER": _d_single,
    "USER": _d_single,
    "WORKDIR": _d_single,
    "STOPSIGNAL": _d_single,
    "EXPOSE": _d_expose,
    "VOLUME": _d_volume,
    "ADD": _d_copy,
    "COPY": _d_copy,
    "ARG": _d_arg,
    "ONBUILD": _d_onbuild,
    "HEALTHCHECK": _d_healthcheck,
}


# --------------------------------------------------------------------------- helpers for the builder


def parse_kv(inst: Instruction, env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """ENV/LABEL key/value pairs, quotes and escapes processed.

    With ``env`` the keys and values are expanded against it (all pairs see the same ``env``, as in
    Docker: ``ENV a=1 b=$a`` gives ``b`` the *previous* ``a``); without it references are kept
    verbatim.
    """
    if inst.cmd not in ("ENV", "LABEL"):
        raise InvalidArgument(f"parse_kv: {inst.cmd} is not ENV or LABEL")
    try:
        raw = _kv_raw(inst.args[0] if inst.args else "", inst.cmd, inst.escape)
    except _ParseError as exc:
        raise _err(inst.lineno, str(exc)) from None
    return [(_process(k, env, inst.escape), _process(v, env, inst.escape)) for k, v in raw]


def parse_arg(inst: Instruction, env: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """ARG declarations as (name, default-or-None), processed like ``parse_kv``."""
    if inst.cmd != "ARG":
        raise InvalidArgument(f"parse_arg: {inst.cmd} is not ARG")
    out: list[tuple[str, str | None]] = []
    for word in inst.args:
        if "=" in word:
            k, _, v = word.partition("=")
            out.append((_process(k, env, inst.escape), _process(v, env, inst.escape)))
        else:
            out.append((_process(word, env, inst.escape), None))
    return out


_QUOTED_ONLY = re.compile(r"""(?:'[^']*'|"[^"]*"|[^'"]+)*""")
_QUOTED_PIECE = re.compile(r"""'([^']*)'|"([^"]*)"|([^'"]+)""")


def _process(word: str, env: Mapping[str, str] | None, escape: str) -> str:
    if _special_re("'\"$" + escape).search(word) is None:
        return word  # nothing to expand or unquote
    if _special_re("$" + escape).search(word) is None:  # quotes only: when all are closed, drop them
        for quote, other in (('"', "'"), ("'", '"')):
            if other not in word and word.count(quote) % 2 == 0:
                return word.replace(quote, "")
        if _QUOTED_ONLY.fullmatch(word):
            return "".join(a + b + c for a, b, c in _QUOTED_PIECE.findall(word))
    lex = _Lexer(word, env if env is not None else {}, escape, skip_unset=env is None)
    return lex.run()[0]


def shell_form_to_argv(cmd: str, shell: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Shell form command to argv: ``shell + [cmd]`` (default ``/bin/sh -c``)."""
    return [*(shell if shell else DEFAULT_SHELL), cmd]


def to_argv(inst: Instruction, shell: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """argv of a RUN/CMD/ENTRYPOINT: the JSON list as is, or the shell form wrapped in ``shell``."""
    if inst.json_form:
        return list(inst.args)
    return shell_form_to_argv(inst.args[0], shell) if inst.args else []


def healthcheck_test(inst: Instruction) -> list[str]:
    """Docker's HealthConfig.Test: ``["NONE"]``, ``["CMD", ...]`` or ``["CMD-SHELL", cmd]``."""
    if inst.args == ["NONE"]:
        return ["NONE"]
    if inst.json_form:
        return ["CMD", *inst.args[1:]]
    return ["CMD-SHELL", *inst.args[1:]]


_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DUR_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds (``"1m30s"`` -> 90.0). Raises ValueError."""
    s = text
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"time: invalid duration {_goq(text)}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR_PART.match(s, pos)
        if not m:
            if re.match(r"(\d+\.?\d*|\.\d+)", s[pos:]):
                rest = re.sub(r"^(\d+\.?\d*|\.\d+)", "", s[pos:])
                if not rest:
                    raise ValueError(f"time: missing unit in duration {_goq(text)}")
                raise ValueError(f"time: unknown unit {_goq(rest)} in duration {_goq(text)}")
            raise ValueError(f"time: invalid duration {_goq(text)}")
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


# --------------------------------------------------------------------------- shell lexer


class _ShellError(Exception):
    pass


def _special_re(chars: str) -> re.Pattern[str]:
    """A pattern finding the next of ``chars`` (cached: the scanners skip ordinary runs with it)."""
    pattern = _SPECIALS.get(chars)
    if pattern is None:
        pattern = _SPECIALS[chars] = re.compile("[" + re.escape(chars) + "]")
    return pattern


class _Words:
    """buildkit's wordsStruct: collects words while processing (the current word kept as parts)."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.parts: list[str] = []  # the current word's non-empty pieces
        self.in_word = False

    def _flush(self) -> None:
        if self.in_word and self.parts:
            self.words.append("".join(self.parts))
            self.parts = []
            self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            self._flush()
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.parts.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        """``add_char`` for each character of ``s``, a run at a time."""
        pieces = _SPACE_RUN.split(s)
        for i, piece in enumerate(pieces):
            if i:
                self._flush()
            if piece:
                self.parts.append(piece)
                self.in_word = True

    def add_raw_string(self, s: str) -> None:
        if s:
            self.parts.append(s)
        self.in_word = True

    def get(self) -> list[str]:
        if self.parts:
            self.words.append("".join(self.parts))
            self.parts = []
            self.in_word = False
        return self.words


class _Lexer:
    """Port of buildkit's shell.Lex (ProcessWord / ProcessWords)."""

    def __init__(self, text: str, env: Mapping[str, str], escape: str, skip_unset: bool = False) -> None:
        self.s = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.skip_unset = skip_unset

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def next(self) -> str:
        if self.pos >= len(self.s):
            return ""
        ch = self.s[self.pos]
        self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.process_stop_on("", raw_escapes=False)
        except _ShellError as exc:
            raise InvalidArgument(f"failed to process {_goq(self.s)}: {exc}") from None

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        special = _special_re("'\"$" + self.escape + stop)
        while self.peek() != "":
            m = special.search(self.s, self.pos)  # a run of ordinary characters at once
            end = m.start() if m else len(self.s)
            if end > self.pos:
                run = self.s[self.pos:end]
                self.pos = end
                result.append(run)
                words.add_string(run)
                continue
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.get()
            if ch in ("'", '"', "$"):
                if ch == "'":
                    tmp = self.single_quote()
                elif ch == '"':
                    tmp = self.double_quote()
                else:
                    tmp = self.dollar()
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw_string(tmp)
                continue
            ch = self.next()
            if ch == self.escape:
                if raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                ch = self.next()
                if ch == "":
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise _ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        self.next()
        end = self.s.find("'", self.pos)
        if end < 0:
            self.pos = len(self.s)
            raise _ShellError("unexpected end of statement while looking for matching single-quote")
        text = self.s[self.pos:end]
        self.pos = end + 1
        return text

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        special = _special_re('"$' + self.escape)
        while True:
            m = special.search(self.s, self.pos)
            end = m.start() if m else len(self.s)
            if end > self.pos:
                out.append(self.s[self.pos:end])
                self.pos = end
            ch = self.peek()
            if ch == "":
                raise _ShellError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                nxt = self.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != "":
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek() != "" and self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!0":
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if name == "":
                return "$"
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        ch = self.peek()
        if ch == "":
            raise _ShellError("syntax error: missing '}'")
        if ch in "{}:":
            raise _ShellError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        chs = ch
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        if ch in ("+", "-", "?", "#", "%"):
            raw = ch in ("#", "%")
            if null_is_unset and raw:
                raise _ShellError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except _ShellError:
                if self.peek() == "":
                    raise _ShellError("syntax error: missing '}'") from None
                raise
            value, found = self.lookup(name)
            if self.skip_unset and not found:
                return "${" + name + chs + word + "}"
            unset = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if unset else value
            if ch == "+":
                return "" if unset else word
            if ch == "?":
                if not found:
                    raise _ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise _ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            greedy = False
            if word.startswith(ch):
                greedy = True
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/" and not null_is_unset:
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            pattern, _ = self.process_stop_on("/", True)
            replacement, _ = self.process_stop_on("}", True)
            value, found = self.lookup(name)
            if self.skip_unset and not found:
                return "${" + name + "/" + ("/" if replace_all else "") + pattern + "/" + replacement + "}"
            return _replace(value, pattern, _unescape(replacement, self.escape), replace_all)
        if ch == "":
            raise _ShellError("syntax error: missing '}'")
        raise _ShellError(f"unsupported modifier ({chs}) in substitution")


def _unescape(s: str, escape: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] == escape and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Shell pattern (``*``, ``?``, ``[...]``, ``\\x``) to an anchored regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("(?s:" + "".join(out) + r")\Z")


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    rx = _glob_regex(pattern)
    rng = range(len(value), -1, -1) if greedy else range(0, len(value) + 1)
    for i in rng:
        if rx.match(value[:i]):
            return value[i:]
    return value


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    rx = _glob_regex(pattern)
    rng = range(0, len(value) + 1) if greedy else range(len(value), -1, -1)
    for i in rng:
        if rx.match(value[i:]):
            return value[:i]
    return value


def _replace(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    if pattern == "":
        return value
    rx = _glob_regex(pattern)
    out: list[str] = []
    i = 0
    done = False
    while i <= len(value):
        match_end = -1
        if not done:
            for j in range(len(value), i, -1):
                if rx.match(value[i:j]):
                    match_end = j
                    break
        if match_end != -1:
            out.append(replacement)
            i = match_end
            if not replace_all:
                done = True
            continue
        if i < len(value):
            out.append(value[i])
        i += 1
    return "".join(out)


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Docker's ProcessWord: substitute variables and remove quotes; one string out."""
    return _Lexer(word, env, escape).run()[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Docker's ProcessWords: like ``expand`` but split into words on unquoted blanks."""
    return _Lexer(text, env, escape).run()[1]
