"""Test oracle: analytic torch modules with closed-form partial derivatives.

Every case in :data:`CASES` pairs a genuine torch computation (built from ordinary
ops such as ``torch.sin``, ``torch.exp``, ``torch.tanh``, ``nn.Linear``) with a
closed-form evaluator of *any* partial derivative of *any* order, mixed partials
included.  The closed forms are computed in numpy float64 with no autograd and no
finite differences, so they can serve as an independent reference for ``wrt``.

Two families of closed forms are used:

* **Separable sums** ``f(x) = sum_t c_t * prod_i g_{t,i}(x_i)``.  Each univariate
  factor ``g`` knows its own k-th derivative for every ``k`` (power: falling
  factorial, ``exp(a x)``: ``a^k exp(a x)``, sin/cos: four-cycle, Gaussian:
  probabilists' Hermite polynomials, ``tanh(a x)``: polynomial in ``tanh``,
  products of factors: Leibniz rule), so
  ``d^alpha f = sum_t c_t * prod_i g_{t,i}^{(alpha_i)}(x_i)``.
* **One-hidden-layer MLPs** ``y = sum_k v_k act(w_k . x + b_k) + c``, for which
  ``d^alpha y = sum_k v_k act^{(|alpha|)}(z_k) prod_i w_{k,i}^{alpha_i}``.  The
  activation derivatives are exact polynomials in ``tanh(z)`` or ``sigmoid(z)``
  whose integer coefficients come from exact recurrences.

The torch module and the closed form of each case are built from the same
parameter objects, so they cannot drift apart.  Each case also carries a
``symbolic`` builder returning the same function as sympy expressions, which
``tests/test_zoo.py`` uses to validate the closed forms with ``sympy.diff``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
from numpy.polynomial import hermite_e
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    import sympy

__all__ = [
    "CASES",
    "ZooCase",
    "case",
    "sigmoid_derivative",
    "softplus_derivative",
    "tanh_derivative",
]

FloatArray = npt.NDArray[np.float64]
PartialFn = Callable[[np.ndarray, int, tuple[int, ...]], np.ndarray]
SymbolicFn = Callable[[Sequence[Any]], tuple[Any, ...]]
"""Maps one sympy symbol per input to one sympy expression per output."""


# --------------------------------------------------------------------------- #
# The case record
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ZooCase:
    """A differentiable test function with closed-form partial derivatives.

    Attributes:
        name: Short identifier, used as pytest id.
        inputs: Input names; column ``i`` of the module input is ``inputs[i]``.
        outputs: Output names; column ``j`` of the module output is ``outputs[j]``.
        module: Float64 torch module mapping ``(N, n_in)`` to ``(N, n_out)``, rows
            independent (it also accepts any leading batch shape, including a
            single unbatched row of shape ``(n_in,)``).
        partial: ``partial(x, out_index, alpha)`` returns the closed-form partial
            ``d^|alpha| out / prod_i d inputs[i]^alpha[i]`` at the rows of ``x``
            as a float64 array of shape ``(N,)``; ``alpha`` all zeros returns the
            function value.
        points: ``(N, n_in)`` float64 sample points (fixed seed; do not mutate) where
            values and derivatives up to order 5 are of moderate size.
        smooth: Whether the function is C-infinity (true for every case here).
        symbolic: Builds the same function as sympy expressions, one per output,
            from one sympy symbol per input.  Only meant for validating the zoo.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    module: torch.nn.Module = field(compare=False)
    partial: PartialFn = field(compare=False, repr=False)
    points: np.ndarray = field(compare=False, repr=False)
    smooth: bool = True
    symbolic: SymbolicFn | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- #
# Exact activation derivatives
# --------------------------------------------------------------------------- #


def _poly_deriv(coeffs: tuple[int, ...]) -> tuple[int, ...]:
    """Differentiates an integer polynomial given by ascending coefficients."""
    return tuple(k * c for k, c in enumerate(coeffs) if k > 0) or (0,)


def _poly_mul(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Multiplies two integer polynomials given by ascending coefficients."""
    out = [0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            out[i + j] += ai * bj
    return tuple(out)


@cache
def _tanh_poly(m: int) -> tuple[int, ...]:
    """Coefficients of ``P_m`` with ``d^m/dz^m tanh(z) = P_m(tanh(z))``.

    Uses ``P_0(t) = t`` and ``P_{m+1}(t) = P_m'(t) * (1 - t^2)``, which follows
    from ``t' = 1 - t^2``.  Coefficients are exact Python integers.
    """
    if m == 0:
        return (0, 1)
    return _poly_mul(_poly_deriv(_tanh_poly(m - 1)), (1, 0, -1))


@cache
def _sigmoid_poly(m: int) -> tuple[int, ...]:
    """Coefficients of ``Q_m`` with ``d^m/dz^m sigmoid(z) = Q_m(sigmoid(z))``.

    Uses ``Q_0(s) = s`` and ``Q_{m+1}(s) = Q_m'(s) * (s - s^2)``, which follows
    from ``s' = s (1 - s)``.  Coefficients are exact Python integers.
    """
    if m == 0:
        return (0, 1)
    return _poly_mul(_poly_deriv(_sigmoid_poly(m - 1)), (0, 1, -1))


def _horner(coeffs: tuple[int, ...], t: FloatArray) -> FloatArray:
    """Evaluates an ascending-coefficient polynomial at ``t`` (Horner scheme)."""
    out = np.full_like(t, float(coeffs[-1]))
    for c in reversed(coeffs[:-1]):
        out = out * t + float(c)
    return out


def _check_order(m: int) -> None:
    if m < 0:
        raise ValueError(f"derivative order must be non-negative, got {m}")


def _sigmoid(z: FloatArray) -> FloatArray:
    """Numerically stable logistic sigmoid."""
    return np.exp(-np.logaddexp(0.0, -z))


def tanh_derivative(z: FloatArray, m: int) -> FloatArray:
    """Returns the exact ``m``-th derivative of ``tanh`` at ``z``.

    Args:
        z: Points, float64.
        m: Derivative order (0 gives ``tanh(z)``).

    Returns:
        Array of the same shape as ``z``.
    """
    _check_order(m)
    return _horner(_tanh_poly(m), np.tanh(np.asarray(z, dtype=np.float64)))


def sigmoid_derivative(z: FloatArray, m: int) -> FloatArray:
    """Returns the exact ``m``-th derivative of the logistic sigmoid at ``z``.

    Args:
        z: Points, float64.
        m: Derivative order (0 gives ``sigmoid(z)``).

    Returns:
        Array of the same shape as ``z``.
    """
    _check_order(m)
    return _horner(_sigmoid_poly(m), _sigmoid(np.asarray(z, dtype=np.float64)))


def softplus_derivative(z: FloatArray, m: int) -> FloatArray:
    """Returns the exact ``m``-th derivative of ``softplus(z) = log(1 + e^z)``.

    Args:
        z: Points, float64.
        m: Derivative order (0 gives ``softplus(z)``; ``softplus' = sigmoid``).

    Returns:
        Array of the same shape as ``z``.
    """
    _check_order(m)
    z = np.asarray(z, dtype=np.float64)
    if m == 0:
        return np.logaddexp(0.0, z)
    return sigmoid_derivative(z, m - 1)


@dataclass(frozen=True)
class _Activation:
    """An activation in its three guises: torch, closed-form numpy, sympy."""

    name: str
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[FloatArray, int], FloatArray]
    sympy_fn: Callable[[Any], Any]


def _sympy_tanh(z: Any) -> Any:
    import sympy

    return sympy.tanh(z)


def _sympy_sigmoid(z: Any) -> Any:
    import sympy

    return 1 / (1 + sympy.exp(-z))


def _sympy_softplus(z: Any) -> Any:
    import sympy

    return sympy.log(1 + sympy.exp(z))


_ACTIVATIONS: Mapping[str, _Activation] = {
    "tanh": _Activation("tanh", torch.tanh, tanh_derivative, _sympy_tanh),
    "sigmoid": _Activation(
        "sigmoid", torch.sigmoid, sigmoid_derivative, _sympy_sigmoid
    ),
    "softplus": _Activation(
        "softplus", F.softplus, softplus_derivative, _sympy_softplus
    ),
}


# --------------------------------------------------------------------------- #
# Univariate factors
# --------------------------------------------------------------------------- #


def _rat(value: float) -> sympy.Rational:
    """Converts a float to the sympy rational with exactly its binary value."""
    import sympy

    return sympy.Rational(value)


_SIN_CYCLE = ((np.sin, 1.0), (np.cos, 1.0), (np.sin, -1.0), (np.cos, -1.0))
"""``d^k/du^k sin(u) = sign * fn(u)`` with ``(fn, sign) = _SIN_CYCLE[k % 4]``."""


class Factor(ABC):
    """A univariate function ``g(x)`` with closed-form derivatives of any order."""

    @abstractmethod
    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        """Returns ``g^{(k)}(x)`` (``k = 0`` gives the value)."""

    @abstractmethod
    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluates ``g`` with ordinary torch ops."""

    @abstractmethod
    def sympy(self, s: Any) -> Any:
        """Returns ``g`` as a sympy expression in the symbol ``s``."""


@dataclass(frozen=True)
class Power(Factor):
    """``x^p`` for an integer ``p >= 1``."""

    p: int

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        if k > self.p:
            return np.zeros_like(x)
        return math.perm(self.p, k) * x ** (self.p - k)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.p == 1 else x**self.p

    def sympy(self, s: Any) -> Any:
        return s**self.p


@dataclass(frozen=True)
class Exp(Factor):
    """``exp(a x)``."""

    a: float

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        return self.a**k * np.exp(self.a * x)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.a * x)

    def sympy(self, s: Any) -> Any:
        import sympy

        return sympy.exp(_rat(self.a) * s)


@dataclass(frozen=True)
class Sin(Factor):
    """``sin(a x)``; derivatives cycle through sin, cos, -sin, -cos."""

    a: float = 1.0

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        fn, sign = _SIN_CYCLE[k % 4]
        return sign * self.a**k * fn(self.a * x)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.a * x)

    def sympy(self, s: Any) -> Any:
        import sympy

        return sympy.sin(_rat(self.a) * s)


@dataclass(frozen=True)
class Cos(Factor):
    """``cos(a x)``; since ``cos = sin'``, derivatives reuse the sin cycle."""

    a: float = 1.0

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        fn, sign = _SIN_CYCLE[(k + 1) % 4]
        return sign * self.a**k * fn(self.a * x)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(self.a * x)

    def sympy(self, s: Any) -> Any:
        import sympy

        return sympy.cos(_rat(self.a) * s)


@dataclass(frozen=True)
class Gauss(Factor):
    """``exp(-x^2 / 2)``; ``g^{(k)}(x) = (-1)^k He_k(x) exp(-x^2 / 2)``."""

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        he_k = hermite_e.hermeval(x, [0.0] * k + [1.0])
        return (-1.0) ** k * he_k * np.exp(-0.5 * x * x)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * x * x)

    def sympy(self, s: Any) -> Any:
        import sympy

        return sympy.exp(-(s**2) / 2)


@dataclass(frozen=True)
class Tanh(Factor):
    """``tanh(a x)``; ``g^{(k)}(x) = a^k P_k(tanh(a x))``."""

    a: float = 1.0

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        return self.a**k * tanh_derivative(self.a * x, k)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.a * x)

    def sympy(self, s: Any) -> Any:
        import sympy

        return sympy.tanh(_rat(self.a) * s)


@dataclass(frozen=True)
class Product(Factor):
    """Product of univariate factors of the same variable (Leibniz rule)."""

    factors: tuple[Factor, ...]

    def derivative(self, x: FloatArray, k: int) -> FloatArray:
        first, rest = self.factors[0], self.factors[1:]
        if not rest:
            return first.derivative(x, k)
        tail = Product(rest)
        return sum(
            (
                math.comb(k, j) * first.derivative(x, j) * tail.derivative(x, k - j)
                for j in range(k + 1)
            ),
            start=np.zeros_like(x),
        )

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.factors[0].torch(x)
        for f in self.factors[1:]:
            out = out * f.torch(x)
        return out

    def sympy(self, s: Any) -> Any:
        out = self.factors[0].sympy(s)
        for f in self.factors[1:]:
            out = out * f.sympy(s)
        return out


# --------------------------------------------------------------------------- #
# Separable sums
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Term:
    """``coef * prod_i factors[i](x_i)``; inputs absent from ``factors`` are 1."""

    coef: float
    factors: Mapping[int, Factor] = field(default_factory=dict)

    def partial(self, x: FloatArray, alpha: tuple[int, ...]) -> FloatArray:
        """Closed-form ``d^alpha`` of the term at the rows of ``x``."""
        out = np.full(x.shape[0], float(self.coef))
        for i, k in enumerate(alpha):
            factor = self.factors.get(i)
            if factor is None:
                if k:
                    return np.zeros(x.shape[0])
                continue
            out = out * factor.derivative(x[:, i], k)
        return out

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluates the term on ``x[..., i]`` with torch ops."""
        out: torch.Tensor | None = None
        for i, factor in sorted(self.factors.items()):
            value = factor.torch(x[..., i])
            out = value if out is None else out * value
        if out is None:
            return torch.full_like(x[..., 0], float(self.coef))
        return out if self.coef == 1.0 else self.coef * out

    def sympy(self, symbols: Sequence[Any]) -> Any:
        """Returns the term as a sympy expression."""
        out = _rat(self.coef)
        for i, factor in sorted(self.factors.items()):
            out = out * factor.sympy(symbols[i])
        return out


@dataclass(frozen=True)
class SeparableSum:
    """``f(x) = sum_t term_t(x)`` over ``n_in`` inputs."""

    n_in: int
    terms: tuple[Term, ...]

    def __post_init__(self) -> None:
        for term in self.terms:
            bad = [i for i in term.factors if not 0 <= i < self.n_in]
            if bad:
                raise ValueError(f"factor indices {bad} out of range {self.n_in}")

    def partial(self, x: FloatArray, alpha: tuple[int, ...]) -> FloatArray:
        """Closed-form ``d^alpha f`` at the rows of ``x``."""
        out = np.zeros(x.shape[0])
        for term in self.terms:
            out = out + term.partial(x, alpha)
        return out

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluates ``f`` on ``x`` of shape ``(..., n_in)``; returns ``(...)``."""
        out = self.terms[0].torch(x)
        for term in self.terms[1:]:
            out = out + term.torch(x)
        return out

    def sympy(self, symbols: Sequence[Any]) -> Any:
        """Returns ``f`` as a sympy expression."""
        return sum((t.sympy(symbols) for t in self.terms), start=_rat(0.0))


class SeparableModule(nn.Module):
    """Torch module stacking several separable sums as output columns."""

    def __init__(self, functions: Sequence[SeparableSum]) -> None:
        super().__init__()
        self.functions = tuple(functions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(..., n_in)`` to ``(..., n_out)``."""
        return torch.stack([f.torch(x) for f in self.functions], dim=-1)


class GaussianBumpModule(nn.Module):
    """``exp(-|x|^2 / 2)`` computed as a radial function, not as a product."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(..., n_in)`` to ``(..., 1)``."""
        return torch.exp(-0.5 * (x * x).sum(dim=-1, keepdim=True))


# --------------------------------------------------------------------------- #
# One-hidden-layer MLPs
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class MLPSpec:
    """Parameters of ``y = sum_k v_k act(w_k . x + b_k) + c``.

    Attributes:
        weight: ``(H, n_in)`` hidden weights ``w_k``.
        bias: ``(H,)`` hidden biases ``b_k``.
        out_weight: ``(H,)`` output weights ``v_k``.
        out_bias: Output bias ``c``.
        activation: Key into the activation table.
    """

    weight: FloatArray
    bias: FloatArray
    out_weight: FloatArray
    out_bias: float
    activation: str

    @property
    def act(self) -> _Activation:
        """The activation record."""
        return _ACTIVATIONS[self.activation]

    def partial(self, x: FloatArray, alpha: tuple[int, ...]) -> FloatArray:
        """``sum_k v_k act^{(|alpha|)}(z_k) prod_i w_{k,i}^{alpha_i}`` (+ c)."""
        order = sum(alpha)
        z = x @ self.weight.T + self.bias
        weight_power = np.prod(self.weight ** np.asarray(alpha), axis=1)
        out = self.act.derivative(z, order) @ (self.out_weight * weight_power)
        return out + self.out_bias if order == 0 else out

    def module(self) -> nn.Module:
        """Builds the torch module from these exact parameter values."""
        return OneHiddenLayerMLP(self)

    def sympy(self, symbols: Sequence[Any]) -> Any:
        """Returns ``y`` as a sympy expression with exact rational weights."""
        out = _rat(self.out_bias)
        for w, b, v in zip(self.weight, self.bias, self.out_weight, strict=True):
            z = _rat(float(b))
            for wi, s in zip(w, symbols, strict=True):
                z = z + _rat(float(wi)) * s
            out = out + _rat(float(v)) * self.act.sympy_fn(z)
        return out


class OneHiddenLayerMLP(nn.Module):
    """``Linear(n_in, H) -> activation -> Linear(H, 1)`` in float64."""

    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        hidden, n_in = spec.weight.shape
        self.hidden = nn.Linear(n_in, hidden, dtype=torch.float64)
        self.out = nn.Linear(hidden, 1, dtype=torch.float64)
        self.act = spec.act.torch_fn
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor(spec.weight))
            self.hidden.bias.copy_(torch.tensor(spec.bias))
            self.out.weight.copy_(torch.tensor(spec.out_weight[None, :]))
            self.out.bias.fill_(spec.out_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``(..., n_in)`` to ``(..., 1)``."""
        return self.out(self.act(self.hidden(x)))


def _random_mlp(seed: int, n_in: int, hidden: int, activation: str) -> MLPSpec:
    """Seeded MLP parameters with moderate pre-activations on ``[-1.5, 1.5]``."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.normal(0.0, 0.8, size=(hidden, n_in)),
        rng.normal(0.0, 0.5, size=hidden),
        rng.normal(0.0, 1.0, size=hidden),
    )
    for a in arrays:
        a.setflags(write=False)
    return MLPSpec(*arrays, out_bias=0.25, activation=activation)


# --------------------------------------------------------------------------- #
# Assembling cases
# --------------------------------------------------------------------------- #

_N_POINTS = 48


def _points(
    seed: int, low: float | Sequence[float], high: float | Sequence[float], n_in: int
) -> FloatArray:
    """Seeded uniform sample points of shape ``(_N_POINTS, n_in)``.

    The array is left writable on purpose: ``torch.from_numpy`` warns on read-only
    arrays, and the test suite turns warnings into errors.  Do not mutate it.
    """
    rng = np.random.default_rng(seed)
    lo = np.broadcast_to(np.asarray(low, dtype=np.float64), (n_in,))
    hi = np.broadcast_to(np.asarray(high, dtype=np.float64), (n_in,))
    return lo + (hi - lo) * rng.random((_N_POINTS, n_in))


def _make_partial(
    n_in: int, per_output: Sequence[Callable[[FloatArray, tuple[int, ...]], FloatArray]]
) -> PartialFn:
    """Wraps per-output closed forms into a validated ``partial(x, j, alpha)``."""

    def partial(x: np.ndarray, out_index: int, alpha: tuple[int, ...]) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"x must have shape (N, {n_in}), got {x.shape}")
        if not 0 <= out_index < len(per_output):
            raise IndexError(f"out_index {out_index} out of range {len(per_output)}")
        alpha = tuple(int(a) for a in alpha)
        if len(alpha) != n_in or min(alpha) < 0:
            raise ValueError(f"alpha must be {n_in} non-negative ints, got {alpha}")
        out = np.asarray(per_output[out_index](x, alpha), dtype=np.float64)
        return np.array(np.broadcast_to(out, (x.shape[0],)))

    return partial


def _separable_case(
    name: str,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    functions: Sequence[SeparableSum],
    points: FloatArray,
) -> ZooCase:
    functions = tuple(functions)
    return ZooCase(
        name=name,
        inputs=inputs,
        outputs=outputs,
        module=SeparableModule(functions).eval(),
        partial=_make_partial(len(inputs), [f.partial for f in functions]),
        points=points,
        symbolic=lambda symbols: tuple(f.sympy(symbols) for f in functions),
    )


def _mlp_case(name: str, spec: MLPSpec, points: FloatArray) -> ZooCase:
    n_in = spec.weight.shape[1]
    return ZooCase(
        name=name,
        inputs=tuple(f"x{i + 1}" for i in range(n_in)),
        outputs=("y",),
        module=spec.module().eval(),
        partial=_make_partial(n_in, [spec.partial]),
        points=points,
        symbolic=lambda symbols: (spec.sympy(symbols),),
    )


def _gauss_case() -> ZooCase:
    n_in = 3
    closed_form = SeparableSum(n_in, (Term(1.0, {i: Gauss() for i in range(n_in)}),))

    def symbolic(symbols: Sequence[Any]) -> tuple[Any, ...]:
        import sympy

        return (sympy.exp(-sum(s**2 for s in symbols) / 2),)

    return ZooCase(
        name="gauss3",
        inputs=("x1", "x2", "x3"),
        outputs=("y",),
        module=GaussianBumpModule().eval(),
        partial=_make_partial(n_in, [closed_form.partial]),
        points=_points(3, -2.0, 2.0, n_in),
        symbolic=symbolic,
    )


def _build_cases() -> tuple[ZooCase, ...]:
    x123 = ("x1", "x2", "x3")
    return (
        # y = x1^3 x2^2 + 2 x1 x3 - x3^4 + 0.5
        _separable_case(
            "poly3",
            x123,
            ("y",),
            [
                SeparableSum(
                    3,
                    (
                        Term(1.0, {0: Power(3), 1: Power(2)}),
                        Term(2.0, {0: Power(1), 2: Power(1)}),
                        Term(-1.0, {2: Power(4)}),
                        Term(0.5),
                    ),
                )
            ],
            _points(1, -1.5, 1.5, 3),
        ),
        # y = sin(x1) exp(0.5 x2) + cos(2 x2)
        _separable_case(
            "trig_exp2",
            ("x1", "x2"),
            ("y",),
            [
                SeparableSum(
                    2, (Term(1.0, {0: Sin(), 1: Exp(0.5)}), Term(1.0, {1: Cos(2.0)}))
                )
            ],
            _points(2, -2.0, 2.0, 2),
        ),
        # y = exp(-(x1^2 + x2^2 + x3^2) / 2)
        _gauss_case(),
        # y = sum_k v_k act(w_k . x + b_k) + c
        _mlp_case("tanh_mlp", _random_mlp(41, 2, 6, "tanh"), _points(4, -1.5, 1.5, 2)),
        _mlp_case(
            "sigmoid_mlp", _random_mlp(42, 3, 7, "sigmoid"), _points(5, -1.5, 1.5, 3)
        ),
        _mlp_case(
            "softplus_mlp", _random_mlp(43, 3, 5, "softplus"), _points(6, -1.5, 1.5, 3)
        ),
        # u = sin(x) exp(-t), v = x^2 t^3, w = cos(3 x)  (w ignores t)
        _separable_case(
            "multi_out",
            ("x", "t"),
            ("u", "v", "w"),
            [
                SeparableSum(2, (Term(1.0, {0: Sin(), 1: Exp(-1.0)}),)),
                SeparableSum(2, (Term(1.0, {0: Power(2), 1: Power(3)}),)),
                SeparableSum(2, (Term(1.0, {0: Cos(3.0)}),)),
            ],
            _points(7, (-2.0, 0.0), (2.0, 1.5), 2),
        ),
        # y = x tanh(2 x)
        _separable_case(
            "xtanh1",
            ("x",),
            ("y",),
            [SeparableSum(1, (Term(1.0, {0: Product((Power(1), Tanh(2.0)))}),))],
            _points(8, -1.5, 1.5, 1),
        ),
        # y = sin(x1) exp(0.5 x2) x3^2 + x2 cos(x4) exp(-0.3 x5) + x1 x5^3 - 0.7
        _separable_case(
            "sep5",
            ("x1", "x2", "x3", "x4", "x5"),
            ("y",),
            [
                SeparableSum(
                    5,
                    (
                        Term(1.0, {0: Sin(), 1: Exp(0.5), 2: Power(2)}),
                        Term(1.0, {1: Power(1), 3: Cos(), 4: Exp(-0.3)}),
                        Term(1.0, {0: Power(1), 4: Power(3)}),
                        Term(-0.7),
                    ),
                )
            ],
            _points(9, -1.5, 1.5, 5),
        ),
    )


CASES: tuple[ZooCase, ...] = _build_cases()
"""All zoo cases, in a fixed order."""

_BY_NAME: Mapping[str, ZooCase] = {c.name: c for c in CASES}
assert len(_BY_NAME) == len(CASES), "duplicate zoo case names"


def case(name: str) -> ZooCase:
    """Looks up a zoo case by name.

    Args:
        name: The case's ``name``.

    Returns:
        The matching case.

    Raises:
        KeyError: If no case has that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        known = sorted(_BY_NAME)
        raise KeyError(f"unknown zoo case {name!r}; known: {known}") from None
