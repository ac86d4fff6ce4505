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

    [output]
    folder = "run"               # relative to the config file

Paths in the file are relative to the config file. The output folder receives
``model.pt2`` (a ``torch.export`` program that :func:`wrt.load` reads back),
``state_dict.pt``, ``history.csv``, ``loss.png`` and ``checkpoint.pt``; ``--resume``
continues from the checkpoint (the model's parameters, the history and the optimisers'
own state: Adam's moments, L-BFGS's curvature pairs; a resumed run ends as an
uninterrupted one would; PSO and CMA-ES restart their population). A folder that holds
an earlier run is refused unless ``--overwrite`` or ``--resume`` is given; the folder is
checked, the model built and every term bound before anything is written. An interrupt
(Ctrl-C) keeps the last finite parameters, writes them to the checkpoint and raises
:class:`~wrt.errors.TrainingInterrupted`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from wrt.data import read_table
from wrt.errors import (
    ConfigError,
    NonFiniteLossError,
    TrainingInterrupted,
    UnboundedLossError,
    WrtError,
)
from wrt.model import Model
from wrt.training import samplers, schema
from wrt.training.expression import Expression
from wrt.training.fitting import History, fit, world
from wrt.training.history import OptimizerState
from wrt.training.networks import mlp
from wrt.training.outputs import (
    check_folder,
    clear_folder,
    load_checkpoint,
    save_checkpoint,
    write_outputs,
)
from wrt.training.problem import name_terms
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


def run(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_step: Callable[[int, float, list[float]], None] | None = None,
) -> tuple[Model, History]:
    """Train as the config says; write the outputs; return the model and history.

    Everything is checked before anything is written: the output folder (an
    earlier run there is refused unless ``overwrite`` or ``resume``), the model,
    every term against it, and the checkpoint when resuming.

    Raises:
        ConfigError: the folder, a term or the checkpoint does not fit.
        NonFiniteLossError: a loss became NaN or Inf.
        TrainingInterrupted: Ctrl-C; the last finite parameters are in the
            checkpoint, ``err.step`` is the step they reached.
    """
    folder = config.folder
    model, terms, columns, previous, done, saved = prepare(
        config, resume=resume, overwrite=overwrite
    )
    state = OptimizerState(saved=saved)
    writer = world()[0] == 0  # with several processes, rank 0 writes
    settings = dict(config.train)
    every = settings.pop("checkpoint_every", 0)
    steps = settings.pop("steps", 1000)
    optimizer = settings.pop("optimizer", "adam").strip().lower()
    lbfgs = settings.pop("lbfgs_steps", None)
    adam_steps, lbfgs_steps = _remaining(optimizer, steps, lbfgs, done)
    if writer:
        if overwrite:
            clear_folder(folder)
        folder.mkdir(parents=True, exist_ok=True)
    rows_so_far: list[list[float]] = list(previous)
    last = {"at": done}

    def callback(step: int, total: float, losses: list[float]) -> None:
        reached = done + step + 1
        rows_so_far.append([reached - 1, total, *losses])
        if on_step is not None:
            on_step(reached - 1, total, losses)
        if writer and every and reached // every > last["at"] // every:
            save_checkpoint(
                folder, model, rows_so_far, columns, reached, state.snapshot()
            )
            last["at"] = reached

    try:
        history = fit(
            model,
            terms,
            optimizer=optimizer if lbfgs_steps or adam_steps else "adam",
            steps=adam_steps if optimizer != "lbfgs" else lbfgs_steps,
            lbfgs_steps=lbfgs_steps,
            callback=callback,
            state=state,
            **settings,
        )
    except TrainingInterrupted as exc:
        frame = _joined(previous, exc.history.frame, done, columns)
        reached = _reached(frame, done)
        if writer:
            rows_kept = frame.values.tolist()
            save_checkpoint(folder, model, rows_kept, columns, reached, state.kept)
        raise TrainingInterrupted(
            f"Training interrupted at step {reached}: the model keeps the "
            f"parameters of step {reached} (the last completed step with a finite "
            f"loss), saved with the history in {folder / 'checkpoint.pt'}.",
            reached,
            History(frame, exc.history.optimizer, exc.history.seconds),
        ) from None
    except NonFiniteLossError as exc:
        frame = _joined(previous, exc.history.frame, done, columns)
        if writer:
            save_checkpoint(
                folder, model, frame.values.tolist(), columns, _reached(frame, done)
            )
        raise NonFiniteLossError(
            f"{exc} In the config: lower [train] lr, or check the term. The last "
            f"finite parameters and the history are in {folder / 'checkpoint.pt'}: "
            "continue from them with --resume, or start afresh with --overwrite.",
            exc.term,
            exc.step + done,
            exc.point,
            History(frame, exc.history.optimizer, exc.history.seconds),
        ) from None
    frame = _joined(previous, history.frame, done, columns)
    full = History(frame, history.optimizer, history.seconds)
    if writer:
        save_checkpoint(
            folder,
            model,
            frame.values.tolist(),
            columns,
            _reached(frame, done),
            state.snapshot(),
        )
        write_outputs(model, full, folder)
    return model, full


def prepare(
    config: TrainConfig, *, resume: bool = False, overwrite: bool = False
) -> tuple[Model, list[Term], list[str], list[list[float]], int, dict]:
    """Check everything a run needs, writing nothing.

    Returns:
        The model (with the checkpoint's parameters when resuming), its bound
        terms, the history's columns, the earlier rows, the steps done and the
        optimisers' saved state.

    Raises:
        ConfigError: the output folder, a term or the checkpoint does not fit.
    """
    model = config.build_model()
    terms = config.build_terms(model)
    columns = ["step", "loss", *name_terms(terms)]
    check_folder(config.folder, resume=resume, overwrite=overwrite)
    if not resume:
        return model, terms, columns, [], 0, {}
    state = load_checkpoint(config.folder, model, columns)
    previous = [list(row) for row in state["history"]]
    return model, terms, columns, previous, state["done"], state["optimizer"]


def _named(message: str, cause: WrtError) -> ConfigError:
    """A ConfigError naming the config's table, keeping the cause's hint."""
    error = ConfigError(message)
    hint = getattr(cause, "hint", None)
    if hint:
        error.hint = hint  # type: ignore[attr-defined]
    return error


def _joined(
    previous: list[list[float]], frame: pd.DataFrame, done: int, columns: list[str]
) -> pd.DataFrame:
    """The rows of earlier runs and of this one (its steps shifted by ``done``)."""
    now = frame.copy()
    now.columns = columns
    now["step"] = now["step"] + done
    joined = (
        pd.concat([pd.DataFrame(previous, columns=columns), now]) if previous else now
    )
    joined = joined.reset_index(drop=True)
    joined["step"] = joined["step"].astype(int)
    return joined


def _reached(frame: pd.DataFrame, done: int) -> int:
    return int(frame["step"].iloc[-1]) + 1 if len(frame) else done


def _remaining(
    optimizer: str, steps: int, lbfgs: int | None, done: int
) -> tuple[int, int]:
    """Adam and L-BFGS steps left after ``done`` (Adam runs first)."""
    if optimizer == "adam+lbfgs":
        polish = lbfgs if lbfgs is not None else steps // 2
        adam_left = max(0, steps - done)
        lbfgs_left = polish - max(0, done - steps)
        return adam_left, max(0, lbfgs_left)
    if optimizer == "lbfgs":
        return 0, max(0, steps - done)
    return max(0, steps - done), 0
