"""Hostile solver parameters: every reference solver refuses what it cannot compute quickly (empty or
ragged matrices, shapes that disagree, over- and underflow, sizes that would allocate gigabytes or
run for minutes, repeated labels, non-finite numbers given as strings) with the field and what is
wrong, exit 3 from `check-rubric`, never "unexpected TypeError ... (a grader bug)", a hang or a
traceback.

Each case is a rubric whose `solvers.s` runs one solver; its params are written as JSON (flow YAML)
on line 4, where every problem is placed.
"""

from __future__ import annotations

import json

from tests.badinput.framework import Case

RUBRIC = """\
solvers:
  s:
    solver: {solver}
    params: {params}
id: mini
title: Mini
questions:
  - id: q1
    parts:
      - {{id: q1.a, kind: number, marks: 1, answer: 1}}
"""


def solver(name: str, solver: str, params: dict | str, expect: list[str], exit: int = 3, seconds: float = 10) -> Case:
    """`params` as a dict, or as flow YAML text (for anchors and aliases)."""
    text = params if isinstance(params, str) else json.dumps(params)
    return Case(name=f"solver/{name}", argv=["check-rubric", "{tmp}/r.yaml"], exit=exit, seconds=seconds,
                files={"r.yaml": RUBRIC.format(solver=solver, params=text)},
                expect=["r.yaml:4" if exit else "ok: mini", *expect])


def repeated(item: str, times: int) -> str:
    """A flow list of `times` copies of `item`, as aliases of its first."""
    return "[&x " + item + ", *x" * (times - 1) + "]"


LINEAR = {"type": "linear", "in_features": 2, "out_features": 3}
CONV = {"type": "conv1d", "in_channels": 1, "out_channels": 1}
TWO = {"scores": [0.9, 0.1], "labels": [1, 0]}
HEAD = {"W_Q": [[1, 0]], "W_K": [[1, 0]], "W_V": [[1, 0]]}
WIDE = [[1.0] * 100]
DENSE = {"layers": [{"weights": [[1.0]], "activation": "sigmoid"}], "input": [1.0], "target": 0.5, "loss": "mse_half"}
BAGS = {"hypotheses": ["bag1", "bag2"], "priors": ["1/2", "1/2"], "likelihoods": ["w1/(w1 + b1)", "w2/(w2 + b2)"],
        "variables": ["w1", "b1", "w2", "b2"]}
SQUARE = {"variables": ["x"], "definitions": {"a": "x^2"}, "derivatives": {"d": ["a", "x"]}}
# each level uses the one before twice: substituted into one another, the definitions double 40 times
DOUBLING = {f"a{i}": f"a{i - 1}*a{i - 1} + a{i - 1}" if i else "x" for i in range(40)}
P = "solvers.s.params"

CASES: list[Case] = [
    # model_size: shapes checked before torch runs anything; counting alone allocates nothing
    solver("model-size-empty-input-shape", "model_size", {"layers": [LINEAR], "input_shape": []},
           [f"{P}.input_shape", "at least 1 item"]),
    solver("model-size-negative-dimension", "model_size", {"layers": [LINEAR], "input_shape": [-1, 2]},
           [f"{P}.input_shape[0]", "greater than or equal to 1"]),
    solver("model-size-input-of-80-gigabytes", "model_size", {"layers": [LINEAR], "input_shape": [100000, 100000, 2]},
           [P, "input_shape: the input", "20,000,000,000 elements"]),
    solver("model-size-conv-kernel-of-a-billion", "model_size", {"layers": [{**CONV, "kernel_size": 10**9}]},
           [f"{P}.layers[0].conv1d.kernel_size", "less than or equal to 1000000"]),
    solver("model-size-shapes-disagree", "model_size", {"layers": [LINEAR, LINEAR], "input_shape": [4, 2]},
           [P, "[4, 3] does not fit layers[1], which takes 2 features"]),
    solver("model-size-kernel-longer-than-input", "model_size",
           {"layers": [{**CONV, "kernel_size": 10}], "input_shape": [1, 1, 5]},
           [P, "its kernel (10) is longer than its padded input (5)"]),
    solver("model-size-5000-layers", "model_size",
           f"{{layers: {repeated('{type: linear, in_features: 1, out_features: 1}', 5000)}}}",
           [f"{P}.layers", "at most 1000 items"]),
    solver("model-size-trillion-parameters-counted", "model_size",
           {"layers": [{"type": "linear", "in_features": 10**6, "out_features": 10**6}]}, [], exit=0),
    # threshold_metrics: a threshold printed like another would name the same outputs
    solver("thresholds-repeated", "threshold_metrics", {**TWO, "thresholds": [0.5, 0.5]},
           [P, "thresholds[1]: 0.5 repeats thresholds[0]"]),
    solver("thresholds-printed-alike", "threshold_metrics", {**TWO, "thresholds": [0.5, 0.5000001]},
           ["both would be output as at[0.5]"]),
    solver("thresholds-5000", "threshold_metrics",
           {"scores": [0.5] * 100, "labels": [1] * 100, "thresholds": [i / 5000 for i in range(5000)]},
           [f"{P}.thresholds", "at most 100 items"]),
    solver("thresholds-nan-string", "threshold_metrics", {**TWO, "scores": [0.9, "nan"], "thresholds": [0.5]},
           [f"{P}.scores[1]", "finite number"]),
    # attention
    solver("attention-empty-W_O", "attention", {"inputs": [[1, 1]], "heads": [HEAD], "W_O": []},
           [f"{P}.W_O", "at least 1 item"]),
    solver("attention-ragged-inputs", "attention", {"inputs": [[1, 1], [1]], "heads": [HEAD]},
           [P, "inputs[1]: expected 2 values"]),
    solver("attention-jacobian-of-gigabytes", "attention",
           {"inputs": WIDE * 100, "heads": [{"W_Q": WIDE, "W_K": WIDE, "W_V": WIDE}], "jacobians": [[0, 0]]},
           [f"{P}.inputs", "at most 16 items"]),
    # softmax and cross_entropy
    solver("softmax-probability-underflows", "softmax", {"logits": [1000, -1000], "target": 1},
           [P, "logits:", "span 2000", "at most 700"]),
    solver("softmax-temperature-near-zero", "softmax", {"logits": [1, 2], "temperature": 1e-300},
           [P, "at temperature 1e-300"]),
    solver("softmax-repeated-labels", "softmax", {"logits": [1, 2], "labels": ["a", "a"]},
           [P, "labels: 'a' is given twice"]),
    solver("softmax-10-to-the-30-samples", "softmax", {"logits": [1, 2], "samples": 10**30},
           [f"{P}.samples", "less than or equal to 1000000000000"]),
    solver("softmax-inf-string", "softmax", {"logits": [1, "-inf"]}, [f"{P}.logits[1]", "finite number"]),
    solver("cross-entropy-empty-target", "cross_entropy", {"probabilities": [0.5, 0.5], "target": []},
           [P, "target: expected 2 values"]),
    # weighted_distance
    solver("distance-ragged-A", "weighted_distance", {"A": [[1, 0], [0]], "points": [[0, 0], [1, 1]]},
           [P, "A: must be square"]),
    solver("distance-5000-points", "weighted_distance", {"A": [[1]], "points": [[i] for i in range(5000)]},
           [f"{P}.points", "at most 100 items"]),
    # dense_network: sizes, and a forward pass that must stay finite
    solver("dense-1000-layers", "dense_network",
           f"{{layers: {repeated('{weights: [[1.0]], activation: linear}', 1000)}, "
           "input: [1.0], target: 0.5, loss: mse_half}", [f"{P}.layers", "at most 32 items"]),
    solver("dense-too-many-weights", "dense_network",
           {**DENSE, "layers": [{"weights": [[0.0] * 100] * 101, "activation": "linear"},
                                {"weights": [[0.0] * 101], "activation": "sigmoid"}], "input": [1.0] * 100},
           [P, "the network has 10,201 weights; at most 10,000"]),
    solver("dense-bce-saturates", "dense_network", {**DENSE, "input": [40.0], "loss": "bce", "target": 0.0},
           [P, "loss: the bce loss is inf", "rounds to 0 or 1"]),
    solver("dense-forward-overflows", "dense_network",
           {**DENSE, "layers": [{"weights": [[1e300]], "activation": "linear"}], "input": [1e300]},
           [P, "layers[0]: the forward pass overflows"]),
    solver("dense-neuron-named-probabilities", "dense_network",
           {"layers": [{"weights": [[1.0], [2.0]], "activation": "linear"}], "input": [1.0], "target": 0,
            "loss": "cross_entropy", "neuron_names": [["probabilities", "q"]]},
           [P, "neuron_names[0]: 'probabilities' is taken"]),
    solver("dense-parameter-index-of-5000-digits", "dense_network",
           {**DENSE, "names": {"w": f"layers[{'9' * 5000}].weights[0][0]"}}, [P, "is not a parameter path"]),
    # activation_gradients
    solver("activations-5000-points", "activation_gradients",
           {"activations": ["sigmoid"], "points": [i / 1000 for i in range(5000)]},
           [f"{P}.points", "at most 1000 items"]),
    solver("activations-points-printed-alike", "activation_gradients",
           {"activations": ["sigmoid"], "points": [1e-7, 1.0000001e-7]},
           [P, "points[1]", "would both be output as at[1e-07]"]),
    # polynomial_kernel
    solver("kernel-feature-map-of-400-billion", "polynomial_kernel",
           {"variables": [f"v{i}" for i in range(60)], "degree": 10}, [P, "degree:", "396,704,524,216 components"]),
    solver("kernel-c-with-too-many-digits", "polynomial_kernel", {"variables": ["p"], "degree": 10, "c": 0.123456789},
           [P, "c: the feature map's component", "more than 30 digits"]),
    solver("kernel-gram-of-5000-points", "polynomial_kernel",
           {"variables": ["p"], "degree": 2, "points": [[i] for i in range(5000)]},
           [f"{P}.points", "at most 100 items"]),
    # linear_regression
    solver("regression-no-observations", "linear_regression", {"features": [], "targets": [1.0], "loss": "mean"},
           [P, "features: expected 1 to 1000 rows"]),
    solver("regression-51-columns", "linear_regression",
           {"design": [[1.0] * 51] * 2, "targets": [1.0, 2.0], "loss": "mean"},
           [P, "design[0]: a row needs 1 to 50 values, got 51"]),
    # gradient_descent
    solver("descent-constant-function", "gradient_descent", {"function": "5", "start": 1, "learning_rate": 0.1},
           [P, "function: '5' does not involve x"]),
    solver("descent-a-billion-steps", "gradient_descent",
           {"function": "x^2", "start": 1, "learning_rate": 0.1, "steps": 10**9},
           [f"{P}.steps", "less than or equal to 1000"]),
    solver("descent-long-function-1000-steps", "gradient_descent",
           {"function": " + ".join(["sin(x)*x"] * 60), "start": 0.1, "learning_rate": 1e-6, "steps": 1000},
           [P, "steps: 1000 steps of a function of 299 parts"]),
    # bayes
    solver("bayes-zero-evidence", "bayes", {**BAGS, "likelihoods": ["0*w1", "0*w2"]},
           [P, "likelihoods: the evidence", "is 0"]),
    solver("bayes-domain-overflows", "bayes", {**BAGS, "domain": [-1e308, 1e308]},
           [P, "domain: need low < high, with high - low finite"]),
    solver("bayes-variable-repeated", "bayes", {**BAGS, "variables": ["w1", "b1", "w2", "b2", "w1"]},
           [f"{P}.variables", "declared more than once: w1"]),
    solver("bayes-none-of-the-above-is-a-choice", "bayes", {**BAGS, "choices": {"e": "1/2"}, "none_of_the_above": "e"},
           [P, "none_of_the_above: 'e' is also one of the choices"]),
    solver("bayes-posterior-too-long", "bayes",
           {"hypotheses": [f"h{i}" for i in range(50)], "priors": ["1/50"] * 50,
            "likelihoods": ["(w + 1)*(w + 3)/((w + 2)*(w + 4))"] * 50, "variables": ["w"]},
           [P, "hypotheses: the posteriors cannot be written", "500 parts"]),
    # derivatives: sympy is stopped at its budget
    solver("derivatives-doubling-definitions", "derivatives",
           {"variables": ["x"], "definitions": DOUBLING, "derivatives": {"d": ["a39", "x"]}},
           [P, "derivatives.d: sympy did not finish within 10 s"], seconds=25),
    solver("derivatives-300-outputs", "derivatives",
           {**SQUARE, "derivatives": {f"d{i}": ["a", "x"] for i in range(300)}},
           [f"{P}.derivatives", "at most 50 items"]),
    solver("derivatives-domain-overflows", "derivatives", {**SQUARE, "domain": {"x": [-1e308, 1e308]}},
           [f"{P}.domain", "x: need finite low < high, with high - low finite too"]),
    solver("derivatives-domain-inf-string", "derivatives", {**SQUARE, "domain": {"x": [0, "inf"]}},
           [f"{P}.domain.x[1]", "finite number"]),
]
