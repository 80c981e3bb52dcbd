"""Choice, multi-select and short-text kinds."""

import time

import pytest

from grader.kinds import InvalidAnswer
from tests.conftest import make


def check(comparator, answer, reference):
    return comparator.check(answer, comparator.reference(reference))


@pytest.mark.parametrize("answer", ["B", "b", " (B) ", "B.", ["B"]])
def test_choice_normalises_the_letter(answer):
    assert check(make("choice"), answer, "B").fraction == 1.0


def test_choice_rejects_several_or_unknown_options():
    c = make("choice")
    assert check(c, "C", "B").reason == "expected B, chose C"
    with pytest.raises(InvalidAnswer, match="exactly one"):
        check(c, "BC", "B")
    with pytest.raises(InvalidAnswer, match="not one of the options"):
        check(c, "E", "B")


def test_choice_with_word_labels_keeps_the_rubric_spelling():
    c = make("choice", choices=["yes", "no"])
    assert c.reference("No") == "no"
    assert check(c, "NO", "no").fraction == 1.0
    assert check(c, "yes", "no").fraction == 0.0


@pytest.mark.parametrize("answer", ["ACD", "a, c, d", "A C D", ["A", "C", "D"], "D and A and C"])
def test_multi_reads_sets_in_any_spelling(answer):
    assert check(make("multi"), answer, "ACD").fraction == 1.0


def test_multi_partial_credit_modes():
    # key ACD, student ABC: 2 of 3 right chosen, 1 wrong chosen
    assert check(make("multi"), "ABC", "ACD").fraction == 0.0
    per_option = make("multi", partial="per_option")
    assert check(per_option, "ABC", "ACD").fraction == pytest.approx(2 / 4)  # A, C right; B, D wrong
    rmw = make("multi", partial="right_minus_wrong")
    assert check(rmw, "ABC", "ACD").fraction == pytest.approx(1 / 3)
    assert check(rmw, "ABCD", "A").fraction == 0.0  # ticking everything earns nothing
    assert check(rmw, "AC", "ACD").fraction == pytest.approx(2 / 3)


def test_bad_choice_options_in_a_rubric():
    with pytest.raises(ValueError):
        make("choice", choices=["A", "a"])
    with pytest.raises(ValueError):
        make("choice", choices=["A"])
    with pytest.raises(ValueError, match="exactly one"):
        make("choice").reference("AB")


def test_text_exact_with_alternatives_and_normalisation():
    t = make("text", accept=["optimal weights"])
    assert check(t, "  The  weight vector w. ", "the weight vector w").fraction == 1.0
    assert check(t, "Optimal Weights", "the weight vector w").fraction == 1.0
    assert check(t, "the bias", "the weight vector w").fraction == 0.0


def test_text_regex_matches_the_whole_normalised_answer():
    t = make("text", match="regex")
    assert check(t, "Yes, it is convex", r"yes\b.*convex.*").fraction == 1.0
    assert check(t, "no", r"yes\b.*").fraction == 0.0
    with pytest.raises(ValueError, match="regular expression"):
        t.reference("(unclosed")


@pytest.mark.parametrize("bad, words", [
    ("", "empty"), ("x" * 1_000_000, "characters long"), ("bad \udc80 byte", "UTF-8"), (["a"], "expected text"),
])
def test_text_rejects_bad_input(bad, words):
    with pytest.raises(InvalidAnswer, match=words):
        check(make("text"), bad, "a")


@pytest.mark.parametrize("pattern, answer", [
    ("(a+)+$", "a" * 40 + "!"), ("(a|aa)+", "a" * 999 + "b"), ("(.*a){20}", "a" * 60 + "!"),
    (r"(\w+\s?)+$", "word " * 150 + "!"),
])
def test_text_regex_matching_takes_linear_time(pattern, answer):
    started = time.perf_counter()
    assert check(make("text", match="regex"), answer, pattern).fraction == 0.0
    assert check(make("text", match="regex"), answer.rstrip("!b"), pattern).fraction == 1.0
    assert time.perf_counter() - started < 1


def test_text_regex_case_and_whole_text():
    assert check(make("text", match="regex"), "Convex", "CONVEX").fraction == 1.0
    assert check(make("text", match="regex", case_sensitive=True), "Convex", "CONVEX").fraction == 0.0
    assert check(make("text", match="regex"), "not convex", "convex").fraction == 0.0


@pytest.mark.parametrize("pattern, words", [
    ("a{4294967296}", r"repeats \{4294967296\} times; RE2 allows counts up to 1000"),
    ("a{2,1001}", r"repeats \{2,1001\} times"),
    (r"(a)\1", r"invalid escape sequence: \\1 \(RE2 syntax: no backreferences"),
    ("(?=a)a", r"invalid perl operator: \(\?= \(RE2 syntax"),
    (r"yes\Z", r"\\z rather than \\Z"),
    ("x" * 1001, "1,001 characters long; at most 1000 are accepted"),
    (r"\pL{1000}", "pattern too large .* use smaller repeat counts"),
])
def test_text_regex_refuses_what_re2_cannot_match_safely(pattern, words):
    with pytest.raises(ValueError, match=words):
        make("text", match="regex").reference(pattern)


def test_text_regex_escaped_braces_are_literal():
    assert check(make("text", match="regex"), "{4294967296}", r"\{4294967296}").fraction == 1.0
