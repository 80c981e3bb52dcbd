"""Solver `activation_gradients`: derivatives of activation functions at given points, and the
largest derivative over the real line, by torch autograd in float64.

The maximum is searched, not recalled: the derivative is evaluated by autograd on a grid of
[-search_bound, search_bound], then on finer grids around the best point, so "the sigmoid's
gradient peaks at 0.25" is computed like any other answer.

Parameters: `activations`, each a name or an object {name, label, negative_slope, alpha}
(names: sigmoid, tanh, relu, leaky_relu (negative_slope, default 0.01), elu (alpha, default 1),
linear, softplus, silu, gelu (the exact, erf form)); `points`, where to differentiate; and
`search_bound` (default 50).

Outputs, for each activation under its `label` (default: its name), A:

- `A.max_derivative`: the largest derivative found on [-search_bound, search_bound];
- `A.argmax`: the leftmost point found where it is reached (for relu, any z > 0 would do; the
  softplus derivative only approaches 1 as z grows, and this is where it rounds to 1 in float64);
- `A.at[z].derivative`, `A.at[z].value` for each point z, and `A.derivative` (the list).

A point at a kink (relu, leaky_relu and elu with alpha != 1 at z = 0) has no derivative and is
rejected rather than answered with a framework's one-sided convention.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from reference.registry import Params, Solver, register
from reference._lazy import torch

Name = Literal["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear", "softplus", "silu", "gelu"]
# Every grid stays under torch's parallel grain (32768 elements), so no thread pool is started:
# rubrics load again in forked grading workers, where a pool started before the fork deadlocks.
GRID_POINTS = 20_001
ZOOM_POINTS = 1_001
ZOOMS = 8
_OPTIONS = {"negative_slope": "leaky_relu", "alpha": "elu"}  # options meaningful for one activation only


class ActivationSpec(Params):
    name: Name
    label: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="output prefix; default the name")
    negative_slope: float = Field(0.01, description="leaky_relu only: the slope for z < 0")
    alpha: float = Field(1.0, gt=0, description="elu only: alpha * (exp(z) - 1) for z < 0")

    @model_validator(mode="after")
    def _options_fit(self) -> "ActivationSpec":
        for option, owner in _OPTIONS.items():
            if option in self.model_fields_set and self.name != owner:
                raise ValueError(f"{option} applies only to {owner}, not {self.name}")
        return self

    @property
    def prefix(self) -> str:
        return self.label or self.name

    @property
    def kink(self) -> bool:
        """Whether the derivative jumps at z = 0."""
        return (self.name == "relu" or (self.name == "leaky_relu" and self.negative_slope != 1)
                or (self.name == "elu" and self.alpha != 1))


class ActivationParams(Params):
    # each activation's search takes a few milliseconds, each point two outputs per activation
    activations: list[Name | ActivationSpec] = Field(min_length=1, max_length=20)
    points: list[float] = Field(default_factory=list, max_length=1000, description="where to give each derivative")
    search_bound: float = Field(50.0, gt=0, le=1000, description="the maximum is sought on [-bound, bound]")

    @model_validator(mode="after")
    def _distinct_and_differentiable(self) -> "ActivationParams":
        seen: set[str] = set()
        for i, spec in enumerate(self.specs()):
            if spec.prefix in seen:
                raise ValueError(f"activations[{i}]: {spec.prefix} is used twice; give one a label")
            seen.add(spec.prefix)
            if spec.kink and 0.0 in self.points:
                raise ValueError(f"points: {spec.prefix} has no derivative at z = 0 (a kink); choose another point")
        printed: dict[str, int] = {}
        for i, z in enumerate(self.points):
            first = printed.setdefault(f"{z:g}", i)
            if self.points[first] != z:  # a repeated point is harmless; two that print alike are not
                raise ValueError(f"points[{i}]: {z!r} and points[{first}] ({self.points[first]!r}) would both be "
                                 f"output as at[{z:g}]; give points that differ in their first 6 digits")
        return self

    def specs(self) -> list[ActivationSpec]:
        return [ActivationSpec(name=a) if isinstance(a, str) else a for a in self.activations]


def activate(spec: ActivationSpec, z: torch.Tensor) -> torch.Tensor:
    """The activation applied elementwise."""
    functional = torch.nn.functional
    match spec.name:
        case "sigmoid":
            return torch.sigmoid(z)
        case "tanh":
            return torch.tanh(z)
        case "relu":
            return torch.relu(z)
        case "leaky_relu":
            return functional.leaky_relu(z, spec.negative_slope)
        case "elu":
            return functional.elu(z, spec.alpha)
        case "linear":
            return z
        case "softplus":
            # torch's default turns linear past z = 20, 2e-9 off log(1 + e^z); past 700 it is exact
            return functional.softplus(z, threshold=700.0)
        case "silu":
            return functional.silu(z)
        case "gelu":
            return functional.gelu(z)


def derivative(spec: ActivationSpec, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, derivatives) at the points z, by autograd."""
    z = z.detach().clone().requires_grad_(True)
    values = activate(spec, z)
    (grad,) = torch.autograd.grad(values.sum(), z)
    return values.detach(), grad


def maximise_derivative(spec: ActivationSpec, bound: float) -> tuple[float, float]:
    """(max derivative, leftmost point reaching it) on [-bound, bound]: a grid, then finer grids
    around the best point, each spanning its neighbours on the previous grid."""
    z = torch.linspace(-bound, bound, GRID_POINTS, dtype=torch.float64)
    _, slopes = derivative(spec, z)
    for _ in range(ZOOMS):
        k = int(torch.argmax(slopes))  # the first of equal maxima
        z = torch.linspace(float(z[max(k - 1, 0)]), float(z[min(k + 1, len(z) - 1)]), ZOOM_POINTS, dtype=torch.float64)
        _, slopes = derivative(spec, z)
    k = int(torch.argmax(slopes))
    return float(slopes[k]), float(z[k])


@register
class ActivationGradients(Solver):
    name = "activation_gradients"
    Params = ActivationParams

    def solve(self) -> dict[str, Any]:
        p: ActivationParams = self.params
        points = torch.tensor(p.points, dtype=torch.float64)
        out: dict[str, Any] = {}
        for spec in p.specs():
            a = spec.prefix
            out[f"{a}.max_derivative"], out[f"{a}.argmax"] = maximise_derivative(spec, p.search_bound)
            values, slopes = derivative(spec, points)
            out[f"{a}.derivative"] = slopes.tolist()
            for z, value, slope in zip(p.points, values.tolist(), slopes.tolist()):
                out[f"{a}.at[{z:g}].value"] = value
                out[f"{a}.at[{z:g}].derivative"] = slope
        return out
