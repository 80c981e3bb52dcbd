"""Parameter counts and output shapes of small torch models, counted by torch itself.

The model is built from its description (Linear and Conv1d layers, optional biases) and counted
with `numel` over `parameters()`; the output shape comes from a forward pass on zeros.

Outputs: `params.total`, `params[i]` (layer i), `weights.total` / `biases.total` and per layer
`weights[i]` / `biases[i]` (the same count split by torch's parameter names), and with
`input_shape` the `output_shape`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from reference.registry import Params, Solver, register


class LinearSpec(Params):
    type: Literal["linear"]
    in_features: int = Field(ge=1)
    out_features: int = Field(ge=1)
    bias: bool = True


class Conv1dSpec(Params):
    type: Literal["conv1d"]
    in_channels: int = Field(ge=1)
    out_channels: int = Field(ge=1)
    kernel_size: int = Field(ge=1)
    stride: int = Field(1, ge=1)
    padding: int = Field(0, ge=0)
    bias: bool = True


Layer = Annotated[LinearSpec | Conv1dSpec, Field(discriminator="type")]


class ModelParams(Params):
    layers: list[Layer] = Field(min_length=1)
    input_shape: list[int] | None = Field(None, description="e.g. [batch, features] or [batch, channels, length]")


def _build(spec: LinearSpec | Conv1dSpec) -> torch.nn.Module:
    if isinstance(spec, LinearSpec):
        return torch.nn.Linear(spec.in_features, spec.out_features, bias=spec.bias)
    return torch.nn.Conv1d(spec.in_channels, spec.out_channels, spec.kernel_size, stride=spec.stride,
                           padding=spec.padding, bias=spec.bias)


@register
class ModelSize(Solver):
    name = "model_size"
    Params = ModelParams

    def solve(self) -> dict[str, Any]:
        p: ModelParams = self.params
        model = torch.nn.Sequential(*(_build(layer) for layer in p.layers))
        counts = [sum(t.numel() for t in layer.parameters() if t.requires_grad) for layer in model]
        out: dict[str, Any] = {"params.total": sum(counts)}
        out.update({f"params[{i}]": n for i, n in enumerate(counts)})
        for kind in ("weight", "bias"):
            per_layer = [sum(t.numel() for name, t in layer.named_parameters() if name == kind) for layer in model]
            plural = "weights" if kind == "weight" else "biases"
            out[f"{plural}.total"] = sum(per_layer)
            out.update({f"{plural}[{i}]": n for i, n in enumerate(per_layer)})
        if p.input_shape is not None:
            try:
                with torch.no_grad():
                    shape = list(model(torch.zeros(*p.input_shape)).shape)
            except RuntimeError as exc:
                raise ValueError(f"input_shape {p.input_shape} does not fit the layers: {exc}") from None
            out["output_shape"] = shape
        return out
