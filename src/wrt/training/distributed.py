"""Data-parallel training over processes: ``wrt train --nproc N`` or ``torchrun``.

Every process holds the whole model and a shard of every term's points (rows
``rank, rank + N, ...``); each scales its losses by its share of the rows, so the
sum over processes is the loss of the whole point set, and one all-reduce per step
sums the parameters' gradients (:class:`~wrt.training.fitting.Problem`). The
numbers are those of one process on all the points, up to the order of the sums.

Why not ``DistributedDataParallel``'s module wrapper: its reducer expects one
forward per backward and hooks the parameters' gradients as they are produced,
while a derivative term calls the model once per point set and differentiates
through ``torch.autograd.grad(..., create_graph=True)`` before the loss exists
(pytorch issue #63929: DDP and double backward). wrt therefore averages the
gradients itself, after the backward pass, which DDP would do without overlap; the
process group (gloo on CPU, nccl on GPU) is torch.distributed's.

``torchrun --nproc-per-node N -m wrt train CONFIG.toml`` works too: the process
group is then read from torchrun's environment. Rank 0 writes the checkpoints and
outputs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
from torch import distributed as dist
from torch.multiprocessing.spawn import spawn

from wrt.errors import DataError


def init_from_environment() -> bool:
    """Join the process group torchrun describes (WORLD_SIZE > 1); True if joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return True


def launch(
    config: str | Path, nproc: int, resume: bool = False, overwrite: bool = False
) -> None:
    """Train ``config`` in ``nproc`` local processes (gloo), then return."""
    if nproc < 1:
        raise DataError(f"--nproc must be at least 1, not {nproc}.")
    port = _free_port()
    spawn(
        _worker,
        args=(nproc, str(config), resume, overwrite, port),
        nprocs=nproc,
        join=True,
    )


def _worker(
    rank: int, world: int, config: str, resume: bool, overwrite: bool, port: int
) -> None:
    from wrt.training.config import TrainConfig
    from wrt.training.runner import run

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        run(TrainConfig.read(config), resume=resume, overwrite=overwrite)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
