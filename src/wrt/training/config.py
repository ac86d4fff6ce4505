"""``wrt train CONFIG.toml``: a model, its terms, an optimiser and an output folder.

The format (every key is checked; unknown keys are errors, so typos do not pass
silently)::

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
continues from the checkpoint (the model's parameters and the history; the
optimiser's own state, such as Adam's moments, starts afresh).
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
from wrt.errors import DataError
from wrt.model import Model
from wrt.training import samplers
from wrt.training.expression import Expression
from wrt.training.fitting import History, fit, world
from wrt.training.networks import mlp
from wrt.training.terms import Term, match, objective, residual, rows

_SECTIONS = {"model", "terms", "train", "output"}
_MODEL_KEYS = {"inputs", "outputs", "hidden", "activation", "dtype", "seed", "file"}
_TRAIN_KEYS = {
    "optimizer",
    "steps",
    "lr",
    "lbfgs_steps",
    "seed",
    "checkpoint_every",
    "population",
}
_TERM_KEYS = {
    "residual": {"kind", "expr", "points", "weight", "name"},
    "objective": {"kind", "expr", "points", "weight", "name", "allow_unbounded"},
    "match": {"kind", "target", "values", "points", "weight", "name"},
    "rows": {"kind", "file", "weight", "label_column", "value_column"},
}
_POINT_KEYS = {"sampler", "n", "seed", "box", "boundary", "faces", "file"}


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
        """Read and check a TOML config."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except FileNotFoundError:
            raise DataError(f"No config file at {path}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise DataError(f"{path} is not valid TOML: {exc}.") from None
        _only(data, _SECTIONS, "the config")
        if "model" not in data or "terms" not in data:
            raise DataError(f"{path} needs a [model] table and at least one [[terms]].")
        _only(data["model"], _MODEL_KEYS, "[model]")
        _only(data.get("train", {}), _TRAIN_KEYS, "[train]")
        for i, term in enumerate(data["terms"]):
            kind = term.get("kind")
            if kind not in _TERM_KEYS:
                raise DataError(
                    f"[[terms]] number {i + 1}: kind must be one of "
                    f"{', '.join(_TERM_KEYS)}, not {kind!r}."
                )
            _only(term, _TERM_KEYS[kind], f"[[terms]] number {i + 1} ({kind})")
            if isinstance(term.get("points"), dict):
                _only(
                    term["points"], _POINT_KEYS, f"points of [[terms]] number {i + 1}"
                )
        folder = path.parent / data.get("output", {}).get("folder", "run")
        return cls(
            path, data["model"], data["terms"], data.get("train", {}), folder, text
        )

    def build_model(self) -> Model:
        """The model: a new :func:`mlp`, or a file to continue from."""
        spec = dict(self.model)
        if "file" in spec:
            from wrt.importers import load

            return load(
                self._resolve(spec["file"]),
                inputs=spec.get("inputs"),
                outputs=spec.get("outputs"),
            )
        if "inputs" not in spec:
            raise DataError("[model] needs inputs = [...] (or file = ...).")
        return mlp(
            spec["inputs"],
            spec.get("outputs", ["y"]),
            spec.get("hidden", [32, 32]),
            spec.get("activation", "tanh"),
            dtype=spec.get("dtype", "float64"),
            seed=spec.get("seed", 0),
        )

    def build_terms(self, model: Model) -> list[Term]:
        """The terms, with their points sampled or read."""
        terms: list[Term] = []
        for term in self.terms:
            kind = term["kind"]
            weight = float(term.get("weight", 1.0))
            if kind == "rows":
                table = read_table(self._resolve(term["file"]))
                terms += rows(
                    table,
                    term.get("label_column", "label"),
                    term.get("value_column", "value"),
                    weight,
                )
                continue
            points, table = self._points(term.get("points"), model)
            name = term.get("name")
            if kind == "residual":
                terms.append(residual(term["expr"], points, weight, name=name))
            elif kind == "objective":
                terms.append(
                    objective(
                        term["expr"],
                        points,
                        weight,
                        name=name,
                        allow_unbounded=term.get("allow_unbounded", False),
                    )
                )
            else:
                values = self._values(term.get("values"), points, table, model)
                terms.append(match(term["target"], points, values, weight, name=name))
        return terms

    def _points(
        self, spec: Any, model: Model
    ) -> tuple[torch.Tensor, pd.DataFrame | None]:
        if not isinstance(spec, dict):
            raise DataError(
                "Each term needs points = { sampler = ..., ... } or { file = ... }."
            )
        dtype = model.dtype or torch.float64
        if "file" in spec:
            table = read_table(self._resolve(spec["file"]))
            from wrt.data import as_points

            return as_points(table, model.inputs, dtype=dtype), table
        if "box" not in spec or "n" not in spec:
            raise DataError("A sampled point set needs box = {...} and n = ...")
        points = samplers.sample(
            spec["box"],
            int(spec["n"]),
            model.inputs,
            method=spec.get("sampler", "uniform"),
            seed=int(spec.get("seed", 0)),
            boundary=bool(spec.get("boundary", False)),
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
        if isinstance(spec, dict) and "column" in spec and table is not None:
            return table[spec["column"]].to_numpy()
        raise DataError(
            "values must be a number, an expression over the inputs, or "
            "{ column = ... } with points read from a file."
        )

    def _resolve(self, name: str) -> Path:
        return (self.path.parent / name).resolve()


def run(
    config: TrainConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, float, list[float]], None] | None = None,
) -> tuple[Model, History]:
    """Train as the config says; write the outputs; return the model and history."""
    model = config.build_model()
    terms = config.build_terms(model)
    writer = world()[0] == 0  # with several processes, rank 0 writes
    settings = dict(config.train)
    every = int(settings.pop("checkpoint_every", 0))
    steps = int(settings.pop("steps", 1000))
    folder = config.folder
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "checkpoint.pt"
    previous = pd.DataFrame()
    done = 0
    if resume:
        if not checkpoint.exists():
            raise DataError(
                f"--resume: no checkpoint in {folder}; train without it first."
            )
        state = torch.load(checkpoint, weights_only=True)
        model.module.load_state_dict(state["model"])
        previous = pd.DataFrame(state["history"], columns=state["columns"])
        done = int(state["done"])
    optimizer = settings.pop("optimizer", "adam")
    lbfgs = settings.pop("lbfgs_steps", None)
    adam_steps, lbfgs_steps = _remaining(optimizer, steps, lbfgs, done)
    rows_so_far: list = previous.values.tolist()
    saved = {"at": done}

    def callback(step: int, total: float, losses: list[float]) -> None:
        reached = done + step + 1
        rows_so_far.append([reached - 1, total, *losses])
        if on_step is not None:
            on_step(reached - 1, total, losses)
        if writer and every and reached // every > saved["at"] // every:
            columns = ["step", "loss", *[t.name for t in terms]]
            _save_checkpoint(checkpoint, model, rows_so_far, columns, reached)
            saved["at"] = reached

    history = fit(
        model,
        terms,
        optimizer=optimizer if lbfgs_steps or adam_steps else "adam",
        steps=adam_steps if optimizer != "lbfgs" else lbfgs_steps,
        lbfgs_steps=lbfgs_steps,
        callback=callback,
        **settings,
    )
    columns = list(history.frame.columns)
    frame = pd.DataFrame(rows_so_far, columns=columns)
    frame["step"] = frame["step"].astype(int)
    full = History(frame, history.optimizer, history.seconds)
    reached = int(frame["step"].iloc[-1]) + 1 if len(frame) else done
    if writer:
        _save_checkpoint(checkpoint, model, rows_so_far, columns, reached)
        write_outputs(model, full, folder)
    return model, full


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


def _save_checkpoint(
    path: Path, model: Model, history: list, columns: list, done: int
) -> None:
    state = {
        "model": model.module.state_dict(),
        "history": [[float(v) for v in row] for row in history],
        "columns": list(columns),
        "done": done,
    }
    torch.save(state, path)


def write_outputs(model: Model, history: History, folder: Path) -> None:
    """model.pt2, state_dict.pt, history.csv and loss.png in ``folder``."""
    from matplotlib.figure import Figure

    torch.save(model.module.state_dict(), folder / "state_dict.pt")
    example = torch.zeros(4, model.n_inputs, dtype=model.dtype or torch.float64)
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        model.module, (example,), dynamic_shapes=({0: batch},)
    )
    names = {"inputs": list(model.inputs), "outputs": list(model.outputs)}
    torch.export.save(
        program, folder / "model.pt2", extra_files={"wrt.json": json.dumps(names)}
    )
    history.to_csv(folder / "history.csv")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    frame = history.frame
    for column in frame.columns[1:]:
        ax.semilogy(
            frame["step"],
            frame[column].clip(lower=1e-300),
            label=column,
            lw=1.5 if column == "loss" else 1.0,
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title(f"training ({history.optimizer})")
    fig.savefig(folder / "loss.png", dpi=120)


def _only(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise DataError(
            f"Unknown key(s) {', '.join(unknown)} in {where}; allowed: "
            f"{', '.join(sorted(allowed))}."
        )
