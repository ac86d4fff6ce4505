"""Keras ``MultiHeadAttention`` (3-D inputs, attention over the sequence axis).

Computed as Keras computes it without flash attention: per-head projections of the
query, key and value, the query scaled by ``1 / sqrt(key_dim)``, scores ``q k^T``
through a softmax over the keys (a causal mask adds Keras' large negative number
above the diagonal), the weighted values, and the output projection. Written with
reshapes and matmuls, every op of which the engines differentiate exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from wrt.importers.keras_base import Config, Converter, UnsupportedLayer, Weights
from wrt.importers.keras_base import parameter as _parameter

# Keras' ``_large_negative_number`` for float32 and wider: masked scores get it.
_LARGE_NEGATIVE = -1e9


class MultiHeadAttention(nn.Module):
    """Attention of a query sequence (N, T, d) over a value sequence (N, S, d_v).

    Attributes:
        heads: number of heads H; ``key_dim`` and ``value_dim`` per head.
        query_w / key_w / value_w: (d, H * dim) projections; ``*_b`` their biases.
        out_w: (H * value_dim, d_out); ``out_b`` (d_out,).
    """

    query_w: torch.Tensor
    key_w: torch.Tensor
    value_w: torch.Tensor
    out_w: torch.Tensor
    query_b: torch.Tensor | None
    key_b: torch.Tensor | None
    value_b: torch.Tensor | None
    out_b: torch.Tensor | None

    def __init__(self, config: Config, weights: Weights) -> None:
        super().__init__()
        if config.get("use_gate") or config.get("sliding_window") is not None:
            raise UnsupportedLayer("MultiHeadAttention with a gate or sliding window")
        axes = config.get("attention_axes")
        if axes not in (None, [1], (1,), 1):
            raise UnsupportedLayer(f"MultiHeadAttention(attention_axes={axes})")
        self.heads = int(config["num_heads"])
        self.key_dim = int(config["key_dim"])
        self.value_dim = int(config.get("value_dim") or self.key_dim)
        use_bias = bool(config.get("use_bias", True))
        it = iter(weights)
        names = ("query", "key", "value", "out")
        for name in names:
            kernel = next(it)
            if kernel.ndim != 3:
                raise UnsupportedLayer("MultiHeadAttention on inputs of rank > 3")
            if name == "out":  # (H, value_dim, d_out)
                flat = kernel.reshape(-1, kernel.shape[-1])
            else:  # (d, H, dim)
                flat = kernel.reshape(kernel.shape[0], -1)
            setattr(self, f"{name}_w", _parameter(flat))
            bias = next(it).reshape(-1) if use_bias else None
            setattr(self, f"{name}_b", _parameter(bias) if bias is not None else None)

    def _project(self, x: torch.Tensor, name: str, dim: int) -> torch.Tensor:
        """(N, T, d) -> (N, H, T, dim)."""
        y = x @ getattr(self, f"{name}_w")
        bias = getattr(self, f"{name}_b")
        if bias is not None:
            y = y + bias
        return y.reshape(x.shape[0], x.shape[1], self.heads, dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        value: torch.Tensor,
        key: torch.Tensor | None = None,
        use_causal_mask: bool = False,
    ) -> torch.Tensor:
        """Attend: query (N, T, d), value (N, S, d_v), key (N, S, d_k) or value."""
        key = value if key is None else key
        q = self._project(query, "query", self.key_dim)
        q = q * (1.0 / math.sqrt(float(self.key_dim)))
        k = self._project(key, "key", self.key_dim)
        v = self._project(value, "value", self.value_dim)
        scores = q @ k.transpose(-1, -2)  # (N, H, T, S)
        if use_causal_mask:
            t, s = scores.shape[-2], scores.shape[-1]
            allowed = np.tril(np.ones((t, s), dtype=bool))
            bias = np.where(allowed, 0.0, _LARGE_NEGATIVE)
            scores = scores + torch.from_numpy(bias).to(scores.dtype)
        weights = torch.softmax(scores, dim=-1)
        context = (weights @ v).transpose(1, 2)  # (N, T, H, value_dim)
        flat = context.reshape(query.shape[0], query.shape[1], -1)
        out = flat @ self.out_w
        return out + self.out_b if self.out_b is not None else out


def _attention(config: Config, weights: Weights) -> nn.Module:
    return MultiHeadAttention(config, weights)


CONVERTERS: dict[str, Converter] = {"MultiHeadAttention": _attention}

#: Constant call arguments a converted layer takes, by class: passed at each call.
CALL_OPTIONS: dict[str, set[str]] = {"MultiHeadAttention": {"use_causal_mask"}}
