"""ONNX, torch and weight-array files made by their own frameworks vs their numbers.

Made by ``make fixtures`` (torch.onnx exporter with onnxscript, torch.export,
TorchScript, torch.save, scikit-learn); references computed there by torch autograd
in float64 (ONNX, torch files) or closed forms (arrays). Each reference file carries
its tolerances (``tol_f32``, ``tol_f64``: (atol, rtol) for values, gradients and
Hessians), justified in ``tests/fixtures/README.md``.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import wrt
from tolerances import framework_numbers

FIXTURES = Path(__file__).parent / "fixtures"
FILES = sorted(
    p
    for p in FIXTURES.iterdir()
    if p.suffix in (".onnx", ".pt2", ".pt", ".npz")
    and not p.name.endswith(".ref.npz")
    and p.with_name(p.stem + ".ref.npz").exists()
)


def _options(path: Path) -> dict:
    if path.name == "torch_scaled_mlp_state_dict.pt":
        sys.path.insert(0, str(FIXTURES.parent.parent / "fixtures"))
        try:
            from torch_modules import ScaledMLP  # plain torch, no TensorFlow
        finally:
            sys.path.pop(0)
        return {"module": ScaledMLP()}
    return {}


def _check(model, ref, suffix):
    tolerances = ref["tol" + suffix]
    x = torch.from_numpy(ref["points"]).to(model.dtype)
    got = framework_numbers(model, x)
    for (key, value), (atol, rtol) in zip(got.items(), tolerances, strict=True):
        expected = torch.from_numpy(np.asarray(ref[key + suffix], dtype=np.float64))
        torch.testing.assert_close(
            value.double(), expected, rtol=float(rtol), atol=float(atol)
        )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_partials_match_the_source_framework(path):
    ref = np.load(path.with_name(path.stem + ".ref.npz"))
    n_in = int(np.sum(ref["input_sizes"]))
    names = [f"x{i}" for i in range(1, n_in + 1)]
    model = wrt.load(path, inputs=names, **_options(path))
    if "values_f32" in ref.files:
        _check(model.converted("float32"), ref, "_f32")
    _check(model.converted("float64"), ref, "_f64")


def test_every_format_is_covered():
    formats = {wrt.importers.sniff(p).kind for p in FILES}
    assert {"onnx", "torch-export", "torchscript", "torch-pickle", "npz"} <= formats


def test_seed004_arrays_reproduce_the_worked_answer():
    model = wrt.load(FIXTURES / "seed004.npz")
    jac = wrt.jacobian(model, torch.tensor([[1.0, 1.0]], dtype=model.dtype))
    np.testing.assert_allclose(jac[0, 0].numpy(), [0.0903533, 0.0903533], atol=5e-8)
