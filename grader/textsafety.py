"""Submission text on its way out: made inert for terminals and spreadsheets.

Student ids, names, part ids, file names and messages that quote them can hold anything: escape
sequences (`ESC[2J` clears a terminal), newlines and NUL (which split or cut a CSV row), bidi
overrides (which reorder what a reader sees) and rich's markup (`[/]` raises, `[bold]` styles).
`printable` shows every such character as a visible escape; `terminal` also escapes markup for
rich; CSV cells use `printable` and then defuse spreadsheet formulas (grader.reports.gradebook).
"""

from __future__ import annotations

import unicodedata


def _shown(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object) -> str:
    """`text` with control, format (bidi), separator and unpaired surrogate characters escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _shown(ch) for ch in text)


def encodable(text: str) -> str:
    """`text` with lone surrogates (undecodable bytes of a file name or file) shown as escapes, so
    that it can be written as UTF-8; everything else is kept as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def terminal(text: object) -> str:
    """Text for a rich console: printable, with markup escaped so that it prints as typed."""
    from rich.markup import escape  # rich only where something is printed: grading imports none of it

    return escape(printable(text))


def describe_character(ch: str) -> str:
    """`'а' (U+0430 CYRILLIC SMALL LETTER A)`: a character named so a student can find it."""
    name = unicodedata.name(ch, "unnamed character")
    return f"'{printable(ch)}' (U+{ord(ch):04X} {name})"
