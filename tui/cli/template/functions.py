"""The template functions: Go's builtins and docker's (``json``, ``split``, ``join``, ``upper`` …)."""

from __future__ import annotations

from typing import Any, Callable

from .values import MISSING, _ArgError, _FuncError, _TemplateError, _fmt_v, _go_type, _truth


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
    from .fmt import _sprint  # lazily, like fmt below: Go's fmt is not needed on the hot path

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
    from .fmt import _sprint

    return _sprint(list(args))


def _fn_println(*args: Any) -> str:
    from .fmt import _sprintln

    return _sprintln(list(args))


def _fn_printf(fmt: Any, *args: Any) -> str:
    from .fmt import _sprintf

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
