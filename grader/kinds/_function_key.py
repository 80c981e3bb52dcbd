"""The key of a function check, shared by `kind: function` (notebook.functions) and the program
kind's function check (program.functions): standard library only, since every rubric loads both kinds."""

from __future__ import annotations


def case_reference(value, function: str | None, section: str) -> dict:
    """The `solution: SECTION.functions` entry of `function` that a function check judges against;
    ValueError, naming the section, for anything else (a rubric error)."""
    if not isinstance(value, dict) or not all(isinstance(v, dict) and "cases" in v for v in value.values()):
        raise ValueError(f"a function check takes solution: {section}.functions")
    if function not in value:
        known = ", ".join(value) or "none"
        raise ValueError(f"function: {section}.functions has no {function!r} (it has {known})")
    return {"name": function, **value[function]}


def described(reference: dict) -> str:
    """What a function check's key is, for the report: the cases by what they test."""
    return (f"{reference['name']} gives the reference notebook's outputs on {len(reference['cases'])} cases: "
            + "; ".join(case["what"] for case in reference["cases"]))
