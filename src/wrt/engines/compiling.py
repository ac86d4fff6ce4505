"""Compiled execution of the Taylor engine: when to compile, where the cache lives.

The Taylor engine's propagation, flattened to one ATen graph
(:func:`wrt.engines.taylor.interpreter.flat`), can be handed to ``torch.compile``
(inductor on CPU fuses the elementwise chains of the Taylor rules into loops). That
costs seconds once and saves a share of every later call, so it pays only when the
same work repeats. The ``compile`` option says who decides:

- ``False`` (CLI ``--compile off``): never;
- ``True`` (``on``): at the first call of each model, request plan and point shape;
- ``"auto"`` (the default): when the work has repeated enough to repay the compile
  time, by the rent-or-buy rule: a program is compiled once the time already spent
  running it eagerly (in this :class:`~wrt.model.Model`'s cache: the same model,
  plan and point shape, any batch size) reaches :data:`PAYBACK` times the expected
  compile time :data:`COMPILE_SECONDS`. A caller that knows the work repeats (a
  stream of many chunks, a training loop) says how often with ``repeats``, and
  the rule counts the calls still to come. So one call never compiles, a model
  called again and again on the same shapes compiles after a while (the total
  cost stays within about twice the best choice made in hindsight, the classic
  guarantee of the rule), and large work compiles sooner than small work.

Why these numbers. On a quiet machine (``docs/benchmarks.md``, seed network,
N = 2000, float32, 2 threads) compiling one program took 1-4 s and the compiled
d4y/dx1^4 and d5y/dx1^5 ran at 0.30-0.38x the eager flat graph, while the Hessian,
d3y/dx1^2dx2 and the three-spec request ran 1.1-1.7x *slower* compiled: hence
:data:`COMPILE_SECONDS` = 4 s, :data:`SAVING` = 0.5 (below the 0.6-0.7 measured for
the univariate requests) and the trial of every new program (:meth:`Program.pays`):
``auto`` keeps it only if its best of :data:`TRIALS` calls beats the best eager call
per point. Measured for this module on the 2-core machine shared by eight jobs
(load 16-28, so seconds several times the quiet ones): compile 142 s (d4y/dx1^4),
32 s (Hessian), 33 s (first order) in a first process, 24 s, 8.1 s and 5.1 s in a
second one reading inductor's disk cache.

The autograd engine has no compiled form: on the same machine and load,
``torch.compile`` of ``vmap(grad(f))`` and of ``autograd.grad`` ran slower than
eager (506 against 303 ms, 282 against 134 ms per call) and ``vmap(hessian(f))``
failed to compile (dynamo could not run it on fake tensors).

Batch size: the flat graph is traced on real shapes, so one compiled program
serves one chunk size. Points of another count are cut into chunks of that size,
the last one padded by repeating its last point (a valid point: never a NaN from a
zero), so calls with other batch sizes never recompile. A call with far fewer
points (under a quarter of the compiled size) runs eagerly instead of paying for
the padding.

The disk cache: inductor's FX graph cache and AOTAutograd's cache are switched on
while wrt compiles, under :func:`cache_dir` (``$WRT_CACHE_DIR``, else the
platform's user cache folder), so a second process loads the compiled kernels
instead of building them again. ``TORCHINDUCTOR_CACHE_DIR`` set by the user (to
anything but inductor's default, which inductor itself writes into the
environment) wins; the variable is restored after each compile.

A compile that fails (no C++ compiler, a dynamo error, an unsupported operation)
falls back to the eager flat graph with a :class:`~wrt.errors.CompileWarning`
naming the cause, once per model and program; the result is the same.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from wrt.errors import CompileWarning, EngineError, caller_level

Mode = Literal["auto", "on", "off"]
CompileOption = bool | str

#: Expected compile time of one Taylor program, seconds: the rent-or-buy rule's
#: price (1-4 s on a quiet machine for the seed network's programs; see the module
#: docstring).
COMPILE_SECONDS = 4.0
#: Share of an eager call a compiled call saves (measured: 0.5 for d4y/dx1^4 on
#: the seed network); the rule compiles once the time already spent, times this
#: share, repays :data:`COMPILE_SECONDS`.
SAVING = 0.5
#: Compile once past time spent * SAVING >= PAYBACK * COMPILE_SECONDS.
PAYBACK = 1.0
#: Timed calls of a new program before ``auto`` decides to keep it.
TRIALS = 3
#: A call with fewer points than this share of the compiled batch runs eagerly.
SMALLEST_SHARE = 0.25
#: Environment variable naming wrt's cache folder.
CACHE_ENV = "WRT_CACHE_DIR"

_NAMES: dict[object, Mode] = {
    True: "on",
    False: "off",
    "auto": "auto",
    "on": "on",
    "off": "off",
}


def compile_mode(value: object) -> Mode:
    """``value`` as a :data:`Mode`: the one rule of every ``compile=`` argument.

    ``"auto"``, True or False; the command line's words ``"on"`` and ``"off"``
    are accepted too (any case). Other strings, "true" and "false" included,
    are refused, like numbers and None. :func:`wrt.partials` and the other
    derivative functions, :class:`~wrt.engines.taylor.engine.TaylorEngine` and
    :func:`wrt.fit` all check ``compile`` here and raise the same error.

    Raises:
        EngineError: any other value.
    """
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, (bool, str)) and key in _NAMES:
        return _NAMES[key]
    raise EngineError(
        f"compile must be 'auto', True or False, not {value!r} ('on' and 'off' "
        "are accepted too): 'auto' compiles when the work repeats enough to repay "
        "the compile time."
    )


#: Engines that never compile: ``compile=True`` with one of them is refused.
EAGER_ENGINES = ("autograd", "finite_diff")


def refuse_ignored(engine: object, compile: object) -> Mode:
    """``compile``'s mode, refused when it asks to compile an engine that never does.

    ``compile=True`` (``on``) with ``engine="autograd"`` or ``"finite_diff"``
    would be silently ignored: it is refused. ``"auto"`` (the default) and
    False are accepted with any engine; an engine object keeps its own setting.

    Raises:
        EngineError: a bad ``compile`` value, or compile=True with an engine that
            never compiles.
    """
    mode = compile_mode(compile)
    if mode == "on" and isinstance(engine, str):
        name = engine.strip().lower().replace("-", "_")
        if name in EAGER_ENGINES:
            raise EngineError(
                f"compile=True applies to the Taylor engine (engine='taylor' or "
                f"'auto'); the {name!r} engine never compiles: pass compile=False "
                "or 'auto', or another engine."
            )
    return mode


def cache_dir() -> Path:
    """The cache folder of wrt: ``$WRT_CACHE_DIR``, else the user cache folder.

    Linux and other Unix: ``$XDG_CACHE_HOME/wrt`` (``~/.cache/wrt``); macOS:
    ``~/Library/Caches/wrt``; Windows: ``%LOCALAPPDATA%/wrt/Cache``. Not
    created here.
    """
    own = os.environ.get(CACHE_ENV)
    if own:
        return Path(own).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData/Local")
        return Path(base) / "wrt" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "wrt"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "wrt"


@contextlib.contextmanager
def disk_cache() -> Iterator[Path]:
    """Inductor's and AOTAutograd's caches on, under wrt's cache folder, scoped.

    Yields:
        The folder inductor writes to.
    """
    from torch._functorch import config as functorch_config
    from torch._inductor import config as inductor_config
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    # inductor writes its default into the environment on first use: only
    # another value is the user's choice
    users = before if before and before != _absolute(default_cache_dir()) else None
    folder = Path(users) if users else cache_dir() / "inductor"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _probe(folder)
    except OSError as exc:
        where = "$TORCHINDUCTOR_CACHE_DIR" if users else f"${CACHE_ENV}"
        warnings.warn(
            f"The compile cache folder {folder} ({where}) cannot be used "
            f"({type(exc).__name__}: {_first_line(exc)}); compiling without the "
            f"disk cache (the next run compiles again). Point {where} at a "
            "writable folder to keep compiled programs.",
            CompileWarning,
            stacklevel=caller_level(),
        )
        yield folder
        return
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    try:
        with (
            inductor_config.patch(fx_graph_cache=True),
            functorch_config.patch(enable_autograd_cache=True),
        ):
            yield folder
    finally:
        if before is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before


def _probe(folder: Path) -> None:
    """Raise OSError unless a file can be written in ``folder``."""
    probe = folder / f".wrt-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def _absolute(path: str) -> str:
    return os.path.abspath(path)


@dataclass
class Sighting:
    """Eager work seen for one program key: calls, points and seconds spent."""

    calls: int = 0
    points: int = 0
    seconds: float = 0.0
    best: float = math.inf  # fewest seconds per point of one call

    def add(self, points: int, seconds: float) -> None:
        """Count one more eager call of ``points`` points taking ``seconds``."""
        self.calls += 1
        self.points += points
        self.seconds += seconds
        self.best = min(self.best, seconds / max(points, 1))


def should_compile(
    mode: Mode, seen: Sighting, points: int, repeats: int | None = None
) -> bool:
    """Whether to compile a program before a call on ``points`` points.

    Args:
        mode: the compile option.
        seen: the eager calls of the same program before this one.
        points: the points of this call.
        repeats: calls the caller still expects with the same shapes (a stream's
            chunks, training steps), or None when unknown.

    Returns:
        ``on``: always; ``off``: never; ``auto``: the rent-or-buy rule of the
        module docstring: the eager time already spent plus this call's (at the
        seconds per point seen so far), or with ``repeats`` the time still to
        come, times :data:`SAVING` reaches :data:`PAYBACK` * :data:`COMPILE_SECONDS`.
        Never on a first sighting: there is nothing measured yet.
    """
    if mode != "auto":
        return mode == "on"
    if seen.calls < 1 or seen.points < 1:
        return False
    expected = seen.seconds / seen.points * points
    spent = seen.seconds + expected
    if repeats is not None:
        spent = max(spent, expected * repeats)
    return spent * SAVING >= PAYBACK * COMPILE_SECONDS


class Program:
    """A compiled propagation for stacks (M, B, ...) of one batch size B.

    Calls with another number of points N are cut into chunks of B (the last one
    padded by repeating its last point, then cut back), so they never recompile.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], batch: int):
        self.fn = fn
        self.batch = batch
        self.trials: list[float] = []  # seconds per point of the first calls

    def pays(self, eager: Sighting) -> bool | None:
        """Whether this program beat the eager calls; None while still on trial.

        ``auto`` keeps a program only if its best of :data:`TRIALS` calls is
        faster per point than the best eager call (the Hessian's compiled graph
        was measured slower than the eager flat graph on the seed network).
        """
        if len(self.trials) < TRIALS or not math.isfinite(eager.best):
            return None
        return min(self.trials) < eager.best

    def serves(self, n: int) -> bool:
        """Whether N points are worth running compiled (not mostly padding)."""
        return n >= SMALLEST_SHARE * self.batch

    def __call__(self, stack: torch.Tensor) -> torch.Tensor:
        """The output stack (M', N, n_out) of the input stack (M, N, n_in)."""
        n, b = stack.shape[1], self.batch
        if n == b:
            return self.fn(stack)
        pieces = []
        for start in range(0, n, b):
            piece = stack[:, start : start + b]
            short = b - piece.shape[1]
            if short:
                pad = piece[:, -1:].expand(-1, short, *piece.shape[2:])
                piece = torch.cat([piece, pad], dim=1)
            else:  # the program was traced on a fresh stack: same strides
                piece = piece.contiguous()
            out = self.fn(piece)
            pieces.append(out[:, : b - short] if short else out)
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


#: What a failed compile leaves in the store: the eager graph is used.
FAILED = "failed"
#: What a program slower than the eager graph leaves (``auto`` only).
SLOWER = "slower than eager"


def compile_program(
    fn: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor
) -> tuple[Program | None, torch.Tensor | None]:
    """``fn`` compiled for stacks shaped like ``example`` (M, B, ...), or None.

    The first call runs here (inductor compiles lazily), under :func:`disk_cache`
    and without gradients, so the compile time is paid now, not inside a later
    call; its output is returned too.

    Returns:
        The program and ``fn(example)``; (None, None) when compiling failed.

    Warns:
        CompileWarning: the compile failed (the cause is named); the caller runs
            ``fn`` eagerly instead.
    """
    try:
        with disk_cache(), warnings.catch_warnings(), torch.no_grad():
            # torch's own deprecation notices while compiling are not the user's
            warnings.simplefilter("ignore", DeprecationWarning)
            compiled: Any = torch.compile(fn, dynamic=False)
            out = compiled(example)
    except Exception as exc:  # a compiler can fail in many ways: all fall back
        warnings.warn(
            f"Compiling the Taylor program failed ({type(exc).__name__}: "
            f"{_first_line(exc)}); computing without compiling (same results, "
            "slower). Pass compile=False (CLI: --compile off) to skip the attempt.",
            CompileWarning,
            stacklevel=caller_level(),
        )
        return None, None
    return Program(compiled, example.shape[1]), out


def compile_seconds(engine: object) -> float:
    """Seconds ``engine`` spent compiling so far (0 for an engine that never does)."""
    seconds = getattr(engine, "compile_seconds", 0.0)
    return float(seconds) if isinstance(seconds, (int, float)) else 0.0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "no message"
