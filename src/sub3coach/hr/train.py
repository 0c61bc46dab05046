"""Training the heart-rate model: an estimator façade over plain ``nn.Module``s.

:class:`HRModel` ``.fit(workouts)`` / ``.predict(workout)``. Training:

* runner-disjoint split (:func:`sub3coach.hr.data.runner_split`; 70/15/15 by default, seeded);
* the normaliser is fitted on the training runners only;
* sequences are cut into windows of ``window_steps`` grid steps (512 x 5 s = 42 min); a window
  that starts mid-run gets ``burn_in_steps`` of context whose loss is masked, so the recurrent
  state is warmed up before it is scored;
* masked MSE on standardised HR (NaN HR and grid gaps are masked); Adam with the learning rate
  halved after each epoch without validation progress; gradient clipping;
* after every epoch the model predicts the validation runs whole (as inference does) and early
  stopping keeps the weights with the best validation MAE;
* a checkpoint is written after each epoch and ``resume=True`` continues from it;
* seeds are fixed (torch, numpy); a GPU is used when present;
* the same code runs on one process or many under ``torchrun`` (DistributedDataParallel; the
  SGD loop is :mod:`sub3coach.hr.sgd`, the entry point and dataset folders :mod:`sub3coach.hr.ddp`):
  ``torchrun --standalone --nproc_per_node=2 -m sub3coach.hr.train --data ds/ --out m.pt``.

Mean and linear baselines are fitted in closed form (least squares) on the same data.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sub3coach.errors import ModelError, Sub3Error
from sub3coach.features import DEFAULT_FEATURES, DEFAULT_STEP_S, SUB3_V2_FEATURES, FeatureSpec, Normaliser, Prepared
from sub3coach.hr.artifact import LoadedModel, save_model
from sub3coach.hr.distributed import Dist, current, resolve_device  # noqa: F401  (resolve_device re-exported)
from sub3coach.hr.models import ARCHITECTURES, LinearConfig, MeanConfig, ModelConfig, RNNConfig, build_model, n_parameters
from sub3coach.hr.predict import predict_arrays
from sub3coach.hr.sgd import (  # noqa: F401  (make_windows, masked_mse re-exported)
    RankData, dist_mae, make_windows, masked_mse, read_checkpoint, run_sgd, seed_everything,
)
from sub3coach.workout import Workout

log = logging.getLogger(__name__)

#: Feature set and size of each architecture unless overridden.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "mean": {"features": ("speed",)},
    "linear": {"features": ("speed", "grade_30s")},
    "seed-lstm": {"features": SUB3_V2_FEATURES, "hidden": 128, "layers": 2},
    "hrnet": {"features": DEFAULT_FEATURES, "hidden": 64, "layers": 2, "center_runners": True},
}


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all stored in the artifact).

    Attributes:
        arch: ``mean``, ``linear``, ``seed-lstm`` or ``hrnet`` (the default model).
        features: feature names (None: the architecture's default set).
        step_s: grid step, seconds. hidden/layers/dropout: recurrent size (None: default).
        epochs: maximum epochs; patience: epochs without validation improvement before stopping.
        batch_size: windows per optimiser step (the global batch over all ranks); lr: Adam learning rate, multiplied by ``lr_decay`` after
        each epoch without validation progress; weight_decay: Adam L2.
        window_steps / burn_in_steps: training window and masked warm-up, grid steps.
        max_windows_per_epoch: subsample windows each epoch (None: all).
        seed: fixes the split, initialisation and shuffling. device: None = GPU when present.
        threads: CPU threads for torch.
        center_runners: train on each runner's HR shifted to the population mean (their own
        level, which speed cannot tell, is left to the personal head; None: the architecture's
        default, on for ``hrnet``).
        personal_head: after training, fit the personal head (prior on the training runners,
        selection and band calibration on the validation runners; :mod:`sub3coach.hr.headfit`).
    """

    arch: str = "hrnet"
    features: tuple[str, ...] | None = None
    step_s: float = DEFAULT_STEP_S
    hidden: int | None = None
    layers: int | None = None
    dropout: float = 0.0
    epochs: int = 15
    patience: int = 4
    batch_size: int = 32
    lr: float = 2e-3
    lr_decay: float = 0.5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    window_steps: int = 512
    burn_in_steps: int = 64
    max_windows_per_epoch: int | None = None
    seed: int = 0
    device: str | None = None
    threads: int = 1
    personal_head: bool = True
    center_runners: bool | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise Sub3Error(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        d = ARCH_DEFAULTS[self.arch]
        if self.features is None:
            self.features = tuple(d["features"])
        self.features = tuple(self.features)
        if self.hidden is None:
            self.hidden = d.get("hidden")
        if self.layers is None:
            self.layers = d.get("layers")
        if self.center_runners is None:
            self.center_runners = bool(d.get("center_runners", False))
        if self.epochs < 0 or self.batch_size < 1 or self.window_steps < 8:
            raise Sub3Error("epochs must be >= 0, batch size >= 1, window >= 8 steps")

    def spec(self) -> FeatureSpec:
        return FeatureSpec(names=tuple(self.features or ()), step_s=self.step_s)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features or ())
        return d


def runner_centred(items: Sequence[Prepared], ys: list[np.ndarray], ms: list[np.ndarray],
                   gather: Callable[[Any], list[Any]] = lambda o: [o]) -> list[np.ndarray]:
    """Targets with each runner's mean HR moved to the mean over all runners (BPM).

    ``gather`` collects every rank's per-runner sums (:meth:`Dist.all_gather`; a runner's runs
    may lie on several ranks), so each rank shifts by the means over the whole training set."""
    from sub3coach.hr.data import runner_id

    local: dict[str, list[float]] = {}
    for p, y, m in zip(items, ys, ms):
        acc = local.setdefault(runner_id(p.user_id, p.workout_id), [0.0, 0.0])
        acc[0] += float(y[m].sum())
        acc[1] += float(m.sum())
    sums: dict[str, list[float]] = {}
    for part in gather(local):
        for u, (a, n) in part.items():
            acc = sums.setdefault(u, [0.0, 0.0])
            acc[0] += a
            acc[1] += n
    means = {u: a / max(n, 1.0) for u, (a, n) in sums.items()}
    overall = float(np.mean([v for u, v in means.items() if sums[u][1] > 0])) if means else 0.0
    return [(y + (overall - means[runner_id(p.user_id, p.workout_id)])).astype(np.float32) for p, y in zip(items, ys)]


def targets(items: Sequence[Prepared]) -> list[np.ndarray]:
    """HR targets (BPM, float32), 0 where unknown (masked)."""
    return [np.nan_to_num(p.hr_bpm, nan=0.0).astype(np.float32) if p.hr_bpm is not None
            else np.zeros(len(p.time_s), np.float32) for p in items]


@dataclass
class TrainStats:
    """What is fitted on the training runners of all ranks before SGD starts (identical on
    every rank): the normaliser, the HR centre/scale (BPM) of the output layer, the data summary."""

    normaliser: Normaliser
    center: float
    scale: float
    summary: dict[str, Any]


def fit_stats(train: Sequence[Prepared], val: Sequence[Prepared], names: Sequence[str], d: Dist) -> TrainStats:
    """Normaliser and HR statistics from every rank's training runs (moments all-reduced).

    Raises:
        Sub3Error: no training run or no valid heart rate on any rank."""
    norm = Normaliser.from_moments(names, d.all_sum(Normaliser.moments([p.x for p in train], len(names), [p.observed for p in train])))
    hr = [p.hr_bpm[p.mask] for p in train if p.hr_bpm is not None]
    s, s2, n, n_train, n_val = (float(v) for v in d.all_sum([sum(float(h.sum()) for h in hr), sum(float((h * h).sum()) for h in hr),
                                                          sum(h.size for h in hr), len(train), len(val)]))
    if n_train == 0:
        raise Sub3Error("no usable training workouts (each needs speed/distance/GPS and heart rate)")
    if n == 0:
        raise Sub3Error("training workouts hold no valid heart rate")
    mean = s / n
    std = math.sqrt(max(s2 / n - mean * mean, 0.0))
    runners = d.all_gather(({str(p.user_id) for p in train}, {str(p.user_id) for p in val}))
    summary = {
        "train_workouts": int(n_train),
        "train_runners": len(set().union(*(r[0] for r in runners))),
        "train_valid_steps": int(n),
        "val_workouts": int(n_val),
        "val_runners": len(set().union(*(r[1] for r in runners))),
        "train_hr_mean_bpm": round(mean, 2),
        "train_hr_std_bpm": round(std, 2),
    }
    return TrainStats(norm, float(np.round(mean, 1)), float(max(np.round(std, 1), 5.0)), summary)


Callback = Callable[[str, dict[str, Any]], None]


class HRModel:
    """Estimator façade: ``HRModel(arch=...).fit(workouts)``, then ``.predict(workout)``.

    Attributes after fitting:
        module: the trained ``nn.Module``; spec / normaliser: its inputs; history: per-epoch
        records (``epoch``, ``train_mae_bpm``, ``val_mae_bpm``, ``seconds``); best_epoch.
    """

    def __init__(self, config: TrainConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = TrainConfig(**overrides)
        elif overrides:
            config = TrainConfig(**{**asdict(config), **overrides, "features": overrides.get("features", config.features)})
        self.config = config
        self.spec = config.spec()
        self.module: torch.nn.Module | None = None
        self.normaliser: Normaliser | None = None
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.data_summary: dict[str, Any] = {}
        self.head: Any = None

    # ----- public ----------------------------------------------------------------------
    def fit(
        self,
        workouts: Iterable[Workout],
        val_workouts: Iterable[Workout] | None = None,
        *,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        callback: Callback | None = None,
    ) -> "HRModel":
        """Fit on workouts; without ``val_workouts`` 15 % of the runners are held out for
        early stopping (runner-disjoint, seeded)."""
        from sub3coach.hr.data import prepare_all, runner_id, runner_split

        train = prepare_all(workouts, self.spec).items
        if val_workouts is None:
            users = [runner_id(p.user_id, p.workout_id) for p in train]
            if len(set(users)) >= 2:
                parts = runner_split(users, (0.85, 0.15, 0.0), seed=self.config.seed)
                vset = set(parts["val"])
                val = [p for p, u in zip(train, users) if u in vset]
                train = [p for p, u in zip(train, users) if u not in vset]
            else:
                val = []
        else:
            val = prepare_all(val_workouts, self.spec).items
        return self.fit_prepared(train, val, checkpoint_dir=checkpoint_dir, resume=resume, callback=callback)

    def fit_prepared(
        self,
        train: Sequence[Prepared],
        val: Sequence[Prepared] = (),
        *,
        keys: Sequence[tuple[int, int]] | None = None,
        dist: Dist | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        callback: Callback | None = None,
    ) -> "HRModel":
        """Fit on already featurised workouts (columns in ``self.spec.names`` order).

        Under torchrun (``dist`` with several ranks, see :mod:`sub3coach.hr.distributed`),
        ``train`` and ``val`` are this rank's runs and ``keys`` their world-size-independent
        keys (default ``(0, i)``: the position in ``train``); statistics, early stopping and the
        data order are global (:mod:`sub3coach.hr.sgd`). The personal head is fitted on rank 0's
        runs only."""
        cfg = self.config
        d = dist or current(cfg.device)
        seed_everything(cfg.seed)
        if d.device.type == "cpu":
            torch.set_num_threads(max(1, cfg.threads))
        ckpt = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
        resumed = read_checkpoint(ckpt, cfg.to_dict(), d.device) if resume and cfg.arch not in ("mean", "linear") else None
        stats = fit_stats(train, val, self.spec.names, d)
        if resumed and "normaliser" in resumed:  # the normaliser the checkpoint was trained with
            stats.normaliser = Normaliser.from_dict(resumed["normaliser"])
            stats.center, stats.scale = float(resumed["hr_center"]), float(resumed["hr_scale"])
        self.normaliser, self.data_summary = stats.normaliser, stats.summary
        xs = [self.normaliser.transform(p.x) for p in train]
        ys, ms = targets(train), [p.mask for p in train]
        if cfg.center_runners:
            ys = runner_centred(train, ys, ms, d.all_gather)
        vx = [self.normaliser.transform(p.x) for p in val]
        vdata = (vx, targets(val), [p.mask for p in val])
        self.module = build_model(cfg.arch, self._model_config(stats.center, stats.scale)).to(d.device)
        self.history, self.best_epoch = [], None
        data = RankData(xs, ys, ms, list(keys) if keys is not None else [(0, i) for i in range(len(xs))], self.spec.n_features)
        if cfg.arch in ("mean", "linear"):
            self._fit_closed_form(data, vdata, d, callback)
        else:
            extra = {"normaliser": stats.normaliser.to_dict(), "hr_center": stats.center, "hr_scale": stats.scale}
            st = run_sgd(self.module, cfg, data, vdata, d, checkpoint=ckpt, resumed=resumed, extra=extra, callback=callback)
            self.history, self.best_epoch = st.history, st.best_epoch
        self.module.to("cpu").eval()
        if d.is_main:
            self._fit_head(xs, train, vx, val, callback)
        return self

    def _fit_head(self, xs: list[np.ndarray], train: Sequence[Prepared], vx: list[np.ndarray], val: Sequence[Prepared],
                  callback: Callback | None) -> None:
        """Fit the personal head on the trained network's predictions (see :mod:`sub3coach.hr.headfit`)."""
        if not self.config.personal_head:
            return
        from sub3coach.hr.headfit import build_head

        if callback:
            callback("head", {})
        assert self.module is not None
        self.head = build_head(predict_arrays(self.module, xs), train, predict_arrays(self.module, vx) if val else [], val)

    def to_loaded(self) -> LoadedModel:
        """The fitted model as a :class:`LoadedModel` (what :func:`load_model` returns)."""
        if self.module is None or self.normaliser is None:
            raise ModelError("model is not fitted")
        return LoadedModel(module=self.module.eval(), arch=self.config.arch, spec=self.spec, normaliser=self.normaliser,
                           meta={"name": self.config.arch, "history": self.history, "config": self.module.cfg.to_dict()},  # type: ignore[union-attr]
                           head=self.head)

    def predict(self, workout: Workout) -> np.ndarray:
        """Predicted HR (BPM) at each of ``workout``'s sample times."""
        from sub3coach.hr.predict import predict_workout

        return predict_workout(self.to_loaded(), workout)

    def save(self, path: str | os.PathLike, **meta: Any) -> Path:
        """Write the self-describing artifact (see :mod:`sub3coach.hr.artifact`)."""
        lm = self.to_loaded()
        meta.setdefault("name", self.config.arch)
        return save_model(path, lm.module, self.config.arch, self.spec, lm.normaliser, head=self.head, train_config=self.config.to_dict(),
                          history=self.history, best_epoch=self.best_epoch, **{"data": self.data_summary, **meta})

    # ----- internals -------------------------------------------------------------------
    def _model_config(self, center: float, scale: float) -> ModelConfig:
        cfg = self.config
        nf = self.spec.n_features
        if cfg.arch == "mean":
            return MeanConfig(n_features=nf, hr_center=center, hr_scale=scale)
        if cfg.arch == "linear":
            return LinearConfig(n_features=nf, hr_center=center, hr_scale=scale, columns=list(range(nf)))
        return RNNConfig(n_features=nf, hr_center=center, hr_scale=scale, hidden=int(cfg.hidden or 64),
                         layers=int(cfg.layers or 2), dropout=cfg.dropout, cell="lstm")

    def _fit_closed_form(self, data: RankData, vdata: tuple[list, list, list], d: Dist, callback: Callback | None) -> None:
        """Mean / linear baselines by least squares on sums over all ranks (normal equations)."""
        assert self.module is not None
        mcfg = self.module.cfg  # type: ignore[union-attr]
        cols = list(getattr(mcfg, "columns", []))
        k = len(cols) + 1
        a = np.concatenate([np.concatenate([x[m][:, cols], np.ones((int(m.sum()), 1))], axis=1)
                            for x, m in zip(data.xs, data.ms)] or [np.zeros((0, k))]).astype(np.float64)
        z = (np.concatenate([y[m] for y, m in zip(data.ys, data.ms)] or [np.zeros(0)]).astype(np.float64) - mcfg.hr_center) / mcfg.hr_scale
        sums = d.all_sum(np.concatenate([(a.T @ a).ravel(), a.T @ z]))
        ata, atz = sums[: k * k].reshape(k, k), sums[k * k :]
        coef, *_ = np.linalg.lstsq(ata, atz, rcond=None)
        with torch.no_grad():
            if self.config.arch == "mean":
                self.module.bias.fill_(float(coef[-1]))  # type: ignore[union-attr]
            else:
                self.module.lin.weight.copy_(torch.tensor(coef[:-1], dtype=torch.float32).view(1, -1))  # type: ignore[union-attr]
                self.module.lin.bias.fill_(float(coef[-1]))  # type: ignore[union-attr]
        rec: dict[str, Any] = {"epoch": 0, "train_mae_bpm": dist_mae(self.module, data.xs, data.ys, data.ms, d)}
        if d.all_sum([len(vdata[0])])[0] > 0:
            rec["val_mae_bpm"] = dist_mae(self.module, *vdata, d)
        self.history.append(rec)
        if callback:
            callback("epoch", rec)


# ---------------------------------------------------------------------------------------------
# end-to-end: a --data path -> split -> train -> test metrics -> artifact
# ---------------------------------------------------------------------------------------------
@dataclass
class SplitData:
    """Featurised train/val/test parts of a runner-disjoint split."""

    names: tuple[str, ...]
    parts: dict[str, list[Prepared]]
    runners: dict[str, list[str]]
    skipped: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "skipped": self.skipped}
        for k, items in self.parts.items():
            out[k] = {"workouts": len(items), "runners": len(self.runners.get(k, [])),
                      "valid_steps": int(sum(int(p.mask.sum()) for p in items))}
        return out

    def select(self, names: Sequence[str]) -> dict[str, list[Prepared]]:
        from sub3coach.hr.data import select_columns

        return {k: select_columns(v, self.names, names) for k, v in self.parts.items()}


def load_split(
    data: str | os.PathLike,
    names: Sequence[str],
    *,
    step_s: float = DEFAULT_STEP_S,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    limit: int | None = None,
) -> SplitData:
    """Read ``data``, split its runners 70/15/15 (seeded) and featurise every part with
    ``names`` (use the union of the feature sets of all models to be trained)."""
    from sub3coach.hr.data import iter_workouts, prepare_all, runner_id, runner_split

    spec = FeatureSpec(names=tuple(names), step_s=step_s)
    # the HR an in-run forecast of 10 min may see (for the personal head's in-run selection)
    prepared = prepare_all(iter_workouts(data), spec, cut_hr_minutes=10.0)
    items = prepared.items[:limit] if limit else prepared.items
    users = [runner_id(p.user_id, p.workout_id) for p in items]
    if len(set(users)) < 3:
        raise Sub3Error(f"a runner-disjoint split needs at least 3 runners with usable runs; found {len(set(users))}", str(data))
    runners = runner_split(users, fractions, seed=seed)
    where = {u: k for k, us in runners.items() for u in us}
    parts: dict[str, list[Prepared]] = {"train": [], "val": [], "test": []}
    for p, u in zip(items, users):
        parts[where[u]].append(p)
    return SplitData(names=tuple(names), parts=parts, runners=runners, skipped=prepared.skipped, source=str(data))


def union_features(archs: Iterable[str]) -> tuple[str, ...]:
    """All feature names the given architectures use by default, in a stable order."""
    seen: list[str] = []
    for a in archs:
        for n in ARCH_DEFAULTS[a]["features"]:
            if n not in seen:
                seen.append(n)
    return tuple(seen)


def train_on_split(cfg: TrainConfig, split: SplitData, *, checkpoint_dir: str | os.PathLike | None = None,
                   resume: bool = False, callback: Callback | None = None,
                   dist: Dist | None = None) -> tuple[HRModel, dict[str, Any]]:
    """Train ``cfg`` on the split's train part (early stopping on val) and score the test part.

    Under torchrun each rank trains on its round-robin share of the runs (keys: their index in
    the split, so the data order does not depend on the world size); rank 0 scores the test part.
    Returns the fitted model and its test metrics (see :func:`sub3coach.hr.evaluate.evaluate_prepared`;
    empty on other ranks)."""
    from sub3coach.hr.distributed import rank_part
    from sub3coach.hr.evaluate import evaluate_prepared

    d = dist or current(cfg.device)
    parts = split.select(cfg.features or ())
    mine, vmine = rank_part(parts["train"], d), rank_part(parts["val"], d)
    model = HRModel(cfg)
    model.fit_prepared([p for _, p in mine], [p for _, p in vmine], keys=[(i, 0) for i, _ in mine], dist=d,
                       checkpoint_dir=checkpoint_dir, resume=resume, callback=callback)
    if not d.is_main:
        return model, {}
    result = evaluate_prepared(model.to_loaded(), parts["test"]) if parts["test"] else None
    metrics = result.metrics() if result is not None else {}
    return model, metrics


def train_from_path(
    data: str | os.PathLike,
    out: str | os.PathLike,
    cfg: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callback: Callback | None = None,
    dist: Dist | None = None,
) -> dict[str, Any]:
    """``sub3 hr train``: split ``data`` by runner, train, score held-out runners, save ``out``.

    ``data`` may also be a dataset folder written by ``sub3 data shard`` (its own split is
    used, see :func:`sub3coach.hr.ddp.train_from_dataset`). Under torchrun only rank 0 writes
    the artifact and returns the report (other ranks return ``{}``).

    Returns a JSON-safe report (data summary, split, best epoch, test metrics, artifact path)."""
    from sub3coach.hr.ddp import is_dataset, train_from_dataset

    d = dist or current(cfg.device)
    if is_dataset(data):
        return train_from_dataset(data, out, cfg, checkpoint_dir=checkpoint_dir, resume=resume, callback=callback, dist=d)
    split = load_split(data, cfg.features or (), step_s=cfg.step_s, seed=cfg.seed)
    model, metrics = train_on_split(cfg, split, checkpoint_dir=checkpoint_dir, resume=resume, callback=callback, dist=d)
    if not d.is_main:
        return {}
    summary = {k: v for k, v in metrics.items() if k not in ("per_runner", "workouts")}
    path = model.save(out, split={"seed": cfg.seed, "fractions": [0.70, 0.15, 0.15], "runners": split.runners},
                      metrics={"test": summary}, data={**model.data_summary, **split.summary()}, world_size=d.world)
    assert model.module is not None
    return {
        "model": str(path),
        "arch": cfg.arch,
        "parameters": n_parameters(model.module),
        "best_epoch": model.best_epoch,
        "epochs_run": len(model.history),
        "world_size": d.world,
        "split": {k: len(v) for k, v in split.runners.items()},
        "data": split.summary(),
        "test": summary,
    }


def compare_architectures(
    split: SplitData,
    configs: Sequence[TrainConfig],
    *,
    callback: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train each config on the same split and score all on the same held-out runners.

    Returns ``{arch: {"model": HRModel, "test": metrics, "val_mae_bpm", "best_epoch",
    "epochs_run", "train_seconds", "seconds_per_epoch", "parameters"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for cfg in configs:
        t0 = time.perf_counter()
        cb = (lambda kind, rec, _a=cfg.arch: callback(_a, kind, rec)) if callback else None
        model, metrics = train_on_split(cfg, split, callback=cb)
        secs = time.perf_counter() - t0
        hist = model.history
        sgd = [h["seconds"] for h in hist if "seconds" in h]
        vals = [h["val_mae_bpm"] for h in hist if h.get("val_mae_bpm") is not None]
        assert model.module is not None
        out[cfg.arch] = {
            "model": model,
            "test": metrics,
            "val_mae_bpm": round(min(vals), 2) if vals else None,
            "best_epoch": model.best_epoch,
            "epochs_run": len(hist),
            "train_seconds": round(secs, 1),
            "seconds_per_epoch": round(float(np.median(sgd)), 1) if sgd else None,
            "parameters": n_parameters(model.module),
            "features": list(cfg.features or ()),
        }
    return out


if __name__ == "__main__":  # torchrun ... -m sub3coach.hr.train (see sub3coach.hr.ddp)
    from sub3coach.hr.ddp import main
    from sub3coach.hr.distributed import exit_process

    exit_process(main())
