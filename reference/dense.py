"""Solver `dense_network`: forward pass, loss, gradients and one gradient-descent step of a small
fully connected network, for one training example.

Every gradient comes from torch autograd in float64, never from a hand-derived chain rule: hand
derivations are exactly where published worked solutions go wrong (the lab-8 solution gets dL/dh1,
dL/dh2, dL/db1 and the first-layer weight gradients wrong), so the answer key must not share them.

Layer l computes z[l] = weights[l] @ a[l-1] + bias[l] and a[l] = activation(z[l]), with a[-1] the
input. Outputs (l from 0):

- `forward.z[l]`, `forward.a[l]`, `loss`; with `cross_entropy` also `forward.probabilities`
  (softmax of the last layer's z);
- `grad.weights[l]`, `grad.bias[l]` (a number for a shared bias: the sum over the layer's
  neurons; a list for per-neuron biases; absent for a layer without bias), `grad.a[l]` (dL/da),
  `grad.z[l]` (dL/dz);
- with `learning_rate`: `updated.weights[l]`, `updated.bias[l]`, the parameters after one step;
- for each name in `neuron_names`: `forward.<n>`, `forward.z.<n>`, `grad.<n>` (dL/da),
  `grad.z.<n>` (dL/dz);
- for each name in `names`: `value.<p>`, `grad.<p>` and, with `learning_rate`, `updated.<p>`.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Any, Literal, NamedTuple

from pydantic import Field, ValidationInfo, model_validator

from reference.activations import ActivationSpec, activate
from reference.graph import StepGraph
from reference.registry import Params, Solver, computing, register
from reference._lazy import torch

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"]
Loss = Literal["mse_half", "squared_error", "mse", "bce", "cross_entropy"]

_PARAMETER_PATH = re.compile(r"layers\[(\d{1,9})\]\.(?:weights\[(\d{1,9})\]\[(\d{1,9})\]|bias(?:\[(\d{1,9})\])?)")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# activation options that only mean something for one activation; given elsewhere they are mistakes
_ACTIVATION_OPTIONS = {"negative_slope": "leaky_relu", "alpha": "elu"}
MAX_LAYERS = 32
MAX_WEIGHTS = 10_000  # the step graph has a node per weight and a step per connection, built on every load


class Layer(Params):
    """z = weights @ previous + bias, a = activation(z). A shared bias (one number) is how the lab
    writes b1 and b2; its gradient is the sum over the layer's neurons."""

    weights: list[list[float]] = Field(
        min_length=1, description="row j holds the weights into neuron j: shape (n_out, n_in)"
    )
    bias: float | list[float] | None = Field(
        None, description="one number shared by every neuron, one per neuron, or none"
    )
    activation: Activation
    negative_slope: float = Field(0.01, description="leaky_relu only: the slope for z < 0")
    alpha: float = Field(1.0, description="elu only: alpha * (exp(z) - 1) for z < 0")


class ParameterRef(NamedTuple):
    """One scalar parameter: `index` into the layer's weight matrix or bias (empty when shared)."""

    layer: int
    tensor: Literal["weights", "bias"]
    index: tuple[int, ...]


def parse_parameter_path(path: str) -> ParameterRef:
    """`layers[0].weights[1][0]`, `layers[0].bias` or `layers[0].bias[1]` as a ParameterRef."""
    match = _PARAMETER_PATH.fullmatch(path.replace(" ", ""))
    if match is None:
        raise ValueError(
            f"{path!r} is not a parameter path; write layers[L].weights[J][K], layers[L].bias "
            "or layers[L].bias[J]"
        )
    layer, row, column, bias_index = match.groups()
    if row is not None:
        return ParameterRef(int(layer), "weights", (int(row), int(column)))
    return ParameterRef(int(layer), "bias", () if bias_index is None else (int(bias_index),))


class DenseParams(Params):
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS,
                                description=f"at most {MAX_WEIGHTS:,} weights in all")
    input: list[float] = Field(min_length=1)
    target: float | list[float] = Field(
        description="one value per output (a single number for one output); for cross_entropy "
        "a class index or a one-hot vector"
    )
    loss: Loss
    learning_rate: float | None = Field(
        None, description="when given, also output the parameters after one gradient-descent step"
    )
    names: dict[str, str] = Field(
        default_factory=dict, description="friendly parameter name -> path, e.g. w1: layers[0].weights[0][0]"
    )
    neuron_names: list[list[str]] | None = Field(
        None, description="per layer, one name per neuron for its activated output"
    )

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> DenseParams:
        n_in, source = len(self.input), f"the input has {len(self.input)} values"
        for l, layer in enumerate(self.layers):
            where = f"layers[{l}]"
            for j, row in enumerate(layer.weights):
                if len(row) != n_in:
                    raise ValueError(f"{where}.weights[{j}]: expected {n_in} columns ({source}), got {len(row)}")
            n_out = len(layer.weights)
            if isinstance(layer.bias, list) and len(layer.bias) != n_out:
                raise ValueError(
                    f"{where}.bias: expected one number shared by the layer or {n_out} values "
                    f"(one per neuron), got {len(layer.bias)}"
                )
            for option, owner in _ACTIVATION_OPTIONS.items():
                if option in layer.model_fields_set and layer.activation != owner:
                    raise ValueError(f"{where}.{option} applies only to {owner}, not {layer.activation}")
            n_in, source = n_out, f"the previous layer has {n_out} neurons"
        weights = sum(len(layer.weights) * len(layer.weights[0]) for layer in self.layers)
        if weights > MAX_WEIGHTS:
            raise ValueError(f"layers: the network has {weights:,} weights; at most {MAX_WEIGHTS:,} are accepted")
        self._check_target(n_out=n_in)
        self._check_neuron_names()
        self._check_names()
        if computing(info):
            self._check_forward()
        return self

    def _check_target(self, n_out: int) -> None:
        last, activation = f"layers[{len(self.layers) - 1}].activation", self.layers[-1].activation
        if isinstance(self.target, list) or self.loss != "cross_entropy":
            n_targets = len(self.target) if isinstance(self.target, list) else 1
            if n_targets != n_out:
                raise ValueError(f"target: expected {n_out} values (the last layer has {n_out} neurons), got {n_targets}")
        if self.loss == "cross_entropy":
            if activation != "linear":
                raise ValueError(
                    f"{last}: cross_entropy applies softmax to the last layer's pre-activations, "
                    f"so its activation must be linear, got {activation}"
                )
            if not isinstance(self.target, list):
                if not (self.target.is_integer() and 0 <= self.target < n_out):
                    raise ValueError(
                        f"target: a cross_entropy class index must be an integer from 0 to {n_out - 1}, "
                        f"got {self.target:g}"
                    )
            elif min(self.target) < 0 or not math.isclose(sum(self.target), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"target: a cross_entropy target vector must be one-hot (a distribution summing to 1), "
                    f"got {self.target}"
                )
        elif self.loss == "bce":
            if activation != "sigmoid":
                raise ValueError(
                    f"{last}: bce compares probabilities, so the last activation must be sigmoid, got {activation}"
                )
            if any(not 0 <= t <= 1 for t in self.target_vector()):
                raise ValueError(f"target: bce targets must lie between 0 and 1, got {self.target}")

    def _check_neuron_names(self) -> None:
        if self.neuron_names is None:
            return
        if len(self.neuron_names) != len(self.layers):
            raise ValueError(
                f"neuron_names: expected one list per layer ({len(self.layers)}), got {len(self.neuron_names)}"
            )
        for l, (names, layer) in enumerate(zip(self.neuron_names, self.layers)):
            if len(names) != len(layer.weights):
                raise ValueError(
                    f"neuron_names[{l}]: expected {len(layer.weights)} names (one per neuron), got {len(names)}"
                )
            if self.loss == "cross_entropy" and "probabilities" in names:
                raise ValueError(f"neuron_names[{l}]: 'probabilities' is taken: with cross_entropy, "
                                 f"forward.probabilities is the softmax of the last layer")

    def _check_names(self) -> None:
        """Names are identifiers, distinct across parameters and neurons, naming scalars that exist."""
        seen: set[str] = set()
        for name in [*self.names, *(name for names in self.neuron_names or [] for name in names)]:
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"name {name!r} must be an identifier (letters, digits, _)")
            if name in seen:
                raise ValueError(f"name {name!r} is used twice; its outputs grad.{name} etc. would clash")
            seen.add(name)
        for name, path in self.names.items():
            ref = parse_parameter_path(path)
            if ref.layer >= len(self.layers):
                raise ValueError(f"names.{name}: {path} does not exist, the network has {len(self.layers)} layers")
            layer, where = self.layers[ref.layer], f"names.{name}: layers[{ref.layer}]"
            if ref.tensor == "weights":
                n_rows, n_columns = len(layer.weights), len(layer.weights[0])
                if ref.index[0] >= n_rows or ref.index[1] >= n_columns:
                    raise ValueError(f"{where}.weights is {n_rows}x{n_columns}, so {path} does not exist")
            elif layer.bias is None:
                raise ValueError(f"{where} has no bias")
            elif isinstance(layer.bias, list) and (not ref.index or ref.index[0] >= len(layer.bias)):
                raise ValueError(
                    f"{where} has {len(layer.bias)} per-neuron biases; "
                    f"name one as layers[{ref.layer}].bias[J] with J < {len(layer.bias)}"
                )
            elif not isinstance(layer.bias, list) and ref.index:
                raise ValueError(f"{where} has one shared bias; name it layers[{ref.layer}].bias")

    def _check_forward(self) -> None:
        """An overflow, or a bce output that rounds to 0 or 1, would make the answers inf or NaN (and the
        step graph's float arithmetic fail): refuse such parameters rather than answer with them."""
        with torch.no_grad():
            zs, activations, loss = _forward(self, *_parameters(self))
        for l, (z, a) in enumerate(zip(zs, activations)):
            if not (torch.isfinite(z).all() and torch.isfinite(a).all()):
                raise ValueError(f"layers[{l}]: the forward pass overflows here; scale the weights or the input down")
        if not math.isfinite(loss.item()):
            why = ", as a sigmoid output rounds to 0 or 1 in float64" if self.loss == "bce" else ""
            raise ValueError(f"loss: the {self.loss} loss is {loss.item()} for these weights and this input{why}")

    def target_vector(self) -> list[float]:
        """The target as one value per output; a cross_entropy class index becomes one-hot."""
        if isinstance(self.target, list):
            return self.target
        if self.loss == "cross_entropy":
            return [float(j == self.target) for j in range(len(self.layers[-1].weights))]
        return [self.target]


def _activate(layer: Layer, z: torch.Tensor) -> torch.Tensor:
    """The layer's activation, as the activation_gradients solver defines it (the layer's options
    were validated with the layer)."""
    return activate(ActivationSpec.model_construct(name=layer.activation, negative_slope=layer.negative_slope,
                                                   alpha=layer.alpha), z)


def _loss(loss: Loss, target: torch.Tensor, z_out: torch.Tensor, a_out: torch.Tensor) -> torch.Tensor:
    """The loss as written in the course; autograd differentiates it, so it is the definition."""
    match loss:
        case "mse_half":
            return 0.5 * ((target - a_out) ** 2).sum()
        case "squared_error":
            return ((target - a_out) ** 2).sum()
        case "mse":
            return ((target - a_out) ** 2).mean()
        case "bce":
            return -(target * torch.log(a_out) + (1 - target) * torch.log(1 - a_out)).sum()
        case "cross_entropy":
            return -(target * torch.log_softmax(z_out, dim=0)).sum()


def _parameters(p: DenseParams, requires_grad: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Each layer's weights and bias (None without one) as float64 tensors."""
    def tensor(values: float | list) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)

    return [tensor(layer.weights) for layer in p.layers], [None if layer.bias is None else tensor(layer.bias)
                                                            for layer in p.layers]


def _forward(p: DenseParams, weights: list[torch.Tensor], biases: list[torch.Tensor | None]):
    """(z per layer, activation per layer, loss) for these weights and biases."""
    zs: list[torch.Tensor] = []
    activations: list[torch.Tensor] = []
    signal = torch.tensor(p.input, dtype=torch.float64)
    for layer, w, b in zip(p.layers, weights, biases):
        z = w @ signal if b is None else w @ signal + b
        signal = _activate(layer, z)
        zs.append(z)
        activations.append(signal)
    return zs, activations, _loss(p.loss, torch.tensor(p.target_vector(), dtype=torch.float64), zs[-1], activations[-1])


@register
class DenseNetwork(Solver):
    """Forward pass, loss, autograd gradients and one SGD step of a small dense network."""

    name = "dense_network"
    Params = DenseParams

    def solve(self) -> dict[str, Any]:
        p: DenseParams = self.params
        weights, biases = _parameters(p, requires_grad=True)
        zs, activations, loss = _forward(p, weights, biases)
        for tensor in (*zs, *activations):
            tensor.retain_grad()
        loss.backward()

        out: dict[str, Any] = {}
        for l, (z, a) in enumerate(zip(zs, activations)):
            out[f"forward.z[{l}]"] = z.tolist()
            out[f"forward.a[{l}]"] = a.tolist()
        if p.loss == "cross_entropy":
            out["forward.probabilities"] = torch.softmax(zs[-1], dim=0).tolist()
        out["loss"] = loss.item()
        for l, (w, b, z, a) in enumerate(zip(weights, biases, zs, activations)):
            out[f"grad.weights[{l}]"] = w.grad.tolist()
            if b is not None:
                out[f"grad.bias[{l}]"] = b.grad.tolist()
            out[f"grad.a[{l}]"] = a.grad.tolist()
            out[f"grad.z[{l}]"] = z.grad.tolist()
        if p.learning_rate is not None:
            for l, (w, b) in enumerate(zip(weights, biases)):
                out[f"updated.weights[{l}]"] = (w - p.learning_rate * w.grad).tolist()
                if b is not None:
                    out[f"updated.bias[{l}]"] = (b - p.learning_rate * b.grad).tolist()

        for l, names in enumerate(p.neuron_names or []):
            for j, name in enumerate(names):
                out[f"forward.{name}"] = activations[l][j].item()
                out[f"forward.z.{name}"] = zs[l][j].item()
                out[f"grad.{name}"] = activations[l].grad[j].item()
                out[f"grad.z.{name}"] = zs[l].grad[j].item()
        for name, path in p.names.items():
            ref = parse_parameter_path(path)
            tensor = (weights if ref.tensor == "weights" else biases)[ref.layer]
            out[f"value.{name}"] = tensor[ref.index].item()
            out[f"grad.{name}"] = tensor.grad[ref.index].item()
            if p.learning_rate is not None:
                out[f"updated.{name}"] = (tensor[ref.index] - p.learning_rate * tensor.grad[ref.index]).item()
        return out

    def steps(self) -> StepGraph:
        """Backpropagation as it is done by hand: z = W a + b, a = f(z), dL/dz = dL/da * f'(z) with
        f' written through the activation's output where the course does (sigmoid: a(1 - a), tanh:
        1 - a^2), dL/da of the layer below = W^T dL/dz, dL/dW = dL/dz a^T, then one SGD step.
        Replacing a student's wrong dL/dh1 here yields the dL/dw1 that follows from it."""
        p: DenseParams = self.params
        g = StepGraph()
        previous = _givens(g, "input", p.input)
        targets = _givens(g, "target", p.target_vector())
        layer_nodes, parameters = [], []
        for l, layer in enumerate(p.layers):
            rows = [_givens(g, f"weights[{l}][{j}]", row) for j, row in enumerate(layer.weights)]
            g.group(f"weights[{l}]", [f"weights[{l}][{j}]" for j in range(len(rows))])
            if isinstance(layer.bias, list):
                biases = _givens(g, f"bias[{l}]", layer.bias)
            elif layer.bias is not None:
                g.given(f"bias[{l}]", layer.bias)
                biases = [f"bias[{l}]"] * len(rows)
            else:
                biases = [None] * len(rows)
            parameters += [w for row in rows for w in row] + sorted({b for b in biases if b}, key=biases.index)
            zs, activations = [], []
            for j, (row, bias) in enumerate(zip(rows, biases)):
                z, a = f"forward.z[{l}][{j}]", f"forward.a[{l}][{j}]"
                g.step(z, [*row, *previous, *([bias] if bias else [])], partial(_affine, len(row)))
                g.step(a, [z], partial(_activation_value, layer))
                zs.append(z)
                activations.append(a)
            g.group(f"forward.z[{l}]", zs)
            g.group(f"forward.a[{l}]", activations)
            layer_nodes.append((rows, biases, zs, activations, previous))
            previous = activations

        last_z, last_a = layer_nodes[-1][2], layer_nodes[-1][3]
        if p.loss == "cross_entropy":
            for j in range(len(last_z)):
                g.step(f"forward.probabilities[{j}]", last_z, partial(_softmax_entry, j))
            g.group("forward.probabilities", [f"forward.probabilities[{j}]" for j in range(len(last_z))])
            g.step("loss", [*last_z, *targets], _cross_entropy)
        else:
            g.step("loss", [*last_a, *targets], partial(_elementwise_loss, p.loss))

        upstream = []  # dL/da of the current layer, starting from the loss
        for j, (a, t) in enumerate(zip(last_a, targets)):
            name = f"grad.a[{len(p.layers) - 1}][{j}]"
            if p.loss == "cross_entropy":
                g.step(name, [*last_z, t], partial(_cross_entropy_grad, j))
            else:
                g.step(name, [a, t], partial(_loss_grad, p.loss, len(targets)))
            upstream.append(name)
        for l in reversed(range(len(p.layers))):
            layer = p.layers[l]
            rows, biases, zs, activations, below = layer_nodes[l]
            dz = []
            for j, (z, a, da) in enumerate(zip(zs, activations, upstream)):
                g.step(f"grad.z[{l}][{j}]", [da, a, z], partial(_through_activation, layer))
                dz.append(f"grad.z[{l}][{j}]")
            g.group(f"grad.a[{l}]", upstream)
            g.group(f"grad.z[{l}]", dz)
            for j, row in enumerate(rows):
                for k, x in enumerate(below):
                    g.step(f"grad.weights[{l}][{j}][{k}]", [dz[j], x], _product)
                g.group(f"grad.weights[{l}][{j}]", [f"grad.weights[{l}][{j}][{k}]" for k in range(len(below))])
            g.group(f"grad.weights[{l}]", [f"grad.weights[{l}][{j}]" for j in range(len(rows))])
            if isinstance(layer.bias, list):
                for j in range(len(rows)):
                    g.step(f"grad.bias[{l}][{j}]", [dz[j]], float)
                g.group(f"grad.bias[{l}]", [f"grad.bias[{l}][{j}]" for j in range(len(rows))])
            elif layer.bias is not None:
                g.step(f"grad.bias[{l}]", dz, _sum)
            if l > 0:
                upstream = []
                for k in range(len(below)):
                    name = f"grad.a[{l - 1}][{k}]"
                    g.step(name, [*(row[k] for row in rows), *dz], partial(_backward_sum, len(rows)))
                    upstream.append(name)

        if p.learning_rate is not None:
            for name in parameters:
                g.step(f"updated.{name}", [name, f"grad.{name}"], partial(_sgd, p.learning_rate))
            for l, layer in enumerate(p.layers):
                for j, row in enumerate(layer.weights):
                    g.group(f"updated.weights[{l}][{j}]", [f"updated.weights[{l}][{j}][{k}]" for k in range(len(row))])
                g.group(f"updated.weights[{l}]", [f"updated.weights[{l}][{j}]" for j in range(len(layer.weights))])
                if isinstance(layer.bias, list):
                    g.group(f"updated.bias[{l}]", [f"updated.bias[{l}][{j}]" for j in range(len(layer.bias))])

        for l, names in enumerate(p.neuron_names or []):
            for j, name in enumerate(names):
                g.alias(f"forward.{name}", f"forward.a[{l}][{j}]")
                g.alias(f"forward.z.{name}", f"forward.z[{l}][{j}]")
                g.alias(f"grad.{name}", f"grad.a[{l}][{j}]")
                g.alias(f"grad.z.{name}", f"grad.z[{l}][{j}]")
        for name, path in p.names.items():
            ref = parse_parameter_path(path)
            node = f"{ref.tensor}[{ref.layer}]" + "".join(f"[{i}]" for i in ref.index)
            g.alias(f"value.{name}", node)
            g.alias(f"grad.{name}", f"grad.{node}")
            if p.learning_rate is not None:
                g.alias(f"updated.{name}", f"updated.{node}")
        return g


def _givens(g: StepGraph, name: str, values: list[float]) -> list[str]:
    """One given per value, named name[i], and name itself as their group."""
    names = [f"{name}[{i}]" for i in range(len(values))]
    for n, v in zip(names, values):
        g.given(n, v)
    g.group(name, names)
    return names


def _affine(n: int, *values: float) -> float:
    """z = sum_k w_k x_k (+ b): the first n values are weights, the next n inputs, then the bias."""
    weights, inputs, bias = values[:n], values[n:2 * n], values[2 * n:]
    return sum(w * x for w, x in zip(weights, inputs)) + sum(bias)


def _activation_value(layer: Layer, z: float) -> float:
    match layer.activation:
        case "sigmoid":  # below -700, e^-z overflows and e^z / (1 + e^z) is e^z in float64
            return 1 / (1 + math.exp(-z)) if z > -700 else math.exp(z)
        case "tanh":
            return math.tanh(z)
        case "relu":
            return max(z, 0.0)
        case "leaky_relu":
            return z if z > 0 else layer.negative_slope * z
        case "elu":
            return z if z > 0 else layer.alpha * math.expm1(z)
        case "linear":
            return z


def _through_activation(layer: Layer, da: float, a: float, z: float) -> float:
    """dL/dz = dL/da * f'(z), with f' as the course writes it (torch's choice at z = 0)."""
    match layer.activation:
        case "sigmoid":
            return da * a * (1 - a)
        case "tanh":
            return da * (1 - a * a)
        case "relu":
            return da if z > 0 else 0.0
        case "leaky_relu":
            return da if z > 0 else da * layer.negative_slope
        case "elu":
            return da if z > 0 else da * (a + layer.alpha)
        case "linear":
            return da


def _elementwise_loss(loss: Loss, *values: float) -> float:
    n = len(values) // 2
    pairs = list(zip(values[:n], values[n:]))
    match loss:
        case "mse_half":
            return 0.5 * sum((t - a) ** 2 for a, t in pairs)
        case "squared_error":
            return sum((t - a) ** 2 for a, t in pairs)
        case "mse":
            return sum((t - a) ** 2 for a, t in pairs) / n
        case "bce":
            return -sum(t * math.log(a) + (1 - t) * math.log(1 - a) for a, t in pairs)
    raise ValueError(loss)


def _loss_grad(loss: Loss, n: int, a: float, t: float) -> float:
    """dL/da for one output."""
    match loss:
        case "mse_half":
            return a - t
        case "squared_error":
            return 2 * (a - t)
        case "mse":
            return 2 * (a - t) / n
        case "bce":
            return -t / a + (1 - t) / (1 - a)
    raise ValueError(loss)


def _softmax(zs: tuple[float, ...]) -> list[float]:
    top = max(zs)
    exps = [math.exp(z - top) for z in zs]
    return [e / sum(exps) for e in exps]


def _softmax_entry(j: int, *zs: float) -> float:
    return _softmax(zs)[j]


def _cross_entropy(*values: float) -> float:
    """-sum t_j log softmax(z)_j, the log taken as z_j - logsumexp(z): a probability may round to 0."""
    n = len(values) // 2
    zs, targets = values[:n], values[n:]
    top = max(zs)
    log_total = top + math.log(sum(math.exp(z - top) for z in zs))
    return -sum(t * (z - log_total) for z, t in zip(zs, targets) if t)


def _cross_entropy_grad(j: int, *values: float) -> float:
    """dL/dz_j = softmax(z)_j - t_j for a target distribution."""
    return _softmax(values[:-1])[j] - values[-1]


def _product(a: float, b: float) -> float:
    return a * b


def _sum(*values: float) -> float:
    return sum(values)


def _backward_sum(n: int, *values: float) -> float:
    """dL/da_k = sum_j w_jk dL/dz_j: the first n values are the weights, the rest dL/dz."""
    return sum(w * d for w, d in zip(values[:n], values[n:]))


def _sgd(learning_rate: float, value: float, grad: float) -> float:
    return value - learning_rate * grad
