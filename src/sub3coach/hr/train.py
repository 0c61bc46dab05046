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
* seeds are fixed (torch, numpy); a GPU is used when present.

Mean and linear baselines are fitted in closed form (least squares) on the same data.
"""
from __future__ import annotations

import copy
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
from sub3coach.hr.models import ARCHITECTURES, LinearConfig, MeanConfig, ModelConfig, RNNConfig, build_model, n_parameters
from sub3coach.hr.predict import predict_arrays
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
        batch_size: windows per batch; lr: Adam learning rate, multiplied by ``lr_decay`` after
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


def resolve_device(name: str | None) -> torch.device:
    """``name`` or the first CUDA GPU when present, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


def runner_centred(items: Sequence[Prepared], ys: list[np.ndarray], ms: list[np.ndarray]) -> list[np.ndarray]:
    """Targets with each runner's mean HR moved to the mean over all runners (BPM)."""
    from sub3coach.hr.data import runner_id

    sums: dict[str, list[float]] = {}
    for p, y, m in zip(items, ys, ms):
        acc = sums.setdefault(runner_id(p.user_id, p.workout_id), [0.0, 0.0])
        acc[0] += float(y[m].sum())
        acc[1] += float(m.sum())
    means = {u: a / max(n, 1.0) for u, (a, n) in sums.items()}
    overall = float(np.mean([v for u, v in means.items() if sums[u][1] > 0])) if means else 0.0
    return [(y + (overall - means[runner_id(p.user_id, p.workout_id)])).astype(np.float32) for p, y in zip(items, ys)]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Mean squared error over ``mask`` of ``(pred - target) / scale``; all (B, T)."""
    d = torch.where(mask, (pred - target) / scale, torch.zeros_like(pred))  # (B, T)
    return d.pow(2).sum() / mask.sum().clamp(min=1)


Callback = Callable[[str, dict[str, Any]], None]

#: Settings that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("epochs", "patience", "device", "threads")


def _resume_key(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in _RESUMABLE_CHANGES}


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
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        callback: Callback | None = None,
    ) -> "HRModel":
        """Fit on already featurised workouts (columns in ``self.spec.names`` order)."""
        cfg = self.config
        if not train:
            raise Sub3Error("no usable training workouts (each needs speed/distance/GPS and heart rate)")
        seed_everything(cfg.seed)
        device = resolve_device(cfg.device)
        if device.type == "cpu":
            torch.set_num_threads(max(1, cfg.threads))
        self.normaliser = Normaliser.fit([p.x for p in train], self.spec.names, [p.observed for p in train])
        xs = [self.normaliser.transform(p.x) for p in train]
        ys = [np.nan_to_num(p.hr_bpm, nan=0.0).astype(np.float32) if p.hr_bpm is not None else np.zeros(len(p.time_s), np.float32) for p in train]
        ms = [p.mask for p in train]
        if cfg.center_runners:
            ys = runner_centred(train, ys, ms)
        vx = [self.normaliser.transform(p.x) for p in val]
        hr_all = np.concatenate([p.hr_bpm[p.mask] for p in train if p.hr_bpm is not None])
        if hr_all.size == 0:
            raise Sub3Error("training workouts hold no valid heart rate")
        center = float(np.round(hr_all.mean(), 1))
        scale = float(max(np.round(hr_all.std(), 1), 5.0))
        self.data_summary = {
            "train_workouts": len(train),
            "train_runners": len({str(p.user_id) for p in train}),
            "train_valid_steps": int(sum(m.sum() for m in ms)),
            "val_workouts": len(val),
            "val_runners": len({str(p.user_id) for p in val}),
            "train_hr_mean_bpm": round(float(hr_all.mean()), 2),
            "train_hr_std_bpm": round(float(hr_all.std()), 2),
        }
        mcfg = self._model_config(center, scale)
        self.module = build_model(cfg.arch, mcfg).to(device)
        self.history = []
        self.best_epoch = None
        if cfg.arch in ("mean", "linear"):
            self._fit_closed_form(xs, ys, ms)
            self.module.to("cpu")
            rec = {"epoch": 0, "train_mae_bpm": self._mae(xs, ys, ms, device="cpu")}
            if val:
                rec["val_mae_bpm"] = self._val_mae(vx, val, "cpu")
            self.history.append(rec)
            if callback:
                callback("epoch", rec)
            self._fit_head(xs, train, vx, val, callback)
            return self
        self._fit_sgd(xs, ys, ms, vx, val, device, checkpoint_dir, resume, callback)
        self.module.to("cpu").eval()
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

    def _fit_closed_form(self, xs: list[np.ndarray], ys: list[np.ndarray], ms: list[np.ndarray]) -> None:
        assert self.module is not None
        mcfg = self.module.cfg  # type: ignore[union-attr]
        y = np.concatenate([yy[m] for yy, m in zip(ys, ms)]).astype(np.float64)
        z = (y - mcfg.hr_center) / mcfg.hr_scale
        with torch.no_grad():
            if self.config.arch == "mean":
                self.module.bias.fill_(float(z.mean()))  # type: ignore[union-attr]
                return
            cols = list(mcfg.columns)
            x = np.concatenate([xx[m][:, cols] for xx, m in zip(xs, ms)]).astype(np.float64)
            a = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
            coef, *_ = np.linalg.lstsq(a, z, rcond=None)
            self.module.lin.weight.copy_(torch.tensor(coef[:-1], dtype=torch.float32).view(1, -1))  # type: ignore[union-attr]
            self.module.lin.bias.fill_(float(coef[-1]))  # type: ignore[union-attr]

    def _mae(self, xs: list[np.ndarray], ys: list[np.ndarray], ms: list[np.ndarray], device: str | torch.device) -> float:
        assert self.module is not None
        preds = predict_arrays(self.module, xs, device=device)
        err = np.concatenate([np.abs(p - y)[m] for p, y, m in zip(preds, ys, ms)])
        return float(err.mean()) if err.size else math.nan

    def _val_mae(self, vx: list[np.ndarray], val: Sequence[Prepared], device: str | torch.device) -> float:
        ys = [np.nan_to_num(p.hr_bpm, nan=0.0) if p.hr_bpm is not None else np.zeros(len(p.time_s)) for p in val]
        return self._mae(vx, ys, [p.mask for p in val], device)

    def _fit_sgd(self, xs, ys, ms, vx, val, device, checkpoint_dir, resume, callback) -> None:  # noqa: ANN001
        cfg = self.config
        module = self.module
        assert module is not None
        scale = float(module.cfg.hr_scale)  # type: ignore[union-attr]
        opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        windows = make_windows([len(x) for x in xs], cfg.window_steps, cfg.burn_in_steps)
        windows = [w for w in windows if ms[w.item][w.start + w.score_from : w.stop].any()]
        best_val = math.inf
        best_state = copy.deepcopy(module.state_dict())
        bad = 0
        start_epoch = 1
        ckpt = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
        if ckpt is not None and resume and ckpt.exists():
            st = torch.load(ckpt, map_location=device, weights_only=True)
            if _resume_key(st.get("train_config") or {}) != _resume_key(cfg.to_dict()):
                raise ModelError("checkpoint was written with different training settings; remove it or drop --resume", str(ckpt))
            module.load_state_dict(st["model"])
            opt.load_state_dict(st["optimizer"])
            best_state = st["best_model"]
            best_val = float(st["best_val"])
            bad = int(st["bad_epochs"])
            self.history = list(st["history"])
            self.best_epoch = st.get("best_epoch")
            start_epoch = int(st["epoch"]) + 1
            log.info("resumed from %s at epoch %d", ckpt, start_epoch)
        for epoch in range(start_epoch, cfg.epochs + 1):
            if bad >= cfg.patience and val:
                break
            t0 = time.perf_counter()
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100003 + epoch)
            order = rng.permutation(len(windows))
            if cfg.max_windows_per_epoch:
                order = order[: cfg.max_windows_per_epoch]
            batches = self._length_batches([windows[i] for i in order], cfg.batch_size, rng)
            if callback:
                callback("epoch_start", {"epoch": epoch, "epochs": cfg.epochs, "batches": len(batches)})
            module.train()
            abs_sum = 0.0
            n_sum = 0
            for bi, batch in enumerate(batches):
                t = max(w.stop - w.start for w in batch)
                xb = np.zeros((len(batch), t, xs[0].shape[1]), np.float32)  # (B, T, F)
                yb = np.zeros((len(batch), t), np.float32)  # (B, T)
                mb = np.zeros((len(batch), t), bool)  # (B, T)
                for j, w in enumerate(batch):
                    n = w.stop - w.start
                    xb[j, :n] = xs[w.item][w.start : w.stop]
                    yb[j, :n] = ys[w.item][w.start : w.stop]
                    mb[j, w.score_from : n] = ms[w.item][w.start + w.score_from : w.stop]
                xt, yt, mt = (torch.from_numpy(a).to(device) for a in (xb, yb, mb))
                pred = module(xt)  # (B, T)
                loss = masked_mse(pred, yt, mt, scale)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
                opt.step()
                with torch.no_grad():
                    abs_sum += float(torch.where(mt, (pred - yt).abs(), torch.zeros_like(pred)).sum())
                    n_sum += int(mt.sum())
                if callback:
                    callback("batch", {"epoch": epoch, "batch": bi + 1, "batches": len(batches)})
            rec: dict[str, Any] = {"epoch": epoch, "train_mae_bpm": abs_sum / max(n_sum, 1)}
            if val:
                rec["val_mae_bpm"] = self._val_mae(vx, val, device)
                if rec["val_mae_bpm"] < best_val - 1e-3:
                    best_val = rec["val_mae_bpm"]
                    best_state = copy.deepcopy(module.state_dict())
                    self.best_epoch = epoch
                    bad = 0
                else:
                    bad += 1
                    # reduce on plateau: halve the learning rate after an epoch without progress
                    for group in opt.param_groups:
                        group["lr"] = max(group["lr"] * cfg.lr_decay, cfg.lr * 0.01)
            else:
                best_state = copy.deepcopy(module.state_dict())
                self.best_epoch = epoch
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            self.history.append(rec)
            if callback:
                callback("epoch", {**rec, "best_epoch": self.best_epoch, "best_val_mae_bpm": best_val if val else None})
            if ckpt is not None:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                tmp = ckpt.with_name(ckpt.name + ".tmp")
                torch.save({"epoch": epoch, "model": module.state_dict(), "optimizer": opt.state_dict(),
                            "best_model": best_state, "best_val": best_val, "bad_epochs": bad, "history": self.history,
                            "best_epoch": self.best_epoch, "train_config": cfg.to_dict()}, tmp)
                tmp.replace(ckpt)
        module.load_state_dict(best_state)

    @staticmethod
    def _length_batches(ws: list[_Window], bs: int, rng: np.random.Generator) -> list[list[_Window]]:
        """Batches of windows of similar length (less padding), in random order."""
        out: list[list[_Window]] = []
        pool = bs * 32
        for k in range(0, len(ws), pool):
            chunk = sorted(ws[k : k + pool], key=lambda w: w.stop - w.start)
            out.extend(chunk[j : j + bs] for j in range(0, len(chunk), bs))
        rng.shuffle(out)  # type: ignore[arg-type]
        return out


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
                   resume: bool = False, callback: Callback | None = None) -> tuple[HRModel, dict[str, Any]]:
    """Train ``cfg`` on the split's train part (early stopping on val) and score the test part.

    Returns the fitted model and its test metrics (see :func:`sub3coach.hr.evaluate.evaluate_prepared`)."""
    from sub3coach.hr.evaluate import evaluate_prepared

    parts = split.select(cfg.features or ())
    model = HRModel(cfg)
    model.fit_prepared(parts["train"], parts["val"], checkpoint_dir=checkpoint_dir, resume=resume, callback=callback)
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
) -> dict[str, Any]:
    """``sub3 hr train``: split ``data`` by runner, train, score held-out runners, save ``out``.

    Returns a JSON-safe report (data summary, split, best epoch, test metrics, artifact path)."""
    split = load_split(data, cfg.features or (), step_s=cfg.step_s, seed=cfg.seed)
    model, metrics = train_on_split(cfg, split, checkpoint_dir=checkpoint_dir, resume=resume, callback=callback)
    summary = {k: v for k, v in metrics.items() if k not in ("per_runner", "workouts")}
    path = model.save(out, split={"seed": cfg.seed, "fractions": [0.70, 0.15, 0.15], "runners": split.runners},
                      metrics={"test": summary}, data={**model.data_summary, **split.summary()})
    assert model.module is not None
    return {
        "model": str(path),
        "arch": cfg.arch,
        "parameters": n_parameters(model.module),
        "best_epoch": model.best_epoch,
        "epochs_run": len(model.history),
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
