"""The grammar (lark, LALR) and `parse`, which turns text into a tree of `nodes`.

Precedence, loosest first: `+ -`; `* /` and juxtaposition (`2x`, `a(1-a)`, `(a-y)(b)`), all
left-associative, so `a/b c` is (a/b)*c (a warning says so); unary `-`, so `-x^2` is -(x^2);
`^` (also `**`), right-associative, so `2^3^2` is 2^9, with a signed exponent allowed (`e^-z`).
Juxtaposition never starts with a sign, so `a -b` is a subtraction. `\\frac{a}{b}`,
`\\sqrt{x}`, `\\sqrt[n]{x}` and calls `f(x)`, `f{x}`, `\\tanh^2(z)` (= tanh(z)^2) are atoms.

The tokens come from `lexer.tokenize` and are fed to lark's interactive LALR parser; tree nodes
are built by inline callbacks as rules reduce, so no recursion happens anywhere in parsing and
the limits in `nodes` apply as the tree grows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput
from lark.lexer import Lexer

from grader.mathexpr.functions import BUILTINS
from grader.mathexpr.lexer import Names, Tok, tokenize, where
from grader.mathexpr.nodes import BinOp, Call, Const, ExpressionError, Neg, Node, Num, Pow, Var, children, to_text

GRAMMAR = r"""
%declare NUMBER NAME CONST FUNC _PLUS _MINUS _STAR _SLASH _POW _LPAR _RPAR _LBRACE _RBRACE
%declare _LBRACK _RBRACK _ABSOPEN _ABSCLOSE _COMMA _FRAC _SQRT

start: sum
?sum: term
    | sum _PLUS term             -> add
    | sum _MINUS term            -> sub
?term: signed
    | term _STAR signed          -> mul
    | term _SLASH signed         -> div
    | term power                 -> juxt
?signed: power
    | _MINUS signed              -> neg
    | _PLUS signed
?power: atom
    | atom _POW exponent         -> pow
?exponent: power
    | _MINUS exponent            -> neg
    | _PLUS exponent
?atom: NUMBER                    -> number
    | NAME                       -> var
    | CONST                      -> const
    | _LPAR sum _RPAR            -> group
    | _LBRACE sum _RBRACE        -> group
    | _LBRACK sum _RBRACK        -> group
    | _ABSOPEN sum _ABSCLOSE     -> absval
    | _FRAC _LBRACE sum _RBRACE _LBRACE sum _RBRACE  -> frac
    | _SQRT _LBRACE sum _RBRACE  -> sqrt
    | _SQRT _LPAR sum _RPAR      -> sqrt
    | _SQRT _LBRACK sum _RBRACK _LBRACE sum _RBRACE  -> root
    | FUNC arguments             -> call
    | FUNC _POW fpower arguments -> call_power
?fpower: NUMBER                  -> number
    | _LBRACE NUMBER _RBRACE     -> number
arguments: _LPAR args _RPAR
    | _LBRACE args _RBRACE
args: sum (_COMMA sum)*
"""


class _Build(Transformer):
    """Inline LALR callbacks: each gets the kept children of one reduced rule."""

    def start(self, c):
        return c[0]

    def add(self, c):
        return BinOp("+", c[0], c[1])

    def sub(self, c):
        return BinOp("-", c[0], c[1])

    def mul(self, c):
        return BinOp("*", c[0], c[1])

    def div(self, c):
        return BinOp("/", c[0], c[1])

    def frac(self, c):
        return BinOp("/", c[0], c[1], bracketed=True)

    def group(self, c):
        node = c[0]
        if isinstance(node, BinOp) and node.op == "/" and not node.bracketed:
            return BinOp("/", node.left, node.right, bracketed=True)
        return node

    def juxt(self, c):
        return BinOp("*", c[0], c[1], implicit=True)

    def neg(self, c):
        return Neg(c[0])

    def pow(self, c):
        return Pow(c[0], c[1])

    def number(self, c):
        return Num(c[0].value)

    def var(self, c):
        return Var(str(c[0].value))

    def const(self, c):
        return Const(str(c[0].value))

    def absval(self, c):
        return Call("abs", (c[0],))

    def sqrt(self, c):
        return Call("sqrt", (c[0],))

    def root(self, c):
        index = c[0]
        if index.value is None:
            raise ExpressionError("the index of a root must be a number, like \\sqrt[3]{x}")
        return Pow(c[1], BinOp("/", Num(Fraction(1)), index))

    def arguments(self, c):
        return c[0]

    def args(self, c):
        return tuple(c)

    def call(self, c):
        return _call(c[0], c[1])

    def call_power(self, c):
        power: Num = c[1]
        if power.exact.denominator != 1 or power.exact < 1:
            raise ExpressionError(f"only a whole-number power such as tanh^2(z) may follow a function name "
                                  f"({where(c[0].start_pos)})", c[0].start_pos)
        return Pow(_call(c[0], c[2]), power)


def _call(token: Token, args: tuple[Node, ...]) -> Call:
    name = str(token.value)
    spec = BUILTINS.get(name)
    if spec is not None and not spec.min_args <= len(args) <= spec.max_args:
        count = spec.min_args if spec.min_args == spec.max_args else f"{spec.min_args} to {spec.max_args}"
        plural = "" if count == 1 else "s"
        raise ExpressionError(f"{name} takes {count} argument{plural}, not {len(args)} ({where(token.start_pos)})",
                              token.start_pos)
    return Call(name, args)


class _NoLexer(Lexer):
    """Lark insists on a lexer; tokens are fed to the interactive parser instead."""

    def __init__(self, conf):
        pass

    def lex(self, *args):  # pragma: no cover - never used
        raise NotImplementedError


_parser: Lark | None = None
_lock = threading.Lock()


def _lark() -> Lark:
    global _parser
    with _lock:
        if _parser is None:
            _parser = Lark(GRAMMAR, parser="lalr", lexer=_NoLexer, transformer=_Build())
        return _parser


@dataclass(frozen=True)
class Parsed:
    node: Node
    warnings: tuple[str, ...]


def _describe(tok: Tok | None) -> str:
    if tok is None:
        return "the expression ends too early (an operand or a closing bracket is missing)"
    if tok.type == "COMMA":
        return (f"unexpected ',' {where(tok.pos)} (write decimals with a point; commas only separate "
                f"arguments, as in max(a, b))")
    return f"unexpected '{tok.show()}' {where(tok.pos)}"


def _juxtaposition_warnings(node: Node, out: list[str]) -> None:
    if (isinstance(node, BinOp) and node.implicit and isinstance(node.left, BinOp) and node.left.op == "/"
            and not node.left.bracketed):
        out.append(f"read {to_text(node.left)} {to_text(node.right)} as ({to_text(node.left)})*{to_text(node.right)}; "
                   f"write {to_text(node.left.left)}/({to_text(node.left.right)}*{to_text(node.right)}) if you meant that")
    for child in children(node):
        _juxtaposition_warnings(child, out)


def parse(text: str, variables=(), functions=()) -> Parsed:
    """Parse `text` using the declared `variables` and extra `functions`; raise ExpressionError.

    Names are taken as given (already normalized, see `normalize_name`). The trees are immutable,
    so a text parsed before (a class types the same few forms; a rubric's definitions are read by
    each of its parts) is not parsed again.
    """
    if not isinstance(text, str):
        raise ExpressionError("the expression must be text")
    return _parse(text, Names(frozenset(variables), frozenset(functions)))


@lru_cache(maxsize=4096)
def _parse(text: str, names: Names) -> Parsed:
    tokens, warnings = tokenize(text, names)
    interactive = _lark().parse_interactive()
    current: Tok | None = None
    try:
        for tok in tokens:
            current = tok
            interactive.feed_token(Token(tok.type if tok.type in ("NUMBER", "NAME", "CONST", "FUNC") else "_" + tok.type,
                                         tok.value, start_pos=tok.pos))
        current = None
        node = interactive.feed_eof()
    except UnexpectedInput:
        raise ExpressionError(_describe(current), current.pos if current else None) from None
    notes = list(warnings)
    _juxtaposition_warnings(node, notes)
    return Parsed(node, tuple(notes))
