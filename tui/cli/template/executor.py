"""The template executor: walks the parse tree against Python data."""

from __future__ import annotations

from typing import Any, Iterator, NoReturn

from .values import (
    MISSING,
    _ArgError,
    _FuncError,
    _TemplateError,
    _fmt_v,
    _go_quote,
    _go_type,
    _print_value,
    _sorted_keys,
    _truth,
)
from .functions import _FuncSpec
from .nodes import (
    _Action,
    _Bool,
    _BreakNode,
    _Chain,
    _Command,
    _ContinueNode,
    _Control,
    _Dot,
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


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


_MAX_DEPTH = 100


class _State:
    __slots__ = ("text", "defs", "funcs", "vars", "out", "node", "depth", "name")

    def __init__(self, text: str, defs: dict[str, list[_Node]], funcs: dict[str, _FuncSpec], data: Any,
                 out: list[str]) -> None:
        self.text = text
        self.defs = defs
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
