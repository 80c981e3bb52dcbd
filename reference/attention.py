"""Solver `attention`: multi-head self-attention without softmax, as the exam defines it, and
Jacobians of its outputs with respect to its inputs by torch autograd (float64).

The exam writes tokens as column vectors and weights acting on the left: Q_i = W_Q x_i,
K_j = W_K x_j, V_j = W_V x_j. So W_Q and W_K have shape (d_k, d) and W_V (d_v, d), d being the
input dimension. Head h computes the scores s_ij = scale * Q_i . K_j and the outputs
y_i^(h) = sum_j s_ij V_j: no softmax. Each token's head outputs are concatenated and, with W_O
(shape (d_out, sum of the heads' d_v)), projected: y_i = W_O [y_i^(1) || y_i^(2) || ...].
Without W_O the concatenation is the output (the exam's single-head toy).

Parameters: `inputs` (one row per token, x_0 first), `heads` (each with W_Q, W_K, W_V), `W_O`
(optional), `scale` ("none", or "sqrt_dk" to divide the scores by sqrt(d_k) as transformers do),
`jacobians` (pairs [i, j]: d y_i / d x_j), `upstream` (dL/dy_i for every token, one row each).

Outputs (token and head indices from 0, so the exam's x_1 is x[0]):

- `heads[h].Q`, `heads[h].K`, `heads[h].V` (one row per token), `heads[h].scores` (n x n,
  row i holding Q_i . K_j for every j), `heads[h].output` (one row y_i^(h) per token);
- `concat` (one row per token), `output` (one row y_i per token), `output[i]`;
- `shape.heads[h].W_Q`, `shape.heads[h].W_K`, `shape.heads[h].W_V`, `shape.W_O`: [rows, columns];
- for each pair [i, j] in `jacobians`: `jacobian[i][j]`, the matrix d y_i / d x_j of shape
  (d_out, d): entry [a][b] is d y_i[a] / d x_j[b];
- with `upstream`: `grad.inputs` (one row dL/dx_j per token) and `grad.x[j]`, by the chain rule
  through every output (x_j reaches y_i through K_j and V_j for every i, not only through y_j).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from reference.registry import Params, Solver, matrix, register
from reference._lazy import torch

# The Jacobians take one backward pass per output coordinate of every token: these bounds keep
# them (and everything else) under two seconds.
MAX_TOKENS = 16
MAX_DIM = 16  # d, d_k, d_v and d_out
MAX_HEADS = 8
Matrix = list[list[float]]
Tokens = matrix(MAX_TOKENS, MAX_DIM)
Weights = matrix(MAX_DIM, MAX_DIM)
Projection = matrix(MAX_DIM, MAX_HEADS * MAX_DIM)  # its columns take the heads' outputs concatenated
Outputs = matrix(MAX_TOKENS, MAX_HEADS * MAX_DIM)  # one row per token, up to the concatenation's width


class Head(Params):
    W_Q: Weights = Field(min_length=1, description="shape (d_k, d): Q_i = W_Q x_i")
    W_K: Weights = Field(min_length=1, description="shape (d_k, d): K_j = W_K x_j")
    W_V: Weights = Field(min_length=1, description="shape (d_v, d): V_j = W_V x_j")


def _columns(matrix: Matrix, name: str, expected: int, why: str) -> None:
    for r, row in enumerate(matrix):
        if len(row) != expected:
            raise ValueError(f"{name}: expected {expected} columns ({why}), got {len(row)} in row {r}")


class AttentionParams(Params):
    inputs: Tokens = Field(min_length=1, description="one row per token x_i")
    heads: list[Head] = Field(min_length=1, max_length=MAX_HEADS)
    W_O: Projection | None = Field(
        None, min_length=1, description="shape (d_out, sum of d_v): the output projection; none: no projection")
    scale: Literal["none", "sqrt_dk"] = "none"
    jacobians: list[tuple[int, int]] = Field([], max_length=MAX_TOKENS**2,
                                             description="pairs [i, j]: output d y_i / d x_j")
    upstream: Outputs | None = Field(None, description="dL/dy_i, one row per token, for dL/dx_j")

    @model_validator(mode="after")
    def _shapes(self) -> AttentionParams:
        d, n = len(self.inputs[0]), len(self.inputs)
        if d == 0:
            raise ValueError("inputs: a token needs at least one value")
        for i, x in enumerate(self.inputs):
            if len(x) != d:
                raise ValueError(f"inputs[{i}]: expected {d} values like inputs[0], got {len(x)}")
        why = f"the inputs are in R^{d}"
        for h, head in enumerate(self.heads):
            for name in ("W_Q", "W_K", "W_V"):
                _columns(getattr(head, name), f"heads[{h}].{name}", d, why)
            if len(head.W_K) != len(head.W_Q):
                raise ValueError(f"heads[{h}].W_K: expected {len(head.W_Q)} rows like heads[{h}].W_Q "
                                 f"(Q_i . K_j needs vectors of one length), got {len(head.W_K)}")
        concat = sum(len(head.W_V) for head in self.heads)
        if self.W_O is not None:
            parts = " + ".join(str(len(head.W_V)) for head in self.heads)
            _columns(self.W_O, "W_O", concat, f"the heads' outputs concatenated: {parts}")
        d_out = len(self.W_O) if self.W_O is not None else concat
        for k, (i, j) in enumerate(self.jacobians):
            for what, index in (("output token", i), ("input token", j)):
                if not 0 <= index < n:
                    raise ValueError(f"jacobians[{k}]: {what} {index} does not exist; there are {n} tokens, "
                                     f"numbered from 0")
        if self.upstream is not None:
            if len(self.upstream) != n:
                raise ValueError(f"upstream: expected {n} rows (one dL/dy_i per token), got {len(self.upstream)}")
            _columns(self.upstream, "upstream", d_out, f"the outputs y_i are in R^{d_out}")
        return self


def _tensor(values: Matrix) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@register
class Attention(Solver):
    """Self-attention without softmax, per head and projected, with autograd Jacobians."""

    name = "attention"
    Params = AttentionParams

    def _heads(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Q, K, V, scores and output of every head; rows are tokens, so Q = X W_Q^T."""
        out = []
        for head in self.params.heads:
            q, k, v = (x @ _tensor(getattr(head, name)).T for name in ("W_Q", "W_K", "W_V"))
            scores = q @ k.T
            if self.params.scale == "sqrt_dk":
                scores = scores / q.shape[1] ** 0.5
            out.append({"Q": q, "K": k, "V": v, "scores": scores, "output": scores @ v})
        return out

    def _forward(self, x: torch.Tensor) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor, torch.Tensor]:
        heads = self._heads(x)
        concat = torch.cat([head["output"] for head in heads], dim=1)
        output = concat if self.params.W_O is None else concat @ _tensor(self.params.W_O).T
        return heads, concat, output

    def solve(self) -> dict[str, Any]:
        p: AttentionParams = self.params
        x = _tensor(p.inputs).requires_grad_(True)
        heads, concat, output = self._forward(x)

        out: dict[str, Any] = {}
        for h, head in enumerate(heads):
            for name, value in head.items():
                out[f"heads[{h}].{name}"] = value.tolist()
            for name in ("W_Q", "W_K", "W_V"):
                matrix = getattr(p.heads[h], name)
                out[f"shape.heads[{h}].{name}"] = [len(matrix), len(matrix[0])]
        if p.W_O is not None:
            out["shape.W_O"] = [len(p.W_O), len(p.W_O[0])]
        out["concat"] = concat.tolist()
        out["output"] = output.tolist()
        for i, row in enumerate(output.tolist()):
            out[f"output[{i}]"] = row
        if p.jacobians:
            # full[i, a, j, b] = d y_i[a] / d x_j[b]
            full = torch.autograd.functional.jacobian(lambda inputs: self._forward(inputs)[2], x.detach())
            for i, j in p.jacobians:
                out[f"jacobian[{i}][{j}]"] = full[i, :, j, :].tolist()
        if p.upstream is not None:
            (grad,) = torch.autograd.grad((output * _tensor(p.upstream)).sum(), x)
            out["grad.inputs"] = grad.tolist()
            for j, row in enumerate(grad.tolist()):
                out[f"grad.x[{j}]"] = row
        return out
