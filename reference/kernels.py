"""Solver `polynomial_kernel`: k(p, q) = (p . q + c)^d, its Gram matrix on given points, whether
that matrix is positive semi-definite, and an explicit feature map phi with k(p, q) = phi(p).phi(q).

The feature map comes from the multinomial theorem. With a constant coordinate p_0 = sqrt(c)
beside p_1..p_n, (sum_i p_i q_i)^d = sum over exponent tuples k with |k| = d of
multinomial(d; k) prod_i (p_i q_i)^(k_i), so phi_k(p) = sqrt(multinomial(d; k) c^(k_0)) prod_{i>=1} p_i^(k_i).
Coefficients are exact: c is read from its decimal text, and a coefficient prints as `sqrt(3)`,
`2`, `sqrt(3/2)`; components with coefficient 0 (c = 0 and k_0 > 0) are left out. Components run
over exponent tuples in descending order (p1^3, p1^2*p2, ... as textbooks write them).

Parameters: `variables` (the names of a point's coordinates, e.g. [p1, p2]; they name the
feature map's variables), `degree` d, `c` (>= 0: a negative c gives no real feature map and in
general no kernel), `points` (optional: rows x_i for the Gram matrix).

Outputs: `feature_map` (list of expressions in `variables`, readable by grader.mathexpr),
`feature_dimension`; with points: `gram` (K_ij = k(x_i, x_j)), `eigenvalues` (ascending),
`min_eigenvalue`, `psd` ("yes" when no eigenvalue is below -1e-9 times the largest magnitude).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pydantic import Field, field_validator, model_validator

from grader import mathexpr
from reference.registry import Params, Solver, register
from reference._lazy import torch

PSD_TOLERANCE = 1e-9
MAX_FEATURES = 1000  # exponent tuples, (n + d choose d) for n variables: each is printed and parsed back
MAX_POINTS = 100
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,19}")


def exponent_tuples(length: int, total: int) -> list[tuple[int, ...]]:
    """All tuples of `length` non-negative integers summing to `total`, in descending order."""
    if length == 1:
        return [(total,)]
    return [(first, *rest) for first in range(total, -1, -1) for rest in exponent_tuples(length - 1, total - first)]


def _multinomial(exponents: tuple[int, ...]) -> int:
    out = math.factorial(sum(exponents))
    for k in exponents:
        out //= math.factorial(k)
    return out


def _coefficient_text(square: Fraction) -> str:
    """sqrt(square) as text: exact when square is a perfect square of a rational, else sqrt(...)."""
    root_num, root_den = math.isqrt(square.numerator), math.isqrt(square.denominator)
    if root_num**2 == square.numerator and root_den**2 == square.denominator:
        root = Fraction(root_num, root_den)
        return str(root.numerator) if root.denominator == 1 else f"({root.numerator}/{root.denominator})"
    inside = str(square.numerator) if square.denominator == 1 else f"{square.numerator}/{square.denominator}"
    return f"sqrt({inside})"


def _monomial(coefficient: Fraction, names: list[str], powers: tuple[int, ...]) -> str:
    factors = [] if coefficient == 1 else [_coefficient_text(coefficient)]
    factors += [name if k == 1 else f"{name}^{k}" for name, k in zip(names, powers) if k]
    return "*".join(factors) or "1"


class PolynomialKernelParams(Params):
    variables: list[str] = Field(min_length=1, description="names of a point's coordinates, e.g. [p1, p2]")
    degree: int = Field(ge=1, le=10, description=f"the feature map may have at most {MAX_FEATURES:,} components")
    c: float = Field(0.0, ge=0, description="k(p, q) = (p.q + c)^degree; c < 0 has no real feature map")
    points: list[list[float]] | None = Field(None, min_length=1, max_length=MAX_POINTS,
                                             description="rows x_i for the Gram matrix")

    @field_validator("variables")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _NAME.fullmatch(name):
                raise ValueError(f"{_clip(repr(name))} is not a variable name "
                                 f"(a letter, then up to 19 letters or digits)")
        if len(set(names)) != len(names):
            raise ValueError(f"the names must be distinct, got {names}")
        return names

    @model_validator(mode="after")
    def _sizes(self) -> PolynomialKernelParams:
        for i, point in enumerate(self.points or []):
            if len(point) != len(self.variables):
                raise ValueError(f"points[{i}]: expected {len(self.variables)} coordinates "
                                 f"(one per variable {', '.join(self.variables)}), got {len(point)}")
        components = math.comb(len(self.variables) + self.degree, self.degree)
        if components > MAX_FEATURES:
            raise ValueError(f"degree: with {len(self.variables)} variables and degree {self.degree} the feature map "
                             f"has up to {components:,} components; at most {MAX_FEATURES:,} are accepted")
        for text in feature_map(self):  # every component must read back as an expression in the variables
            try:
                mathexpr.parse(text, self.variables)
            except mathexpr.ExpressionError as exc:
                raise ValueError(f"c: the feature map's component {_clip(text)} cannot be written as an expression: "
                                 f"{exc}; give c with fewer digits") from None
        return self


def feature_map(p: PolynomialKernelParams) -> list[str]:
    """phi's components as expression texts, from the multinomial theorem (see the module docstring)."""
    c = Fraction(Decimal(repr(p.c)))
    components = []
    for exponents in exponent_tuples(len(p.variables) + 1, p.degree):
        *powers, constant_power = exponents
        square = _multinomial(exponents) * c**constant_power
        if square:
            components.append(_monomial(square, p.variables, tuple(powers)))
    return components


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register
class PolynomialKernel(Solver):
    """(p.q + c)^d: Gram matrix, PSD test and an explicit feature map."""

    name = "polynomial_kernel"
    Params = PolynomialKernelParams

    def solve(self) -> dict[str, Any]:
        p: PolynomialKernelParams = self.params
        features = feature_map(p)
        out: dict[str, Any] = {"feature_map": features, "feature_dimension": len(features)}
        if p.points is not None:
            x = torch.tensor(p.points, dtype=torch.float64)
            gram = (x @ x.T + p.c) ** p.degree
            eigenvalues = torch.linalg.eigvalsh(gram)
            largest = max(1.0, eigenvalues.abs().max().item())
            out["gram"] = gram.tolist()
            out["eigenvalues"] = eigenvalues.tolist()
            out["min_eigenvalue"] = eigenvalues[0].item()
            out["psd"] = "yes" if eigenvalues[0].item() >= -PSD_TOLERANCE * largest else "no"
        return out
