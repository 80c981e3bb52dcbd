"""Solver `weighted_distance`: the quadratic-form distance tau(x, y) = (x - y)^T A (x - y) on given
points, and the facts true/false questions ask about it, established on those points.

Statements such as "a diagonal A gives a multiple of the Euclidean distance" or "tau equals the
squared Euclidean distance after projecting with W" are checked by computing both sides on every
pair of `points`: one pair that disagrees refutes the statement (pick points that would show it).

Parameters: `A` (d x d), `points` (rows in R^d, at least 2), `projection` (optional W, k x d).

Outputs:
- `distances`: tau(x_i, x_j) for every pair (N x N); `rank`: the rank of A;
- `symmetric_matrix`: "yes" when A = A^T; `symmetric_in_arguments`: "yes" when
  tau(x_i, x_j) = tau(x_j, x_i) for every pair (true for every A: the quadratic form is even);
- `euclidean_multiple`: "yes" when one alpha has tau = alpha * ||x - y||^2 on every pair of
  distinct points, with `euclidean_factor` alpha (only then);
- with `projection`: `projected_distances` ||W x_i - W x_j||^2, and `equals_projection`: "yes"
  when they equal tau on every pair (as they do exactly when W^T W = A on the points' span).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from reference.registry import Params, Solver, matrix, register
from reference._lazy import torch

RTOL = 1e-9
MAX_DIM = 50
MAX_POINTS = 100  # every pair is compared: N x N x d differences
Weights = matrix(MAX_DIM, MAX_DIM)
Points = matrix(MAX_POINTS, MAX_DIM)


def _yes(condition: bool) -> str:
    return "yes" if condition else "no"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(1.0, a.abs().max().item(), b.abs().max().item())
    return bool(((a - b).abs() <= RTOL * scale).all())


class WeightedDistanceParams(Params):
    A: Weights = Field(min_length=1, description="the d x d weight matrix")
    points: Points = Field(min_length=2, description="rows x_i in R^d; every pair is compared")
    projection: Weights | None = Field(None, min_length=1, description="W (k x d): compare with ||W(x - y)||^2")

    @model_validator(mode="after")
    def _shapes(self) -> WeightedDistanceParams:
        d = len(self.A)
        for r, row in enumerate(self.A):
            if len(row) != d:
                raise ValueError(f"A: must be square ({d} x {d}, as it has {d} rows), got {len(row)} columns in row {r}")
        for i, point in enumerate(self.points):
            if len(point) != d:
                raise ValueError(f"points[{i}]: expected {d} coordinates (A is {d} x {d}), got {len(point)}")
        for r, row in enumerate(self.projection or []):
            if len(row) != d:
                raise ValueError(f"projection: expected {d} columns (W maps R^{d}), got {len(row)} in row {r}")
        return self


@register
class WeightedDistance(Solver):
    """tau(x, y) = (x - y)^T A (x - y) on every pair of points, and what it equals."""

    name = "weighted_distance"
    Params = WeightedDistanceParams

    def solve(self) -> dict[str, Any]:
        p: WeightedDistanceParams = self.params
        a = torch.tensor(p.A, dtype=torch.float64)
        x = torch.tensor(p.points, dtype=torch.float64)
        differences = x[:, None, :] - x[None, :, :]  # [i, j] = x_i - x_j
        tau = torch.einsum("ijd,de,ije->ij", differences, a, differences)
        squared_euclidean = (differences**2).sum(dim=2)

        out: dict[str, Any] = {
            "distances": tau.tolist(),
            "rank": int(torch.linalg.matrix_rank(a).item()),
            "symmetric_matrix": _yes(_close(a, a.T)),
            "symmetric_in_arguments": _yes(_close(tau, tau.T)),
        }
        distinct = squared_euclidean > 0
        ratios = tau[distinct] / squared_euclidean[distinct]
        multiple = bool(ratios.numel()) and _close(ratios, torch.full_like(ratios, ratios[0].item()))
        out["euclidean_multiple"] = _yes(multiple)
        if multiple:
            out["euclidean_factor"] = ratios[0].item()
        if p.projection is not None:
            w = torch.tensor(p.projection, dtype=torch.float64)
            projected = ((differences @ w.T) ** 2).sum(dim=2)
            out["projected_distances"] = projected.tolist()
            out["equals_projection"] = _yes(_close(projected, tau))
        return out
