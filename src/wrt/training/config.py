"""``wrt train CONFIG.toml``: a model, its terms, an optimiser and an output folder.

The format (every key and value is checked before anything runs, by
:mod:`wrt.training.schema`: unknown keys, values of the wrong type or range and
missing files are errors naming ``table.key``)::

    [model]                      # a new network ...
    inputs = ["x", "t"]
    outputs = ["u"]
    hidden = [32, 32, 32]
    activation = "tanh"          # tanh, sigmoid, softplus, silu, gelu, sin, relu
    dtype = "float64"
    seed = 0
    # file = "start.pt2"         # ... or a model file to continue from

    [[terms]]                    # one table per term
    kind = "residual"            # residual, match, objective, rows
    expr = "du/dt + u*du/dx - 0.01/pi*d2u/dx^2"
    weight = 1.0
    points = { sampler = "sobol", n = 2000, box = { x = [-1, 1], t = [0, 1] } }

    [[terms]]
    kind = "match"
    target = "u"                 # an output or a derivative spec
    values = "-sin(pi*x)"        # a number, an expression over the inputs,
                                 # or { column = "u" } with points from a file
    points = { sampler = "uniform", n = 200, box = { x = [-1, 1], t = [0, 0] } }

    [[terms]]
    kind = "match"
    target = "u"
    values = 0
    points = { sampler = "lhs", n = 200, boundary = true, faces = ["x"],
               box = { x = [-1, 1], t = [0, 1] } }

    [[terms]]
    kind = "rows"                # a table of labelled rows (see wrt.rows)
    file = "data.csv"

    [train]
    optimizer = "adam+lbfgs"     # adam, lbfgs, adam+lbfgs, pso, cma
    steps = 5000
    lr = 1e-3
    lbfgs_steps = 1000
    seed = 0
    checkpoint_every = 500       # steps between checkpoints (0: none)
    compile = "auto"             # compile the step: "auto", true, false

    [output]
    folder = "run"               # relative to the config file

Paths in the file are relative to the config file. The output folder receives
``model.pt2`` (a ``torch.export`` program that :func:`wrt.load` reads back),
``state_dict.pt``, ``history.csv``, ``loss.png`` and ``checkpoint.pt``; ``--resume``
continues from the checkpoint (the model's parameters, the history and the
optimisers' own state: Adam's moments, L-BFGS's curvature pairs; a resumed run
ends as an uninterrupted one would; PSO and CMA-ES restart their population). A
folder that holds an earlier run is refused unless ``--overwrite`` or
``--resume`` is given; the folder is checked, the model built and every term
bound before anything is written (:mod:`wrt.training.runner`). An interrupt
(Ctrl-C) keeps the last finite parameters, writes them to the checkpoint and
raises :class:`~wrt.errors.TrainingInterrupted`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from wrt.data import read_table
from wrt.errors import ConfigError, UnboundedLossError, WrtError
from wrt.model import Model
from wrt.training import samplers, schema
from wrt.training.expression import Expression
from wrt.training.networks import mlp
from wrt.training.terms import Term, match, objective, residual, rows


@dataclass
class TrainConfig:
    """A parsed config: see the module docstring."""

    path: Path
    model: dict[str, Any]
    terms: list[dict[str, Any]]
    train: dict[str, Any]
    folder: Path
    raw: str = field(repr=False, default="")

    @classmethod
    def read(cls, path: str | Path) -> TrainConfig:
        """Read and check a TOML config (:func:`wrt.training.schema.check`).

        Raises:
            ConfigError: no such file, not TOML, or a key or value is not valid.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"No config file at {path}.") from None
        except IsADirectoryError:
            raise ConfigError(f"{path} is a folder, not a config file.") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not a text (UTF-8) TOML file.") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
        schema.check(data, path.parent)
        folder = path.parent / data.get("output", {}).get("folder", "run")
        return cls(
            path, data["model"], data["terms"], data.get("train", {}), folder, text
        )

    def build_model(self) -> Model:
        """The model: a new :func:`mlp`, or a file to continue from."""
        spec = dict(self.model)
        if "file" in spec:
            from wrt.importers import load

            try:
                return load(
                    self._resolve(spec["file"]),
                    inputs=spec.get("inputs"),
                    outputs=spec.get("outputs"),
                )
            except WrtError as exc:
                raise _named(
                    f"model.file = {json.dumps(spec['file'])}: {exc}", exc
                ) from exc
        if "inputs" not in spec:
            raise ConfigError("[model] needs inputs = [...] (or file = ...).")
        return mlp(
            spec["inputs"],
            spec.get("outputs", ["y"]),
            spec.get("hidden", [32, 32]),
            spec.get("activation", "tanh").strip().lower(),
            dtype=spec.get("dtype", "float64").strip().lower(),
            seed=spec.get("seed", 0),
        )

    def build_terms(self, model: Model) -> list[Term]:
        """The terms, with their points sampled or read, bound to ``model``.

        Raises:
            ConfigError: a term does not fit the model (its table is named).
        """
        terms: list[Term] = []
        for i, term in enumerate(self.terms, start=1):
            try:
                built = self._term(term, model)
                for one in built:
                    one.bind(model)
            except UnboundedLossError as exc:
                raise ConfigError(
                    f"terms[{i}] ({term['kind']}): {exc} In the config: kind = "
                    '"residual" trains the square of expr; allow_unbounded = true '
                    "keeps the objective as it is."
                ) from exc
            except WrtError as exc:
                raise _named(f"terms[{i}] ({term['kind']}): {exc}", exc) from exc
            terms += built
        return terms

    def _term(self, term: dict[str, Any], model: Model) -> list[Term]:
        kind = term["kind"]
        weight = float(term.get("weight", 1.0))
        if kind == "rows":
            table = read_table(self._resolve(term["file"]))
            return [
                *rows(
                    table,
                    term.get("label_column", "label"),
                    term.get("value_column", "value"),
                    weight,
                )
            ]
        points, table = self._points(term["points"], model)
        name = term.get("name")
        if kind == "residual":
            return [residual(term["expr"], points, weight, name=name)]
        if kind == "objective":
            return [
                objective(
                    term["expr"],
                    points,
                    weight,
                    name=name,
                    allow_unbounded=term.get("allow_unbounded", False),
                )
            ]
        values = self._values(term["values"], points, table, model)
        return [match(term["target"], points, values, weight, name=name)]

    def _points(
        self, spec: dict[str, Any], model: Model
    ) -> tuple[torch.Tensor, pd.DataFrame | None]:
        dtype = model.dtype or torch.float64
        if "file" in spec:
            table = read_table(self._resolve(spec["file"]))
            from wrt.data import as_points

            return as_points(table, model.inputs, dtype=dtype), table
        points = samplers.sample(
            spec["box"],
            spec["n"],
            model.inputs,
            method=spec.get("sampler", "uniform").strip().lower(),
            seed=spec.get("seed", 0),
            boundary=spec.get("boundary", False),
            faces=spec.get("faces"),
            dtype=dtype,
        )
        return points, None

    def _values(self, spec: Any, points: torch.Tensor, table, model: Model):
        if isinstance(spec, (int, float)):
            return torch.full((points.shape[0],), float(spec), dtype=points.dtype)
        if isinstance(spec, str):
            expression = Expression(spec, model.inputs, ())
            coordinates = {n: points[:, i] for i, n in enumerate(model.inputs)}
            value = expression.evaluate({}, coordinates)
            return torch.as_tensor(value, dtype=points.dtype).expand(points.shape[0])
        column = spec["column"]
        if table is None or column not in table.columns:
            have = ", ".join(map(str, table.columns)) if table is not None else "none"
            raise ConfigError(
                f"values: no column {column!r} in the points file (its columns: "
                f"{have})."
            )
        return table[column].to_numpy()

    def _resolve(self, name: str) -> Path:
        return (self.path.parent / name).resolve()


def _named(message: str, cause: WrtError) -> ConfigError:
    """A ConfigError naming the config's table, keeping the cause's hint."""
    error = ConfigError(message)
    hint = getattr(cause, "hint", None)
    if hint:
        error.hint = hint  # type: ignore[attr-defined]
    return error
