"""ONNX recurrent layers: LSTM (gates i, o, f, c), GRU (z, r, h) and RNN.

A layer runs step by step over the sequence (all points at once in each step),
each direction separately, with the ONNX equations: peepholes, ``clip``,
``input_forget``, ``linear_before_reset``, ``layout``, initial states and the
activation lists of the spec. ``sequence_lens`` shorter than the sequence (padded
batches) is refused: each point of wrt has the full sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from wrt.importers.activations import softplus
from wrt.importers.onnx_ops import (
    Args,
    Result,
    UnsupportedNode,
    ints,
    opt,
    register,
    req,
)

Activation = Callable[[torch.Tensor], torch.Tensor]


def _activation(name: str, alphas: Iterator[float], betas: Iterator[float]):
    """An activation of the ONNX RNN list, taking its alpha/beta in order."""
    simple: dict[str, Activation] = {
        "Sigmoid": torch.sigmoid,
        "Tanh": torch.tanh,
        "Relu": torch.relu,
        "Softsign": lambda v: v / (1 + v.abs()),
        "Softplus": softplus,
    }
    if name in simple:
        return simple[name]
    if name == "LeakyRelu":
        alpha = next(alphas, 0.01)
        return lambda v: F.leaky_relu(v, alpha)
    if name == "Elu":
        alpha = next(alphas, 1.0)
        return lambda v: F.elu(v, alpha)
    if name in ("HardSigmoid", "Affine", "ScaledTanh"):
        alpha, beta = next(alphas), next(betas)
        if name == "HardSigmoid":
            return lambda v: torch.clamp(alpha * v + beta, 0.0, 1.0)
        if name == "Affine":
            return lambda v: alpha * v + beta
        return lambda v: alpha * torch.tanh(beta * v)
    raise UnsupportedNode(f"recurrent activation {name}")


def _activations(
    names: list[str] | None,
    defaults: list[str],
    directions: int,
    alpha: list[float] | None,
    beta: list[float] | None,
) -> list[list[Activation]]:
    """Per direction, the activations of the layer (the spec's defaults if none)."""
    names = names or defaults * directions
    alphas, betas = iter(alpha or []), iter(beta or [])
    built = [_activation(name, alphas, betas) for name in names]
    k = len(defaults)
    return [built[d * k : (d + 1) * k] for d in range(directions)]


def _clip(v: torch.Tensor, clip: float | None) -> torch.Tensor:
    return v if clip is None else torch.clamp(v, -clip, clip)


class _Layer:
    """The inputs of one recurrent node, read once, in time-major layout."""

    def __init__(self, args: Args, gates: int, hidden_size: int | None, layout: int):
        x, self.w, self.r = req(args, 0), req(args, 1), req(args, 2)
        self.x = x.transpose(0, 1) if layout else x  # (T, N, in)
        self.layout = layout
        self.hidden = hidden_size or self.r.shape[-1]
        self.b = opt(args, 3)
        lengths = opt(args, 4)
        steps, n = self.x.shape[0], self.x.shape[1]
        if lengths is not None and any(v != steps for v in ints(lengths)):
            raise UnsupportedNode("a recurrent layer with sequence_lens")
        self.directions = self.w.shape[0]
        self.zeros = torch.zeros(
            self.directions, n, self.hidden, dtype=self.x.dtype, device=self.x.device
        )
        self.gates = gates

    def state(self, value: torch.Tensor | None) -> torch.Tensor:
        """An initial state, time-major (D, N, H), zero when omitted."""
        if value is None:
            return self.zeros
        return value.transpose(0, 1) if self.layout else value

    def inputs(self, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """X W^T + Wb for every step (T, N, G*H), R (G*H, H), Rb (G*H) or None."""
        xw = self.x @ self.w[d].transpose(0, 1)
        if self.b is None:
            return xw, self.r[d], None
        size = self.gates * self.hidden
        return xw + self.b[d, :size], self.r[d], self.b[d, size:]

    def order(self, d: int, direction: str) -> range:
        steps = self.x.shape[0]
        backwards = direction == "reverse" or (direction == "bidirectional" and d == 1)
        return range(steps - 1, -1, -1) if backwards else range(steps)

    def outputs(self, ys: list[torch.Tensor], finals: list[torch.Tensor]):
        """Y (T, D, N, H) or (N, T, D, H), and a final state (D, N, H) or (N, D, H)."""
        y = torch.stack(ys, 1)  # (T, D, N, H)
        final = torch.stack(finals, 0)
        if self.layout:
            return y.permute(2, 0, 1, 3), final.transpose(0, 1)
        return y, final


def _split(v: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    return tuple(torch.chunk(v, k, dim=-1))


@register("LSTM")
def _lstm(
    args: Args,
    ft: torch.dtype,
    *,
    activation_alpha: list[float] | None = None,
    activation_beta: list[float] | None = None,
    activations: list[str] | None = None,
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    input_forget: int = 0,
    layout: int = 0,
) -> Result:
    layer = _Layer(args, 4, hidden_size, layout)
    h0, c0, peep = layer.state(opt(args, 5)), layer.state(opt(args, 6)), opt(args, 7)
    acts = _activations(
        activations, ["Sigmoid", "Tanh", "Tanh"], layer.directions,
        activation_alpha, activation_beta,
    )  # fmt: skip
    ys, hs, cs = [], [], []
    for d in range(layer.directions):
        f, g, h_act = acts[d]
        xw, r, rb = layer.inputs(d)
        pi, po, pf = _split(peep[d], 3) if peep is not None else (None, None, None)
        h, c = h0[d], c0[d]
        out: list[torch.Tensor] = [h] * xw.shape[0]
        for t in layer.order(d, direction):
            z = xw[t] + h @ r.transpose(0, 1)
            if rb is not None:
                z = z + rb
            zi, zo, zf, zc = _split(z, 4)
            if pi is not None and pf is not None:
                zi, zf = zi + pi * c, zf + pf * c
            i = f(_clip(zi, clip))
            forget = 1 - i if input_forget else f(_clip(zf, clip))
            c = forget * c + i * g(_clip(zc, clip))
            if po is not None:
                zo = zo + po * c
            h = f(_clip(zo, clip)) * h_act(c)
            out[t] = h
        ys.append(torch.stack(out, 0))
        hs.append(h)
        cs.append(c)
    y, y_h = layer.outputs(ys, hs)
    return y, y_h, layer.outputs(ys, cs)[1]


@register("GRU")
def _gru(
    args: Args,
    ft: torch.dtype,
    *,
    activation_alpha: list[float] | None = None,
    activation_beta: list[float] | None = None,
    activations: list[str] | None = None,
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    layout: int = 0,
    linear_before_reset: int = 0,
) -> Result:
    layer = _Layer(args, 3, hidden_size, layout)
    h0 = layer.state(opt(args, 5))
    acts = _activations(
        activations, ["Sigmoid", "Tanh"], layer.directions,
        activation_alpha, activation_beta,
    )  # fmt: skip
    ys, hs = [], []
    for d in range(layer.directions):
        f, g = acts[d]
        xw, r, rb = layer.inputs(d)
        xz, xr, xh = _split(xw, 3)
        rz, rr, rh = _split(r.transpose(0, 1), 3)
        bz, br, bh = _split(rb, 3) if rb is not None else (0.0, 0.0, 0.0)
        h = h0[d]
        out: list[torch.Tensor] = [h] * xw.shape[0]
        for t in layer.order(d, direction):
            z = f(_clip(xz[t] + h @ rz + bz, clip))
            reset = f(_clip(xr[t] + h @ rr + br, clip))
            if linear_before_reset:
                candidate = xh[t] + reset * (h @ rh + bh)
            else:
                candidate = xh[t] + (reset * h) @ rh + bh
            h = (1 - z) * g(_clip(candidate, clip)) + z * h
            out[t] = h
        ys.append(torch.stack(out, 0))
        hs.append(h)
    return layer.outputs(ys, hs)


@register("RNN")
def _rnn(
    args: Args,
    ft: torch.dtype,
    *,
    activation_alpha: list[float] | None = None,
    activation_beta: list[float] | None = None,
    activations: list[str] | None = None,
    clip: float | None = None,
    direction: str = "forward",
    hidden_size: int | None = None,
    layout: int = 0,
) -> Result:
    layer = _Layer(args, 1, hidden_size, layout)
    h0 = layer.state(opt(args, 5))
    acts = _activations(
        activations, ["Tanh"], layer.directions, activation_alpha, activation_beta
    )
    ys, hs = [], []
    for d in range(layer.directions):
        (f,) = acts[d]
        xw, r, rb = layer.inputs(d)
        h = h0[d]
        out: list[torch.Tensor] = [h] * xw.shape[0]
        for t in layer.order(d, direction):
            z = xw[t] + h @ r.transpose(0, 1)
            h = f(_clip(z if rb is None else z + rb, clip))
            out[t] = h
        ys.append(torch.stack(out, 0))
        hs.append(h)
    return layer.outputs(ys, hs)
