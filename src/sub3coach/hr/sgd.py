"""The SGD loop of the recurrent HR models, for one process or many ranks (DDP): one code path.

Each rank holds its own training runs (:class:`RankData`: its shards, or its round-robin share
of a file's runs), each with a **key** that does not depend on the number of ranks (the run's
shard index and row, or its index in the file). The data order is made from those keys, the
seed and the epoch only, so any world size sees the same global batches:

1. every rank cuts its runs into windows (``window_steps`` with ``burn_in_steps`` of masked
   warm-up, :func:`make_windows`) and the window lists are gathered and sorted by key: every rank
   holds the same global list of window *descriptors* (six integers each, not the data);
2. each epoch the global list is permuted with ``default_rng([seed, epoch])`` and cut into
   global batches of ``batch_size`` windows of similar length (:func:`length_batches`);
3. every rank runs every global batch, on the windows of it that it owns (a rank that owns
   none runs a zero-weight dummy window), so all ranks make the same number of steps and the
   gradient all-reduce of DDP never waits for a rank that has run out of data;
4. the loss of rank r is its sum of squared (standardised) errors divided by the number of
   scored steps in the *global* batch, times the world size; DDP averages gradients over the
   ranks, so the update equals the single-process update on the whole global batch up to the
   order of floating-point sums.

The per-rank batch is therefore ``batch_size / world`` windows on average (exactly what it
holds of each global batch). Validation MAE is a sum of absolute errors and a count per rank,
all-reduced. Rank 0 alone writes the checkpoint (model, optimiser, epoch, best weights, RNG
state, normaliser), which any world size resumes.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sub3coach.errors import ModelError
from sub3coach.hr.distributed import Dist, wrap_ddp

log = logging.getLogger(__name__)

Key = tuple[int, int]
#: A window descriptor: (key0, key1, start, stop, score_from, scored steps).
GWin = tuple[int, int, int, int, int, int]
Callback = Callable[[str, dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    """Fix the torch (CPU and CUDA) and numpy global seeds."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@dataclass
class _Window:
    item: int
    start: int
    stop: int
    score_from: int  # first step (relative to start) that counts in the loss


def make_windows(lengths: Sequence[int], window: int, burn_in: int) -> list[_Window]:
    """Cut sequences into training windows of at most ``window`` steps.

    Consecutive windows overlap by ``burn_in`` steps; in every window but the first of a run,
    those first ``burn_in`` steps only warm the state up (not scored), so every step is scored
    exactly once."""
    out: list[_Window] = []
    stride = max(window - burn_in, 1)
    for i, n in enumerate(lengths):
        if n <= 0:
            continue
        start = 0
        while True:
            stop = min(start + window, n)
            out.append(_Window(i, start, stop, 0 if start == 0 else burn_in))
            if stop >= n:
                break
            start += stride
    return out


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Mean squared error over ``mask`` of ``(pred - target) / scale``; all (B, T)."""
    return masked_sse(pred, target, mask, scale) / mask.sum().clamp(min=1)


def masked_sse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Sum of squared ``(pred - target) / scale`` over ``mask``; all (B, T)."""
    d = torch.where(mask, (pred - target) / scale, torch.zeros_like(pred))  # (B, T)
    return d.pow(2).sum()


@dataclass
class RankData:
    """This rank's part of a dataset: normalised features (T, F), HR targets (T,) in BPM, loss
    masks (T,) and the world-size-independent key of each run."""

    xs: list[np.ndarray]
    ys: list[np.ndarray]
    ms: list[np.ndarray]
    keys: list[Key]
    n_features: int = 0

    def index(self) -> dict[Key, int]:
        return {k: i for i, k in enumerate(self.keys)}


def local_windows(data: RankData, window: int, burn_in: int) -> list[GWin]:
    """Descriptors of this rank's windows that hold at least one scored step."""
    out: list[GWin] = []
    for w in make_windows([len(x) for x in data.xs], window, burn_in):
        n = int(data.ms[w.item][w.start + w.score_from : w.stop].sum())
        if n:
            out.append((*data.keys[w.item], w.start, w.stop, w.score_from, n))
    return out


def global_windows(data: RankData, window: int, burn_in: int, d: Dist) -> list[GWin]:
    """Every rank's window descriptors, gathered and sorted by key (the same list on all ranks).

    Raises:
        ModelError: two ranks hold a run under the same key (each run must live on one rank)."""
    out = sorted(w for part in d.all_gather(local_windows(data, window, burn_in)) for w in part)
    if len({w[:3] for w in out}) != len(out):
        raise ModelError("the same run was given to several ranks (training keys must be unique across ranks)")
    return out


def length_batches(ws: list[GWin], bs: int, rng: np.random.Generator) -> list[list[GWin]]:
    """Batches of windows of similar length (less padding), in random order."""
    out: list[list[GWin]] = []
    pool = bs * 32
    for k in range(0, len(ws), pool):
        chunk = sorted(ws[k : k + pool], key=lambda w: w[3] - w[2])
        out.extend(chunk[j : j + bs] for j in range(0, len(chunk), bs))
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def epoch_batches(windows: list[GWin], seed: int, epoch: int, bs: int, max_windows: int | None) -> list[list[GWin]]:
    """The global batches of ``epoch``: from the seed and the epoch only (not the world size)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(windows))
    if max_windows:
        order = order[:max_windows]
    return length_batches([windows[i] for i in order], bs, rng)


def collate(mine: list[GWin], data: RankData, index: dict[Key, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded (B, T, F) features, (B, T) targets and (B, T) masks of this rank's windows;
    one all-masked step when it owns none (it still joins the gradient all-reduce)."""
    f = data.n_features
    if not mine:
        return np.zeros((1, 1, f), np.float32), np.zeros((1, 1), np.float32), np.zeros((1, 1), bool)
    t = max(w[3] - w[2] for w in mine)
    xb = np.zeros((len(mine), t, f), np.float32)  # (B, T, F)
    yb = np.zeros((len(mine), t), np.float32)  # (B, T)
    mb = np.zeros((len(mine), t), bool)  # (B, T)
    for j, (k0, k1, start, stop, score_from, _) in enumerate(mine):
        i = index[(k0, k1)]
        n = stop - start
        xb[j, :n] = data.xs[i][start:stop]
        yb[j, :n] = data.ys[i][start:stop]
        mb[j, score_from:n] = data.ms[i][start + score_from : stop]
    return xb, yb, mb


@dataclass
class FitState:
    """What an epoch boundary needs to continue (and what the checkpoint holds)."""

    epoch: int = 0
    best_val: float = math.inf
    best_state: dict[str, Any] = field(default_factory=dict)
    bad: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None


@dataclass
class Loop:
    """One training job on this rank: the DDP-wrapped module and what its steps need."""

    raw: torch.nn.Module
    ddp: torch.nn.Module
    opt: torch.optim.Optimizer
    data: RankData
    index: dict[Key, int]
    windows: list[GWin]
    scale: float
    cfg: Any  # sub3coach.hr.train.TrainConfig
    d: Dist

    def step(self, batch: list[GWin]) -> tuple[float, int]:
        """One optimiser step on the global ``batch``; returns this rank's (sum |error| BPM, steps)."""
        mine = [w for w in batch if (w[0], w[1]) in self.index]
        n_global = sum(w[5] for w in batch)
        xt, yt, mt = (torch.from_numpy(a).to(self.d.device) for a in collate(mine, self.data, self.index))
        with self.d.autocast():
            pred = self.ddp(xt)  # (B, T)
        pred = pred.float()
        loss = masked_sse(pred, yt, mt, self.scale) * (self.d.world / max(n_global, 1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.raw.parameters(), self.cfg.grad_clip)
        self.opt.step()
        with torch.no_grad():
            err = float(torch.where(mt, (pred - yt).abs(), torch.zeros_like(pred)).sum())
        return err, int(mt.sum())

    def train_epoch(self, epoch: int, callback: Callback | None) -> dict[str, Any]:
        """All global batches of ``epoch``: train MAE (BPM), scored samples (grid steps) and
        seconds of the SGD steps, over all ranks."""
        t0 = time.perf_counter()
        cfg = self.cfg
        torch.manual_seed(cfg.seed * 100003 + epoch)
        batches = epoch_batches(self.windows, cfg.seed, epoch, cfg.batch_size, cfg.max_windows_per_epoch)
        if callback:
            callback("epoch_start", {"epoch": epoch, "epochs": cfg.epochs, "batches": len(batches)})
        self.ddp.train()
        acc = np.zeros(2)
        for bi, batch in enumerate(batches):
            acc += self.step(batch)
            if callback:
                callback("batch", {"epoch": epoch, "batch": bi + 1, "batches": len(batches)})
        s, n = self.d.all_sum(acc)
        return {"train_mae_bpm": float(s / max(n, 1.0)), "train_samples": int(n),
                "train_seconds": round(time.perf_counter() - t0, 3)}


def dist_mae(module: torch.nn.Module, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], ms: Sequence[np.ndarray],
             d: Dist) -> float:
    """MAE (BPM) of whole-run predictions over every rank's runs (NaN when no rank has any)."""
    from sub3coach.hr.predict import predict_arrays

    s = n = 0.0
    if xs:
        with torch.no_grad():
            preds = predict_arrays(module, xs, device=next(module.parameters()).device)
        for p, y, m in zip(preds, ys, ms):
            s += float(np.abs(p - y)[m].sum())
            n += float(m.sum())
    s, n = d.all_sum([s, n])
    return float(s / n) if n > 0 else math.nan


def end_epoch(st: FitState, loop: Loop, rec: dict[str, Any], has_val: bool) -> None:
    """Early-stopping bookkeeping after an epoch (the same decision on every rank)."""
    if not has_val:
        st.best_state, st.best_epoch = copy.deepcopy(loop.raw.state_dict()), rec["epoch"]
        return
    if rec["val_mae_bpm"] < st.best_val - 1e-3:
        st.best_val, st.best_epoch, st.bad = rec["val_mae_bpm"], rec["epoch"], 0
        st.best_state = copy.deepcopy(loop.raw.state_dict())
        return
    st.bad += 1
    # reduce on plateau: lower the learning rate after an epoch without progress
    for group in loop.opt.param_groups:
        group["lr"] = max(group["lr"] * loop.cfg.lr_decay, loop.cfg.lr * 0.01)


# ----- checkpoints ------------------------------------------------------------------------------
#: Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("epochs", "patience", "device", "threads")


def resume_key(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in RESUMABLE_CHANGES}


def read_checkpoint(path: Path | None, cfg_dict: dict[str, Any], device: torch.device) -> dict[str, Any] | None:
    """The checkpoint at ``path`` when it exists (None otherwise).

    Raises:
        ModelError: written with different training settings (world size may differ)."""
    if path is None or not path.exists():
        return None
    st = torch.load(path, map_location=device, weights_only=True)
    if resume_key(st.get("train_config") or {}) != resume_key(cfg_dict):
        raise ModelError("checkpoint was written with different training settings; remove it or drop --resume", str(path))
    return st


def restore(loop: Loop, ck: dict[str, Any]) -> FitState:
    """Model, optimiser and loop state from a checkpoint dict."""
    loop.raw.load_state_dict(ck["model"])
    loop.opt.load_state_dict(ck["optimizer"])
    if "torch_rng" in ck:
        torch.set_rng_state(ck["torch_rng"].cpu())
    return FitState(epoch=int(ck["epoch"]), best_val=float(ck["best_val"]), best_state=ck["best_model"],
                    bad=int(ck["bad_epochs"]), history=list(ck["history"]), best_epoch=ck.get("best_epoch"))


def write_checkpoint(path: Path, loop: Loop, st: FitState, extra: dict[str, Any]) -> None:
    """Rank 0: the state after ``st.epoch`` (temp file, then rename).

    Raises:
        ModelError: the checkpoint folder cannot be written."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"epoch": st.epoch, "model": loop.raw.state_dict(), "optimizer": loop.opt.state_dict(),
                    "best_model": st.best_state, "best_val": st.best_val, "bad_epochs": st.bad, "history": st.history,
                    "best_epoch": st.best_epoch, "torch_rng": torch.get_rng_state(), "world_size": loop.d.world,
                    "train_config": loop.cfg.to_dict(), **extra}, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as RuntimeError
        raise ModelError(f"cannot write the checkpoint: {' '.join(str(exc).split())}", str(path)) from exc


# ----- the loop ---------------------------------------------------------------------------------
def run_sgd(module: torch.nn.Module, cfg: Any, data: RankData, val: tuple[list, list, list], d: Dist, *,
            checkpoint: Path | None = None, resumed: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
            callback: Callback | None = None) -> FitState:
    """Train ``module`` (already on ``d.device``) in place; leaves the best weights loaded.

    ``val`` is this rank's (features, targets, masks) of validation runs; ``extra`` goes into
    every checkpoint (e.g. the normaliser)."""
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    windows = global_windows(data, cfg.window_steps, cfg.burn_in_steps, d)
    scale = float(module.cfg.hr_scale)  # type: ignore[union-attr]
    loop = Loop(module, wrap_ddp(module, d), opt, data, data.index(), windows, scale, cfg, d)
    st = restore(loop, resumed) if resumed else FitState(best_state=copy.deepcopy(module.state_dict()))
    if resumed:
        log.info("resumed at epoch %d", st.epoch + 1)
    has_val = bool(d.all_sum([len(val[0])])[0] > 0)
    for epoch in range(st.epoch + 1, cfg.epochs + 1):
        if st.bad >= cfg.patience and has_val:
            break
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"epoch": epoch, **loop.train_epoch(epoch, callback)}
        if has_val:
            rec["val_mae_bpm"] = dist_mae(module, *val, d)
        end_epoch(st, loop, rec, has_val)
        rec["seconds"] = round(time.perf_counter() - t0, 2)
        st.history.append(rec)
        st.epoch = epoch
        if callback:
            callback("epoch", {**rec, "best_epoch": st.best_epoch, "best_val_mae_bpm": st.best_val if has_val else None})
        if checkpoint is not None:
            with d.together("writing the checkpoint"):  # the others learn of rank 0's failure here
                if d.is_main:
                    write_checkpoint(checkpoint, loop, st, extra or {})
    module.load_state_dict(st.best_state)
    return st
