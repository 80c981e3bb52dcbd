"""Lab 8, problems 3-8: the rubric's keys held against the solvers that compute them independently
(autograd Jacobians and slopes, torch's parameter counts), the worked solution's wrong gradient
formula for problem 7.7 held against autograd, and two sample answer files graded for real."""

import numpy as np
import pytest

import reference
from grader import mathexpr
from grader.batch import grade_file
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(ROOT / "rubrics" / "lab8.yaml")


def solve(name, **params):
    cls = reference.get(name)
    return cls(cls.Params.model_validate(params)).solve()


def key_formula(rubric, part, criterion="answer"):
    """The rubric's reference formula for a check, as a function of its free variables (its
    defined names, such as y_i, evaluated from them)."""
    comparator = rubric.comparators[(part, criterion)]
    node = mathexpr.parse(rubric.references[(part, criterion)], comparator.settings.names).node
    extend = mathexpr.compile_definitions(comparator.definitions)

    def value(**at: float) -> float:
        env = extend({mathexpr.normalize_name(name): np.array([v]) for name, v in at.items()})
        return float(mathexpr.evaluate(node, env)[0])

    return value


def statuses(rubric, answers: str) -> dict[str, str]:
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / "lab8" / answers)
    return {f"{part.id}.{c.id}": c.status for part in result.parts() for c in part.criteria}


# A 2-3-3 network in problem 7's form: leaky ReLU (0.01) hidden layer, softmax and cross-entropy.
# The second hidden unit's pre-activation is negative, so the slope 0.01 matters; K = D_a = 3, so the
# worked solution's formula has defined shapes and can be evaluated at all.
P7_NETWORK = dict(
    layers=[{"weights": [[0.4, -0.2], [-0.5, 0.3], [0.6, 0.1]], "bias": [0.1, -0.2, 0.0], "activation": "leaky_relu"},
            {"weights": [[0.7, -0.3, 0.2], [0.2, 0.9, -0.4], [-0.6, 0.1, 0.5]], "bias": [0.05, -0.05, 0.0],
             "activation": "linear"}],
    input=[1.0, 0.5], target=1, loss="cross_entropy")
# (this, that, the other) for each ordered pair of distinct indices of three logits
ORDERS = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]


def test_marks_follow_the_stated_convention(rubric):
    """From problem 3 on: 1 mark per automatic check, 1 per explanation, 2 per construction or derivation."""
    later = [part for question, part in rubric.assessment.parts() if question.id not in ("p1", "p2")]
    assert {item.marks for part in later for item in part.items() if not item.manual} == {1.0}
    manual = {part.id: sum(item.marks for item in part.items() if item.manual) for part in later}
    assert {part: marks for part, marks in manual.items() if marks not in (0, 1)} == {"p4.b": 2, "p7.g": 2}


def test_softmax_jacobian_keys_match_autograd(rubric):
    """Problems 3 and 7.2-7.3: the key formulas, at three logits, give the softmax solver's autograd Jacobian."""
    logits = [0.3, -1.2, 2.0]
    jacobian = solve("softmax", logits=logits)["jacobian"]
    for part, same, other in [("p3", "p3.a", "p3.b"), ("p7", "p7.b", "p7.c")]:
        same, other = key_formula(rubric, same), key_formula(rubric, other)
        for a, b, c in ORDERS:
            if part == "p3":  # y_i by x_i and by x_j; x_k is the remaining logit
                at = dict(x_i=logits[a], x_j=logits[b], x_k=logits[c])
            else:  # y_k by z_k and by z_i; z_j is the remaining logit
                at = dict(z_k=logits[a], z_i=logits[b], z_j=logits[c])
            assert same(**at) == pytest.approx(jacobian[a][a], abs=1e-15)
            assert other(**at) == pytest.approx(jacobian[a][b], abs=1e-15)


def test_cross_entropy_logit_gradient_keys_match_autograd(rubric):
    """Problem 7.4: the keys for dL/dz2 at the label k and elsewhere give the network's autograd gradient."""
    out = solve("dense_network", **P7_NETWORK)
    z, k = out["forward.z[1]"], P7_NETWORK["target"]
    same, other = key_formula(rubric, "p7.d", "same"), key_formula(rubric, "p7.d", "other")
    for i, j in [(0, 2), (2, 0)]:
        at = dict(z_k=z[k], z_i=z[i], z_j=z[j])
        assert same(**at) == pytest.approx(out["grad.z[1]"][k], abs=1e-15)
        assert other(**at) == pytest.approx(out["grad.z[1]"][i], abs=1e-15)


def test_activation_slope_keys_match_autograd(rubric):
    """Problems 7.6 and 4.3: dL/dz / dL/da of a unit is its activation's slope at z."""
    leaky = solve("dense_network", **P7_NETWORK)
    z = leaky["forward.z[0]"]
    assert z[0] > 0 > z[1]
    slopes = [dz / da for dz, da in zip(leaky["grad.z[0]"], leaky["grad.a[0]"])]
    assert slopes[0] == pytest.approx(key_formula(rubric, "p7.f", "nonnegative")(z=z[0]), abs=1e-12)
    assert slopes[1] == pytest.approx(key_formula(rubric, "p7.f", "negative")(z=z[1]), abs=1e-12)

    for x, field in [(-0.7, "negative"), (0.8, "nonnegative")]:
        elu = solve("dense_network", layers=[{"weights": [[1.0]], "activation": "elu", "alpha": 1.5}],
                    input=[x], target=3.0, loss="mse_half")
        slope = elu["grad.z[0]"][0] / elu["grad.a[0]"][0]
        assert slope == pytest.approx(key_formula(rubric, "p4.c", field)(x=x, alpha=1.5), abs=1e-12)


def test_weight_and_bias_counts_come_from_torch(rubric):
    """Problem 5: weights and biases are counted apart by model_size, and add up to the parameters."""
    refs = rubric.references
    assert (refs[("p5.b", "weights")], refs[("p5.b", "bias")]) == (300, 1)
    assert (refs[("p5.d", "weights")], refs[("p5.d", "biases")]) == (300 * 80 + 80, 80 + 1)
    network = solve("model_size", layers=[{"type": "linear", "in_features": 300, "out_features": 80},
                                          {"type": "linear", "in_features": 80, "out_features": 1}])
    assert network["weights.total"] + network["biases.total"] == network["params.total"]
    assert rubric.sources[("p5.d", "biases")] == "p5_network_weights.biases.total"


def test_p7_hidden_gradient_is_the_marking_notes_formula_not_the_worked_solutions():
    """7.7: dL/dW1 = ((W2^T d0) o d2) x^T and dL/db1 = (W2^T d0) o d2, as autograd computes them;
    the worked solution's d1^T (d0 o d2) x^T applies the slopes before going back through W2."""
    out = solve("dense_network", **P7_NETWORK)
    x = np.array(P7_NETWORK["input"])
    w2 = np.array(P7_NETWORK["layers"][1]["weights"])
    delta0 = np.array(out["grad.z[1]"])
    delta2 = np.where(np.array(out["forward.z[0]"]) >= 0, 1.0, 0.01)
    dz1 = (w2.T @ delta0) * delta2
    np.testing.assert_allclose(np.outer(dz1, x), out["grad.weights[0]"], atol=1e-15)
    np.testing.assert_allclose(dz1, out["grad.bias[0]"], atol=1e-15)
    published = np.outer(w2.T @ (delta0 * delta2), x)
    assert np.abs(published - np.array(out["grad.weights[0]"])).max() > 0.1


def test_a_right_answer_file_in_other_notations_gets_every_automatic_mark(rubric):
    """s101 writes y_i - y_i^2, -e^{x_i} e^{x_j} / S^2 in LaTeX, exp(z_k)/Z - 1, (K, D_a), 0.01 for
    the key's 1/100, "24080" as text: all equivalent to the key."""
    found = statuses(rubric, "s101-minh.json")
    assert set(found.values()) == {"correct", "manual"}
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / "lab8" / "s101-minh.json")
    assert result.score == pytest.approx(result.max_score - result.manual_pending)


def test_common_mistakes_are_caught_and_nothing_else(rubric):
    """s102 answers problems 3-8 only, with the usual slips; each is caught, the rest is credited."""
    found = statuses(rubric, "s102-khoa.json")
    wrong = {
        "p3.b.answer": "incorrect",  # y_i y_j: the minus sign of the quotient rule lost
        "p4.a.verdict": "incorrect",  # a linear h cannot separate a ring
        "p4.c.negative": "incorrect",  # alpha (e^x - 1) is ELU itself, not its slope
        "p5.b.weights": "incorrect",  # 301 counts the bias as a weight
        "p5.d.weights": "incorrect",  # 24000 forgets the 80 output weights
        "p5.d.biases": "incorrect",  # 80 forgets the output bias
        "p6.b.b.verdict": "incorrect",  # standardising does not change what logistic regression can fit
        "p7.a.W2": "incorrect",  # D_a x K is W2 transposed
        "p7.b.answer": "invalid",  # an unclosed bracket is unreadable, not wrong
        "p7.d.same": "incorrect",  # 1 - y_k: sign
        "p7.e.answer": "incorrect",  # W2^T: the transpose
        "p7.f.negative": "incorrect",  # 0 is ReLU's slope, not leaky ReLU's
        "p8.d.A": "incorrect", "p8.d.C": "incorrect",  # BGD and SGD swapped
        "p8.g.velocity": "incorrect",  # beta and 1 - beta swapped
    }
    assert {c: s for c, s in found.items() if s not in ("correct", "manual", "missing")} == wrong
    assert {c for c, s in found.items() if s == "missing"} == {c for c in found if c.startswith(("p1.", "p2."))}
