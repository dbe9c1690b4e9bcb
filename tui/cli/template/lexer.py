"""The template lexer: text and actions into tokens, as Go's ``text/template/parse`` lexes them."""

from __future__ import annotations

from .values import _go_quote


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
