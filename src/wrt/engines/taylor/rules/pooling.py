"""Rules for pooling, padding and resampling: spatial operations on each plane.

Average pooling, padding by reflection or replication and nearest resampling are
linear and act on every (batch, channel) plane alike, so the coefficients go
through the operation as extra batch rows (the entry dimension folded into the
first dimension). A constant pad adds its constant to the value only.

Max pooling is piecewise: every output copies the input entry that attains the
window's maximum, so its coefficients are that entry's, found by the indices the
value's own max pool returns. This is exact wherever the maximum is unique (almost
everywhere); at a tie it follows the entry torch picks, as autograd does.
"""

from __future__ import annotations

from typing import Any

import torch

from wrt.engines.taylor.jet import Jet
from wrt.engines.taylor.rules.registry import RULES, aten, rule
from wrt.errors import UnsupportedOpError


def _folded(op: Any, x: Jet, *args: Any, **kwargs: Any) -> Jet:
    """``op`` on the stack with the entry dimension folded into dimension 0.

    Valid for operations that treat every index of dimension 0 alike (a batch of
    planes, or the channels of an unbatched input).
    """
    m, shape = x.stack.shape[0], x.shape
    if not len(shape):
        raise UnsupportedOpError(f"no Taylor rule for {op} of a 0-d tensor")
    out = op(x.stack.reshape(m * shape[0], *shape[1:]), *args, **kwargs)
    return x.same(out.reshape(m, shape[0], *out.shape[1:]))


for _op in (
    aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, aten.adaptive_avg_pool1d,
    aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool2d,
    aten.adaptive_avg_pool3d, aten.reflection_pad1d, aten.reflection_pad2d,
    aten.reflection_pad3d, aten.replication_pad1d, aten.replication_pad2d,
    aten.replication_pad3d, aten.upsample_nearest1d, aten.upsample_nearest2d,
    aten.upsample_nearest3d, aten.upsample_linear1d, aten.upsample_bilinear2d,
    aten.upsample_trilinear3d, aten.pixel_shuffle, aten.pixel_unshuffle,
):  # fmt: skip
    RULES[_op] = _folded


@rule(aten.constant_pad_nd)
def _constant_pad(op: Any, x: Jet, pad: Any, value: Any = 0) -> Jet:
    """The constant sits in the value; the padded coefficients are zero."""
    stack = op(x.stack, pad, 0.0)
    if value:
        stack[0] = op(x.value, pad, value)
    return x.same(stack)


def _by_indices(spatial: int) -> Any:
    """Max pooling over ``spatial`` trailing dims, returning (values, indices)."""

    def apply(op: Any, x: Jet, *args: Any, **kwargs: Any) -> list[Any]:
        values, indices = op(x.value, *args, **kwargs)
        m = x.stack.shape[0]
        flat = x.stack.flatten(-spatial)
        where = indices.flatten(-spatial)
        picked = torch.gather(flat, -1, where.unsqueeze(0).expand(m, *where.shape))
        return [x.same(picked.reshape(m, *values.shape)), indices]

    return apply


RULES[aten.max_pool2d_with_indices] = _by_indices(2)
RULES[aten.max_pool3d_with_indices] = _by_indices(3)
RULES[aten.adaptive_max_pool1d] = _by_indices(1)
RULES[aten.adaptive_max_pool2d] = _by_indices(2)
RULES[aten.adaptive_max_pool3d] = _by_indices(3)
