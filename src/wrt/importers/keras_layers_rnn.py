"""Keras ``SimpleRNN``, ``LSTM`` and ``GRU`` as cells unrolled over the time axis.

Written with matmuls and elementwise activations (not ``nn.LSTM``, whose fused
kernel neither the Taylor engine nor third-order autograd can differentiate), in
Keras' gate order: LSTM ``i, f, c, o``; GRU ``z, r, h`` with ``reset_after``
(Keras 3's default: the reset gate multiplies the recurrent projection, biases
kept apart) or without it (it multiplies the previous state). Sequences have a
fixed length (the model's per-sample shape), so the loop runs over time steps,
never over points. ``go_backwards`` reads the sequence from the end and, as in
Keras, returns the sequence in the order it was read.
"""

from __future__ import annotations

import torch
from torch import nn

from wrt.importers.keras_base import (
    Config,
    Converter,
    UnsupportedLayer,
    Weights,
    activation_fn,
    parameter,
)

_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


class Recurrent(nn.Module):
    """One Keras recurrent layer on x (N, T, F): (N, units) or (N, T, units).

    Attributes:
        kind: ``"SimpleRNN"``, ``"LSTM"`` or ``"GRU"``.
        kernel: (F, G units) input weights; ``recurrent`` (units, G units).
        bias: (G units,) input bias, or None; ``recurrent_bias`` the GRU's second
            bias row with ``reset_after``, else None.
    """

    def __init__(self, kind: str, config: Config, weights: Weights) -> None:
        super().__init__()
        for flag in ("return_state", "stateful"):
            if config.get(flag):
                raise UnsupportedLayer(f"{kind}({flag}=True)")
        self.kind = kind
        self.units = int(config["units"])
        self.sequences = bool(config.get("return_sequences", False))
        self.backwards = bool(config.get("go_backwards", False))
        self.act = activation_fn(config.get("activation", "tanh"))
        self.gate = activation_fn(config.get("recurrent_activation", "sigmoid"))
        self.reset_after = kind == "GRU" and bool(config.get("reset_after", True))
        self.kernel = parameter(weights[0])
        self.recurrent = parameter(weights[1])
        self.bias: nn.Parameter | None = None
        self.recurrent_bias: nn.Parameter | None = None
        if config.get("use_bias", True):
            bias = weights[2]
            if self.reset_after:
                self.bias, self.recurrent_bias = parameter(bias[0]), parameter(bias[1])
            else:
                self.bias = parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the layer over the time axis of x (N, T, F)."""
        projected = x @ self.kernel  # every time step's input projection at once
        if self.bias is not None:
            projected = projected + self.bias
        h = x.new_zeros(x.shape[0], self.units)
        c = h
        seen = []
        steps = range(x.shape[1])
        for step in reversed(steps) if self.backwards else steps:
            h, c = self._step(projected[:, step], h, c)
            seen.append(h)
        return torch.stack(seen, dim=1) if self.sequences else h

    def _step(self, xw: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        u = self.units
        if self.kind == "SimpleRNN":
            return self.act(xw + h @ self.recurrent), c
        if self.kind == "LSTM":
            z = xw + h @ self.recurrent
            i, f = self.gate(z[:, :u]), self.gate(z[:, u : 2 * u])
            o = self.gate(z[:, 3 * u :])
            c = f * c + i * self.act(z[:, 2 * u : 3 * u])
            return o * self.act(c), c
        # GRU
        if self.reset_after:
            hu = h @ self.recurrent
            if self.recurrent_bias is not None:
                hu = hu + self.recurrent_bias
            z = self.gate(xw[:, :u] + hu[:, :u])
            r = self.gate(xw[:, u : 2 * u] + hu[:, u : 2 * u])
            candidate = self.act(xw[:, 2 * u :] + r * hu[:, 2 * u :])
        else:
            hu = h @ self.recurrent[:, : 2 * u]
            z = self.gate(xw[:, :u] + hu[:, :u])
            r = self.gate(xw[:, u : 2 * u] + hu[:, u:])
            candidate = self.act(xw[:, 2 * u :] + (r * h) @ self.recurrent[:, 2 * u :])
        return z * h + (1 - z) * candidate, c

    def extra_repr(self) -> str:
        """Kind and size."""
        return f"{self.kind}, units={self.units}, return_sequences={self.sequences}"


def _recurrent(kind: str) -> Converter:
    def make(config: Config, weights: Weights) -> nn.Module:
        if weights[0].shape[1] != _GATES[kind] * int(config["units"]):
            raise UnsupportedLayer(f"{kind} with kernel {weights[0].shape}")
        return Recurrent(kind, config, weights)

    return make


CONVERTERS: dict[str, Converter] = {kind: _recurrent(kind) for kind in _GATES}
