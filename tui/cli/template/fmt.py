"""Go's ``fmt``: ``Sprint``, ``Sprintln`` and ``Sprintf`` (the ``print``/``printf`` functions)."""

from __future__ import annotations

from typing import Any

from .values import MISSING, _fmt_float_shortest, _fmt_v, _go_quote, _go_quote_rune, _go_type, _sorted_keys


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
