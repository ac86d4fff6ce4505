"""Bad input for Keras files (issue 13): index inputs and what feeds an Embedding."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch

import wrt
from bad_input.harness import Api, Cli, write
from wrt.errors import IntegerInputError, InvalidNameError, UnsupportedFormatError
from wrt.importers.keras import import_keras


def _embedding_model(folder: Path) -> Path:
    """A functional model: float input x (2,), integer input tok (2,) -> Embedding."""
    keras = import_keras()
    layers = keras.layers
    x = keras.Input((2,), name="x")
    tok = keras.Input((2,), name="tok", dtype="int32")
    e = layers.Flatten()(layers.Embedding(4, 3)(tok))
    y = layers.Dense(1, name="y")(layers.Concatenate()([x, e]))
    path = folder / "embed.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' own numpy deprecations on save
        keras.Model([x, tok], y).save(path)
    return path


def _computed_index(folder: Path) -> Path:
    keras = import_keras()
    layers = keras.layers
    x = keras.Input((2,), name="x")
    e = layers.Flatten()(layers.Embedding(4, 3)(layers.Dense(2)(x)))
    path = folder / "computed.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.Model(x, layers.Dense(1)(e)).save(path)
    return path


def _built(
    build: Callable[[Path], Path], use: Callable[[Path], object]
) -> Callable[[Path], object]:
    """An API call on a model file it builds first; the refusal leaves it as it was.

    The runner snapshots the folder before the call, so the built file counts as
    new (the cases set ``new_files=True``); this checks the file and the folder.
    """

    def call(folder: Path) -> object:
        path = build(folder)
        before = path.read_bytes()
        try:
            return use(path)
        finally:
            assert path.read_bytes() == before, f"{path.name} was changed"
            assert sorted(folder.iterdir()) == [path], "a refusal left files"

    return call


def _bad_keys(folder: Path) -> Path:
    """Dict inputs keyed 'my x' (not an identifier) and 't'."""
    keras = import_keras()
    layers = keras.layers
    ins = {"my x": keras.Input((1,), name="a"), "t": keras.Input((1,), name="t")}
    h = layers.Concatenate()(list(ins.values()))
    path = folder / "keys.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: a key differs from its tensor's name
        keras.Model(inputs=ins, outputs=layers.Dense(1)(h)).save(path)
    return path


def _points(folder: Path) -> Path:
    return write(folder, "p.csv", "x1,x2,tok1,tok2\n0.1,0.2,1,3\n0.3,0.4,0,2\n")


CASES = [
    Cli(
        "keras-derivative-along-an-embedding-index",
        lambda f: [
            "partials",
            str(_embedding_model(f)),
            str(_points(f)),
            "-d",
            "dy/dtok2",
        ],
        2,
        r"'tok2'.*integer values only.*Embedding layer",
    ),
    Api(
        "api-keras-hessian-over-an-embedding-index",
        _built(
            _embedding_model,
            lambda p: wrt.hessian(wrt.load(p), torch.tensor([[0.1, 0.2, 1.0, 3.0]])),
        ),
        IntegerInputError,
        r"'tok1'.*no derivative along 'tok1'",
        new_files=True,
    ),
    Api(
        "api-keras-laplacian-over-an-embedding-index",
        _built(
            _embedding_model,
            lambda p: wrt.laplacian(
                wrt.load(p), torch.tensor([[0.1, 0.2, 1.0, 3.0]]), over=["x1", "tok2"]
            ),
        ),
        IntegerInputError,
        r"'tok2'",
        new_files=True,
    ),
    Api(
        "api-keras-embedding-of-a-computed-tensor",
        _built(_computed_index, wrt.load),
        UnsupportedFormatError,
        r"Embedding layer 'embedding.*' reads the computed tensor",
        new_files=True,
    ),
    Cli(
        "keras-dict-key-cannot-name-a-column",
        lambda f: ["inspect", str(_bad_keys(f))],
        2,
        r"'my x' is not an identifier.*inputs",
    ),
    Api(
        "api-keras-dict-key-cannot-name-a-column",
        _built(_bad_keys, wrt.load),
        InvalidNameError,
        r"dict inputs cannot name .* 'my x' is not an identifier",
        new_files=True,
    ),
]
