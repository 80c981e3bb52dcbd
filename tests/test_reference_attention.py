"""The attention solver: the exam's two heads under both readings of the seed, Jacobians against
central differences and against the chain rule written out, and shape errors that name the matrix."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
from pydantic import ValidationError

from reference.attention import Attention
from tests.conftest import rubric_problems

I = [[1, 0], [0, 1]]
J = [[1, 1], [1, 1]]
MINUS_J = [[-1, -1], [-1, -1]]
EXAM_INPUTS = [[1, 1], [-1, -1], [2, 2], [0, 0]]
ONES_2x4 = [[1, 1, 1, 1], [1, 1, 1, 1]]
# The seed's worked solution, as printed: head outputs y_i^(1), y_i^(2) and the final y_i.
PUBLISHED_HEAD1 = [[12, 12], [-12, -12], [24, 24], [0, 0]]
PUBLISHED_HEAD2 = [[-48, -48], [48, 48], [-96, -96], [0, 0]]
PUBLISHED_OUTPUT = [[-72, -72], [72, 72], [-144, -144], [0, 0]]


def solve(params: dict) -> dict:
    return Attention(Attention.Params.model_validate(params)).solve()


def exam(head2: dict) -> dict:
    return solve({"inputs": EXAM_INPUTS, "heads": [{"W_Q": I, "W_K": I, "W_V": I}, head2], "W_O": ONES_2x4})


def test_the_published_answer_matches_the_papers_head2_not_the_recaps():
    paper = exam({"W_Q": J, "W_K": MINUS_J, "W_V": I})
    recap = exam({"W_Q": MINUS_J, "W_K": MINUS_J, "W_V": MINUS_J})
    assert paper["heads[0].output"] == recap["heads[0].output"] == PUBLISHED_HEAD1
    assert paper["heads[1].output"] == PUBLISHED_HEAD2 and paper["output"] == PUBLISHED_OUTPUT
    assert recap["heads[1].output"][0] == [-96, -96] and recap["output"][0] == [-168, -168]
    assert recap["output"] != PUBLISHED_OUTPUT


def test_exam_intermediates_follow_the_definition():
    out = exam({"W_Q": J, "W_K": MINUS_J, "W_V": I})
    x = np.array(EXAM_INPUTS, dtype=float)
    assert out["heads[0].scores"] == (x @ x.T).tolist()
    sums = x.sum(axis=1, keepdims=True)  # s_i = 1^T x_i
    assert out["heads[1].Q"] == (sums * [1, 1]).tolist() and out["heads[1].K"] == (-sums * [1, 1]).tolist()
    assert out["heads[1].scores"] == (-2 * sums @ sums.T).tolist()
    assert out["concat"][0] == [12, 12, -48, -48] and out["output[2]"] == [-144, -144]
    assert out["shape.heads[1].W_K"] == [2, 2] and out["shape.W_O"] == [2, 4]


def random_params(seed: int) -> dict:
    """Two heads of different widths (d_k 3 and 1, d_v 2 and 3), scaled scores, a projection."""
    rng = np.random.default_rng(seed)

    def matrix(rows, columns):
        return rng.normal(size=(rows, columns)).round(3).tolist()

    return {"inputs": matrix(3, 4),
            "heads": [{"W_Q": matrix(3, 4), "W_K": matrix(3, 4), "W_V": matrix(2, 4)},
                      {"W_Q": matrix(1, 4), "W_K": matrix(1, 4), "W_V": matrix(3, 4)}],
            "W_O": matrix(2, 5), "scale": "sqrt_dk", "jacobians": [[0, 0], [0, 2], [2, 1]],
            "upstream": matrix(3, 2)}


def test_jacobians_and_input_gradients_match_central_differences():
    params = random_params(0)
    out = solve(params)
    eps = 1e-6

    def output_with(j: int, b: int, delta: float) -> np.ndarray:
        shifted = copy.deepcopy(params)
        shifted["inputs"][j][b] += delta
        return np.array(solve({**shifted, "jacobians": [], "upstream": None})["output"])

    upstream = np.array(params["upstream"])
    for j in range(3):
        columns = [(output_with(j, b, eps) - output_with(j, b, -eps)) / (2 * eps) for b in range(4)]
        numeric = np.stack(columns, axis=-1)  # [i, a, b] = d y_i[a] / d x_j[b]
        for i in range(3):
            if [i, j] in params["jacobians"]:
                np.testing.assert_allclose(out[f"jacobian[{i}][{j}]"], numeric[i], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(out[f"grad.x[{j}]"], np.einsum("ia,iab->b", upstream, numeric), rtol=1e-6, atol=1e-7)


def test_toy_jacobian_is_the_chain_rule_and_the_published_formula_is_not():
    """Part (c): one head, two tokens, no W_O. x1 reaches y1 through Q1, K1 and V1; the published
    dy1/dx1 = sum_j [V_j K_j^T W_Q + (Q1 . K_j) W_V] drops V1 Q1^T W_K and wrongly sums the W_V term."""
    rng = np.random.default_rng(1)
    wq, wk, wv = (rng.normal(size=(3, 3)) for _ in range(3))
    x = rng.normal(size=(2, 3))
    g = rng.normal(size=(2, 3))  # dL/dy_1, dL/dy_2
    out = solve({"inputs": x.tolist(), "heads": [{"W_Q": wq.tolist(), "W_K": wk.tolist(), "W_V": wv.tolist()}],
                 "jacobians": [[0, 0], [1, 0]], "upstream": g.tolist()})
    q, k, v = x @ wq.T, x @ wk.T, x @ wv.T
    dy1_dx1 = sum(np.outer(v[j], k[j]) @ wq for j in range(2)) + np.outer(v[0], q[0]) @ wk + (q[0] @ k[0]) * wv
    dy2_dx1 = np.outer(v[0], q[1]) @ wk + (q[1] @ k[0]) * wv
    published = sum(np.outer(v[j], k[j]) @ wq + (q[0] @ k[j]) * wv for j in range(2))
    np.testing.assert_allclose(out["jacobian[0][0]"], dy1_dx1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["jacobian[1][0]"], dy2_dx1, rtol=1e-12, atol=1e-12)
    assert not np.allclose(out["jacobian[0][0]"], published, atol=1e-3)
    # dL/dx1 collects both outputs; the published answer keeps only the path through y1
    np.testing.assert_allclose(out["grad.x[0]"], dy1_dx1.T @ g[0] + dy2_dx1.T @ g[1], rtol=1e-12, atol=1e-12)
    assert not np.allclose(out["grad.x[0]"], dy1_dx1.T @ g[0], atol=1e-3)


def test_unscaled_by_default_and_scaled_by_sqrt_dk_on_request():
    base = {"inputs": [[1, 2], [3, 4]], "heads": [{"W_Q": I, "W_K": I, "W_V": I}]}
    plain, scaled = solve(base), solve({**base, "scale": "sqrt_dk"})
    assert plain["heads[0].scores"] == [[5, 11], [11, 25]]
    np.testing.assert_allclose(scaled["heads[0].scores"], np.array([[5, 11], [11, 25]]) / np.sqrt(2))
    assert plain["output"] == plain["concat"] == plain["heads[0].output"]  # no W_O: no projection


@pytest.mark.parametrize("change, message", [
    ({"heads": [{"W_Q": I, "W_K": [[1, 0, 0, 0], [0, 1, 0, 0]], "W_V": I}]},
     "heads[0].W_K: expected 2 columns (the inputs are in R^2), got 4 in row 0"),
    ({"heads": [{"W_Q": I, "W_K": [[1, 0]], "W_V": I}]},
     "heads[0].W_K: expected 2 rows like heads[0].W_Q"),
    ({"heads": [{"W_Q": I, "W_K": I, "W_V": [[1, 0], [0]]}]},
     "heads[0].W_V: expected 2 columns (the inputs are in R^2), got 1 in row 1"),
    ({"W_O": [[1, 1], [1, 1]]}, "W_O: expected 4 columns (the heads' outputs concatenated: 2 + 2), got 2"),
    ({"inputs": [[1, 1], [1, 1, 1], [0, 0], [0, 0]]}, "inputs[1]: expected 2 values like inputs[0], got 3"),
    ({"jacobians": [[0, 4]]}, "jacobians[0]: input token 4 does not exist; there are 4 tokens"),
    ({"upstream": [[1, 1]] * 3}, "upstream: expected 4 rows"),
    ({"upstream": [[1, 1, 1]] * 4}, "upstream: expected 2 columns (the outputs y_i are in R^2)"),
    ({"W_O": [[1, 1, 1, float("nan")], [1, 1, 1, 1]]}, "finite number"),
])
def test_shape_errors_name_the_matrix(change, message):
    params = {"inputs": EXAM_INPUTS, "heads": [{"W_Q": I, "W_K": I, "W_V": I}, {"W_Q": J, "W_K": MINUS_J, "W_V": I}],
              "W_O": ONES_2x4, **change}
    with pytest.raises(ValidationError, match=re.escape(message)):
        solve(params)


def test_a_bad_matrix_fails_at_rubric_load_with_file_and_line(write):
    path = write("r.yaml", """\
        id: r
        solvers:
          heads:
            solver: attention
            params:
              inputs: [[1, 1], [2, 2]]
              heads: [{W_Q: [[1, 0], [0, 1]], W_K: [[1, 0, 0], [0, 1, 0]], W_V: [[1, 0], [0, 1]]}]
        questions:
          - id: q1
            parts:
              - {id: a, kind: matrix, marks: 1, solution: heads.output}
        """)
    problems = rubric_problems(path)
    assert any(":5: solvers.heads.params: heads[0].W_K: expected 2 columns" in p for p in problems), problems
