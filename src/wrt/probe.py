"""Cheap probes of a module before wrt trusts it: width, row independence, gradients.

The engines rely on three properties of a model that its weights do not show:

- its **width**: how many columns of points it takes. The first weight matrix says
  so for a plain MLP, but not for a model that builds features from its inputs
  (``x -> [x, x**2, sin x] -> Linear``) or slices them; :func:`infer_width` calls
  the module on candidate widths and keeps the one at which it works and every
  column matters;
- **independent rows**: row i of the output depends on row i of the points only.
  Batch statistics (BatchNorm in training mode) or a softmax / mean over the batch
  couple the rows, and every partial becomes a derivative of a batch sum;
- **an unbroken graph**: the output is a differentiable torch function of the
  points. NumPy inside ``forward``, ``.detach()``, ``torch.no_grad()``, rounding or
  integer outputs cut it, and partials come out as zeros.

:func:`check_model` probes the last two on a few rows (milliseconds on a small MLP)
and says which columns have no effect at all. Probes run on points drawn from a
private generator, in ``(0.1, 0.9)`` (inside the domain of ``log``, ``sqrt`` and
``asin``); the global random state is restored afterwards, so a model with dropout
left on does not shift the user's random numbers.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from wrt.errors import IgnoredInputWarning, ModelError

# rows in a probe batch; changing the first one must leave the others unchanged
_ROWS = 4
# widths tried when the first weight matrix does not give the width
_WIDTHS = range(1, 17)
# how far a column is moved to see whether the output depends on it at all
_STEPS = (1.0, -1.0)
# rows per probe call: small batches stay on one thread (a matmul on a few dozen
# rows may be split over threads, which on a busy machine costs milliseconds)
_CALL_ROWS = 16
_BAD_OUTPUT = "the output is not one floating tensor (B, n_out)"
_ADVICE_INPUTS = (
    "Pass the input names, one per column the model takes: inputs=[...] in "
    "Python, --inputs a,b on the command line."
)


def failure_text(exc: BaseException) -> str:
    """``"Type: message"`` in one line, for a failure of the user's code.

    TorchScript errors carry their own "Traceback of TorchScript" over many lines;
    only the last line (the actual error) is kept.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[-1] if "Traceback of TorchScript" in str(exc) else lines[0]
    if not text.startswith(type(exc).__name__):
        text = f"{type(exc).__name__}: {text}"
    return text[:300]


def first_weight_width(module: nn.Module) -> int | None:
    """Columns of the first 2-D weight (``in_features`` of a first Linear)."""
    for name, param in module.named_parameters():
        if name.endswith("weight") and param.dim() == 2:
            return int(param.shape[1])
    return None


def infer_width(module: nn.Module, dtype: torch.dtype, source: str) -> int:
    """The number of columns the module takes, found by calling it.

    The width of the first weight matrix is tried first, then 1 .. 16. A width
    fits when the call succeeds with a floating output of shape (B, n_out) or
    (B,) and every column changes the output. The first weight's width wins when
    it fits; otherwise exactly one other width must fit.

    Args:
        module: the module, in eval mode.
        dtype: floating dtype of the probe points.
        source: where the module came from, for messages.

    Returns:
        The width.

    Raises:
        ModelError: no width fits, or several do.
    """
    declared = first_weight_width(module)
    notes: list[str] = []
    if declared is not None:
        verdict = _width_verdict(module, declared, dtype)
        if verdict is None:
            return declared
        notes.append(f"at {declared} columns, the width of its first weight, {verdict}")
    fits = [
        width
        for width in _WIDTHS
        if width != declared and _width_verdict(module, width, dtype) is None
    ]
    if len(fits) == 1:
        return fits[0]
    if not fits and declared is not None and notes[0].endswith(_BAD_OUTPUT):
        return declared  # the call works but returns the wrong thing: say that
    if fits:
        widths = (
            ", ".join(map(str, fits))
            if len(fits) <= 4
            else f"every width from 1 to {_WIDTHS[-1]}"
        )
        found = f"it works at {widths} columns, using every column" + (
            ", and has no weight matrix to tell which" if declared is None else ""
        )
    else:
        found = f"no width from 1 to {_WIDTHS[-1]} fits"
    said = f"; {'; '.join(notes)}" if notes else ""
    raise ModelError(
        f"Cannot tell how many input columns the model from {source} takes: "
        f"{found}{said}. {_ADVICE_INPUTS}"
    )


def _width_verdict(module: nn.Module, width: int, dtype: torch.dtype) -> str | None:
    """None if the module works at ``width`` and uses every column, else why not."""
    x = _points(_ROWS, width, dtype, _device(module))
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            y = _quiet_call(module, x)
    except Exception:  # any failure of user code means: not this width
        return "the call fails"
    if not _is_output(y, _ROWS):
        return _BAD_OUTPUT
    try:
        grad, changed, _ = _column_effects(module, x)
    except Exception:
        return "the call fails"
    unused = [j for j in range(width) if not changed[j] and not _any(grad, j)]
    if unused:
        cols = ", ".join(str(j + 1) for j in unused)
        return f"column(s) {cols} change no output"
    return None


def check_model(
    module: nn.Module,
    names: tuple[str, ...],
    dtype: torch.dtype,
    source: str,
    *,
    inferred: bool,
) -> None:
    """Refuse batch-coupled or cut models; warn of (or refuse) ignored inputs.

    Args:
        module: the module, in eval mode, mapping (N, n_in) to (N, n_out).
        names: input names, one per column.
        dtype: floating dtype of the probe points.
        source: where the module came from, for messages.
        inferred: the width was inferred (an ignored column is then an error).

    Raises:
        ModelError: rows are coupled through the batch, the model is random, the
            graph is cut, or (when ``inferred``) a column has no effect.

    Warns:
        IgnoredInputWarning: a given input has no effect on any output.
    """
    n_in = len(names)
    x = _points(_ROWS, n_in, dtype, _device(module))
    _check_rows(module, x, source)
    grad, changed, finite_change = _column_effects(module, x)
    cut = _cut_columns(module, x, grad, finite_change)
    if cut:
        listed = ", ".join(f"{names[j]} ({why})" for j, why in cut.items())
        raise ModelError(
            f"The model from {source} is not a differentiable torch function of "
            f"its inputs: {listed}. Something in forward cuts the gradient "
            "(NumPy or .item(), .detach(), torch.no_grad(), rounding, integer "
            "outputs, or a torch function without a derivative such as "
            "torch.special.bessel_j0). Keep the whole computation in "
            "differentiable torch operations on the input tensor."
        )
    quiet = [j for j in range(n_in) if not changed[j] and not _any(grad, j)]
    unused = [names[j] for j in _quiet_far_away(module, x, quiet)]
    if not unused:
        return
    listed = ", ".join(unused)
    if inferred:
        raise ModelError(
            f"The model from {source} ignores input(s) {listed}: they change no "
            f"output at any probe point, so the number of inputs read from its "
            f"weights ({n_in}) is wrong. {_ADVICE_INPUTS}"
        )
    warnings.warn(
        f"Input(s) {listed} of the model from {source} change no output at any "
        "probe point: their partials will be 0. If the model takes fewer columns, "
        "pass one name per column it uses (inputs=[...] / --inputs).",
        IgnoredInputWarning,
        stacklevel=3,
    )


def _check_rows(module: nn.Module, x: torch.Tensor, source: str) -> None:
    """Rows must be independent and the module deterministic."""
    moved = x.clone()
    moved[0] = moved[0] + 0.37
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        y = _call(module, x)
        again = _call(module, x)
        y_moved = _call(module, moved)
        try:
            y_one = _call(module, x[-1:])
        except Exception as exc:  # user code: say what failed
            raise ModelError(
                f"The model from {source} works on {len(x)} points at once but "
                f"fails on a single point ({failure_text(exc)}). wrt "
                "evaluates points in chunks of any size; a model using batch "
                "statistics (BatchNorm in training mode) needs model.eval()."
            ) from exc
    if not _same(y, again):
        raise ModelError(
            f"The model from {source} returns different outputs for the same "
            "points: something random is active (dropout in training mode?). "
            "Call model.eval() before saving, or remove the randomness."
        )
    if not (_same(y_moved[1:], y[1:]) and _same(y_one, y[-1:])):
        raise ModelError(
            f"The rows of the model from {source} are coupled through the batch: "
            "changing one point changes the outputs at the others. Batch "
            "statistics (BatchNorm in training mode) or a softmax, mean or sum "
            "over dimension 0 do this, and every partial would be a derivative "
            "of a batch sum. Call model.eval() before saving, and make each "
            "operation act on one point's features (dim=-1)."
        )


def _column_effects(
    module: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of a random mix of outputs (B, n) and, per column, value change.

    Returns:
        The gradient at the points (zeros where no graph reaches the input; NaN
        where the model is NaN); a bool (n,) saying whether moving the column by
        +-1 changes an output (NaN to a number counts); and a bool (n,) saying
        whether it changes a finite output into another finite one.
    """
    n = x.shape[1]
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        leaf = x.clone().requires_grad_(True)
        y = _call(module, leaf)
        grad = None
        if y.is_floating_point() and y.requires_grad:
            (grad,) = torch.autograd.grad((y * _mix(y)).sum(), leaf, allow_unused=True)
        steps = torch.tensor(_STEPS, dtype=x.dtype, device=x.device)
        y_moved = _shifted(module, x, steps)
    grad = torch.zeros_like(x) if grad is None else grad.detach()
    base = y.detach().expand_as(y_moved)
    differs = ~_close(y_moved, base)
    changed = differs.reshape(len(_STEPS), n, -1).any(dim=2).any(dim=0)
    if not y.is_floating_point():
        return grad, changed, changed
    both = differs & torch.isfinite(y_moved) & torch.isfinite(base)
    finite_change = both.reshape(len(_STEPS), n, -1).any(dim=2).any(dim=0)
    return grad, changed, finite_change


def _cut_columns(
    module: nn.Module, x: torch.Tensor, grad: torch.Tensor, changed: torch.Tensor
) -> dict[int, str]:
    """Columns whose gradient is absent or contradicts a finite difference.

    ``changed`` (n,) says where moving a column changes a finite output into
    another finite one: then a gradient that is 0 at every point where it is
    defined means the graph is cut.

    A finite difference can be wrong too: where it disagrees, smaller steps are
    tried, and a column is cut only when every step disagrees (a fast-varying
    smooth model, Fourier features, agrees once the step resolves it).
    """
    n = x.shape[1]
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        y = _call(module, x)
    if not y.is_floating_point():
        return {j: f"the output is {y.dtype}" for j in range(n)}
    # where the model is NaN its gradient says nothing: judge the other points
    seen = torch.isfinite(y).all(dim=1) & torch.isfinite(grad).all(dim=1)
    flat = [
        j
        for j in range(n)
        if changed[j] and bool(seen.any()) and not bool((grad[seen, j] != 0).any())
    ]
    cut = {
        j: "its gradient is 0 though the output changes with it"
        for j in _flat_everywhere(module, x, flat)
    }
    suspects = [j for j in range(n) if j not in cut]
    h = torch.finfo(x.dtype).eps ** (1 / 3)
    for shrink in (1, 16, 256):
        if not suspects:
            break
        suspects = _disagreeing(module, x, y, grad, suspects, h / shrink)
    cut.update((j, "its gradient disagrees with a finite difference") for j in suspects)
    return cut


def _quiet_far_away(
    module: nn.Module, x: torch.Tensor, columns: list[int]
) -> list[int]:
    """The columns that change no output at wider points either.

    The probe points lie in (0.1, 0.9); a piecewise-linear model can be flat
    there in a column it uses (ReLU units off in that box), so a column is only
    called unused when it also changes nothing at points in (-4, 4) moved by
    steps of up to 8.
    """
    if not columns:
        return []
    wide = 8.0 * x - 4.0
    steps = torch.tensor((1.0, -1.0, 8.0, -8.0), dtype=x.dtype, device=x.device)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        base = _call(module, wide)
        moved = _shifted(module, wide, steps, columns)
    differs = ~_close(moved, base.expand_as(moved))
    changes = differs.any(dim=3).any(dim=2).any(dim=0)  # (len(columns),)
    return [j for j, c in zip(columns, changes.tolist(), strict=True) if not c]


def _flat_everywhere(
    module: nn.Module, x: torch.Tensor, columns: list[int]
) -> list[int]:
    """The columns whose gradient is 0 also where a step of +-1 has moved them.

    A column with gradient 0 at every probe point whose value still changes the
    output is either cut (rounding, .detach()) or sits in a flat region of a
    piecewise-linear model (ReLU units that are off at every probe point): at
    the moved points those units turn on and the gradient is no longer 0.
    """
    flat = []
    for j in columns:
        moved = x.repeat(len(_STEPS), 1)
        moved[:, j] += torch.tensor(_STEPS, dtype=x.dtype).repeat_interleave(len(x))
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            leaf = moved.requires_grad_(True)
            y = _call(module, leaf)
            grad = None
            if y.is_floating_point() and y.requires_grad:
                (grad,) = torch.autograd.grad(
                    (y * _mix(y)).sum(), leaf, allow_unused=True
                )
        if grad is None or not bool(
            ((grad[:, j] != 0) & torch.isfinite(grad[:, j])).any()
        ):
            flat.append(j)
    return flat


def _disagreeing(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    grad: torch.Tensor,
    columns: list[int],
    h: float,
) -> list[int]:
    """The columns where a central difference of step h contradicts the gradient.

    Central differences at h and h/2 estimate their own truncation error, and
    the round-off of the values widens the bound; a column disagrees when more
    than half of the points that say something disagree by over 10 %.
    """
    eps = torch.finfo(x.dtype).eps
    steps = torch.tensor((h, -h, h / 2, -h / 2), dtype=x.dtype, device=x.device)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        ys = _shifted(module, x, steps, columns)
    mix = _mix(y)
    # directional slopes of the same output mix as the gradient: (columns, B)
    coarse = ((ys[0] - ys[1]) * mix).sum(-1) / (2 * h)
    fine = ((ys[2] - ys[3]) * mix).sum(-1) / h
    truncation = (coarse - fine).abs()  # about 3x the fine slope's own error
    noise = 100 * eps * (1 + (y.abs() * mix.abs()).sum(-1)) / h  # (B,)
    found = []
    for row, j in enumerate(columns):
        g, slope = grad[:, j], fine[row]
        size = torch.maximum(slope.abs(), g.abs())
        telling = torch.isfinite(slope) & torch.isfinite(g) & (size > noise)
        bound = 0.1 * size + noise + truncation[row]
        wrong = telling & ((g - slope).abs() > bound)
        if int(telling.sum()) >= 2 and int(wrong.sum()) * 2 > int(telling.sum()):
            found.append(j)
    return found


def _shifted(
    module: nn.Module,
    x: torch.Tensor,
    steps: torch.Tensor,
    columns: list[int] | None = None,
) -> torch.Tensor:
    """Outputs (S, C, B, n_out) with column j of x moved by each step, j in columns.

    Columns (default: all) go through in small blocks, so a wide model is probed
    in bounded memory.
    """
    n = x.shape[1]
    chosen = list(range(n)) if columns is None else columns
    per_call = max(1, _CALL_ROWS // (len(steps) * x.shape[0]))
    blocks = []
    with torch.no_grad():
        for start in range(0, len(chosen), per_call):
            block = chosen[start : start + per_call]
            unit = torch.zeros(len(block), n, dtype=x.dtype, device=x.device)
            unit[range(len(block)), block] = 1.0
            moved = x[None, None] + steps[:, None, None, None] * unit[None, :, None, :]
            out = _call(module, moved.reshape(-1, n))
            blocks.append(out.reshape(len(steps), len(unit), x.shape[0], -1))
    return torch.cat(blocks, dim=1)


def _mix(y: torch.Tensor) -> torch.Tensor:
    """The fixed random weights (n_out,) that mix the outputs for the gradient."""
    return 0.5 + _points(1, y.shape[1], y.dtype, y.device)[0]


def _call(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = _quiet_call(module, x)
    if not isinstance(y, torch.Tensor):
        raise ModelError(f"The model returned {type(y).__name__}, not a tensor.")
    if y.dim() == 1:
        return y.unsqueeze(1)
    return y.reshape(y.shape[0], -1) if y.dim() > 2 else y


def _quiet_call(module: nn.Module, x: torch.Tensor) -> object:
    """``module(x)``, its warnings dropped.

    A probe at a wrong width or on one row may upset the user's code (``std()`` of
    one row): those warnings are about wrt's probe, not about the user's run.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module(x)


def _is_output(y: object, rows: int) -> bool:
    return (
        isinstance(y, torch.Tensor)
        and y.is_floating_point()
        and y.dim() >= 1
        and y.shape[0] == rows
        and (y.dim() == 1 or y[0].numel() > 0)
    )


def _points(
    rows: int, n: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(12345 + n)
    x = 0.1 + 0.8 * torch.rand(rows, n, generator=generator, dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


def _device(module: nn.Module) -> torch.device:
    for tensor in [*module.parameters(), *module.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _close(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise equality up to round-off; NaN equals NaN."""
    if not a.is_floating_point():
        return a == b
    tol = 1e3 * torch.finfo(a.dtype).eps
    return ((a - b).abs() <= tol * (1 + b.abs())) | (torch.isnan(a) & torch.isnan(b))


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(_close(a, b).all())


def _any(grad: torch.Tensor, column: int) -> bool:
    return bool((grad[:, column] != 0).any())
