"""Go ``text/template`` as docker's ``--format`` flag uses it, plus docker's table output.

The public surface:

* :func:`render` — parse (cached) and execute a template against Python data.
* :func:`compile_template` — the cached parse step; returns a :class:`Template`.
* :func:`format_table` — docker's formatter: ``table`` prefix, header line, tabwriter.
* :func:`tabwrite` — Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`` alone.
* :func:`prepare_format` / :func:`is_table_format` — docker's pre-processing of ``--format``.

Data model. Templates run against plain Python values standing in for Go values: ``dict`` is a
map (``.Field`` looks the key up exactly; a missing key yields Go's invalid value, printed
``<no value>``), objects expose attributes (a callable attribute is a method and is called),
``list``/``tuple`` are slices, ``None`` is nil (printed ``<nil>``; a field of nil is
``<no value>``), ``bool``/``int``/``float``/``str`` are the basic kinds.

Differences from Go kept on purpose (our data is untyped): ``eq``/``lt``… compare ints with
floats instead of failing; ``index`` on a map without the key gives ``""`` when every value of
the map is a string (docker's ``map[string]string`` labels) and ``<no value>`` otherwise; a
field of nil is ``<no value>`` rather than Go's "nil pointer evaluating" error; ``json`` keeps
dict insertion order (Go sorts map keys, keeps struct field order); ``truncate`` counts
characters (Go: bytes) while ``len``/``slice``/``index`` on strings count bytes like Go.
Every parse or execution error is an :class:`InvalidArgument` whose text is docker's:
``template parsing error: template: :1: unexpected "}" in operand``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, NoReturn

from engine.errors import InvalidArgument

__all__ = [
    "Template",
    "compile_template",
    "format_table",
    "is_table_format",
    "prepare_format",
    "render",
    "tabwrite",
]


# --------------------------------------------------------------------------------------------
# values


class _Missing:
    """Go's invalid ``reflect.Value``: what a missing map key evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


class _TemplateError(Exception):
    """A parse or execution error, its text already in Go's words."""


class _FuncError(Exception):
    """Raised by a template function; reported as ``error calling NAME: ...``."""


class _ArgError(Exception):
    """A function argument of the wrong type; reported without the ``error calling`` prefix."""


def _go_type(v: Any) -> str:
    """The Go type name our Python value stands for, for error messages."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, str) for x in v):
            return "[]string"
        return "[]interface {}"
    if isinstance(v, dict):
        if v and all(isinstance(x, str) for x in v.values()):
            return "map[string]string"
        return "map[string]interface {}"
    if isinstance(v, (bytes, bytearray)):
        return "[]uint8"
    return type(v).__name__


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def _float_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(f) and the decimal point position (0.d1d2… × 10^dp)."""
    r = repr(abs(f))
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    dp = len(ip) + e
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0"), dp


def _fmt_float_shortest(f: float, upper: bool = False) -> str:
    """Go's ``%v`` / ``%g`` for a float64: shortest digits, exponent when exp < -4 or >= 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if (f < 0 or (f == 0 and str(f).startswith("-"))) else ""
    digits, dp = _float_digits(f)
    if not digits:
        return sign + "0"
    exp = dp - 1
    if exp < -4 or exp >= 6:  # strconv: shortest 'g' decides with precision 6
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        es = "-" if exp < 0 else "+"
        e = "E" if upper else "e"
        return f"{sign}{mant}{e}{es}{abs(exp):02d}"
    if dp <= 0:
        return sign + "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return sign + digits[:dp] + "." + digits[dp:]


def _fmt_v(v: Any) -> str:
    """fmt's ``%v`` of a value."""
    if v is None or v is MISSING:
        return "<nil>"
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return _fmt_float_shortest(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_v(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{_fmt_v(k)}:{_fmt_v(v[k])}" for k in _sorted_keys(v)) + "]"
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return _fmt_float_shortest(float(v))
    return str(v)


def _print_value(v: Any) -> str:
    """What an action prints: Go prints ``<no value>`` for an invalid (missing) value."""
    if v is MISSING:
        return "<no value>"
    return _fmt_v(v)


def _truth(v: Any) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, complex)):
        return v != 0
    if isinstance(v, (str, list, tuple, dict, bytes, bytearray)):
        return len(v) > 0
    return True


_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote(s: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _QUOTE_ESC:
            out.append(_QUOTE_ESC[ch])
        else:
            o = ord(ch)
            if o < 0x20 or o == 0x7F:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _go_quote_rune(n: int) -> str:
    """strconv.QuoteRune."""
    try:
        ch = chr(n)
    except (ValueError, OverflowError):
        ch = "\ufffd"
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + _go_quote(ch)[1:-1] + "'"


# --------------------------------------------------------------------------------------------
# fmt: Sprint, Sprintln, Sprintf


def _sprint(args: list[Any]) -> str:
    out: list[str] = []
    prev_str = False
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i > 0 and not is_str and not prev_str:
            out.append(" ")
        out.append(_fmt_v(a))
        prev_str = is_str
    return "".join(out)


def _sprintln(args: list[Any]) -> str:
    return " ".join(_fmt_v(a) for a in args) + "\n"


def _pad(s: str, flags: str, width: int | None) -> str:
    if width is None or len(s) >= width:
        return s
    fill = width - len(s)
    if "-" in flags:
        return s + " " * fill
    if "0" in flags:
        return "0" * fill + s
    return " " * fill + s


def _pad_number(s: str, flags: str, width: int | None) -> str:
    """Pad a formatted number; the ``0`` flag pads after the sign."""
    if width is None or len(s) >= width:
        return s
    if "0" in flags and "-" not in flags and s not in ("+Inf", "-Inf", "NaN"):
        sign = s[0] if s[:1] in ("+", "-", " ") else ""
        body = s[len(sign):]
        return sign + "0" * (width - len(s)) + body
    return _pad(s, flags.replace("0", ""), width)


def _bad_verb(verb: str, arg: Any) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(arg)}={_fmt_v(arg)})"


def _fmt_int(n: int, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb in "vd":
        spec = "d"
    elif verb in "xXo":
        spec = verb
    elif verb == "b":
        digits = format(abs(n), "b")
        if prec is not None:
            digits = digits.rjust(prec, "0")
        sign = "-" if n < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        return _pad_number(sign + digits, flags, width)
    elif verb == "c":
        try:
            return _pad(chr(n), flags.replace("0", ""), width)
        except (ValueError, OverflowError):
            return _pad("\ufffd", flags, width)
    elif verb == "q":
        return _pad(_go_quote_rune(n), flags.replace("0", ""), width)
    elif verb == "U":
        return _pad(f"U+{n:04X}", flags.replace("0", ""), width)
    else:
        return _bad_verb(verb, n)
    pyflags = "".join(c for c in flags if c in "-+ 0#")
    spec_s = "%" + pyflags + (str(width) if width is not None else "")
    if prec is not None:
        spec_s += "." + str(prec)
    return (spec_s + spec) % n


def _fmt_float(f: float, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb not in "vbeEfFgGxX" or verb in "bxX":
        return _bad_verb(verb, f)
    if f != f or f in (float("inf"), float("-inf")):
        s = "NaN" if f != f else ("+Inf" if f > 0 else "-Inf")
        return _pad(s, flags.replace("0", ""), width)
    if verb in "vgG" and prec is None:
        s = _fmt_float_shortest(f, upper=verb == "G")
        if not s.startswith("-"):
            if "+" in flags:
                s = "+" + s
            elif " " in flags:
                s = " " + s
        return _pad_number(s, flags, width)
    pverb = "g" if verb == "v" else verb
    pyflags = "".join(c for c in flags if c in "-+ 0#")
    spec_s = "%" + pyflags + (str(width) if width is not None else "")
    if prec is not None:
        spec_s += "." + str(prec)
    return (spec_s + pverb) % f


def _fmt_str(s: str, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if verb in "sv":
        if prec is not None:
            s = s[:prec]
        if verb == "v" and "#" in flags:
            s = _go_quote(s)
        return _pad(s, flags, width)
    if verb == "q":
        if prec is not None:
            s = s[:prec]
        if "#" in flags and "`" not in s and all(c.isprintable() or c == "\t" for c in s):
            return _pad("`" + s + "`", flags, width)
        return _pad(_go_quote(s), flags, width)
    if verb in "xX":
        raw = s.encode("utf-8", "surrogateescape")
        if prec is not None:
            raw = raw[:prec]
        hexes = [f"{b:02x}" for b in raw]
        if verb == "X":
            hexes = [h.upper() for h in hexes]
        prefix = ("0x" if verb == "x" else "0X") if "#" in flags else ""
        if " " in flags:
            out = " ".join(prefix + h for h in hexes)
        else:
            out = prefix + "".join(hexes)
        return _pad(out, flags, width)
    return _bad_verb(verb, s)


def _fmt_arg(arg: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if arg is MISSING:
        arg = None
    if verb == "T":
        return _pad(_go_type(arg), flags, width)
    if arg is None:
        if verb == "v":
            return _pad("<nil>", flags, width)
        return _bad_verb(verb, arg)
    if isinstance(arg, bool):
        if verb in "tv":
            return _pad("true" if arg else "false", flags, width)
        return _bad_verb(verb, arg)
    if isinstance(arg, int):
        return _fmt_int(int(arg), verb, flags, width, prec)
    if isinstance(arg, float):
        return _fmt_float(float(arg), verb, flags, width, prec)
    if isinstance(arg, str):
        return _fmt_str(str(arg), verb, flags, width, prec)
    if isinstance(arg, (list, tuple)):
        return "[" + " ".join(_fmt_arg(x, verb, flags, width, prec) for x in arg) + "]"
    if isinstance(arg, dict):
        parts = (
            _fmt_arg(k, verb, flags, width, prec) + ":" + _fmt_arg(arg[k], verb, flags, width, prec)
            for k in _sorted_keys(arg)
        )
        return "map[" + " ".join(parts) + "]"
    if verb in "sv":
        return _pad(str(arg), flags, width)
    return _bad_verb(verb, arg)


def _sprintf(fmt: str, args: list[Any]) -> str:
    """fmt.Sprintf for the verbs templates use: v s q d x X o b c U e E f F g G t T and %%."""
    out: list[str] = []
    argi = 0
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width: int | None = None
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and type(args[argi]) is int:
                width = args[argi]
                argi += 1
                if width is not None and width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
                argi += 1
        else:
            s = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > s:
                width = int(fmt[s:i])
        prec: int | None = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and type(args[argi]) is int:
                    prec = max(0, args[argi])
                    argi += 1
                else:
                    out.append("%!(BADPREC)")
                    argi += 1
            else:
                s = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[s:i]) if i > s else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_fmt_arg(arg, verb, flags, width, prec))
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{_go_type(a)}={_fmt_v(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# template functions


def _want_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None or v is MISSING:
        raise _ArgError("invalid value; expected string")
    raise _ArgError(f"wrong type for value; expected string; got {_go_type(v)}")


def _want_int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if v is None or v is MISSING:
        raise _ArgError("invalid value; expected int")
    raise _ArgError(f"wrong type for value; expected int; got {_go_type(v)}")


def _index_arg(idx: Any, cap: int) -> int:
    if not isinstance(idx, int) or isinstance(idx, bool):
        if idx is None:
            raise _FuncError("cannot index slice/array with nil")
        raise _FuncError(f"cannot index slice/array with type {_go_type(idx)}")
    if idx < 0 or idx > cap:
        raise _FuncError(f"index out of range: {idx}")
    return idx


def _fn_len(x: Any) -> int:
    if x is None:
        raise _FuncError("len of nil pointer")
    if isinstance(x, str):
        return len(x) if x.isascii() else len(x.encode("utf-8", "surrogateescape"))
    if isinstance(x, (list, tuple, dict, bytes, bytearray)):
        return len(x)
    raise _FuncError(f"len of type {_go_type(x)}")


def _fn_index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise _FuncError("index of untyped nil")
    for idx in indexes:
        if item is None or item is MISSING:
            raise _FuncError("index of nil pointer")
        if isinstance(item, (list, tuple)):
            x = _index_arg(idx, len(item))
            if x >= len(item):
                raise _FuncError(f"index out of range: {x}")
            item = item[x]
        elif isinstance(item, str):
            raw = item.encode("utf-8", "surrogateescape")
            x = _index_arg(idx, len(raw))
            if x >= len(raw):
                raise _FuncError(f"index out of range: {x}")
            item = raw[x]
        elif isinstance(item, dict):
            if idx is None:
                raise _FuncError("value is nil; should be of type string")
            if idx in item:
                item = item[idx]
            elif not item or all(isinstance(v, str) for v in item.values()):
                item = ""  # the zero value of docker's map[string]string
            else:
                item = MISSING
        else:
            raise _FuncError(f"can't index item of type {_go_type(item)}")
    return item


def _fn_slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise _FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    raw: bytes | None = None
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _FuncError("cannot 3-index slice a string")
        if not item.isascii():
            raw = item.encode("utf-8", "surrogateescape")
        cap = len(raw) if raw is not None else len(item)
    elif isinstance(item, (list, tuple)):
        cap = len(item)
    else:
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    idx = [_index_arg(x, cap) for x in indexes]
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else cap
    if lo > hi:
        raise _FuncError(f"invalid slice index: {lo} > {hi}")
    if len(idx) == 3 and hi > idx[2]:
        raise _FuncError(f"invalid slice index: {hi} > {idx[2]}")
    if raw is not None:
        return raw[lo:hi].decode("utf-8", "replace")
    return item[lo:hi]


def _cmp_kind(v: Any) -> str:
    if v is None or v is MISSING:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple, dict, bytearray)):
        return "bad"
    return "other"


def _fn_eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise _FuncError("missing argument for comparison")
    k1 = _cmp_kind(arg1)
    if k1 == "bad":
        raise _FuncError("invalid type for comparison")
    for a in args:
        k2 = _cmp_kind(a)
        if k2 == "bad":
            raise _FuncError("invalid type for comparison")
        if k1 == "nil" or k2 == "nil":
            truth = k1 == k2
        elif k1 != k2:
            if k1 == "other" or k2 == "other":
                truth = bool(arg1 == a)
            else:
                raise _FuncError("incompatible types for comparison")
        else:
            truth = bool(arg1 == a)
        if truth:
            return True
    return False


def _fn_ne(a: Any, b: Any) -> bool:
    return not _fn_eq(a, b)


def _fn_lt(a: Any, b: Any) -> bool:
    ka, kb = _cmp_kind(a), _cmp_kind(b)
    for k in (ka, kb):
        if k not in ("number", "string"):
            raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return bool(a < b)


def _fn_le(a: Any, b: Any) -> bool:
    return _fn_lt(a, b) or _fn_eq(a, b)


def _fn_gt(a: Any, b: Any) -> bool:
    return not _fn_le(a, b)


def _fn_ge(a: Any, b: Any) -> bool:
    return not _fn_lt(a, b)


def _fn_not(a: Any) -> bool:
    return not _truth(a)


def _eval_args_str(args: tuple[Any, ...]) -> str:
    if len(args) == 1:
        only = args[0]
        if isinstance(only, str):
            return only
    return _sprint(list(args))


_HTML_ESC = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}


def _fn_html(*args: Any) -> str:
    s = _eval_args_str(args)
    return "".join(_HTML_ESC.get(c, c) for c in s)


_JS_ESC = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def _fn_js(*args: Any) -> str:
    out: list[str] = []
    for c in _eval_args_str(args):
        if c in _JS_ESC:
            out.append(_JS_ESC[c])
        elif c < " ":
            out.append(f"\\u{ord(c):04X}")
        elif ord(c) >= 0x80 and not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _fn_urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus  # lazily: urllib is not needed on the hot path

    return quote_plus(_eval_args_str(args), safe="")


def _fn_print(*args: Any) -> str:
    return _sprint(list(args))


def _fn_println(*args: Any) -> str:
    return _sprintln(list(args))


def _fn_printf(fmt: Any, *args: Any) -> str:
    return _sprintf(_want_str(fmt), list(args))


def _fn_call(fn: Any, *args: Any) -> Any:
    if fn is None:
        raise _FuncError("call of nil")
    if not callable(fn):
        raise _FuncError(f"non-function of type {_go_type(fn)}")
    try:
        return fn(*args)
    except (_FuncError, _ArgError, _TemplateError):
        raise
    except Exception as e:  # a user function failing is a template error, like Go's returned error
        raise _FuncError(str(e)) from e


def _json_ready(x: Any) -> Any:
    if x is None or x is MISSING:
        return None
    if isinstance(x, bool) or isinstance(x, (str, int)):
        return x
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e21:
            return int(x)  # Go's json prints float64(2) as 2
        return x
    if isinstance(x, dict):
        return {(k if isinstance(k, str) else _fmt_v(k)): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, (bytes, bytearray)):
        import base64

        return base64.b64encode(bytes(x)).decode("ascii")
    to_dict = getattr(x, "to_dict", None)
    if callable(to_dict):
        return _json_ready(to_dict())
    if hasattr(x, "__dict__"):
        return {k: _json_ready(v) for k, v in vars(x).items() if not k.startswith("_")}
    return str(x)


def _fn_json(v: Any) -> str:
    import json

    try:
        s = json.dumps(_json_ready(v), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as e:
        raise _FuncError(f"json: unsupported value: {e}") from e
    return s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _fn_split(s: Any, sep: Any) -> list[str]:
    text, by = _want_str(s), _want_str(sep)
    if by == "":
        return list(text)
    return text.split(by)


def _fn_join(items: Any, sep: Any) -> str:
    by = _want_str(sep)
    if items is None or items is MISSING:
        return ""
    if isinstance(items, (list, tuple)) and all(isinstance(x, str) for x in items):
        return by.join(items)
    raise _ArgError(f"wrong type for value; expected []string; got {_go_type(items)}")


def _per_rune(s: str, conv: Callable[[str], str]) -> str:
    out = []
    for c in s:
        m = conv(c)
        out.append(m if len(m) == 1 else c)  # Go maps rune to rune; never 'ß' -> 'SS'
    return "".join(out)


def _fn_upper(s: Any) -> str:
    text = _want_str(s)
    return text.upper() if text.isascii() else _per_rune(text, str.upper)


def _fn_lower(s: Any) -> str:
    text = _want_str(s)
    return text.lower() if text.isascii() else _per_rune(text, str.lower)


def _is_separator(c: str) -> bool:
    if c <= "\x7f":
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdecimal():
        return False
    return c.isspace()


def _fn_title(s: Any) -> str:
    """strings.Title: upper-case the first letter of each word, leave the rest alone."""
    text = _want_str(s)
    out = []
    prev = " "
    for c in text:
        if _is_separator(prev):
            t = c.title()
            out.append(t if len(t) == 1 else c)
        else:
            out.append(c)
        prev = c
    return "".join(out)


def _fn_pad(s: Any, prefix: Any, suffix: Any) -> str:
    text = _want_str(s)
    p, q = _want_int(prefix), _want_int(suffix)
    if text == "":
        return text
    return " " * max(p, 0) + text + " " * max(q, 0)


def _fn_truncate(s: Any, n: Any) -> str:
    text = _want_str(s)
    length = _want_int(n)
    if len(text) < length:
        return text
    if length < 0:
        raise _FuncError(f"slice bounds out of range [:{length}]")
    return text[:length]


def _fn_table(v: Any) -> Any:
    return v


def _hdr_keep(v: Any, *_: Any) -> Any:
    """docker's HeaderFunctions: in the header line json/split/join/… leave the title intact."""
    if v is None or v is MISSING:
        return ""
    return v


# name -> (function, min args, max args or None for variadic)
_FuncSpec = tuple[Callable[..., Any], int, int | None]

_BUILTINS: dict[str, _FuncSpec] = {
    "and": (_fn_table, 1, None),  # evaluated lazily by the executor
    "or": (_fn_table, 1, None),  # idem
    "not": (_fn_not, 1, 1),
    "len": (_fn_len, 1, 1),
    "index": (_fn_index, 1, None),
    "slice": (_fn_slice, 1, None),
    "print": (_fn_print, 0, None),
    "printf": (_fn_printf, 1, None),
    "println": (_fn_println, 0, None),
    "eq": (_fn_eq, 1, None),
    "ne": (_fn_ne, 2, 2),
    "lt": (_fn_lt, 2, 2),
    "le": (_fn_le, 2, 2),
    "gt": (_fn_gt, 2, 2),
    "ge": (_fn_ge, 2, 2),
    "html": (_fn_html, 0, None),
    "js": (_fn_js, 0, None),
    "urlquery": (_fn_urlquery, 0, None),
    "call": (_fn_call, 1, None),
    # docker/cli templates.basicFunctions
    "json": (_fn_json, 1, 1),
    "split": (_fn_split, 2, 2),
    "join": (_fn_join, 2, 2),
    "title": (_fn_title, 1, 1),
    "lower": (_fn_lower, 1, 1),
    "upper": (_fn_upper, 1, 1),
    "pad": (_fn_pad, 3, 3),
    "truncate": (_fn_truncate, 2, 2),
    "table": (_fn_table, 1, 1),
}

_HEADER_FUNCS: dict[str, _FuncSpec] = dict(_BUILTINS)
_HEADER_FUNCS.update(
    {
        "json": (_hdr_keep, 1, 1),
        "split": (_hdr_keep, 2, 2),
        "join": (_hdr_keep, 2, 2),
        "title": (_hdr_keep, 1, 1),
        "lower": (_hdr_keep, 1, 1),
        "upper": (_hdr_keep, 1, 1),
        "truncate": (_hdr_keep, 2, 2),
    }
)


# --------------------------------------------------------------------------------------------
# lexer

_SPACE = " \t\r\n"
_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}
# token types printed as <val> in errors (Go's items above itemKeyword)
_KEYWORD_TYPES = _KEYWORDS | {"dot"}


class _Tok:
    __slots__ = ("typ", "val", "pos")

    def __init__(self, typ: str, val: str, pos: int) -> None:
        self.typ = typ
        self.val = val
        self.pos = pos

    def __str__(self) -> str:
        if self.typ == "eof":
            return "EOF"
        if self.typ == "error":
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _fmt_U(c: str) -> str:
    return f"U+{ord(c):04X} '{c}'"


def _lex(text: str) -> list[_Tok]:
    """Tokens of a template; a lexing error ends the list with an ``error`` token."""
    toks: list[_Tok] = []
    n = len(text)
    pos = 0
    while True:
        i = text.find("{{", pos)
        if i < 0:
            if pos < n:
                toks.append(_Tok("text", text[pos:], pos))
            toks.append(_Tok("eof", "", n))
            return toks
        trim_left = i + 3 < n and text[i + 2] == "-" and text[i + 3] in _SPACE
        seg = text[pos:i]
        if trim_left:
            seg = seg.rstrip(_SPACE)
        if seg:
            toks.append(_Tok("text", seg, pos))
        p = i + 2 + (2 if trim_left else 0)
        if text.startswith("/*", p):
            j = text.find("*/", p + 2)
            if j < 0:
                toks.append(_Tok("error", "unclosed comment", i))
                return toks
            p = j + 2
            if p < n and text[p] in _SPACE and text.startswith("-}}", p + 1):
                p += 4
                while p < n and text[p] in _SPACE:
                    p += 1
            elif text.startswith("}}", p):
                p += 2
            else:
                toks.append(_Tok("error", "comment ends before closing delimiter", p))
                return toks
            pos = p
            continue
        toks.append(_Tok("left", "{{", i))
        p = _lex_action(text, p, toks)
        if p < 0:
            return toks
        pos = p


def _at_terminator(text: str, p: int) -> bool:
    if p >= len(text):
        return True
    c = text[p]
    # Go compares with the first rune of the right delimiter only, so "{{.X}" stops at "}"
    return c in _SPACE or c in ".,|:()}"


def _lex_action(text: str, p: int, toks: list[_Tok]) -> int:
    """Lex inside ``{{ }}`` from ``p``; returns the position after ``}}`` or -1 on error."""
    n = len(text)
    depth = 0

    def fail(msg: str, at: int) -> int:
        toks.append(_Tok("error", msg, at))
        return -1

    while True:
        # right delimiter, possibly with a trim marker " -}}"
        trim_right = p + 1 < n and text[p] in _SPACE and text[p + 1] == "-" and text.startswith("}}", p + 2)
        if trim_right or text.startswith("}}", p):
            if depth:
                return fail("unclosed left paren", p)
            if trim_right:
                toks.append(_Tok("right", "}}", p + 2))
                p += 4
                while p < n and text[p] in _SPACE:
                    p += 1
                return p
            toks.append(_Tok("right", "}}", p))
            return p + 2
        if p >= n:
            return fail("unclosed action", p)
        c = text[p]
        if c in _SPACE:
            q = p
            while q < n and text[q] in _SPACE:
                q += 1
            if text.startswith("-}}", q):
                q -= 1  # leave one space for the " -}}" trim marker
            if q > p:
                toks.append(_Tok("space", text[p:q], p))
            p = q
            continue
        if c == "=":
            toks.append(_Tok("assign", "=", p))
            p += 1
        elif c == ":":
            if not text.startswith(":=", p):
                return fail("expected :=", p)
            toks.append(_Tok("declare", ":=", p))
            p += 2
        elif c == "|":
            toks.append(_Tok("pipe", "|", p))
            p += 1
        elif c == '"':
            q = p + 1
            while True:
                if q >= n or text[q] == "\n":
                    return fail("unterminated quoted string", p)
                if text[q] == "\\":
                    q += 1
                    if q >= n or text[q] == "\n":
                        return fail("unterminated quoted string", p)
                elif text[q] == '"':
                    break
                q += 1
            toks.append(_Tok("string", text[p : q + 1], p))
            p = q + 1
        elif c == "`":
            q = text.find("`", p + 1)
            if q < 0:
                return fail("unterminated raw quoted string", p)
            toks.append(_Tok("rawstring", text[p : q + 1], p))
            p = q + 1
        elif c == "'":
            q = p + 1
            while True:
                if q >= n or text[q] == "\n":
                    return fail("unterminated character constant", p)
                if text[q] == "\\":
                    q += 1
                    if q >= n or text[q] == "\n":
                        return fail("unterminated character constant", p)
                elif text[q] == "'":
                    break
                q += 1
            toks.append(_Tok("char", text[p : q + 1], p))
            p = q + 1
        elif c == "$" or (c == "." and not (p + 1 < n and text[p + 1].isdigit())):
            q = p + 1
            if _at_terminator(text, q):
                toks.append(_Tok("var" if c == "$" else "dot", c, p))
                p = q
                continue
            while q < n and _is_alnum(text[q]):
                q += 1
            if not _at_terminator(text, q):
                return fail(f"bad character {_fmt_U(text[q])}", q)
            toks.append(_Tok("var" if c == "$" else "field", text[p:q], p))
            p = q
        elif c in "+-." or c.isdigit():
            q = _scan_number(text, p)
            if q < 0:
                end = -q
                return fail(f"bad number syntax: {_go_quote(text[p:end])}", p)
            toks.append(_Tok("number", text[p:q], p))
            p = q
        elif _is_alnum(c):
            q = p
            while q < n and _is_alnum(text[q]):
                q += 1
            if not _at_terminator(text, q):
                return fail(f"bad character {_fmt_U(text[q])}", q)
            word = text[p:q]
            if word in _KEYWORDS:
                toks.append(_Tok(word, word, p))
            elif word in ("true", "false"):
                toks.append(_Tok("bool", word, p))
            else:
                toks.append(_Tok("ident", word, p))
            p = q
        elif c == "(":
            depth += 1
            toks.append(_Tok("lparen", "(", p))
            p += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return fail("unexpected right paren", p)
            toks.append(_Tok("rparen", ")", p))
            p += 1
        elif c <= "\x7f" and c.isprintable():
            toks.append(_Tok("chr", c, p))
            p += 1
        else:
            return fail(f"unrecognized character in action: {_fmt_U(c)}", p)


def _scan_number(text: str, p: int) -> int:
    """Go's scanNumber: the end of the number at ``p``, or -(end) when it is malformed."""
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal p
        if p < n and text[p] in chars:
            p += 1
            return True
        return False

    def accept_run(chars: str) -> None:
        nonlocal p
        while p < n and text[p] in chars:
            p += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    accept_run(digits)
    if accept("."):
        accept_run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        accept_run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        accept_run("0123456789_")
    accept("i")
    if p < n and _is_alnum(text[p]):
        return -(p + 1)
    return p


_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote(body: str, quote: str) -> str:
    """strconv.Unquote of the text between the quotes; ValueError('invalid syntax') if bad."""
    if "\\" not in body:
        if quote == "'" and len(body) != 1:
            raise ValueError("invalid syntax")
        return body
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
        elif e == quote:
            out += e.encode()
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            h = body[i : i + size]
            if len(h) != size or any(ch not in "0123456789abcdefABCDEF" for ch in h):
                raise ValueError("invalid syntax")
            v = int(h, 16)
            i += size
            if e == "x":
                out.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise ValueError("invalid syntax")
                out += chr(v).encode()
        elif e in "01234567":
            o = body[i - 1 : i + 2]
            if len(o) != 3 or any(ch not in "01234567" for ch in o) or int(o, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(int(o, 8))
            i += 2
        else:
            raise ValueError("invalid syntax")
    s = out.decode("utf-8", "replace")
    if quote == "'" and len(s) != 1:
        raise ValueError("invalid syntax")
    return s


# --------------------------------------------------------------------------------------------
# parse tree


class _Node:
    __slots__ = ("pos",)
    pos: int


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        self.pos, self.text = pos, text


class _Dot(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "."


class _Nil(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "nil"


class _Bool(_Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: bool) -> None:
        self.pos, self.value = pos, value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class _Number(_Node):
    __slots__ = ("text", "value")

    def __init__(self, pos: int, text: str, value: int | float) -> None:
        self.pos, self.text, self.value = pos, text, value

    def __str__(self) -> str:
        return self.text


class _String(_Node):
    __slots__ = ("quoted", "value")

    def __init__(self, pos: int, quoted: str, value: str) -> None:
        self.pos, self.quoted, self.value = pos, quoted, value

    def __str__(self) -> str:
        return self.quoted


class _Field(_Node):
    __slots__ = ("idents",)

    def __init__(self, pos: int, idents: list[str]) -> None:
        self.pos, self.idents = pos, idents

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


class _Variable(_Node):
    __slots__ = ("idents",)

    def __init__(self, pos: int, idents: list[str]) -> None:
        self.pos, self.idents = pos, idents

    def __str__(self) -> str:
        return ".".join(self.idents)


class _Ident(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, name: str) -> None:
        self.pos, self.name = pos, name

    def __str__(self) -> str:
        return self.name


class _Chain(_Node):
    __slots__ = ("node", "fields")

    def __init__(self, pos: int, node: _Node, fields: list[str]) -> None:
        self.pos, self.node, self.fields = pos, node, fields

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return base + "".join("." + f for f in self.fields)


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, args: list[_Node]) -> None:
        self.pos, self.args = pos, args

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Pipe(_Node):
    __slots__ = ("decl", "is_assign", "cmds")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.decl: list[str] = []
        self.is_assign = False
        self.cmds: list[_Command] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, pipe: _Pipe) -> None:
        self.pos, self.pipe = pos, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _Control(_Node):
    """if / range / with."""

    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, kind: str, pipe: _Pipe, body: list[_Node], else_body: list[_Node] | None) -> None:
        self.pos, self.kind, self.pipe, self.body, self.else_body = pipe.pos, kind, pipe, body, else_body

    def __str__(self) -> str:
        return "{{" + self.kind + " " + str(self.pipe) + "}}"


class _BreakNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _ContinueNode(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos


class _TemplateCall(_Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos: int, name: str, pipe: _Pipe | None) -> None:
        self.pos, self.name, self.pipe = pos, name, pipe

    def __str__(self) -> str:
        tail = " " + str(self.pipe) if self.pipe is not None else ""
        return "{{template " + _go_quote(self.name) + tail + "}}"


class _End(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{end}}"


class _Else(_Node):
    __slots__ = ()

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{else}}"


# --------------------------------------------------------------------------------------------
# parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.n = len(self.toks)
        self.i = 0
        self.last = self.toks[0]
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.action_pos = -1
        self.defs: dict[str, list[_Node]] = {}

    # token stream ------------------------------------------------------------------------

    def next(self) -> _Tok:
        t = self.toks[min(self.i, self.n - 1)]
        self.i += 1
        self.last = t
        return t

    def backup(self) -> None:
        self.i -= 1

    def peek(self) -> _Tok:
        return self.toks[min(self.i, self.n - 1)]

    def next_non_space(self) -> _Tok:
        while True:
            t = self.next()
            if t.typ != "space":
                return t

    def peek_non_space(self) -> _Tok:
        t = self.next_non_space()
        self.backup()
        return t

    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def errorf(self, msg: str) -> NoReturn:
        raise _TemplateError(f"template: :{self._line(self.last.pos)}: {msg}")

    def unexpected(self, tok: _Tok, context: str) -> NoReturn:
        if tok.typ == "error":
            extra = ""
            if self.action_pos >= 0 and self._line(self.action_pos) != self._line(tok.pos):
                extra = f" in action started at :{self._line(self.action_pos)}"
            self.errorf(f"{tok.val}{extra}")
        self.errorf(f"unexpected {tok} in {context}")

    def expect(self, typ: str, context: str) -> _Tok:
        t = self.next_non_space()
        if t.typ != typ:
            self.unexpected(t, context)
        return t

    # structure ---------------------------------------------------------------------------

    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().typ != "eof":
            if self.peek().typ == "left":
                save = self.i
                self.next()
                if self.next_non_space().typ == "define":
                    self.parse_definition()
                    continue
                self.i = save
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                self.errorf(f"unexpected {node}")
            root.append(node)
        return root

    def parse_definition(self) -> None:
        context = "define clause"
        t = self.next_non_space()
        if t.typ not in ("string", "rawstring"):
            self.unexpected(t, context)
        name = self.unquote(t)
        self.expect("right", context)
        self.defs[name] = self.parse_body(context)

    def parse_body(self, context: str) -> list[_Node]:
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        if not isinstance(end, _End):
            self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth = saved
        return body

    def item_list(self) -> tuple[list[_Node], _Node]:
        items: list[_Node] = []
        while self.peek_non_space().typ != "eof":
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                return items, node
            items.append(node)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> _Node:
        t = self.next_non_space()
        if t.typ == "text":
            return _Text(t.pos, t.val)
        if t.typ == "left":
            self.action_pos = t.pos
            try:
                return self.action()
            finally:
                self.action_pos = -1
        self.unexpected(t, "input")

    def action(self) -> _Node:
        t = self.next_non_space()
        typ = t.typ
        if typ == "block":
            return self.block_control()
        if typ in ("break", "continue"):
            nxt = self.next_non_space()
            if nxt.typ != "right":
                self.unexpected(nxt, "{{" + typ + "}}")
            if self.range_depth == 0:
                self.errorf("{{" + typ + "}} outside {{range}}")
            return _BreakNode(t.pos) if typ == "break" else _ContinueNode(t.pos)
        if typ == "else":
            peek = self.peek_non_space()
            if peek.typ in ("if", "with"):
                return _Else(peek.pos)
            return _Else(self.expect("right", "else").pos)
        if typ == "end":
            return _End(self.expect("right", "end").pos)
        if typ in ("if", "range", "with"):
            return self.control(typ)
        if typ == "template":
            return self.template_control()
        self.backup()
        return _Action(self.peek().pos, self.pipeline("command", "right"))

    def control(self, context: str) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(context, "right")
        if context == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: list[_Node] | None = None
        if isinstance(nxt, _Else):
            if context in ("if", "with") and self.peek().typ == context:
                self.next()
                else_body = [self.control(context)]  # "else if" / "else with": one {{end}} only
            else:
                else_body, nxt = self.item_list()
                if not isinstance(nxt, _End):
                    self.errorf(f"expected end; found {nxt}")
        del self.vars[mark:]
        return _Control(context, pipe, body, else_body)

    def template_control(self) -> _TemplateCall:
        context = "template clause"
        t = self.next_non_space()
        name = self.template_name(t, context)
        pipe = None
        if self.next_non_space().typ != "right":
            self.backup()
            pipe = self.pipeline(context, "right")
        return _TemplateCall(t.pos, name, pipe)

    def block_control(self) -> _TemplateCall:
        context = "block clause"
        t = self.next_non_space()
        name = self.template_name(t, context)
        pipe = self.pipeline(context, "right")
        self.defs[name] = self.parse_body(context)
        return _TemplateCall(t.pos, name, pipe)

    def template_name(self, t: _Tok, context: str) -> str:
        if t.typ in ("string", "rawstring"):
            return self.unquote(t)
        self.unexpected(t, context)

    # pipelines ---------------------------------------------------------------------------

    def pipeline(self, context: str, end: str) -> _Pipe:
        pipe = _Pipe(self.peek_non_space().pos)
        while True:  # declarations: "$x :=", "$x =", "$i, $v :="
            v = self.peek_non_space()
            if v.typ != "var":
                break
            save = self.i
            self.next()
            nxt = self.peek_non_space()
            if nxt.typ in ("assign", "declare"):
                pipe.is_assign = nxt.typ == "assign"
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                break
            if nxt.typ == "chr" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in ("var", "right", "rparen"):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            self.i = save
            break
        while True:
            t = self.next_non_space()
            if t.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.typ in ("bool", "char", "dot", "field", "ident", "number", "nil", "rawstring", "string", "var", "lparen"):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def check_pipeline(self, pipe: _Pipe, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (_Bool, _Dot, _Nil, _Number, _String)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos, [])
        while True:
            self.peek_non_space()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            t = self.next()
            if t.typ == "space":
                continue
            if t.typ == "error":
                self.errorf(t.val)
            if t.typ in ("right", "rparen"):
                self.backup()
            elif t.typ != "pipe":
                self.errorf(f"unexpected {t} in operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == "field":
            cpos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ == "field":
                fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(node.pos, node.idents + fields)
            if isinstance(node, _Variable):
                return _Variable(node.pos, node.idents + fields)
            if isinstance(node, (_Bool, _String, _Number, _Nil, _Dot)):
                self.errorf(f"unexpected . after term {_go_quote(str(node))}")
            return _Chain(cpos, node, fields)
        return node

    def term(self) -> _Node | None:
        t = self.next_non_space()
        typ = t.typ
        if typ == "error":
            self.errorf(t.val)
        if typ == "ident":
            if t.val not in _BUILTINS:
                self.errorf(f"function {_go_quote(t.val)} not defined")
            return _Ident(t.pos, t.val)
        if typ == "dot":
            return _Dot(t.pos)
        if typ == "nil":
            return _Nil(t.pos)
        if typ == "var":
            if t.val not in self.vars:
                self.errorf(f"undefined variable {_go_quote(t.val)}")
            return _Variable(t.pos, [t.val])
        if typ == "field":
            return _Field(t.pos, [t.val[1:]])
        if typ == "bool":
            return _Bool(t.pos, t.val == "true")
        if typ in ("number", "char"):
            return self.number(t)
        if typ == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            return pipe
        if typ in ("string", "rawstring"):
            return _String(t.pos, t.val, self.unquote(t))
        self.backup()
        return None

    def unquote(self, t: _Tok) -> str:
        if t.typ == "rawstring":
            return t.val[1:-1].replace("\r", "")
        try:
            return _unquote(t.val[1:-1], '"')
        except ValueError as e:
            self.errorf(str(e))

    def number(self, t: _Tok) -> _Number:
        text = t.val
        if t.typ == "char":
            try:
                return _Number(t.pos, text, ord(_unquote(text[1:-1], "'")))
            except ValueError:
                self.errorf(f"malformed character constant: {text}")
        s = text.replace("_", "")
        body = s.lstrip("+-")
        is_hex = body[:2] in ("0x", "0X")
        try:
            if s.endswith("i"):
                raise ValueError(text)
            if is_hex and any(c in body for c in ".pP"):
                value: int | float = float.fromhex(s)
            elif not is_hex and any(c in body for c in ".eE"):
                value = float(s)
            elif len(body) > 1 and body[0] == "0" and body[1].isdigit():
                value = int(s, 8)
            else:
                value = int(s, 0)
        except ValueError:
            self.errorf(f"illegal number syntax: {_go_quote(text)}")
        return _Number(t.pos, text, value)


# --------------------------------------------------------------------------------------------
# executor


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


_MAX_DEPTH = 100


class _State:
    __slots__ = ("text", "defs", "funcs", "vars", "out", "node", "depth", "name")

    def __init__(self, tmpl: Template, funcs: dict[str, _FuncSpec], data: Any, out: list[str]) -> None:
        self.text = tmpl.text
        self.defs = tmpl.defs
        self.funcs = funcs
        self.vars: list[list[Any]] = [["$", data]]
        self.out = out
        self.node: _Node | None = None
        self.depth = 0
        self.name = ""

    # errors ------------------------------------------------------------------------------

    def errorf(self, msg: str) -> NoReturn:
        node = self.node
        if node is None:
            raise _TemplateError(f"template: {self.name}: {msg}")
        pos = node.pos
        nl = self.text.rfind("\n", 0, pos)
        col = pos if nl < 0 else pos - nl - 1
        line = self.text.count("\n", 0, pos) + 1
        ctx = str(node)
        if len(ctx) > 20:
            ctx = ctx[:20] + "..."
        raise _TemplateError(f"template: :{line}:{col}: executing {_go_quote(self.name)} at <{ctx}>: {msg}")

    # variables ---------------------------------------------------------------------------

    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    # walking -----------------------------------------------------------------------------

    def walk_list(self, dot: Any, nodes: list[_Node]) -> None:
        for node in nodes:
            self.walk(dot, node)

    def walk(self, dot: Any, node: _Node) -> None:
        self.node = node
        if isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _Action):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(_print_value(val))
        elif isinstance(node, _Control):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                mark = len(self.vars)
                val = self.eval_pipeline(dot, node.pipe)
                if _truth(val):
                    self.walk_list(val if node.kind == "with" else dot, node.body)
                elif node.else_body is not None:
                    self.walk_list(dot, node.else_body)
                del self.vars[mark:]
        elif isinstance(node, _BreakNode):
            raise _BreakLoop()
        elif isinstance(node, _ContinueNode):
            raise _ContinueLoop()
        elif isinstance(node, _TemplateCall):
            self.walk_template(dot, node)
        else:  # pragma: no cover - the parser makes no other nodes
            self.errorf(f"unknown node: {node}")

    def walk_range(self, dot: Any, node: _Control) -> None:
        mark = len(self.vars)
        val = self.eval_pipeline(dot, node.pipe)
        inner = len(self.vars)
        decl = node.pipe.decl
        items: Iterator[tuple[Any, Any]]
        if val is None or val is MISSING:
            items = iter(())
        elif isinstance(val, (list, tuple)):
            items = enumerate(val)
        elif isinstance(val, dict):
            items = ((k, val[k]) for k in _sorted_keys(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            if len(decl) > 1:
                self.errorf(f"can't use {val} to iterate over more than one variable")
            items = ((i, i) for i in range(val))
        else:
            self.errorf(f"range can't iterate over {_fmt_v(val)}")
        ran = False
        try:
            for index, elem in items:
                ran = True
                if decl:
                    if node.pipe.is_assign:
                        if len(decl) > 1:
                            self.set_var(decl[0], index)
                            self.set_var(decl[1], elem)
                        else:
                            self.set_var(decl[0], elem)
                    else:
                        self.vars[-1][1] = elem
                        if len(decl) > 1:
                            self.vars[-2][1] = index
                try:
                    self.walk_list(elem, node.body)
                except _ContinueLoop:
                    pass
                del self.vars[inner:]
        except _BreakLoop:
            pass
        if not ran and node.else_body is not None:
            self.walk_list(dot, node.else_body)
        del self.vars[mark:]

    def walk_template(self, dot: Any, node: _TemplateCall) -> None:
        body = self.defs.get(node.name)
        if body is None:
            self.errorf(f"template {_go_quote(node.name)} not defined")
        if self.depth >= _MAX_DEPTH:
            self.errorf(f"exceeded maximum template depth ({_MAX_DEPTH})")
        new_dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        saved = self.vars, self.name
        self.vars, self.name = [["$", new_dot]], node.name
        self.depth += 1
        try:
            self.walk_list(new_dot, body)
        finally:
            self.depth -= 1
            self.vars, self.name = saved

    # evaluation --------------------------------------------------------------------------

    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        self.node = pipe
        value: Any = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append([name, value])
        return value

    def not_a_function(self, args: list[_Node], final: Any) -> None:
        if len(args) > 1 or final is not MISSING:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, _Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, _Ident):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, _Bool):
            return first.value
        if isinstance(first, _Dot):
            return dot
        if isinstance(first, _Nil):
            self.errorf("nil is not a command")
        if isinstance(first, _Number):
            return first.value
        if isinstance(first, _String):
            return first.value
        self.errorf(f"can't evaluate command {first}")  # pragma: no cover

    def eval_variable(self, dot: Any, var: _Variable, args: list[_Node] | None, final: Any) -> Any:
        self.node = var
        value = self.var_value(var.idents[0])
        if len(var.idents) == 1:
            if args is not None:
                self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents[1:], args, final)

    def eval_chain(self, dot: Any, chain: _Chain, args: list[_Node] | None, final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, _Nil):
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, chain.node)
        self.node = chain
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: _Node, idents: list[str], args: list[_Node] | None, final: Any
    ) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(dot, name, node, None, MISSING, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: _Node, args: list[_Node] | None, final: Any, receiver: Any) -> Any:
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if receiver is MISSING or receiver is None:
            return MISSING
        if isinstance(receiver, dict):
            if has_args:
                self.node = node
                self.errorf(f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        if isinstance(receiver, (str, int, float, bool, list, tuple, bytes, complex)) or name.startswith("_"):
            self.node = node
            self.errorf(f"can't evaluate field {name} in type {_go_type(receiver)}")
        try:
            attr = getattr(receiver, name)
        except AttributeError:
            self.node = node
            self.errorf(f"can't evaluate field {name} in type {_go_type(receiver)}")
        if callable(attr) and not isinstance(attr, type):
            call_args = [self.eval_arg(dot, a) for a in (args[1:] if args else [])]
            if final is not MISSING:
                call_args.append(final)
            call_args = [None if a is MISSING else a for a in call_args]
            self.node = node
            try:
                return attr(*call_args)
            except (_TemplateError, _BreakLoop, _ContinueLoop):
                raise
            except Exception as e:
                self.errorf(f"error calling {name}: {e}")
        if has_args:
            self.node = node
            self.errorf(f"{name} has arguments but cannot be invoked as function")
        return attr

    def eval_arg(self, dot: Any, n: _Node) -> Any:
        self.node = n
        if isinstance(n, _Dot):
            return dot
        if isinstance(n, _Nil):
            return None
        if isinstance(n, _Field):
            return self.eval_field_chain(dot, dot, n, n.idents, [n], MISSING)
        if isinstance(n, _Variable):
            return self.eval_variable(dot, n, None, MISSING)
        if isinstance(n, _Pipe):
            return self.eval_pipeline(dot, n)
        if isinstance(n, _Ident):
            return self.eval_function(dot, n, n, [n], MISSING)
        if isinstance(n, _Chain):
            return self.eval_chain(dot, n, None, MISSING)
        if isinstance(n, (_Bool, _Number, _String)):
            return n.value
        self.errorf(f"can't handle {n} for arg")  # pragma: no cover

    def eval_function(self, dot: Any, ident: _Ident, cmd: _Node, args: list[_Node], final: Any) -> Any:
        self.node = ident
        name = ident.name
        spec = self.funcs.get(name)
        if spec is None:  # pragma: no cover - checked at parse time
            self.errorf(f"{_go_quote(name)} is not a defined function")
        fn, lo, hi = spec
        arg_nodes = args[1:]
        nargs = len(arg_nodes) + (0 if final is MISSING else 1)
        if nargs < lo or (hi is not None and nargs > hi):
            if hi is None:
                self.errorf(f"wrong number of args for {name}: want at least {lo} got {nargs}")
            self.errorf(f"wrong number of args for {name}: want {lo} got {nargs}")
        if name in ("and", "or"):
            want = name == "or"
            v: Any = MISSING
            for a in arg_nodes:
                v = self.eval_arg(dot, a)
                if _truth(v) == want:
                    return v
            if final is not MISSING:
                v = final
            return v
        vals = [self.eval_arg(dot, a) for a in arg_nodes]
        if final is not MISSING:
            vals.append(final)
        vals = [None if x is MISSING else x for x in vals]
        self.node = cmd
        try:
            return fn(*vals)
        except _ArgError as e:
            self.errorf(str(e))
        except _FuncError as e:
            self.errorf(f"error calling {name}: {e}")


# --------------------------------------------------------------------------------------------
# public API


class Template:
    """A parsed template; :meth:`execute` runs it. Get one from :func:`compile_template`."""

    __slots__ = ("text", "root", "defs")

    def __init__(self, text: str, root: list[_Node], defs: dict[str, list[_Node]]) -> None:
        self.text = text
        self.root = root
        self.defs = defs

    def execute(self, data: Any, *, header: bool = False) -> str:
        """Render against ``data``. ``header=True`` uses docker's header functions, which leave
        the header text alone (``{{json .X}}`` renders the header of X, not its JSON)."""
        out: list[str] = []
        self._run(data, out, header)
        return "".join(out)

    def _run(self, data: Any, out: list[str], header: bool) -> None:
        state = _State(self, _HEADER_FUNCS if header else _BUILTINS, data, out)
        try:
            state.walk_list(data, self.root)
        except _TemplateError as e:
            raise InvalidArgument(f"template parsing error: {e}", template=self.text) from None
        except RecursionError:
            raise InvalidArgument(
                "template parsing error: template: : exceeded maximum template depth", template=self.text
            ) from None


@functools.lru_cache(maxsize=256)
def compile_template(text: str) -> Template:
    """Parse ``text`` (cached). Raises :class:`InvalidArgument` on a syntax error."""
    parser = _Parser(text)
    try:
        root = parser.parse()
    except _TemplateError as e:
        raise InvalidArgument(f"template parsing error: {e}", template=text) from None
    return Template(text, root, parser.defs)


def render(template: str, data: Any) -> str:
    """Execute the Go template ``template`` against ``data``; parse and execution errors raise
    :class:`InvalidArgument` in docker's words."""
    return compile_template(template).execute(data)


def prepare_format(fmt: str) -> str:
    """docker's escape handling for ``--format``: the two characters backslash-t become a tab and
    backslash-n a newline (docker does this before parsing the template)."""
    if "\\" not in fmt:
        return fmt
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def is_table_format(fmt: str) -> bool:
    """True when the format asks for docker's table output (it starts with ``table``)."""
    return fmt.startswith("table")


def format_table(fmt: str, rows: list[Any], headers: dict[str, str]) -> str:
    """Render ``rows`` the way docker's formatter does for ``--format fmt``.

    * ``table …``: the word is dropped, the template renders a header line against
      ``headers`` (field name -> column title) and one line per row; the whole passes through
      the tabwriter (:func:`tabwrite`).
    * ``json``: one compact JSON document per row (docker's ``{{json .}}``).
    * anything else: one rendered line per row, no header, no alignment.

    Like docker the format is trimmed of spaces and backslash-t / backslash-n become tab and
    newline. Every line ends with a newline; no rows and no table means an empty string.
    """
    table = is_table_format(fmt)
    body = fmt[len("table") :] if table else fmt
    body = prepare_format(body.strip(" "))
    if body == "json" and not table:
        body = "{{json .}}"
    tmpl = compile_template(body)
    lines: list[str] = []
    for row in rows:
        lines.append(tmpl.execute(row))
    if not table:
        return "".join(line + "\n" for line in lines)
    head: list[str] = []
    try:
        tmpl._run(headers, head, True)
    except InvalidArgument:
        pass  # docker ignores a header that fails to render and prints what it got
    text = "".join(head) + "\n" + "".join(line + "\n" for line in lines)
    return _tabwrite_text(text)


def tabwrite(lines: list[str], *, minwidth: int = 10, padding: int = 3, padchar: str = " ") -> str:
    """Align tab-separated ``lines`` like Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    Cells end at a tab; the text after a line's last tab is not a cell and is never padded.
    A column is a run of consecutive lines that all have a cell at that index; its width is
    the widest cell in the run plus ``padding``, at least ``minwidth``. Each output line ends
    with a newline.
    """
    return _tabwrite_text("".join(line + "\n" for line in lines), minwidth=minwidth, padding=padding, padchar=padchar)


def _tabwrite_text(text: str, *, minwidth: int = 10, padding: int = 3, padchar: str = " ") -> str:
    """Go's tabwriter over a whole text (flags 0, padchar not a tab)."""
    if "\t" not in text:
        return text
    rows = [line.split("\t") for line in text.split("\n")]
    nrows = len(rows)
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = rows[i]
            for j, cell in enumerate(cells):
                out.append(cell)
                if j < len(widths):
                    out.append(padchar * (widths[j] - len(cell)))
            if i + 1 < nrows:
                out.append("\n")

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1:
                cells = rows[this]
                if column >= len(cells) - 1:
                    break
                w = len(cells[column]) + padding
                if w > width:
                    width = w
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, nrows)
    return "".join(out)
