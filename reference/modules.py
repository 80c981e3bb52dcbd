"""Parameter counts and output shapes of torch models, counted by torch itself.

The model is built from its description (Linear and Conv1d layers, optional biases) and counted
with `numel` over `parameters()`; the output shape comes from a forward pass on zeros. Without
`input_shape` nothing runs, so the model is built on torch's meta device, which allocates nothing:
a billion-parameter layer is counted as fast as a small one. With it, the shapes are checked layer
by layer first, and the model and every activation must be small enough to run in a moment.

Outputs: `params.total`, `params[i]` (layer i), `weights.total` / `biases.total` and per layer
`weights[i]` / `biases[i]` (the same count split by torch's parameter names), and with
`input_shape` the `output_shape`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from reference.registry import Params, Solver, register
from reference._lazy import torch

Size = Annotated[int, Field(ge=1, le=10**6)]  # so that a conv1d weight, in x out x kernel, fits int64
MAX_LAYERS = 1000
MAX_RUN = 10**7  # parameters, and elements of the input and of each layer's output, when the model runs


class LinearSpec(Params):
    type: Literal["linear"]
    in_features: Size
    out_features: Size
    bias: bool = True

    def parameters(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def output_shape(self, shape: list[int], where: str) -> list[int]:
        if shape[-1] != self.in_features:
            raise ValueError(f"input_shape: {shape} does not fit {where}, which takes {self.in_features} features "
                             f"in the last dimension")
        return [*shape[:-1], self.out_features]


class Conv1dSpec(Params):
    type: Literal["conv1d"]
    in_channels: Size
    out_channels: Size
    kernel_size: Size
    stride: Size = 1
    padding: int = Field(0, ge=0, le=10**6)
    bias: bool = True

    def parameters(self) -> int:
        return self.in_channels * self.out_channels * self.kernel_size + (self.out_channels if self.bias else 0)

    def output_shape(self, shape: list[int], where: str) -> list[int]:
        if len(shape) not in (2, 3) or shape[-2] != self.in_channels:
            raise ValueError(f"input_shape: {shape} does not fit {where}, which takes [batch, {self.in_channels}, "
                             f"length] or [{self.in_channels}, length]")
        padded = shape[-1] + 2 * self.padding
        if padded < self.kernel_size:
            raise ValueError(f"input_shape: {shape} does not fit {where}: its kernel ({self.kernel_size}) is longer "
                             f"than its padded input ({padded})")
        return [*shape[:-2], self.out_channels, (padded - self.kernel_size) // self.stride + 1]


Layer = Annotated[LinearSpec | Conv1dSpec, Field(discriminator="type")]


class ModelParams(Params):
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS)
    input_shape: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, min_length=1, max_length=8, description=f"e.g. [batch, features] or [batch, channels, length]; "
        f"the model then runs, so its parameters, the input and each layer's output may number at most {MAX_RUN:,}")

    @model_validator(mode="after")
    def _runnable(self) -> "ModelParams":
        if self.input_shape is None:
            return self
        parameters = sum(layer.parameters() for layer in self.layers)
        if parameters > MAX_RUN:
            raise ValueError(f"input_shape: to find the output shape the model runs, but it has {parameters:,} "
                             f"parameters (at most {MAX_RUN:,}); leave input_shape out to count them")

        def small(shape: list[int], what: str) -> None:
            if math.prod(shape) > MAX_RUN:
                raise ValueError(f"input_shape: {what} would have shape {shape}, {math.prod(shape):,} elements; "
                                 f"at most {MAX_RUN:,} are accepted")

        shape = self.input_shape
        small(shape, "the input")
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape, f"layers[{i}]")
            small(shape, f"the output of layers[{i}]")
        return self


def _build(spec: LinearSpec | Conv1dSpec, device: str) -> torch.nn.Module:
    if isinstance(spec, LinearSpec):
        return torch.nn.Linear(spec.in_features, spec.out_features, bias=spec.bias, device=device)
    return torch.nn.Conv1d(spec.in_channels, spec.out_channels, spec.kernel_size, stride=spec.stride,
                           padding=spec.padding, bias=spec.bias, device=device)


@register
class ModelSize(Solver):
    name = "model_size"
    Params = ModelParams

    def solve(self) -> dict[str, Any]:
        p: ModelParams = self.params
        model = torch.nn.Sequential(*(_build(layer, "meta" if p.input_shape is None else "cpu") for layer in p.layers))
        counts = [sum(t.numel() for t in layer.parameters() if t.requires_grad) for layer in model]
        out: dict[str, Any] = {"params.total": sum(counts)}
        out.update({f"params[{i}]": n for i, n in enumerate(counts)})
        for kind in ("weight", "bias"):
            per_layer = [sum(t.numel() for name, t in layer.named_parameters() if name == kind) for layer in model]
            plural = "weights" if kind == "weight" else "biases"
            out[f"{plural}.total"] = sum(per_layer)
            out.update({f"{plural}[{i}]": n for i, n in enumerate(per_layer)})
        if p.input_shape is not None:
            with torch.no_grad():
                out["output_shape"] = list(model(torch.zeros(*p.input_shape)).shape)
        return out
