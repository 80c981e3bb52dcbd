"""Solver `linear_regression`: least squares by the normal equation, and the gradient, Hessian and
Newton step of the loss at a given point.

Courses write the loss with different factors, and the gradient and Hessian scale with them, so
the convention is a required parameter:

- `half_sum`:  J(b) = 1/2 ||y - X b||^2 (Assignment 1),
- `half_mean`: J(b) = 1/(2N) ||y - X b||^2 (the quiz's Newton question),
- `mean`:      J(b) = 1/N ||y - X b||^2.

Parameters: the design as `features` (one row of feature values per observation, or one number
per observation for a single feature) with `intercept` (default true: a first column of ones is
added, so b[0] is the intercept), or as `design` (X given whole, used as is); `targets` (y, one per
row); `loss`; optionally `beta`, the current point.

Outputs:

- `X` (the design matrix used), `XtX`, `Xty`;
- `beta_hat` (the normal-equation solution (X^T X)^-1 X^T y, solved, not inverted), `beta_hat[j]`,
  `fitted` (X beta_hat), `loss.beta_hat`;
- `hessian` (constant for a quadratic loss);
- with `beta`: `loss.beta`, `grad` (at beta), `grad[j]`, `newton.step` (-H^-1 grad) and
  `newton.beta` (beta after one Newton step, which is beta_hat whatever beta was).

The loss is written out and differentiated by torch autograd in float64; the closed forms
(grad = -c X^T (y - X b), H = c X^T X with c = 1, 1/N or 2/N) are what the tests hold it to.
A design whose X^T X is singular (fewer observations than columns, a repeated or constant
feature next to the intercept) has no unique solution and is rejected, with X's rank.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from reference.registry import Params, Solver, register
from reference._lazy import torch

Loss = Literal["half_sum", "half_mean", "mean"]
MAX_ROWS = 1000
MAX_COLUMNS = 50  # the Hessian takes one backward pass per column


class LinearRegressionParams(Params):
    features: list[list[float]] | list[float] | None = Field(
        None, description=f"one row of feature values per observation (or one value each); see intercept; "
        f"at most {MAX_ROWS} rows of {MAX_COLUMNS} values")
    intercept: bool = Field(True, description="with features: add a first column of ones")
    design: list[list[float]] | None = Field(
        None, description=f"the design matrix X, used as given; at most {MAX_ROWS} rows of {MAX_COLUMNS} values")
    targets: list[float] = Field(min_length=1, description="y, one value per observation")
    loss: Loss
    beta: list[float] | None = Field(None, description="the current point for the gradient and the Newton step")

    @model_validator(mode="after")
    def _consistent(self) -> "LinearRegressionParams":
        if (self.features is None) == (self.design is None):
            raise ValueError("give the design as exactly one of features (with intercept) or design (X whole)")
        if self.design is not None and "intercept" in self.model_fields_set:
            raise ValueError("intercept applies to features; a design is used as given")
        source = "features" if self.features is not None else "design"
        rows = self.rows()
        if not 1 <= len(rows) <= MAX_ROWS:
            raise ValueError(f"{source}: expected 1 to {MAX_ROWS} rows (observations), got {len(rows)}")
        width = len(rows[0])
        if not 1 <= width <= MAX_COLUMNS:
            raise ValueError(f"{source}[0]: a row needs 1 to {MAX_COLUMNS} values, got {width}")
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"{source}[{i}]: expected {width} values like {source}[0], got {len(row)}")
        if len(self.targets) != len(rows):
            raise ValueError(f"targets: expected {len(rows)} values (one per row of {source}), got {len(self.targets)}")
        columns = width + (1 if self.features is not None and self.intercept else 0)
        if self.beta is not None and len(self.beta) != columns:
            what = f"{columns} coefficients" + (" (the intercept first)" if columns != width else "")
            raise ValueError(f"beta: expected {what}, one per column of X, got {len(self.beta)}")
        X = self.design_matrix()
        rank = int(torch.linalg.matrix_rank(X))
        if rank < columns:
            why = (f"fewer observations ({len(rows)}) than columns" if len(rows) < columns
                   else "some column is a combination of the others (a repeated feature, or a constant one "
                        "next to the intercept)")
            raise ValueError(f"X^T X is singular: X is {len(rows)} x {columns} with rank {rank}, because {why}; "
                             f"the normal equation has no unique solution")
        return self

    def rows(self) -> list[list[float]]:
        given = self.features if self.features is not None else self.design
        return [row if isinstance(row, list) else [row] for row in given]

    def design_matrix(self) -> torch.Tensor:
        X = torch.tensor(self.rows(), dtype=torch.float64)
        if self.features is not None and self.intercept:
            X = torch.cat([torch.ones(len(X), 1, dtype=torch.float64), X], dim=1)
        return X


def _loss(convention: Loss, X: torch.Tensor, y: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    squares = ((y - X @ beta) ** 2).sum()
    match convention:
        case "half_sum":
            return 0.5 * squares
        case "half_mean":
            return squares / (2 * len(y))
        case "mean":
            return squares / len(y)


@register
class LinearRegression(Solver):
    name = "linear_regression"
    Params = LinearRegressionParams

    def solve(self) -> dict[str, Any]:
        p: LinearRegressionParams = self.params
        X = p.design_matrix()
        y = torch.tensor(p.targets, dtype=torch.float64)

        def loss(beta: torch.Tensor) -> torch.Tensor:
            return _loss(p.loss, X, y, beta)

        beta_hat = torch.linalg.solve(X.T @ X, X.T @ y)
        out: dict[str, Any] = {
            "X": X.tolist(), "XtX": (X.T @ X).tolist(), "Xty": (X.T @ y).tolist(),
            "beta_hat": beta_hat.tolist(), "fitted": (X @ beta_hat).tolist(), "loss.beta_hat": float(loss(beta_hat)),
        }
        out.update({f"beta_hat[{j}]": float(b) for j, b in enumerate(beta_hat)})
        point = beta_hat if p.beta is None else torch.tensor(p.beta, dtype=torch.float64)
        hessian = torch.autograd.functional.hessian(loss, point)
        out["hessian"] = hessian.tolist()
        if p.beta is not None:
            point.requires_grad_(True)
            value = loss(point)
            (grad,) = torch.autograd.grad(value, point)
            step = -torch.linalg.solve(hessian, grad)
            out["loss.beta"] = value.item()
            out["grad"] = grad.tolist()
            out.update({f"grad[{j}]": float(g) for j, g in enumerate(grad)})
            out["newton.step"] = step.tolist()
            out["newton.beta"] = (point.detach() + step).tolist()
        return out
