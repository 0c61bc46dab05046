"""Distributed training on PyTorch's own engine: ``torch.distributed`` + DistributedDataParallel.

Launch with ``torchrun`` (one process per CPU worker or GPU)::

    torchrun --standalone --nproc_per_node=2 -m sub3coach.hr.train --data ds/ --out m.pt
    torchrun --nnodes=2 --node_rank=0 --rdzv_backend=c10d --rdzv_endpoint=host0:29500 \\
        --nproc_per_node=8 -m sub3coach.hr.train --data /shared/ds/ --out /shared/m.pt

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init_distributed` joins the
process group (NCCL when the process has a GPU, one GPU per local rank; gloo on CPU). Without
torchrun (``WORLD_SIZE`` unset) the very same training code runs with a :class:`Dist` of world
size 1, whose collectives are identities: ``sub3 hr train`` is that case.

:class:`Dist` carries the rank and the few collectives the trainer needs (sums of float64
arrays, gathering small Python objects). :func:`rank_part` assigns work round-robin by rank.

A failure on one rank must not leave the others waiting in a collective: the phases that do no
communication (reading the data, rank 0's checkpoint and artifact writes) run in :meth:`Dist.together`, which ends with
one all-gather of every rank's ok/error status, so all ranks raise the same one-line
:class:`RankFailure` ("rank 1 of 2 failed while reading the dataset: ...") together; :func:`joined`
does the same check when the job ends. A failure *inside* a collective phase (the SGD loop) still
waits for the process-group timeout: ``SUB3_DIST_TIMEOUT_MIN`` minutes, default
:data:`DEFAULT_TIMEOUT_MIN` (30). The longest a rank waits for another in normal operation is the
other ranks waiting for rank 0's personal-head fit plus its share of the test split, which must fit
in that timeout (raise it for very large datasets).
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as tdist

from sub3coach.errors import Sub3Error

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Minutes a rank waits in a collective before giving up (``SUB3_DIST_TIMEOUT_MIN`` overrides).
DEFAULT_TIMEOUT_MIN = 30.0


class RankFailure(Sub3Error):
    """Raised on every rank of a job when one rank failed in a phase (see :meth:`Dist.together`)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, Sub3Error) else f"{type(exc).__name__}: {text}"


@dataclass(frozen=True)
class Dist:
    """This process's place in the job.

    Attributes:
        rank / world: global rank and number of processes (0 / 1 without torchrun).
        local_rank: rank on this node (selects the GPU). device: where this rank computes.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes checkpoints, artifacts and reports."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True when collectives really communicate (world size > 1)."""
        return self.world > 1

    def _comm_device(self) -> torch.device:
        # NCCL moves CUDA tensors only; gloo moves CPU tensors
        return self.device if tdist.get_backend() == "nccl" else torch.device("cpu")

    def all_sum(self, values: np.ndarray | Sequence[float]) -> np.ndarray:
        """Element-wise sum of ``values`` over all ranks (float64; identity with one rank)."""
        a = np.asarray(values, dtype=np.float64)
        if not self.active:
            return a.copy()
        t = torch.from_numpy(a.copy()).to(self._comm_device())
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.cpu().numpy()

    def all_gather(self, obj: T) -> list[T]:
        """``obj`` of every rank, in rank order (small picklable objects only)."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            tdist.barrier()

    def settle(self, phase: str, error: BaseException | None = None) -> None:
        """All ranks exchange their status at the end of ``phase`` (one all-gather; a barrier);
        if any rank failed, raise :class:`RankFailure` naming the first failing rank and its
        message on every rank. With one rank, ``error`` itself is re-raised."""
        if not self.active:
            if error is not None:
                raise error
            return
        status = self.all_gather(None if error is None else _one_line(error))
        failed = [(r, m) for r, m in enumerate(status) if m is not None]
        if not failed:
            return
        r, msg = failed[0]
        more = f" (and {len(failed) - 1} other rank(s))" if len(failed) > 1 else ""
        failure = RankFailure(f"rank {r} of {self.world} failed while {phase}{more}: {msg}")
        if error is not None and not isinstance(error, Sub3Error):
            raise error  # a bug on this rank: keep its traceback (the others got the one-line message)
        raise failure from error

    @contextlib.contextmanager
    def together(self, phase: str) -> Iterator[None]:
        """``with d.together("reading the dataset"):`` run a block without collectives on every
        rank, then :meth:`settle`: every rank raises if any rank's block raised."""
        try:
            yield
        except RankFailure:
            raise  # raised on every rank already (a phase inside this one)
        except Exception as exc:  # noqa: BLE001 - reported to every rank by settle
            self.settle(phase, exc)
            raise  # unreachable: settle raises when given an error
        self.settle(phase)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on a GPU, nothing on CPU (CPU training stays float32)."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def resolve_device(name: str | None) -> torch.device:
    """``name`` or the first CUDA GPU when present, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def current(device: str | None = None) -> Dist:
    """The :class:`Dist` of an already joined process group, else a world of one on ``device``."""
    if tdist.is_available() and tdist.is_initialized():
        return _dist_from_env(device)
    return Dist(device=resolve_device(device))


def _dist_from_env(device: str | None) -> Dist:
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    return Dist(rank=rank, world=world, local_rank=local, device=dev)


def init_distributed(device: str | None = None) -> Dist:
    """Join the torchrun job described by the environment (or return a world of one).

    NCCL with one GPU per local rank when CUDA is available (and ``device`` is not ``cpu``),
    else gloo. Idempotent."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist(device=resolve_device(device))
    d = _dist_from_env(device)
    if not tdist.is_initialized():
        if d.device.type == "cuda":
            torch.cuda.set_device(d.device)
        backend = "nccl" if d.device.type == "cuda" else "gloo"
        # the others wait while rank 0 alone fits the personal head and writes the artifact
        timeout = timedelta(minutes=float(os.environ.get("SUB3_DIST_TIMEOUT_MIN", DEFAULT_TIMEOUT_MIN)))
        tdist.init_process_group(backend=backend, timeout=timeout)
        log.info("rank %d/%d joined (%s, %s)", d.rank, d.world, backend, d.device)
    return d


def shutdown() -> None:
    """Leave the process group (no-op without one)."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def exit_process(code: int) -> None:
    """End a process started by torchrun with ``code``, skipping interpreter teardown.

    Once the process group is destroyed and the outputs are written, gloo's background threads
    can still abort the process while C++ statics are destroyed at exit ("terminate called
    without an active exception", SIGABRT; seen about once in ten 2-rank runs here), which
    turns a finished run into a failure; so stdout/stderr are flushed and the process leaves
    with ``os._exit``. Without torchrun (one process) this is a plain ``SystemExit``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        raise SystemExit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def wrap_ddp(module: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """``module`` wrapped in DistributedDataParallel when the world has several ranks.

    DDP averages gradients over ranks during ``backward`` (bucketed all-reduce)."""
    if not d.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(module, device_ids=[d.device.index] if d.device.type == "cuda" else None)


def rank_part(items: Sequence[T], d: Dist) -> list[tuple[int, T]]:
    """``(global index, item)`` of the items rank ``d.rank`` owns: round-robin, ``i % world == rank``."""
    return [(i, x) for i, x in enumerate(items) if i % d.world == d.rank]


@contextlib.contextmanager
def joined(device: str | None = None) -> Iterator[Dist]:
    """``with joined() as d:`` join the torchrun job for the block, leave it afterwards.

    Ranks leave together (rank 0 may still be writing the artifact): a :class:`Sub3Error` on one
    rank reaches the others as a :class:`RankFailure` (:meth:`Dist.settle`), raised on all."""
    d = init_distributed(device)
    try:
        try:
            yield d
        except RankFailure:
            raise  # raised on every rank already
        except Sub3Error as exc:  # outside any collective: tell the others, who wait in settle
            d.settle("training or saving", exc)
        else:
            d.settle("training or saving")
    finally:
        shutdown()


__all__ = ["DEFAULT_TIMEOUT_MIN", "Dist", "RankFailure", "current", "exit_process", "init_distributed", "joined", "rank_part", "resolve_device",
           "shutdown", "wrap_ddp"]
