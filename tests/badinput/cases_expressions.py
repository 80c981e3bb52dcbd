"""Student expressions built to break the whitelist parser or the equivalence check: each is
refused or judged within the time bound, in its own part (the quiz's q4.a), and the rest of the
file keeps its marks."""

from __future__ import annotations

import json

from tests.badinput.cases_answers import value

EXPRESSIONS = [
    ("latex-input-file", "\\input{/etc/passwd}"),
    ("latex-def-macro", "\\def\\x{1} 1 - \\tanh^2(z)"),
    ("latex-unbalanced-braces", "1 - \\tanh^{2(z)"),
    ("empty-braces", "{}"),
    ("division-by-zero", "1/0"),
    ("power-tower-of-z", "z^z^z^z^z^z^z^z"),
    ("nested-exponentials", "exp(exp(exp(exp(exp(z)))))"),
    ("huge-exponent", "tanh(z)^(10^10)"),
    ("square-root-of-negative", "sqrt(-1 - z^2)"),
    ("exactly-the-length-limit", "z" + "+z" * 499 + "-z" * 0),
    ("python-lambda", "lambda: 1 - tanh(z)**2"),
    ("python-attribute", "z.__class__"),
    ("shell-substitution", "$(rm -rf ~) 1 - tanh(z)^2"),
    ("zero-width-joiner", "1 - tan\u200dh(z)^2"),
    ("right-to-left-override", "1 - \u202etanh(z)^2"),
    ("fullwidth-letters", "1 - \uff54\uff41\uff4e\uff48(z)^2"),
]

CASES = [value(f"expression-{name}", "q4.a", json.dumps(text), ["q4.a"], lost=1.0) for name, text in EXPRESSIONS]
