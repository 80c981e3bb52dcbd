"""Numeric tolerance semantics of the number and integer kinds."""

from decimal import Decimal

import pytest

from grader.kinds import InvalidAnswer
from grader.kinds._values import NonFinite
from tests.conftest import make


def check(comparator, answer, reference):
    return comparator.check(answer, comparator.reference(reference))


def test_relative_window_is_centred_on_the_reference_not_the_student():
    n = make("number", rtol=0.1, atol=0)
    # the window is rtol * |reference|, whatever the student's value is
    assert check(n, 110, 100).fraction == 1.0
    assert check(n, 100, 110).fraction == 1.0  # 10 <= 0.1 * 110 = 11
    assert check(n, 90, 100).fraction == 1.0
    assert check(n, 89.9, 100).fraction == 0.0


def test_default_relative_tolerance_is_one_percent_of_the_reference():
    n = make("number")
    assert check(n, "0.0364", 0.0364).fraction == 1.0
    assert check(n, 0.0367, 0.0364).fraction == 1.0
    verdict = check(n, Decimal("0.054"), 0.0364)
    assert verdict.fraction == 0.0 and verdict.status == "incorrect"
    assert verdict.reason == "expected 0.0364 within 1%, got 0.054"
    assert "0.0364" not in verdict.message


def test_zero_reference_leaves_only_atol():
    n = make("number")
    assert check(n, 1e-9, 0.0).fraction == 1.0
    assert check(n, 1e-6, 0.0).fraction == 0.0
    assert check(make("number", atol=1e-3), 5e-4, 0.0).fraction == 1.0


def test_absolute_mode_requires_atol_and_ignores_rtol():
    with pytest.raises(ValueError, match="atol"):
        make("number", mode="absolute")
    n = make("number", mode="absolute", atol=0.01)
    assert check(n, 1000.009, 1000).fraction == 1.0
    assert check(n, 1000.02, 1000).fraction == 0.0


def test_sigfig_mode_accepts_what_rounds_to_the_reference():
    n = make("number", mode="sigfig", digits=2)
    assert check(n, 0.036, 0.0364).fraction == 1.0
    assert check(n, 0.037, 0.0364).fraction == 0.0
    assert check(n, 72, -72).fraction == 0.0
    assert check(make("number", mode="sigfig", digits=3), -72.04, -72).fraction == 1.0


def test_decimals_mode():
    n = make("number", mode="decimals", digits=1)
    assert check(n, 6.4, 6.364).fraction == 1.0
    assert check(n, 6.3, 6.364).fraction == 0.0


def test_fractions_and_number_strings_are_read_without_eval():
    n = make("number")
    assert check(n, "3/4", 0.75).fraction == 1.0
    assert check(n, " -2.5e-3 ", -0.0025).fraction == 1.0
    assert check(n, "\u22120.5", -0.5).fraction == 1.0  # a typographic minus sign
    with pytest.raises(InvalidAnswer, match="comma"):
        check(n, "0,5", 0.5)
    with pytest.raises(InvalidAnswer, match="divides by zero"):
        check(n, "1/0", 0.5)


@pytest.mark.parametrize("bad, words", [
    (NonFinite("NaN"), "not a finite number"),
    (NonFinite("Infinity"), "not a finite number"),
    ("nan", "not a finite number"),
    ("-inf", "not a finite number"),
    (Decimal("1e400"), "out of the range"),
    (Decimal("1e-400"), "out of the range"),
    (10**400, "out of the range"),
    ("", "empty"),
    ("x" * 1_000_000, "characters long"),
    (True, "true/false"),
    (None, "null"),
    ([0.5], "got a list"),
    ("__import__('os').system('touch /tmp/x')", "is not a number"),
])
def test_bad_numbers_are_rejected_with_a_message(bad, words):
    with pytest.raises(InvalidAnswer, match=words):
        check(make("number"), bad, 0.5)


def test_warns_when_typed_precision_is_coarser_than_the_tolerance():
    n = make("number")
    verdict = check(n, Decimal("0.04"), 0.0364)
    assert verdict.fraction == 0.0
    assert verdict.warnings and "2 decimal places" in verdict.warnings[0]
    assert check(n, Decimal("0.0364"), 0.0364).warnings == []
    assert check(n, Decimal("0.25"), 0.25).warnings == []  # exact: nothing lost to rounding


def test_bad_tolerance_options_are_rejected():
    with pytest.raises(ValueError):
        make("number", rtol=-1)
    with pytest.raises(ValueError, match="digits"):
        make("number", mode="sigfig")
    with pytest.raises(ValueError):
        make("number", tolerance=0.1)  # unknown option


def test_reference_must_be_a_finite_number():
    with pytest.raises(ValueError, match="finite number"):
        make("number").reference("abc")


def test_integer_is_exact():
    i = make("integer")
    assert check(i, 13, 13).fraction == 1.0
    assert check(i, "13", 13).fraction == 1.0
    assert check(i, Decimal("13.0"), 13).fraction == 1.0
    verdict = check(i, 12, 13)
    assert verdict.fraction == 0.0 and verdict.reason == "expected exactly 13, got 12"
    with pytest.raises(InvalidAnswer, match="not a whole number"):
        check(i, Decimal("13.5"), 13)
    with pytest.raises(InvalidAnswer, match="digits"):
        check(i, Decimal("1e400"), 13)
    with pytest.raises(InvalidAnswer):
        check(i, True, 1)


def test_constant_expressions_are_numbers_without_eval():
    n = make("number")
    assert check(n, "sqrt(2)/2", 0.7071).fraction == 1.0
    assert check(n, r"e^{-1}", 0.3679).fraction == 1.0
    assert check(n, r"\frac{1}{3}", 0.3333).fraction == 1.0
    with pytest.raises(InvalidAnswer, match="may not use variables"):
        check(n, "x + 1", 1.0)
    with pytest.raises(InvalidAnswer, match="too large"):
        check(n, "9**9**9**9", 1.0)
