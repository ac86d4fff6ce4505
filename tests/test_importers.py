"""Loading model files: format from content, clear errors, nothing executed."""

import pickle
import zipfile

import numpy as np
import pytest
import torch

import wrt
from models import mlp, save_torchscript
from wrt.importers import sniff


def test_torchscript_round_trip(tmp_path):
    net = mlp(2, 1)
    path = save_torchscript(net, tmp_path / "weights.bin")  # extension says nothing
    m = wrt.load(path, inputs=["x", "t"], outputs=["u"])
    assert m.inputs == ("x", "t") and m.outputs == ("u",)
    assert m.dtype == torch.float64 and sniff(path).kind == "torchscript"
    x = torch.randn(7, 2, dtype=torch.float64)
    expected = wrt.partials(net, x, ["dy/dx1", "d2y/dx1dx2"])
    got = wrt.partials(m, x, ["du/dx", "d2u/dxdt"])
    torch.testing.assert_close(got["du/dx"], expected["dy/dx1"], rtol=0, atol=0)
    torch.testing.assert_close(got["d2u/dxdt"], expected["d2y/dx1dx2"], rtol=0, atol=0)


def test_float64_copy_of_a_float32_file(tmp_path):
    path = save_torchscript(mlp(2, 1).float(), tmp_path / "m.pt")
    assert wrt.load(path).dtype == torch.float32
    assert wrt.load(path, dtype="float64").dtype == torch.float64


def _torch_save(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(mlp(2, 1).state_dict(), path)
    return path


def _export(tmp_path):
    path = tmp_path / "prog.pt2"
    program = torch.export.export(torch.nn.Linear(2, 1), (torch.zeros(3, 2),))
    torch.export.save(program, path)
    return path


def _npz(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, W1=np.ones((2, 2)), b1=np.ones(2))
    return path


def _raw(name: str, content: bytes):
    def make(tmp_path):
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


def _keras_like(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


def _saved_model(tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"\x08\x01")
    return tmp_path / "sm"


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_torch_save, "torch-pickle"),
        (_export, "torch-export"),
        (_npz, "npz"),
        (_keras_like, "keras"),
        (_raw("m.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64), "keras-h5"),
        (_raw("m.onnx", b"\x08\x07\x12\x07pytorch"), "onnx"),
        (_saved_model, "tf-savedmodel"),
    ],
)
def test_formats_are_detected_from_content(tmp_path, make, kind):
    path = make(tmp_path)
    assert sniff(path).kind == kind
    renamed = path.with_name("model.bin")  # the extension plays no part
    path.rename(renamed)
    assert sniff(renamed).kind == kind


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty file"),
        (b"x1,x2\n1,2\n", "text file starting with 'x1,x2'"),
        (b"PK\x03\x04broken", "damaged or truncated zip"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07", "binary file"),
    ],
)
def test_files_that_are_not_models(tmp_path, content, fragment):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(wrt.ModelFormatError, match=fragment):
        wrt.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(wrt.ModelFormatError, match="No such model file"):
        wrt.load(tmp_path / "nope.pt")


def test_truncated_torchscript_is_a_clear_error(tmp_path):
    path = save_torchscript(mlp(2, 1), tmp_path / "m.pt")
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    # keep the zip directory readable but damage a member's bytes
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(wrt.ModelFormatError):
        wrt.load(cut)
    assert any(n.endswith("constants.pkl") for n in names)


class _WritesAFile:
    """Unpickling this calls open(path, "w"): proof that a pickle ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("zipped", [False, True])
def test_a_malicious_pickle_is_never_unpickled(tmp_path, zipped):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    payload = {"weight": _WritesAFile(marker)}
    if zipped:  # the torch.save zip layout, with the payload as its data.pkl
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("evil/data.pkl", pickle.dumps(payload))
            archive.writestr("evil/version", "3\n")
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(wrt.WrtError):
        wrt.load(path)
    assert not marker.exists()
