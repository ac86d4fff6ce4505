"""TensorFlow SavedModel directories: through tf2onnx with ``wrt[tensorflow]``.

Without TensorFlow and tf2onnx (the usual test environment) the directory is
refused with the install line; that test always runs. The conversion tests skip
without them; run them with TensorFlow and tf2onnx installed, e.g. the fixtures
environment's packages after the dev environment's:
``PYTHONPATH=src:.fixtures-venv/lib/python3.11/site-packages .venv/bin/python -m
pytest tests/test_savedmodel.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import wrt

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
SAVED = CORPUS / "tf-savedmodel-mlp-tanh"


def _reference() -> tuple[dict[str, np.ndarray], dict]:
    with np.load(CORPUS / "tf-savedmodel-mlp-tanh.ref.npz") as archive:
        data = dict(archive)
    return data, json.loads(str(data["meta"]))


def test_without_tensorflow_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(wrt.UnsupportedFormatError) as excinfo:
        wrt.load(SAVED)
    message = str(excinfo.value)
    assert "TensorFlow SavedModel directory" in message
    assert "pip install 'wrt[tensorflow]'" in message
    assert "model.save('model.keras')" in message


def test_without_tf2onnx_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(wrt.UnsupportedFormatError, match=r"wrt\[tensorflow\]"):
        wrt.load(SAVED)


def _with_tensorflow():
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    return tf


def test_the_corpus_savedmodel_matches_tensorflow(tmp_path):
    _with_tensorflow()
    data, meta = _reference()
    folder = tmp_path / "saved"
    shutil.copytree(SAVED, folder)  # git keeps no empty assets/ folder: not needed
    shutil.rmtree(folder / "assets", ignore_errors=True)
    model = wrt.load(folder)
    assert model.format == "tf-savedmodel" and model.source == str(folder)
    assert model.inputs == tuple(data["input_names"])
    assert model.outputs == tuple(data["output_names"])
    x = torch.tensor(data["points"], dtype=model.dtype, requires_grad=True)
    y = model(x)
    grad = torch.autograd.grad(y.sum(), x)[0]
    atol, rtol = meta["tolerance"]["values"]
    np.testing.assert_allclose(y.detach().numpy(), data["values"], rtol, atol)
    atol, rtol = meta["tolerance"]["grad"]
    np.testing.assert_allclose(grad.numpy(), data["grad"][:, 0], rtol, atol)
    exact = wrt.load(folder, dtype="float64")
    assert exact.dtype == torch.float64
    taylor = wrt.partials(exact, data["points"][:4], "d2y/dx1dx2", engine="taylor")
    auto = wrt.partials(exact, data["points"][:4], "d2y/dx1dx2", engine="autograd")
    torch.testing.assert_close(taylor["d2y/dx1dx2"], auto["d2y/dx1dx2"])


def test_two_inputs_keep_their_signature_names(tmp_path):
    tf = _with_tensorflow()

    class Energy(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable([[0.5], [-1.0]], dtype=tf.float32)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 1], tf.float32, name="x"),
                tf.TensorSpec([None, 1], tf.float32, name="t"),
            ]
        )
        def __call__(self, x, t):
            return {"u": tf.tanh(tf.concat([x, t], axis=1) @ self.w) * x}

    module = Energy()
    tf.saved_model.save(module, str(tmp_path / "sm"))
    model = wrt.load(tmp_path / "sm")
    # the signature's inputs, sorted by name (TensorFlow's order for keywords)
    assert model.inputs == ("t", "x") and model.n_outputs == 1
    points = np.array([[0.2, 0.3], [0.7, -0.4]], np.float32)  # columns t, x
    got = model(torch.from_numpy(points)).detach().numpy()
    want = module(x=points[:, 1:], t=points[:, :1])["u"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_a_missing_signature_and_a_damaged_directory(tmp_path):
    _with_tensorflow()
    with pytest.raises(wrt.ModelFormatError, match="signature='<name>'"):
        wrt.load(SAVED, signature="nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"\x08\x01garbage")
    with pytest.raises(wrt.ModelFormatError, match="could not be loaded by TensorFlow"):
        wrt.load(broken)
