"""The explicit cache of one :class:`~wrt.model.Model`: work that depends on it alone.

Lifetime: a :class:`Cache` belongs to one Model (its public attribute ``cache``)
and lives as long as it; :meth:`Cache.clear` (or ``Model.clear()``) empties it.
Nothing is stored on the user's module, and there is no module-level cache: a
module passed to wrt without wrapping gets a fresh Model, and so a fresh cache,
on every call. Each store is bounded. What it keeps:

- ``graphs``: the Taylor engine's ATen traces, per point shape, dtype, device and
  identity of the parameters (at most :data:`MAX_GRAPHS`); they hold the
  parameters themselves, so in-place updates are seen;
- ``flats``: flat propagation graphs built from those traces (at most
  :data:`MAX_FLATS`); they may hold values computed from the parameters, so they
  are dropped whenever a parameter or buffer changes (its version counter moves);
- ``programs``: compiled propagations (:mod:`wrt.engines.compiling`), per point
  shape without the batch size, dtype, device, parameters and algebra (at most
  :data:`MAX_PROGRAMS`), and ``sightings``: the eager work seen per such key,
  which the ``compile="auto"`` rule weighs; both go with the flat graphs when a
  parameter or buffer changes; ``compile_seconds`` adds up the time spent
  compiling (the CLI reports it);
- ``fused_norms``: the fused normalisations the model runs (see
  :mod:`wrt.engines.exact_norms`);
- converted copies (``Model.converted(dtype)``): one per dtype, refreshed from the
  original's parameters when they changed in place (a training step between two
  calls), rebuilt when they were replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

MAX_GRAPHS = 8
MAX_FLATS = 16
MAX_PROGRAMS = 8


@dataclass
class _Copy:
    model: Any  # a wrt Model (not imported: model.py imports this module)
    ids: tuple[int, ...]
    versions: tuple[int, ...]


class Cache:
    """Bounded stores of traces, flat graphs and converted copies of one model."""

    def __init__(self) -> None:
        self.graphs: dict[Any, Any] = {}
        self.flats: dict[Any, Any] = {}
        self.programs: dict[Any, Any] = {}
        self.sightings: dict[Any, Any] = {}
        #: seconds spent compiling this model's programs (all calls, all engines)
        self.compile_seconds = 0.0
        self.fused_norms: list[str] | None = None
        self._copies: dict[torch.dtype, _Copy] = {}
        self._versions: tuple[int, ...] | None = None

    def clear(self) -> None:
        """Forget everything (the next call traces and converts afresh)."""
        self.graphs.clear()
        self.flats.clear()
        self.programs.clear()
        self.sightings.clear()
        self.fused_norms = None
        self._copies.clear()
        self._versions = None

    def graph(self, key: Any, build: Callable[[], Any]) -> Any:
        """The trace for ``key``, built on first use; the oldest is dropped past 8."""
        if key not in self.graphs:
            if len(self.graphs) >= MAX_GRAPHS:
                self.graphs.pop(next(iter(self.graphs)))
            self.graphs[key] = build()
        return self.graphs[key]

    def valid_flats(self, module: nn.Module) -> dict[Any, Any]:
        """The flat graphs, emptied first if a parameter or buffer changed since.

        The compiled programs and the sightings are emptied with them.
        """
        versions = tuple(t._version for t in _tensors(module))
        if versions != self._versions:
            self.flats.clear()
            self.programs.clear()
            self.sightings.clear()
            self._versions = versions
        return self.flats

    def valid_programs(self, module: nn.Module) -> dict[Any, Any]:
        """The compiled programs, emptied first if a parameter changed since."""
        self.valid_flats(module)
        return self.programs

    def add_program(self, key: Any, value: Any) -> None:
        """Remember a compiled program (or a failure); the oldest goes past 8."""
        if key not in self.programs and len(self.programs) >= MAX_PROGRAMS:
            self.programs.pop(next(iter(self.programs)))
        self.programs[key] = value

    def sighting(self, key: Any, make: Callable[[], Any]) -> Any:
        """The eager work seen for ``key`` (made on first use; bounded like flats)."""
        if key not in self.sightings:
            if len(self.sightings) >= MAX_FLATS:
                self.sightings.pop(next(iter(self.sightings)))
            self.sightings[key] = make()
        return self.sightings[key]

    def add_flat(self, key: Any, value: Any) -> None:
        """Remember a flat graph (or a first sighting); the oldest goes past 16."""
        if key not in self.flats and len(self.flats) >= MAX_FLATS:
            self.flats.pop(next(iter(self.flats)))
        self.flats[key] = value

    def converted(
        self, module: nn.Module, dtype: torch.dtype, build: Callable[[], Any]
    ) -> Any:
        """The copy of the model in ``dtype``, kept up to date with ``module``.

        Args:
            module: the original's module (the source of the values).
            dtype: the copy's dtype.
            build: makes a new copy (a Model) from the original.

        Returns:
            The cached copy, its parameters equal to the original's (converted).
        """
        tensors = list(_tensors(module))
        ids = tuple(id(t) for t in tensors)
        versions = tuple(t._version for t in tensors)
        entry = self._copies.get(dtype)
        if entry is not None and entry.ids == ids:
            if entry.versions != versions and not _refresh(module, entry.model.module):
                entry = None  # the copy's tensors do not match: convert afresh
            else:
                entry.versions = versions
                return entry.model
        copy = build()
        self._copies[dtype] = _Copy(copy, ids, versions)
        return copy


def _tensors(module: nn.Module) -> Iterator[torch.Tensor]:
    yield from module.parameters()
    yield from module.buffers()


def _refresh(source: nn.Module, copy: nn.Module) -> bool:
    """Copy the values of ``source`` into ``copy``, converting; False if they differ.

    The two must have the same named parameters and buffers of the same shapes
    (a copy made by deep copy and ``.to``); otherwise nothing is written.
    """
    pairs = [
        (dict(source.named_parameters()), dict(copy.named_parameters())),
        (dict(source.named_buffers()), dict(copy.named_buffers())),
    ]
    for mine, theirs in pairs:
        if mine.keys() != theirs.keys() or any(
            mine[k].shape != theirs[k].shape for k in mine
        ):
            return False
    with torch.no_grad():
        for mine, theirs in pairs:
            for name, tensor in mine.items():
                if theirs[name].is_floating_point():
                    theirs[name].copy_(tensor)
                else:
                    theirs[name].copy_(tensor.to(theirs[name].dtype))
    return True
