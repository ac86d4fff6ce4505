"""Model: a torch module with named inputs and outputs, in eval mode, of one dtype.

Every importer returns a :class:`Model`, and every engine takes one. It maps a
tensor of points ``(N, n_in)`` to ``(N, n_out)``; row ``i`` of the output depends on
row ``i`` of the input only (the engines rely on it to batch over points). This is
the single place where a model changes dtype: :meth:`Model.converted` returns a
converted copy (cached, see :mod:`wrt.cache`) and never touches the user's module.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import torch
from torch import nn

from wrt.cache import Cache
from wrt.errors import IntegerInputError, ModelError
from wrt.names import check_disjoint, check_names, default_inputs, default_outputs
from wrt.probe import check_model, failure_text, first_weight_width, infer_width

DTypeLike = torch.dtype | str | None

_DTYPES = {
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
}


def as_dtype(dtype: DTypeLike) -> torch.dtype | None:
    """``torch.float64``, ``"float64"`` or None -> a floating torch dtype or None.

    Raises:
        ModelError: not float32 or float64.
    """
    if dtype is None:
        return None
    if isinstance(dtype, str):
        key = dtype.removeprefix("torch.")
        if key not in _DTYPES:
            raise ModelError(
                f"Unknown dtype {dtype!r}. Use 'float32' or 'float64' "
                "(or torch.float32 / torch.float64)."
            )
        return _DTYPES[key]
    if dtype not in (torch.float32, torch.float64):
        raise ModelError(
            f"dtype {dtype} is not supported. Use torch.float32 or torch.float64."
        )
    return dtype


class _Function(nn.Module):
    """A plain callable ``f(x: (N, n_in)) -> (N, n_out) | (N,)`` as a module."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Model:
    """A module with named inputs and outputs. Build one with :func:`wrap`.

    Attributes:
        module: the torch module, in eval mode.
        inputs: input names, in the order of the columns of the points.
        outputs: output names, in the order of the output columns.
        source: where the model came from (a path, or ``"module"``), for messages.
        format: the file format it was loaded from (``"torchscript"``, ``"keras"``,
            ...), or ``"module"`` for a wrapped module.
        runtime: what runs the model: ``"torch"`` (a plain torch module, converted
            from the file or the user's own) or the source framework that runs
            inside a torch module (``"keras"``: Keras layers without a torch
            conversion; no Taylor engine, float32 only).
        integer_inputs: column -> why that input only takes integer values (it
            feeds a Keras ``Embedding``); derivatives along it are refused
            (:meth:`refuse_integer_columns`).
        cache: the model's :class:`~wrt.cache.Cache` (Taylor traces, converted
            copies); it lives as long as the model, :meth:`clear` empties it.
    """

    def __init__(
        self,
        module: nn.Module,
        inputs: Sequence[str],
        outputs: Sequence[str],
        *,
        source: str = "module",
        format: str = "module",
        points_dtype: torch.dtype | None = None,
        runtime: str = "torch",
        integer_inputs: Mapping[int, str] | None = None,
    ) -> None:
        self.module = module
        self.runtime = runtime
        self.integer_inputs = dict(integer_inputs or {})
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.source = source
        self.format = format
        self._points_dtype = points_dtype
        self.cache = Cache()

    @property
    def n_inputs(self) -> int:
        """Number of inputs (columns of the points)."""
        return len(self.inputs)

    @property
    def n_outputs(self) -> int:
        """Number of outputs."""
        return len(self.outputs)

    @property
    def dtype(self) -> torch.dtype | None:
        """Dtype of the floating parameters, or None when it has none.

        A model without parameters that was converted with :meth:`converted` reports the
        dtype its points are cast to.
        """
        return _float_dtype(self.module) or self._points_dtype

    @property
    def device(self) -> torch.device:
        """Device of the parameters (CPU when it has none)."""
        for tensor in _tensors(self.module):
            return tensor.device
        return torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the model.

        Args:
            x: points, shape (N, n_in).

        Returns:
            Outputs, shape (N, n_out); a module whose output per point has shape
            (a, b, ...) gives its a * b * ... values as columns, row-major.
        """
        y = self.module(x)
        if not isinstance(y, torch.Tensor):
            raise ModelError(
                f"The model returned {type(y).__name__}, not a tensor. wrt needs a "
                "module mapping (N, n_in) to (N, n_out) or (N,)."
            )
        if y.dim() == 1:
            y = y.unsqueeze(1)
        elif y.dim() > 2:  # per-point output of shape (a, b, ...): row-major columns
            y = y.reshape(y.shape[0], -1)
        return y

    def converted(self, dtype: DTypeLike) -> Model:
        """The model in ``dtype``: itself if it already is (or None), else a copy.

        The user's module is deep-copied once per dtype and never changed; the copy
        is kept in :attr:`cache` and follows in-place updates of the original's
        parameters (a training step between two calls), so repeated calls with
        ``dtype="float64"`` reuse one copy and its traces.

        Args:
            dtype: ``"float32"``, ``"float64"``, a torch dtype, or None (no change).

        Returns:
            A model with the same names whose parameters are in ``dtype``.

        Raises:
            ModelError: ``dtype`` is not float32 or float64.
        """
        target = as_dtype(dtype)
        if target is None or self.dtype == target:
            return self
        return self.cache.converted(self.module, target, lambda: self._copy(target))

    def clear(self) -> None:
        """Empty :attr:`cache`: traces and converted copies are made afresh."""
        self.cache.clear()

    def _copy(self, target: torch.dtype) -> Model:
        if _float_dtype(self.module) is None:  # nothing to convert: cast the points
            module = self.module
        else:
            module = _converted_copy(self.module, target)
        copy = Model(
            module,
            self.inputs,
            self.outputs,
            source=self.source,
            format=self.format,
            points_dtype=target,
            runtime=self.runtime,
            integer_inputs=self.integer_inputs,
        )
        self._check_copy(copy, target)
        return copy

    def _check_copy(self, copy: Model, target: torch.dtype) -> None:
        """The copy must run where the model does (a trace may fix dtypes)."""
        x = torch.full((2, self.n_inputs), 0.5, dtype=target, device=self.device)
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                self.module(x.to(self.dtype or target))  # the original runs here
        except Exception:  # not at these points: nothing to compare with
            return
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                copy.module(x)
        except Exception as exc:  # the user's code, in the other dtype
            scripted = any(
                isinstance(m, torch.jit.ScriptModule) for m in self.module.modules()
            )
            mine = str(self.dtype).removeprefix("torch.")
            theirs = str(target).removeprefix("torch.")
            raise ModelError(
                f"{self.source} runs in {mine} but its {theirs} copy fails: "
                f"{_failure_text(exc)}. {_TRACED if scripted else _MIXED}"
            ) from exc

    def refuse_integer_columns(self, columns: Iterable[int]) -> None:
        """Refuse derivatives along integer-valued inputs among ``columns``.

        Args:
            columns: indices of the inputs a request differentiates along.

        Raises:
            IntegerInputError: one of ``columns`` is in :attr:`integer_inputs`.
        """
        for column in sorted(set(columns)):
            if column in self.integer_inputs:
                name = self.inputs[column]
                raise IntegerInputError(
                    f"Input {name!r} of {self.source} takes integer values only "
                    f"({self.integer_inputs[column]}): the model is piecewise "
                    f"constant along it, so no derivative along {name!r} exists.",
                    hint="Ask for derivatives along the model's other inputs; "
                    "compare values at neighbouring integers for the effect of "
                    f"{name!r}.",
                )

    @property
    def index_of(self) -> dict[str, int]:
        """Input name -> column, for lookups in loops."""
        return {name: i for i, name in enumerate(self.inputs)}

    def __repr__(self) -> str:
        return (
            f"Model(inputs={list(self.inputs)}, outputs={list(self.outputs)}, "
            f"dtype={self.dtype}, source={self.source!r})"
        )


_MIXED = (
    "The model creates tensors of a fixed dtype inside forward (torch.zeros(..., "
    "dtype=torch.float32)), and the copy mixes dtypes: create them with the input's "
    "dtype (x.new_zeros(...)), or compute in the model's own dtype (no dtype=, "
    "--dtype)."
)
_TRACED = (
    "A trace records the dtype of the tensors that forward creates "
    "(torch.zeros(..., dtype=torch.float32) for an LSTM's state), and the copy mixes "
    "dtypes. Load it without dtype= (--dtype), or save the module with "
    "torch.jit.script or torch.export, which follow the dtype of the input."
)


def _failure_text(exc: BaseException) -> str:
    from wrt.probe import failure_text

    return failure_text(exc)


def wrap(
    module: nn.Module | Model | Callable[[torch.Tensor], torch.Tensor] | object,
    inputs: Sequence[str] | str | None = None,
    outputs: Sequence[str] | str | None = None,
    *,
    dtype: DTypeLike = None,
    source: str = "module",
) -> Model:
    """Give a torch module named inputs and outputs.

    Args:
        module: maps points (N, n_in) to (N, n_out), (N,) or (N, a, b, ...) (then
            the a * b * ... values are columns, row-major); a plain callable works
            too (then ``inputs`` is required). It is put in eval mode. A fitted
            scikit-learn MLPRegressor, MLPClassifier or Pipeline of scalers ending
            in one is converted to torch (:mod:`wrt.importers.sklearn`).
        inputs: input names (default ``x1 .. xn``); when not given, n is found by
            calling the module (:func:`wrt.probe.infer_width`): the first weight
            matrix's width if the module works there and uses every column, else
            the one width in 1 .. 16 where it does.
        outputs: output names (default ``y``, or ``y1 .. ym``).
        dtype: ``"float64"`` or ``torch.float64`` for a converted copy; the user's
            module is not changed.
        source: where the module came from, for messages.

    Returns:
        The model.

    Warns:
        IgnoredInputWarning: a given input changes no output at any probe point.

    Raises:
        ModelError: the number of inputs cannot be found; a probe call on a
            (2, n_in) tensor fails or returns a bad shape or integers; the rows
            are coupled through the batch; the model is random; the gradient is
            cut inside the model; or an inferred input has no effect
            (:func:`wrt.probe.check_model`).
        InvalidNameError: names are not identifiers, repeat, or do not match
            the model's sizes.
        UnsupportedEstimatorError: a scikit-learn estimator wrt does not convert.

    Examples:
        >>> m = wrap(torch.nn.Linear(3, 1))
        >>> m.inputs, m.outputs
        (('x1', 'x2', 'x3'), ('y',))
    """
    if not isinstance(module, nn.Module | Model) and is_sklearn(module):
        from wrt.importers.sklearn import wrap_estimator

        named = None if source == "module" else source
        return wrap_estimator(module, inputs, outputs, dtype=dtype, source=named)
    if isinstance(module, Model):
        base = module
        names_in = (
            base.inputs
            if inputs is None
            else check_names(inputs, kind="input", expected=base.n_inputs)
        )
        names_out = (
            base.outputs
            if outputs is None
            else check_names(outputs, kind="output", expected=base.n_outputs)
        )
        check_disjoint(names_in, names_out)
        renamed = Model(
            base.module,
            names_in,
            names_out,
            source=base.source,
            format=base.format,
            runtime=base.runtime,
            integer_inputs=base.integer_inputs,
        )
        return renamed.converted(dtype)
    if not isinstance(module, nn.Module):
        if not callable(module):
            raise ModelError(
                f"Cannot wrap {type(module).__name__}: wrt needs a torch.nn.Module "
                "or a callable mapping a (N, n_in) tensor to (N, n_out)."
            )
        if inputs is None:
            raise ModelError(
                "A plain function has no weights to read its number of inputs from. "
                "Pass inputs=[...], e.g. wrap(f, inputs=['x', 't'])."
            )
        module = _Function(cast(Callable[[torch.Tensor], torch.Tensor], module))
    target = as_dtype(dtype)
    if target is not None and _float_dtype(module) not in (None, target):
        module = _converted_copy(module, target)
    module.eval()
    given = check_names(inputs, kind="input") if inputs is not None else None
    probe_dtype = _probe_dtype(
        module, target or _float_dtype(module), len(given) if given else None
    )
    names_in = (
        given
        if given is not None
        else default_inputs(_infer_n_inputs(module, probe_dtype, source))
    )
    n_out = _probe(module, len(names_in), probe_dtype, source)
    names_out = (
        check_names(outputs, kind="output", expected=n_out)
        if outputs is not None
        else default_outputs(n_out)
    )
    check_disjoint(names_in, names_out)
    check_model(module, names_in, probe_dtype, source, inferred=inputs is None)
    return Model(module, names_in, names_out, source=source)


def is_sklearn(obj: object) -> bool:
    """A scikit-learn object, told by its classes' modules (sklearn is not imported)."""
    return any(
        getattr(cls, "__module__", "").split(".")[0] == "sklearn"
        for cls in type(obj).__mro__
    )


def _converted_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A deep copy of ``module`` in ``dtype``; the original is left as it was.

    A module that cannot simply be cast (a Keras model keeps a dtype policy of its
    own) provides ``converted_to(dtype)``, which is used instead.
    """
    special = getattr(module, "converted_to", None)
    if callable(special):
        return cast(nn.Module, special(dtype))
    with warnings.catch_warnings():
        # Converting a TorchScript module reads .grad of its parameters, which torch
        # reports as non-leaf access; the converted values are correct.
        warnings.filterwarnings("ignore", "The .grad attribute", UserWarning)
        with torch.no_grad():
            duplicate = copy.deepcopy(module).to(dtype)
    # Keep the copy trainable where the original was (TorchScript drops the flag).
    wanted = {name: p.requires_grad for name, p in module.named_parameters()}
    for name, param in duplicate.named_parameters():
        param.requires_grad_(wanted.get(name, param.requires_grad))
    return duplicate


def _tensors(module: nn.Module):
    yield from module.parameters()
    yield from module.buffers()


def _float_dtype(module: nn.Module) -> torch.dtype | None:
    for tensor in _tensors(module):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def _infer_n_inputs(module: nn.Module, dtype: torch.dtype, source: str) -> int:
    """The number of columns the module takes, found by calling it.

    The first weight matrix's ``in_features`` is not enough: a model that builds
    features from its inputs (``x -> [x, x**2, sin x] -> Linear``) or slices them
    takes fewer columns. See :func:`wrt.probe.infer_width`.
    """
    return infer_width(module, dtype, source)


def _probe_dtype(
    module: nn.Module, dtype: torch.dtype | None, width: int | None
) -> torch.dtype:
    """The dtype to probe with: the module's, else the default or float64."""
    if dtype is not None:
        return dtype
    # A module without weights says nothing of its dtype: float64 is tried as well.
    width = width or first_weight_width(module) or 1
    for candidate in (torch.get_default_dtype(), torch.float64):
        x = torch.zeros(2, width, dtype=candidate)
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                module(x)
            return candidate
        except Exception:  # user code: the width may be wrong too; decide later
            continue
    return torch.get_default_dtype()


def _probe(module: nn.Module, n_in: int, dtype: torch.dtype, source: str) -> int:
    """Call the module on points of shape (2, n_in); return its number of outputs."""
    device = next(iter(_tensors(module)), torch.empty(0)).device
    x = torch.full((2, n_in), 0.5, dtype=dtype, device=device)
    try:
        # the random state is the user's: a model with dropout must not move it
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            y = module(x)
    except Exception as exc:  # any failure of user code: report, do not guess
        raise ModelError(
            f"Calling the model from {source} on points of shape (2, {n_in}) "
            f"failed: {failure_text(exc)}. Check the number of inputs "
            "(pass inputs=[...] / --inputs with one name per column)."
        ) from exc
    if not isinstance(y, torch.Tensor):
        raise ModelError(
            f"The model from {source} returned {type(y).__name__}, not a tensor. wrt "
            "needs a module mapping (N, n_in) to (N, n_out) or (N,). Return one "
            "tensor (torch.cat the parts along dim=1)."
        )
    if not y.is_floating_point():
        raise ModelError(
            f"The model from {source} returns {y.dtype} values, which have no "
            "derivatives. Return floating-point outputs computed in torch (no "
            "rounding, argmax or casts to int at the end of forward)."
        )
    if y.dim() == 1 and y.shape[0] == 2:
        return 1
    if y.dim() >= 2 and y.shape[0] == 2 and y[0].numel() > 0:
        return int(y[0].numel())  # (2, a, b, ...): a * b * ... columns, row-major
    raise ModelError(
        f"The model from {source} maps (2, {n_in}) to {tuple(y.shape)}; wrt needs "
        f"one row of outputs per point: (2, n_out), (2,) or (2, a, b, ...). Return "
        "one row per point (the batch first)."
    )
