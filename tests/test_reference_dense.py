"""The dense_network solver: the lab's worked examples, and every gradient checked against central
finite differences of the loss, so no answer rests on autograd being trusted blindly."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from pydantic import ValidationError

import reference
from reference.dense import DenseNetwork

EPS = 1e-6


def solve(params: dict) -> dict:
    return DenseNetwork(DenseNetwork.Params.model_validate(params)).solve()


def lab8_params() -> dict:
    """Lab 8: 2-2-2 sigmoid network, one bias shared by each layer, loss 1/2 sum (t - o)^2."""
    weight_paths = {
        "w1": "layers[0].weights[0][0]", "w2": "layers[0].weights[0][1]",
        "w3": "layers[0].weights[1][0]", "w4": "layers[0].weights[1][1]",
        "w5": "layers[1].weights[0][0]", "w6": "layers[1].weights[0][1]",
        "w7": "layers[1].weights[1][0]", "w8": "layers[1].weights[1][1]",
    }  # fmt: skip
    return {
        "input": [0.05, 0.10],
        "target": [0.01, 0.99],
        "layers": [
            {"weights": [[0.15, 0.20], [0.25, 0.30]], "bias": 0.35, "activation": "sigmoid"},
            {"weights": [[0.40, 0.45], [0.50, 0.55]], "bias": 0.60, "activation": "sigmoid"},
        ],
        "loss": "mse_half",
        "learning_rate": 0.5,
        "names": {**weight_paths, "b1": "layers[0].bias", "b2": "layers[1].bias"},
        "neuron_names": [["h1", "h2"], ["o1", "o2"]],
    }


def shifted(params: dict, layer: int, field: str, index: tuple[int, ...], delta: float) -> dict:
    """A copy of params with one weight or bias (a shared bias when index is empty) moved by delta."""
    params = copy.deepcopy(params)
    if not index:
        params["layers"][layer][field] += delta
        return params
    container = params["layers"][layer][field]
    for i in index[:-1]:
        container = container[i]
    container[index[-1]] += delta
    return params


def fd_parameter_gradients(params: dict) -> dict[str, list | float]:
    """dL/d(every weight and bias) by central differences, keyed like the solver's outputs."""

    def derivative(layer: int, field: str, index: tuple[int, ...]) -> float:
        up, down = (solve(shifted(params, layer, field, index, delta))["loss"] for delta in (EPS, -EPS))
        return (up - down) / (2 * EPS)

    grads: dict[str, list | float] = {}
    for l, layer in enumerate(params["layers"]):
        grads[f"grad.weights[{l}]"] = [
            [derivative(l, "weights", (j, k)) for k in range(len(row))] for j, row in enumerate(layer["weights"])
        ]
        bias = layer.get("bias")
        if isinstance(bias, list):
            grads[f"grad.bias[{l}]"] = [derivative(l, "bias", (j,)) for j in range(len(bias))]
        elif bias is not None:
            grads[f"grad.bias[{l}]"] = derivative(l, "bias", ())
    return grads


def shifted_list(values: list[float], j: int, delta: float) -> list[float]:
    return [v + delta if i == j else v for i, v in enumerate(values)]


def fd_activation_gradient(params: dict, layer: int) -> list[float]:
    """dL/da[layer] by central differences: the rest of the network fed a[layer] as its input."""
    activations = solve(params)[f"forward.a[{layer}]"]
    tail = {k: params[k] for k in ("target", "loss")} | {"layers": params["layers"][layer + 1 :]}

    def derivative(j: int) -> float:
        up, down = (solve(tail | {"input": shifted_list(activations, j, delta)})["loss"] for delta in (EPS, -EPS))
        return (up - down) / (2 * EPS)

    return [derivative(j) for j in range(len(activations))]


def assert_matches_finite_differences(params: dict) -> dict:
    out = solve(params)
    for name, expected in fd_parameter_gradients(params).items():
        np.testing.assert_allclose(out[name], expected, rtol=1e-6, atol=1e-9, err_msg=name)
    for layer in range(len(params["layers"]) - 1):
        np.testing.assert_allclose(
            out[f"grad.a[{layer}]"], fd_activation_gradient(params, layer), rtol=1e-6, atol=1e-9
        )
    return out


def test_registered_under_its_name():
    assert reference.get("dense_network") is DenseNetwork


def test_lab8_forward_pass_and_the_published_output_layer_gradients():
    out = solve(lab8_params())
    expected = {
        "loss": 0.2984, "forward.h1": 0.5933, "forward.h2": 0.5969, "forward.o1": 0.7514,
        "forward.o2": 0.7729, "grad.w5": 0.0822, "grad.w6": 0.0827, "grad.w7": -0.0226,
        "grad.w8": -0.0227, "grad.b2": 0.1004,
    }  # fmt: skip
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, abs=1e-4), name
    assert out["forward.a[1]"] == [out["forward.o1"], out["forward.o2"]]
    assert out["grad.weights[1]"] == [[out["grad.w5"], out["grad.w6"]], [out["grad.w7"], out["grad.w8"]]]


def test_lab8_hidden_layer_gradients_are_not_the_published_wrong_ones():
    out = solve(lab8_params())
    # dL/dh = sum over outputs of dL/dz_o * w: the published solution gets both wrong
    assert out["grad.h1"] == pytest.approx(0.0363503064, abs=1e-9)
    assert out["grad.h2"] == pytest.approx(0.0413703226, abs=1e-9)
    assert abs(out["grad.h1"] - 0.054) > 0.01 and abs(out["grad.h2"] - 0.059) > 0.01
    # the shared b1 gets the sum of both hidden deltas, positive: not the printed -0.0272
    assert out["grad.b1"] == pytest.approx(0.0187256094, abs=1e-9)
    assert out["grad.b1"] == pytest.approx(out["grad.z.h1"] + out["grad.z.h2"], abs=1e-15)
    assert out["grad.w1"] == pytest.approx(0.000438568, abs=1e-9)
    assert abs(out["grad.w1"] - 0.00065) > 1e-4
    assert out["grad.w2"] == pytest.approx(0.000877135, abs=1e-9)
    assert out["grad.w3"] == pytest.approx(0.000497713, abs=1e-9)
    assert out["grad.w4"] == pytest.approx(0.000995425, abs=1e-9)


def test_lab8_gradients_agree_with_finite_differences():
    assert_matches_finite_differences(lab8_params())


def test_lab8_one_gradient_descent_step():
    out = solve(lab8_params())
    for name in ("w1", "w4", "b1", "w5", "w8", "b2"):
        assert out[f"updated.{name}"] == pytest.approx(out[f"value.{name}"] - 0.5 * out[f"grad.{name}"], abs=1e-15)
    assert out["updated.w5"] == pytest.approx(0.35891648, abs=1e-8)
    assert out["updated.b1"] == pytest.approx(0.35 - 0.5 * 0.0187256094, abs=1e-9)
    assert out["updated.weights[0]"][1][1] == out["updated.w4"]
    assert out["updated.bias[1]"] == out["updated.b2"]


def test_lab_linear_network_without_biases():
    params = {
        "input": [2, 3],
        "target": 1,
        "layers": [
            {"weights": [[0.11, 0.21], [0.12, 0.08]], "activation": "linear"},
            {"weights": [[0.14, 0.15]], "activation": "linear"},
        ],
        "loss": "mse_half",
        "learning_rate": 0.05,
        "names": {"w1": "layers[0].weights[0][0]", "w5": "layers[1].weights[0][0]"},
    }
    out = assert_matches_finite_differences(params)
    assert out["forward.a[1]"] == [pytest.approx(0.191, abs=1e-12)]
    assert out["loss"] == pytest.approx(0.3272, abs=1e-4)
    assert out["grad.w5"] == pytest.approx(-0.6877, abs=1e-4)
    assert out["grad.w1"] == pytest.approx(-0.2266, abs=1e-4)
    assert out["updated.w1"] == pytest.approx(0.1213, abs=1e-4)
    assert not any(name.startswith(("grad.bias", "updated.bias")) for name in out)


@pytest.mark.parametrize("hidden", [1, 3])
@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
def test_sigmoid_bce_output_delta_is_prediction_minus_target(hidden, target):
    rng = np.random.default_rng(hidden)
    for _ in range(4):
        params = {
            "input": [float(rng.normal())],
            "target": target,
            "layers": [
                {"weights": rng.normal(size=(hidden, 1)).tolist(), "bias": rng.normal(size=hidden).tolist(), "activation": "sigmoid"},
                {"weights": rng.normal(size=(1, hidden)).tolist(), "bias": float(rng.normal()), "activation": "sigmoid"},
            ],
            "loss": "bce",
        }  # fmt: skip
        out = assert_matches_finite_differences(params)
        assert out["grad.z[1]"][0] == pytest.approx(out["forward.a[1]"][0] - target, abs=1e-12)


HIDDEN_ACTIVATIONS = [
    {"activation": "sigmoid"},
    {"activation": "tanh"},
    {"activation": "relu"},
    {"activation": "leaky_relu", "negative_slope": 0.2},
    {"activation": "elu", "alpha": 0.7},
    {"activation": "linear"},
]
# the forward definitions, written independently of torch: finite differences only check that the
# gradients are those of whatever the solver computes, so what it computes is checked here
NUMPY_ACTIVATIONS = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "elu": lambda z: np.where(z > 0, z, 0.7 * (np.exp(z) - 1)),
    "linear": lambda z: z,
}
NUMPY_LOSSES = {
    "mse_half": lambda z, a, t: 0.5 * np.sum((t - a) ** 2),
    "squared_error": lambda z, a, t: np.sum((t - a) ** 2),
    "mse": lambda z, a, t: np.mean((t - a) ** 2),
    "bce": lambda z, a, t: -np.sum(t * np.log(a) + (1 - t) * np.log(1 - a)),
    "cross_entropy": lambda z, a, t: np.log(np.sum(np.exp(z))) - z[t],
}
TARGETS = {
    "mse_half": [0.3, -0.8],
    "squared_error": [0.3, -0.8],
    "mse": [0.3, -0.8],
    "bce": [0.2, 1.0],
    "cross_entropy": 1,
}


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS, ids=lambda h: h["activation"])
@pytest.mark.parametrize("loss", sorted(TARGETS))
def test_random_3_4_2_network_matches_finite_differences(hidden, loss):
    rng = np.random.default_rng(42)
    output_activation = {"bce": "sigmoid", "cross_entropy": "linear"}.get(loss, hidden["activation"])
    params = {
        "input": rng.normal(size=3).tolist(),
        "target": TARGETS[loss],
        "layers": [
            {"weights": rng.normal(size=(4, 3)).tolist(), "bias": rng.normal(size=4).tolist(), **hidden},
            {"weights": rng.normal(size=(2, 4)).tolist(), "bias": float(rng.normal()), "activation": output_activation},
        ],
        "loss": loss,
    }  # fmt: skip
    out = assert_matches_finite_differences(params)

    hidden_z = np.array(params["layers"][0]["weights"]) @ params["input"] + params["layers"][0]["bias"]
    hidden_a = NUMPY_ACTIVATIONS[hidden["activation"]](hidden_z)
    output_z = np.array(params["layers"][1]["weights"]) @ hidden_a + params["layers"][1]["bias"]
    output_a = NUMPY_ACTIVATIONS[output_activation](output_z)
    np.testing.assert_allclose(out["forward.a[0]"], hidden_a, rtol=1e-12)
    np.testing.assert_allclose(out["forward.a[1]"], output_a, rtol=1e-12)
    assert out["loss"] == pytest.approx(NUMPY_LOSSES[loss](output_z, output_a, np.array(TARGETS[loss])), rel=1e-12)
    assert hidden_z.min() < -0.01 and hidden_z.max() > 0.01, "both branches of the hidden activation are exercised"
    assert out["grad.z[0]"] == out["grad.bias[0]"]  # a per-neuron bias's gradient is its neuron's delta


def test_cross_entropy_class_index_equals_one_hot_and_outputs_probabilities():
    params = {
        "input": [0.5, -1.0],
        "target": 2,
        "layers": [{"weights": [[0.1, 0.2], [0.3, -0.4], [-0.5, 0.6]], "bias": [0.0, 0.1, 0.2], "activation": "linear"}],
        "loss": "cross_entropy",
    }  # fmt: skip
    by_index = solve(params)
    assert by_index == solve(params | {"target": [0, 0, 1]})
    probabilities = by_index["forward.probabilities"]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-15)
    assert by_index["loss"] == pytest.approx(-math.log(probabilities[2]), abs=1e-15)


def _one_layer(**changes) -> dict:
    params = {
        "input": [1.0, 2.0],
        "target": [0.0, 1.0],
        "layers": [
            {"weights": [[0.1, 0.2], [0.3, 0.4]], "bias": [0.1, 0.2], "activation": "sigmoid"},
            {"weights": [[0.5, 0.6], [0.7, 0.8]], "bias": 0.3, "activation": "sigmoid"},
        ],
        "loss": "mse_half",
    }
    return params | changes


def _error(params: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        DenseNetwork.Params.model_validate(params)
    return str(caught.value)


def test_shape_errors_name_the_layer_and_the_expected_size():
    params = _one_layer()
    params["layers"][1]["weights"][0] = [0.5, 0.6, 0.9]
    assert "layers[1].weights[0]: expected 2 columns (the previous layer has 2 neurons), got 3" in _error(params)

    params = _one_layer(input=[1.0, 2.0, 3.0])
    assert "layers[0].weights[0]: expected 3 columns (the input has 3 values), got 2" in _error(params)

    params = _one_layer()
    params["layers"][0]["bias"] = [0.1, 0.2, 0.3]
    assert "layers[0].bias: expected one number shared by the layer or 2 values (one per neuron), got 3" in _error(params)

    assert "target: expected 2 values (the last layer has 2 neurons), got 3" in _error(_one_layer(target=[0, 1, 0]))
    assert "target: expected 2 values (the last layer has 2 neurons), got 1" in _error(_one_layer(target=1))


def test_unknown_or_misplaced_parameters_are_rejected():
    assert "momentum" in _error(_one_layer(momentum=0.9))
    params = _one_layer()
    params["layers"][0]["activaton"] = "tanh"
    assert "activaton" in _error(params)
    params = _one_layer()
    params["layers"][0]["alpha"] = 0.5
    assert "layers[0].alpha applies only to elu, not sigmoid" in _error(params)
    assert "activation" in _error(_one_layer(layers=[{"weights": [[1.0, 2.0]], "activation": "softplus"}]))
    assert "loss" in _error(_one_layer(loss="hinge"))


def test_loss_and_naming_mistakes_are_rejected():
    assert "last activation must be sigmoid, got tanh" in _error(
        _one_layer(loss="bce", layers=[{"weights": [[0.1, 0.2], [0.3, 0.4]], "activation": "tanh"}])
    )
    assert "bce targets must lie between 0 and 1" in _error(_one_layer(loss="bce", target=[0.0, 2.0]))
    assert "activation must be linear, got sigmoid" in _error(_one_layer(loss="cross_entropy", target=1))
    assert "layers[2].weights[0][0] does not exist" in _error(_one_layer(names={"w9": "layers[2].weights[0][0]"}))
    assert "has one shared bias" in _error(_one_layer(names={"b2": "layers[1].bias[0]"}))
    assert "per-neuron biases" in _error(_one_layer(names={"b1": "layers[0].bias"}))
    assert "is not a parameter path" in _error(_one_layer(names={"w1": "w[0][0]"}))
    assert "used twice" in _error(_one_layer(names={"h1": "layers[1].bias"}, neuron_names=[["h1", "h2"], ["o1", "o2"]]))
    assert "neuron_names[1]: expected 2 names" in _error(_one_layer(neuron_names=[["h1", "h2"], ["o1"]]))


def test_a_saturated_sigmoid_is_answered_and_its_step_graph_agrees():
    """At z = -1000, e^-z overflows a float: the hand chain must still match autograd."""
    params = {"layers": [{"weights": [[1.0]], "activation": "sigmoid"}], "input": [-1000.0], "target": 0.5,
              "loss": "mse_half"}
    solver = DenseNetwork(DenseNetwork.Params.model_validate(params))
    out = solver.solve()
    solver.steps().check_against(out)
    assert out["forward.a[0]"] == [math.exp(-1000.0)]


@pytest.mark.parametrize("edit, message", [
    ({"input": [40.0], "loss": "bce", "target": 0.0}, "the bce loss is inf"),
    ({"input": [1e300], "layers": [{"weights": [[1e300]], "activation": "linear"}]}, "the forward pass overflows"),
])
def test_parameters_whose_forward_pass_is_not_finite_are_refused(edit, message):
    params = {"layers": [{"weights": [[1.0]], "activation": "sigmoid"}], "input": [1.0], "target": 0.5,
              "loss": "mse_half", **edit}
    with pytest.raises(ValidationError, match=message):
        solve(params)
