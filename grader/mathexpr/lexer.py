"""Tokenizer: turns typed text (plain or LaTeX) into tokens for the grammar in `parser`.

Everything about *names* is decided here, because the grammar needs to know whether `a(` is a
product (a declared variable) or a call (a function):

* A run of letters and digits such as `w2a1` is looked up among the declared variables, the
  functions and the constants `e` and `pi`. If it is not one of them, it is split into a
  concatenation of them, preferring the longest first piece (`w2a1` -> w2, a1 when both are
  declared; `sigmoid` is never read as `sigma` + ...), and a warning records the reading.
  A run that cannot be split that way is an error naming the run and the allowed variables:
  silently reading `q` or `ab` letter by letter would grade a typo as a product.
* Declared variables shadow functions and constants (declare `e` and it is a variable; declare
  `sigma` and `\\sigma(z)` is the product sigma*z, so write `sigmoid(z)` for the function).
* LaTeX subscripts join the name (`a_1`, `a_{1}` -> `a1`); Greek letters, written `\\theta` or
  `θ`, are names of their own (`theta`) and are never split.
* A function must be followed by its argument in parentheses or braces (`ln(x)`, `\\log{x}`),
  optionally after a whole-number power (`\\tanh^2(z)`); `\\ln x` is an error, because reading
  how far a bare argument extends (`\\ln x y`?) is a guess.

LaTeX is reduced to the same tokens as plain text: `\\cdot`, `\\times`, `·`, `×` are `*`;
`\\left(`/`\\right)` and sizing commands are plain brackets; `{}` and `[]` group like `()`;
`\\frac`, `\\sqrt` are tokens of their own (`\\frac12`, `\\sqrt x` take single characters as in
TeX); spacing commands are ignored. Any other character or command is an error with its
position (1-based). Brackets are matched here, so an unbalanced or empty bracket, and nesting
deeper than `MAX_NESTING`, are reported before parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from grader.mathexpr.functions import FUNCTION_NAMES, canonical
from grader.mathexpr.nodes import CONSTANTS, ExpressionError
from grader.textsafety import describe_character

MAX_LENGTH = 1000
MAX_NESTING = 50
MAX_DIGITS = 30
MAX_MAGNITUDE = 100  # decimal exponent range of number literals: 1e-100 .. 1e100

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RUN = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.DOTALL)

GREEK = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi",
    "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
    "Psi", "Omega",
]
_GREEK_COMMANDS = {name: name for name in GREEK} | {
    "varepsilon": "epsilon", "vartheta": "theta", "varphi": "phi", "varsigma": "sigma",
    "varrho": "rho", "varpi": "pi",
}
_UNICODE_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ϵ": "epsilon",
    "ζ": "zeta", "η": "eta", "θ": "theta", "ϑ": "theta", "ι": "iota", "κ": "kappa",
    "λ": "lambda", "μ": "mu", "µ": "mu", "ν": "nu", "ξ": "xi", "ο": "omicron", "π": "pi",
    "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "ϕ": "phi",
    "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta",
    "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi",
    "Ω": "Omega",
}
_FUNCTION_COMMANDS = {
    "exp", "log", "ln", "sin", "cos", "tan", "sec", "csc", "cot", "sinh", "cosh", "tanh", "coth",
    "arcsin", "arccos", "arctan", "max", "min",
}
_TEXT_COMMANDS = {
    "operatorname", "mathrm", "text", "textrm", "mathit", "textit", "mathbf", "boldsymbol", "bm",
    "mathsf", "textsf",
}
_SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "textstyle"}
_SIZES = {"big", "Big", "bigg", "Bigg"}
_SINGLE = {
    "+": "PLUS", "-": "MINUS", "/": "SLASH", "^": "POW", "(": "LPAR", ")": "RPAR",
    "{": "LBRACE", "}": "RBRACE", "[": "LBRACK", "]": "RBRACK", ",": "COMMA",
    "\u2212": "MINUS", "\u2013": "MINUS", "\u00b7": "STAR", "\u22c5": "STAR", "\u00d7": "STAR",
    "\u2217": "STAR", "\u2219": "STAR", "\u00f7": "SLASH", "\u221a": "SQRT",
}
_SUPERSCRIPTS = {"\u00b9": 1, "\u00b2": 2, "\u00b3": 3}
_OPENERS = {"LPAR": "RPAR", "LBRACE": "RBRACE", "LBRACK": "RBRACK", "ABSOPEN": "ABSCLOSE"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
SHOW = {
    "PLUS": "+", "MINUS": "-", "STAR": "*", "SLASH": "/", "POW": "^", "LPAR": "(", "RPAR": ")",
    "LBRACE": "{", "RBRACE": "}", "LBRACK": "[", "RBRACK": "]", "COMMA": ",",
    "ABSOPEN": "\\left|", "ABSCLOSE": "\\right|", "FRAC": "\\frac", "SQRT": "\\sqrt",
}


@dataclass(frozen=True)
class Tok:
    type: str
    value: object  # str for names, Fraction for numbers
    pos: int  # 0-based index into the text
    text: str  # what was typed

    def show(self) -> str:
        return self.text or SHOW.get(self.type, self.type)


@dataclass(frozen=True)
class Names:
    """The names an expression may use."""

    variables: frozenset[str]
    functions: frozenset[str] = frozenset()  # declared (uninterpreted) functions

    def kind(self, name: str) -> tuple[str, str] | None:
        """('NAME'|'FUNC'|'CONST', canonical name) for a known name, else None."""
        if name in self.variables:
            return ("NAME", name)
        if name in self.functions:
            return ("FUNC", name)
        if name in FUNCTION_NAMES:
            return ("FUNC", canonical(name))
        if name in CONSTANTS:
            return ("CONST", name)
        return None

    def describe(self) -> str:
        text = f"this answer may use {', '.join(sorted(self.variables))}" if self.variables else \
            "this answer may not use variables"
        if self.functions:
            text += f" and the functions {', '.join(sorted(self.functions))}"
        return text


def where(pos: int) -> str:
    return f"at position {pos + 1}"


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Lexer:
    def __init__(self, text: str, names: Names):
        self.text = text
        self.names = names
        self.i = 0
        self.out: list[Tok] = []
        self.warnings: list[str] = []
        self.longest = max([len(n) for n in names.variables | names.functions | FUNCTION_NAMES | set(CONSTANTS)])

    # --- helpers -------------------------------------------------------------------------------
    def emit(self, type_: str, value: object, pos: int, text: str) -> None:
        self.out.append(Tok(type_, value, pos, text))

    def skip_space(self) -> None:
        while self.i < len(self.text) and (self.text[self.i].isspace() or self.text[self.i] == "~"):
            self.i += 1

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    # --- names ---------------------------------------------------------------------------------
    def subscript(self, base: str) -> str:
        """The subscript after a name (`_1`, `_{12}`), or '' when there is none.

        As in TeX, `_12` subscripts only the `1`, unless `base` + `12` is a declared name.
        """
        if self.peek() != "_":
            return ""
        start = self.i
        self.i += 1
        self.skip_space()
        if self.peek() == "{":
            end = self.text.find("}", self.i)
            content = self.text[self.i + 1: end].strip() if end >= 0 else ""
            if end < 0 or not _ALNUM.fullmatch(content):
                raise ExpressionError(
                    f"a subscript must be letters or digits, like a_1 or a_{{12}} ({where(start)})", start)
            self.i = end + 1
            return content
        match = _ALNUM.match(self.text, self.i)
        if not match:
            raise ExpressionError(f"unexpected '_' {where(start)}", start)
        whole = match.group()
        take = whole if self.names.kind(base + whole) is not None else whole[0]
        self.i += len(take)
        return take

    def split(self, run: str) -> list[str] | None:
        """Split `run` into known names, longest first piece first; None if impossible.

        Dynamic programming from the end (no recursion: a run may be 1000 letters long):
        `first[i]` is the length of the longest known name at i whose remainder splits too.
        """
        n = len(run)
        first = [0] * (n + 1)
        splits = [False] * n + [True]
        for i in range(n - 1, -1, -1):
            for length in range(min(self.longest, n - i), 0, -1):
                if splits[i + length] and self.names.kind(run[i:i + length]) is not None:
                    first[i], splits[i] = length, True
                    break
        if not splits[0]:
            return None
        pieces, i = [], 0
        while i < n:
            pieces.append(run[i:i + first[i]])
            i += first[i]
        return pieces

    def name(self, base: str, pos: int, atomic: bool) -> None:
        start_sub = self.i
        sub = self.subscript(base)
        full = base + sub
        typed = self.text[pos:self.i]
        if sub and self.names.kind(base) is not None and self.names.kind(base)[0] == "FUNC" \
                and self.names.kind(full) is None:
            raise ExpressionError(f"a function name cannot have a subscript ({where(start_sub)})", start_sub)
        known = self.names.kind(full)
        if known is not None:
            self.emit(known[0], known[1], pos, typed)
            return
        pieces = None if atomic else self.split(full)
        if pieces is None:
            raise ExpressionError(f"unknown name '{_clip(full)}' {where(pos)}; {self.names.describe()}", pos)
        self.warnings.append(f"read '{_clip(typed, 40)}' as {_clip('*'.join(pieces), 60)}")
        for piece in pieces:
            kind, canon = self.names.kind(piece)  # type: ignore[misc]
            self.emit(kind, canon, pos, piece)

    # --- numbers -------------------------------------------------------------------------------
    def number(self) -> None:
        pos = self.i
        match = _NUMBER.match(self.text, pos)
        assert match
        text = match.group()
        self.i = match.end()
        try:
            value = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern only matches valid decimals
            raise ExpressionError(f"'{_clip(text)}' is not a number {where(pos)}", pos) from None
        digits = value.as_tuple().digits
        significant = len(str(int("".join(map(str, digits))))) if any(digits) else 1
        if significant > MAX_DIGITS:
            raise ExpressionError(f"the number '{_clip(text)}' has more than {MAX_DIGITS} digits", pos)
        if value != 0 and not -MAX_MAGNITUDE <= value.adjusted() <= MAX_MAGNITUDE:
            size = "large" if value.adjusted() > 0 else "small"
            raise ExpressionError(f"the number '{_clip(text)}' is too {size} {where(pos)}", pos)
        self.emit("NUMBER", Fraction(value), pos, text)

    # --- LaTeX ---------------------------------------------------------------------------------
    def single_argument(self, command: str) -> None:
        """TeX's short argument (`\\sqrt x`, `\\frac12`): one character, wrapped in braces."""
        self.skip_space()
        pos = self.i
        ch = self.peek()
        if not (ch.isascii() and ch.isalnum()):
            raise ExpressionError(
                f"{command} needs its argument in braces, like {command}{{x}} ({where(pos)})", pos)
        self.i += 1
        self.emit("LBRACE", "{", pos, "")
        if ch.isdigit():
            self.emit("NUMBER", Fraction(int(ch)), pos, ch)
        else:
            known = self.names.kind(ch)
            if known is None or known[0] == "FUNC":
                raise ExpressionError(f"unknown name '{ch}' {where(pos)}; {self.names.describe()}", pos)
            self.emit(known[0], known[1], pos, ch)
        self.emit("RBRACE", "}", pos, "")

    def command(self) -> None:
        pos = self.i
        match = _COMMAND.match(self.text, pos)
        if not match:
            raise ExpressionError(f"a lone backslash {where(pos)}", pos)
        cmd = match.group(1)
        typed = match.group()
        self.i = match.end()
        if cmd in _SPACING:
            return
        if cmd in ("{", "}"):
            self.emit("LBRACE" if cmd == "{" else "RBRACE", cmd, pos, typed)
            return
        if cmd in ("cdot", "times", "ast"):
            self.emit("STAR", "*", pos, typed)
            return
        if cmd == "div":
            self.emit("SLASH", "/", pos, typed)
            return
        if cmd in ("lvert", "rvert"):
            self.emit("ABSOPEN" if cmd == "lvert" else "ABSCLOSE", "|", pos, typed)
            return
        if cmd in ("left", "right") or cmd.rstrip("lr") in _SIZES:
            self.skip_space()
            if self.peek() == "|":
                side = cmd if cmd in ("left", "right") else {"l": "left", "r": "right"}.get(cmd[-1])
                if side is None:
                    raise ExpressionError(f"write \\left| x \\right| or abs(x) for an absolute value ({where(pos)})", pos)
                self.i += 1
                self.emit("ABSOPEN" if side == "left" else "ABSCLOSE", "|", pos, self.text[pos:self.i])
            elif self.peek() == ".":
                raise ExpressionError(f"{typed}. is not supported {where(pos)}", pos)
            return
        if cmd in ("frac", "dfrac", "tfrac"):
            self.emit("FRAC", "frac", pos, typed)
            self.skip_space()
            if self.peek() != "{":
                self.single_argument(typed)
                self.single_argument(typed)
            return
        if cmd == "sqrt":
            self.sqrt(pos, typed)
            return
        if cmd in _TEXT_COMMANDS:
            self.skip_space()
            end = self.text.find("}", self.i)
            content = self.text[self.i + 1: end].strip() if self.peek() == "{" and end >= 0 else None
            if content is None or not _RUN.fullmatch(content):
                raise ExpressionError(f"{typed} must be followed by a name in braces, like {typed}{{x}} ({where(pos)})", pos)
            self.i = end + 1
            if self.names.kind(content) is None and self.names.kind(content.lower()) is not None:
                content = content.lower()  # \operatorname{ReLU}
            self.name(content, pos, atomic=False)
            return
        if cmd in _GREEK_COMMANDS:
            self.name(_GREEK_COMMANDS[cmd], pos, atomic=True)
            return
        if cmd in _FUNCTION_COMMANDS:
            self.name(cmd, pos, atomic=True)
            return
        if cmd == "infty":
            raise ExpressionError(f"infinity is not allowed here ({where(pos)})", pos)
        raise ExpressionError(f"unknown LaTeX command '{_clip(typed)}' {where(pos)}", pos)

    def sqrt(self, pos: int, typed: str) -> None:
        self.emit("SQRT", "sqrt", pos, typed)
        self.skip_space()
        if self.peek() not in ("{", "[", "("):
            self.single_argument(typed)

    # --- main loop -----------------------------------------------------------------------------
    def run(self) -> list[Tok]:
        text = self.text
        while True:
            self.skip_space()
            if self.i >= len(text):
                break
            ch = text[self.i]
            pos = self.i
            if ch in "0123456789" or (ch == "." and _NUMBER.match(text, pos)):
                self.number()
            elif ch.isascii() and ch.isalpha():
                match = _RUN.match(text, pos)
                self.i = match.end()
                self.name(match.group(), pos, atomic=False)
            elif ch == "\\":
                self.command()
            elif ch == "*":
                if text.startswith("**", pos):
                    self.i += 2
                    self.emit("POW", "^", pos, "**")
                else:
                    self.i += 1
                    self.emit("STAR", "*", pos, "*")
            elif ch == "\u221a":
                self.i += 1
                self.sqrt(pos, ch)
            elif ch in _SINGLE:
                self.i += 1
                self.emit(_SINGLE[ch], ch, pos, ch)
            elif ch in _SUPERSCRIPTS:
                self.i += 1
                self.emit("POW", "^", pos, "")
                self.emit("NUMBER", Fraction(_SUPERSCRIPTS[ch]), pos, ch)
            elif ch in _UNICODE_GREEK:
                self.i += 1
                self.name(_UNICODE_GREEK[ch], pos, atomic=True)
            elif ch == "|":
                raise ExpressionError(f"write abs(x) for an absolute value ('|' {where(pos)})", pos)
            else:
                raise ExpressionError(f"unexpected character {describe_character(ch)} {where(pos)}", pos)
        return self.out


def _check_brackets(tokens: list[Tok]) -> None:
    stack: list[Tok] = []
    previous: Tok | None = None
    for tok in tokens:
        if tok.type in _OPENERS:
            stack.append(tok)
            if len(stack) > MAX_NESTING:
                raise ExpressionError(f"brackets are nested more than {MAX_NESTING} deep ({where(tok.pos)})", tok.pos)
        elif tok.type in _CLOSERS:
            if not stack:
                raise ExpressionError(f"unmatched '{tok.show()}' {where(tok.pos)}", tok.pos)
            opener = stack.pop()
            if _OPENERS[opener.type] != tok.type:
                raise ExpressionError(
                    f"'{opener.show()}' {where(opener.pos)} is closed by '{tok.show()}' {where(tok.pos)}", tok.pos)
            if previous is opener:
                raise ExpressionError(f"empty brackets '{opener.show()}{tok.show()}' {where(opener.pos)}", opener.pos)
        previous = tok
    if stack:
        raise ExpressionError(f"'{stack[-1].show()}' {where(stack[-1].pos)} is never closed", stack[-1].pos)


def _check_calls(tokens: list[Tok]) -> None:
    """A function name must be followed by `(` or `{`, after an optional whole-number power."""
    n = len(tokens)
    for k, tok in enumerate(tokens):
        if tok.type != "FUNC":
            continue
        j = k + 1
        if j < n and tokens[j].type == "POW":
            if j + 1 < n and tokens[j + 1].type == "NUMBER":
                j += 2
            elif j + 3 < n and [t.type for t in tokens[j + 1: j + 4]] == ["LBRACE", "NUMBER", "RBRACE"]:
                j += 4
            else:
                raise ExpressionError(
                    f"only a whole-number power such as tanh^2(z) may follow a function name "
                    f"({where(tokens[j].pos)}); write (tanh(z))^(-1) for a reciprocal", tokens[j].pos)
        if j >= n or tokens[j].type not in ("LPAR", "LBRACE"):
            name = tok.value
            raise ExpressionError(
                f"the function '{tok.text or name}' {where(tok.pos)} needs its argument in parentheses, "
                f"like {tok.text or name}(x)", tok.pos)


def _latin_look_alike(ch: str) -> str | None:
    """The ASCII letter `ch` is a homoglyph of (Cyrillic 'а' for 'a'), by Unicode's confusables data
    (loaded for the first non-ASCII letter: most answers have none, and loading it takes 0.1 s)."""
    from confusable_homoglyphs import confusables

    found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=False) or []
    glyphs = [g["c"] for hit in found for g in hit["homoglyphs"] if len(g["c"]) == 1 and g["c"].isascii()]
    return glyphs[0] if glyphs else None


def _check_look_alikes(text: str) -> None:
    """Refuse a letter from another script that looks like a Latin one (`tаnh` typed with a Cyrillic
    'а'), naming it: otherwise the message would be about the Latin letters around it. A Greek
    letter standing alone is a name (theta), so it is only suspect beside Latin letters."""
    for pos, ch in enumerate(text):
        if ch.isascii() or not ch.isalpha():
            continue
        beside_latin = any(0 <= i < len(text) and text[i].isascii() and text[i].isalpha() for i in (pos - 1, pos + 1))
        if ch in _UNICODE_GREEK and not beside_latin:
            continue
        latin = _latin_look_alike(ch)
        if latin:
            raise ExpressionError(f"{describe_character(ch)} {where(pos)} is a look-alike of the Latin letter "
                                  f"'{latin}'; type it with a Latin keyboard layout", pos)


def tokenize(text: str, names: Names) -> tuple[list[Tok], list[str]]:
    """Tokens of `text` and warnings about how names were read. Raises ExpressionError."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are accepted")
    _check_look_alikes(text)
    lexer = _Lexer(text, names)
    tokens = lexer.run()
    if not tokens:
        raise ExpressionError("the expression is empty")
    _check_brackets(tokens)
    _check_calls(tokens)
    return tokens, lexer.warnings


__all__ = ["GREEK", "MAX_LENGTH", "Names", "Tok", "normalize_name", "tokenize"]


def normalize_name(raw: str) -> str:
    """A declared name in the form the lexer produces: `a_{1}` -> `a1`, `\\theta` and `θ` -> `theta`.

    ValueError when the result is not letters followed by letters and digits.
    """
    text = str(raw).strip()
    if text[:1] in _UNICODE_GREEK:
        text = _UNICODE_GREEK[text[0]] + text[1:]
    elif text.startswith("\\"):
        match = re.match(r"[A-Za-z]+", text[1:])
        word = match.group() if match else ""
        text = _GREEK_COMMANDS.get(word, word) + text[1 + len(word):]
    text = text.replace("_", "").replace("{", "").replace("}", "")
    if not _RUN.fullmatch(text):
        raise ValueError(f"{raw!r} is not a usable name: write letters, then letters or digits "
                         f"(e.g. a1, w_2, theta)")
    return text
