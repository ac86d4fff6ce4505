"""Points (N, n_in) as the tensor arguments of a saved torch program's ``forward``.

wrt's models take one tensor of named columns. A ``torch.export`` program or a
TorchScript module whose ``forward`` takes several tensors (``forward(self, x,
t)``, a critic ``Q(obs, act)``) gets the columns split over its arguments, in
order, by :class:`ArgumentColumns`: an argument of per-point shape (k,) takes k
columns, named ``name1 .. namek`` (``name`` when k == 1); an argument of shape
(N,) takes one column, named ``name`` (:func:`column_names`). ``torch.export``
declares these shapes; TorchScript does not, and :mod:`torchscript` probes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

#: Columns of one argument: k for (N, k), None for (N,).
Columns = tuple[int | None, ...]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ArgumentColumns(nn.Module):
    """A program of several tensor arguments as a module of points (N, n_in).

    Args:
        graph: the program; called with one tensor per argument.
        columns: per argument, k for an (N, k) tensor of k columns, None for an
            (N,) tensor of one column.
        unwrap: the program returns a 1-tuple; its element is the output.
    """

    def __init__(self, graph: nn.Module, columns: Columns, unwrap: bool) -> None:
        super().__init__()
        self.graph = graph
        self.columns = columns
        self.unwrap = unwrap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Split the columns over the arguments and call the program.

        Args:
            x: points, shape (N, n_in) with n_in the sum of :attr:`columns`.

        Returns:
            The program's output, shape (N, n_out) or (N,).
        """
        args, start = [], 0
        for k in self.columns:
            args.append(x[:, start] if k is None else x[:, start : start + k])
            start += 1 if k is None else k
        y = self.graph(*args)
        return y[0] if self.unwrap else y


def width(columns: Columns) -> int:
    """The number of columns the arguments take together."""
    return sum(1 if k is None else k for k in columns)


def column_names(arguments: Sequence[str], columns: Columns) -> tuple[str, ...] | None:
    """Column names from the argument names, or None where they do not serve.

    One argument keeps the default names (``x1 .. xn``, as for a one-tensor
    module); with several, an argument ``obs`` of 3 columns gives ``obs1, obs2,
    obs3`` and an argument ``t`` of one column gives ``t``. Names that are not
    identifiers or that repeat give None (the caller uses the defaults).

    Args:
        arguments: the argument names of ``forward``, without ``self``.
        columns: per argument, as in :class:`ArgumentColumns`.

    Returns:
        One name per column, or None.
    """
    if len(arguments) < 2:
        return None
    names: list[str] = []
    for name, k in zip(arguments, columns, strict=True):
        names += [name] if k in (None, 1) else [f"{name}{i}" for i in range(1, k + 1)]
    if len(set(names)) != len(names) or not all(_NAME.match(n) for n in names):
        return None
    return tuple(names)


def spelled_split(
    names: Sequence[str], arguments: Sequence[str]
) -> tuple[int, ...] | None:
    """How many columns each argument takes, as the given names spell it.

    ``obs1, obs2, obs3, act1, act2`` for ``forward(obs, act)`` spell (3, 2);
    ``x, t`` for ``forward(x, t)`` spell (1, 1): per argument, in order, either
    its name alone or its name followed by 1, 2, ... k.

    Returns:
        Columns per argument, or None when the names do not spell a split.
    """
    split, position = [], 0
    for argument in arguments:
        if position < len(names) and names[position] == argument:
            split.append(1)
            position += 1
            continue
        k = 0
        while position + k < len(names) and names[position + k] == f"{argument}{k + 1}":
            k += 1
        if k == 0:
            return None
        split.append(k)
        position += k
    return tuple(split) if position == len(names) else None
