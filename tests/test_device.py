"""Every tensor of a call stays on the device of the points; no host round-trips
in the chunk loop.

No GPU is needed: the model and the points go to PyTorch's ``meta`` device
(shapes and dtypes, no data), and a dispatch mode watches every operation of the
call. A tensor that wrt makes on the CPU (a ``torch.arange`` without
``device=``, a stencil built with ``torch.tensor``) shows up as an output off
``meta``, the same mistake that fails on CUDA with "Expected all tensors to be on
the same device". A host read (``.item()``, ``bool(t)``, ``.tolist()``: all reach
``aten._local_scalar_dense``) is recorded with where it came from, and answered as
if nothing were wrong (``any`` -> False, ``all`` -> True), so the call runs on.
"""

from __future__ import annotations

import copy
import traceback
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import wrt
import zoo
from models import mlp

_SCALAR = torch.ops.aten._local_scalar_dense.default
_ANY = {torch.ops.aten.any.default, torch.ops.aten.any.dim}
_ALL = {torch.ops.aten.all.default, torch.ops.aten.all.dim}


def _where() -> str:
    """The three innermost wrt frames of the stack, ``module.py:line``, innermost
    last."""
    frames = [
        f"{frame.filename.rsplit('/wrt/', 1)[1]}:{frame.lineno}"
        for frame in traceback.extract_stack()
        if "/wrt/" in frame.filename and "/tests/" not in frame.filename
    ]
    return " < ".join(frames[-3:]) or "?"


class DeviceAudit(TorchDispatchMode):
    """Records operations that make tensors off ``device``, and every host read.

    An output off the device is a finding when the operation made it from
    nothing (a factory: ``arange``, ``zeros``, ``tensor``) or from a tensor on the
    device (a copy to the host). Operations on the caller's own CPU tensors (a
    weight matrix given on the CPU, checked there) are the caller's business.
    """

    def __init__(self, device: str = "meta") -> None:
        super().__init__()
        self.device = device
        self.off_device: list[tuple[str, str]] = []
        self.host_reads: list[str] = []
        self._verdicts: dict[int, bool] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        if func is _SCALAR:
            self.host_reads.append(_where())
            return self._verdicts.get(id(args[0]), 0)
        out = func(*args, **(kwargs or {}))
        if func in _ANY or func in _ALL:
            self._verdicts[id(out)] = func in _ALL
        given = [t for t in tree_flatten((args, kwargs))[0] if _is_tensor(t)]
        made = not given or any(t.device.type == self.device for t in given)
        for tensor in tree_flatten(out)[0]:
            if made and _is_tensor(tensor) and tensor.device.type != self.device:
                self.off_device.append((str(func), _where()))
        return out


def _is_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor)


def _on_meta(module: torch.nn.Module, inputs, outputs) -> wrt.Model:
    """A wrapped copy of ``module`` (wrapped on the CPU, then moved to meta)."""
    model = wrt.wrap(copy.deepcopy(module), inputs=list(inputs), outputs=list(outputs))
    model.module.to("meta")
    return model


def _audited(call) -> tuple[DeviceAudit, object]:
    audit = DeviceAudit()
    with audit:
        result = call()
    return audit, result


MODELS = {
    **{
        name: (case.module, case.inputs, case.outputs)
        for name, case in ((c.name, c) for c in zoo.CASES)
        if any(True for _ in case.module.parameters())  # a device to follow
    },
    "mlp-2-3": (mlp(2, 3), ("x", "t"), ("u", "v", "w")),
}
ENGINES = ["taylor", "autograd", "finite_diff"]


def _specs(inputs, outputs) -> list[str]:
    """Orders 1 to 4, pure and mixed, of the first and last output."""
    a, b = inputs[0], inputs[-1]
    specs = []
    for out in dict.fromkeys([outputs[0], outputs[-1]]):
        specs += [f"d{out}/d{a}", f"d2{out}/d{a}d{b}", f"d3{out}/d{a}^2d{b}"]
        specs += [f"d4{out}/d{b}^4"]
    return list(dict.fromkeys(specs))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_tensor_of_a_call_stays_on_the_points_device(name, engine):
    module, inputs, outputs = MODELS[name]
    model = _on_meta(module, inputs, outputs)
    x = torch.empty(600, len(inputs), dtype=torch.float64, device="meta")
    specs = _specs(inputs, outputs)
    audit, result = _audited(
        lambda: wrt.partials(model, x, specs, engine=engine, chunk_size=200)
    )
    assert audit.off_device == [], Counter(audit.off_device).most_common(5)
    for spec in specs:
        assert result[spec].device.type == "meta"
        assert result[spec].shape == (600,)


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
def test_operators_stay_on_the_points_device(engine):
    model = _on_meta(mlp(3, 1), ("a", "b", "c"), ("y",))
    x = torch.empty(300, 3, dtype=torch.float64, device="meta")
    weights = torch.tensor([[2.0, 0.5], [0.5, 1.0]])  # a user's, on the CPU
    calls = {
        "laplacian": lambda: wrt.laplacian(model, x, engine=engine),
        "weighted": lambda: wrt.laplacian(
            model, x, over=["a", "c"], weights=weights, engine=engine
        ),
    }
    for what, call in calls.items():
        audit, value = _audited(call)
        assert audit.off_device == [], (what, Counter(audit.off_device))
        assert value.device.type == "meta", what


@pytest.mark.parametrize("engine", ENGINES)
def test_no_host_read_per_chunk(engine):
    """The host reads of a call do not grow with its chunks: checks of the
    points at the start, the non-finite screen of the results at the end."""
    model = _on_meta(mlp(2, 1), ("x", "t"), ("y",))
    x = torch.empty(800, 2, dtype=torch.float64, device="meta")
    specs = ["dy/dx", "d2y/dxdt", "d4y/dt^4"]
    reads = {}
    for chunk in (800, 100):
        audit, _ = _audited(
            lambda c=chunk: wrt.partials(model, x, specs, engine=engine, chunk_size=c)
        )
        reads[chunk] = Counter(audit.host_reads)
    per_chunk = reads[100] - reads[800]
    # autograd's saturation guard reads one flag per tanh layer and chunk (it
    # picks the overflow-safe backward only where an activation saturates)
    allowed = {k for k in per_chunk if "engines/saturating.py" in k}
    assert set(per_chunk) <= (allowed if engine == "autograd" else set()), per_chunk
    # the points' checks (2), the screen of the results (1 + 2 per spec)
    fixed = [k for k in reads[800].elements() if "engines/saturating.py" not in k]
    assert len(fixed) <= 2 + 1 + 2 * len(specs), reads[800]


def test_the_audit_sees_a_tensor_made_on_the_cpu():
    """The audit is not blind: a computation that builds a CPU tensor is caught."""
    x = torch.empty(5, 2, device="meta")
    audit, _ = _audited(lambda: x * 2 + torch.arange(2.0).sum())
    assert [func for func, _ in audit.off_device][:1] == ["aten.arange.default"]
    audit, _ = _audited(lambda: bool((x > 0).any()))
    assert len(audit.host_reads) == 1


@pytest.mark.parametrize("engine", ["taylor", "autograd"])
def test_hutchinson_draws_on_the_cpu_only_its_seeded_signs(engine):
    """The Rademacher signs come from a seeded CPU generator (the same estimate
    on every device), copied to the device once per call; nothing else is made
    off the device."""
    model = _on_meta(mlp(3, 1), ("a", "b", "c"), ("y",))
    x = torch.empty(300, 3, dtype=torch.float64, device="meta")
    audit, estimate = _audited(
        lambda: wrt.laplacian_estimate(model, x, samples=8, engine=engine)
    )
    assert [func for func, _ in audit.off_device] == ["aten.randint.low_generator"]
    assert all("engines/base.py" in where for _, where in audit.off_device)
    assert estimate.estimate.device.type == "meta"
    assert estimate.std_error.device.type == "meta"
