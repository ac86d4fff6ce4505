"""Rules for attention: scaled dot-product attention written out.

``softmax(q k^T * scale + mask) v``, with the products, softmax and mask going
through their own rules. Every fused kernel torch dispatches to (the flash kernel
for CPU, the efficient and math variants) computes this same function; the extra
outputs they return (log-sum-exp, random seeds, the weights) are read from the
kernel itself on the values, as constants.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from wrt.engines.taylor import jet as J
from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.arithmetic import _scale
from wrt.engines.taylor.rules.norms import _softmax
from wrt.engines.taylor.rules.products import _matmul_like
from wrt.engines.taylor.rules.registry import RULES, _is, aten
from wrt.errors import UnsupportedOpError


def _value(t: Any) -> Any:
    return t.value if _is(t) else t


def _attend(
    q: Any,
    k: Any,
    v: Any,
    mask: Any,
    dropout_p: float,
    is_causal: bool,
    scale: float | None,
) -> Jet:
    """The attention output as a jet (q, k, v jets or constants, (..., L, E))."""
    if dropout_p:
        raise UnsupportedOpError(
            "no Taylor rule for attention with dropout (random); put the model in "
            "eval mode"
        )
    q_shape, k_shape = _value(q).shape, _value(k).shape
    factor = 1.0 / math.sqrt(q_shape[-1]) if scale is None else float(scale)
    k_t = k.same(k.stack.transpose(-2, -1)) if _is(k) else k.transpose(-2, -1)
    if not _is(q) and not _is(k):  # only the values are a jet
        weights = torch.ops.aten._scaled_dot_product_attention_math.default(
            q, k, torch.eye(k_shape[-2], dtype=q.dtype, device=q.device),
            mask, 0.0, is_causal, scale=scale,
        )[0]  # fmt: skip
        return _matmul_like(None, weights, v)
    scores = _scale(_matmul_like(None, q, k_t), factor)
    if is_causal:
        device = scores.value.device
        mask = torch.ones(
            q_shape[-2], k_shape[-2], dtype=torch.bool, device=device
        ).tril()
    if mask is not None:
        if mask.dtype == torch.bool:
            bias = scores.stack.new_zeros(mask.shape).masked_fill(~mask, -math.inf)
        else:
            bias = mask.to(scores.stack.dtype)
        scores = J.add_constant(scores, bias)
    probs = _softmax(None, scores, -1)
    return _matmul_like(None, probs, v)


def _flash(
    op: Any,
    q: Any,
    k: Any,
    v: Any,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    attn_mask: Any = None,
    scale: float | None = None,
) -> list[Any]:
    """The CPU flash kernel: (output, logsumexp)."""
    out = _attend(q, k, v, attn_mask, dropout_p, is_causal, scale)
    rest = op(
        _value(q), _value(k), _value(v), dropout_p, is_causal,
        attn_mask=attn_mask, scale=scale,
    )  # fmt: skip
    return [out, *rest[1:]]


def _efficient(
    op: Any,
    q: Any,
    k: Any,
    v: Any,
    attn_bias: Any,
    compute_log_sumexp: bool,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
) -> list[Any]:
    """The memory-efficient kernel: (output, log_sumexp, seed, offset)."""
    out = _attend(q, k, v, attn_bias, dropout_p, is_causal, scale)
    rest = op(
        _value(q), _value(k), _value(v), attn_bias, compute_log_sumexp, dropout_p,
        is_causal, scale=scale,
    )  # fmt: skip
    return [out, *rest[1:]]


def _math(
    op: Any,
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    dropout_mask: Any = None,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> list[Any]:
    """The math variant: (output, weights); the weights as a constant."""
    if enable_gqa or dropout_mask is not None:
        raise UnsupportedOpError(
            "no Taylor rule for attention with grouped queries or a dropout mask"
        )
    out = _attend(q, k, v, attn_mask, dropout_p, is_causal, scale)
    rest = op(
        _value(q), _value(k), _value(v), attn_mask, dropout_p, is_causal,
        scale=scale,
    )  # fmt: skip
    return [out, *rest[1:]]


def _sdpa(
    op: Any,
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Jet:
    """The public operator, when a trace keeps it whole."""
    if enable_gqa:
        raise UnsupportedOpError("no Taylor rule for attention with grouped queries")
    return _attend(q, k, v, attn_mask, dropout_p, is_causal, scale)


RULES[aten._scaled_dot_product_flash_attention_for_cpu] = _flash
RULES[aten._scaled_dot_product_efficient_attention] = _efficient
RULES[aten._scaled_dot_product_attention_math] = _math
RULES[aten.scaled_dot_product_attention] = _sdpa
