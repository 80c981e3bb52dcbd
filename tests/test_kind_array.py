"""Vector and matrix kinds: exact shapes, element-wise tolerance, partial credit."""

import pytest

from grader.kinds import InvalidAnswer
from tests.conftest import make


def check(comparator, answer, reference):
    return comparator.check(answer, comparator.reference(reference))


def test_vector_within_tolerance():
    v = make("vector")
    assert check(v, [0.6364, 0.2341, 0.0861], [0.636409, 0.234122, 0.086129]).fraction == 1.0
    assert check(v, ["3/4", "0.25"], [0.75, 0.25]).fraction == 1.0
    assert check(v, "[0.75, 0.25]", [0.75, 0.25]).fraction == 1.0


def test_no_broadcasting_a_vector_is_not_a_column():
    v = make("vector")
    verdict = check(v, [[1], [2], [3]], [1, 2, 3])
    assert verdict.fraction == 0.0
    assert verdict.reason == "expected a vector of 3, got a 3x1 matrix"
    m = make("matrix")
    assert check(m, [[1, 2, 3]], [[1], [2], [3]]).reason == "expected a 3x1 matrix, got a 1x3 matrix"
    assert check(m, [1, 2, 3], [[1], [2], [3]]).fraction == 0.0
    assert check(v, [1, 2], [1, 2, 3]).reason == "expected a vector of 3, got a vector of 2"


def test_all_or_nothing_by_default_and_partial_per_element_when_asked():
    reference = [[12, 12], [-12, -12], [24, 24], [0, 0]]
    answer = [[12, 12], [-12, -12], [24, 24], [0, 1]]
    assert check(make("matrix"), answer, reference).fraction == 0.0
    verdict = check(make("matrix", partial=True), answer, reference)
    assert verdict.fraction == pytest.approx(7 / 8)
    assert verdict.status == "partial"
    assert "[3][1]" in verdict.message and "expected 0, got 1" in verdict.reason


@pytest.mark.parametrize("bad, words", [
    ([[1, 2], [3]], "different lengths"),
    ([1, "x"], r"element \[1\]"),
    ([1, None], r"element \[1\]: expected a number"),
    ("[1, 2", "could not be read"),
    (5, "got a number"),
    ([[[[[1]]]]], "nested"),
])
def test_malformed_arrays_are_rejected(bad, words):
    with pytest.raises(InvalidAnswer, match=words):
        check(make("vector"), bad, [1, 2])


def test_rubric_answer_must_have_the_kind_shape():
    with pytest.raises(ValueError, match="must be a vector"):
        make("vector").reference([[1, 2]])
    with pytest.raises(ValueError, match="must be a matrix"):
        make("matrix").reference([1, 2])
    with pytest.raises(ValueError):
        make("matrix").reference([[1, 2], [3]])


def test_tolerance_modes_apply_per_element():
    v = make("vector", mode="decimals", digits=1, partial=True)
    assert check(v, [6.4, 2.3, 0.9, 0.3, 0.1], [6.364, 2.341, 0.861, 0.317, 0.117]).fraction == 1.0
