"""The template parser: tokens into the parse tree, with Go's error messages."""

from __future__ import annotations

from typing import NoReturn

from .values import _TemplateError, _go_quote
from .functions import _BUILTINS
from .lexer import _Tok, _lex, _unquote
from .nodes import (
    _Action,
    _Bool,
    _BreakNode,
    _Chain,
    _Command,
    _ContinueNode,
    _Control,
    _Dot,
    _Else,
    _End,
    _Field,
    _Ident,
    _Nil,
    _Node,
    _Number,
    _Pipe,
    _String,
    _TemplateCall,
    _Text,
    _Variable,
)


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
