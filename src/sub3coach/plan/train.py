"""Train the next-run pace Transformer, save it as one self-describing artifact, load it back.

* :func:`train_population`: pretrain on many runners (runner-disjoint train/validation split,
  seeded), Adam(W), early stopping on the validation runners' pace MAE, Rich progress.
* :func:`fine_tune`: adapt a model to one runner when they have at least
  :data:`FINE_TUNE_MIN_RUNS` runs (a few epochs at a low learning rate on their own history,
  the last 20 % of it held out to stop early; below the threshold the population model is used
  as is, because a few dozen runs over-fit a 1 M-parameter model).
* :func:`save_plan_model` / :func:`load_plan_model`: the artifact is a plain dict written with
  ``torch.save`` (loads with ``weights_only=True``): ``format``, ``kind="plan"``,
  ``model_class``, ``config``, ``state_dict`` (float16 to keep the bundled file small; float32
  after loading), ``features`` (token and query feature names), ``normalisation`` (mean/std),
  ``metrics``, ``split`` (runner ids), ``data``, ``history`` (per-epoch metrics),
  ``package_version``, ``torch_version``, ``created_utc``. ``load_plan_model(None)`` loads the
  bundled default ``sub3coach/models/plan-default.pt``.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from sub3coach.errors import ModelError, Sub3Error
from sub3coach.hr.distributed import Dist, current, wrap_ddp
from sub3coach.plan.history import (
    CONTEXT_DAYS, CONTEXT_RUNS, QUERY_FEATURES, TOKEN_FEATURES, WORKOUT_TYPES, Examples, add_features,
    make_examples,
)
from sub3coach.plan.model import BASELINES, MODEL_CLASSES, PaceEnsemble, PaceTransformer, PlanConfig, n_parameters

log = logging.getLogger(__name__)

#: Artifact layout version written by this code (2: habit query features, PaceEnsemble, n_members).
FORMAT_VERSION: int = 2
#: File name of the bundled default inside ``sub3coach/models/``.
DEFAULT_MODEL_NAME: str = "plan-default.pt"
#: A runner needs at least this many runs before :func:`fine_tune` adapts the model to them.
FINE_TUNE_MIN_RUNS: int = 150
#: Loss weights of the auxiliary heads (type cross-entropy, gap L1) beside the pace L1.
TYPE_LOSS_WEIGHT: float = 0.1
GAP_LOSS_WEIGHT: float = 0.1
#: Decay of the exponential moving average of the weights that :func:`fit` validates and keeps.
EMA_DECAY: float = 0.99


# --------------------------------------------------------------------------- normalisation
@dataclass
class Normalisation:
    """Per-feature mean and standard deviation of token and query features (from training)."""

    token_mean: np.ndarray
    token_std: np.ndarray
    query_mean: np.ndarray
    query_std: np.ndarray

    @classmethod
    def fit(cls, ex: Examples) -> "Normalisation":
        """Statistics over real (unpadded) runs and all queries of ``ex``."""
        tok = ex.tokens[ex.mask].astype(np.float64)  # [R, F]
        q = ex.query.astype(np.float64)
        return cls(tok.mean(0), np.maximum(tok.std(0), 1e-3), q.mean(0), np.maximum(q.std(0), 1e-3))

    def to_dict(self) -> dict[str, list[float]]:
        return {k: [float(v) for v in getattr(self, k)] for k in ("token_mean", "token_std", "query_mean", "query_std")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Normalisation":
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("token_mean", "token_std", "query_mean", "query_std")))


def to_inputs(ex: Examples, norm: Normalisation) -> dict[str, torch.Tensor]:
    """The model input dict (see :mod:`sub3coach.plan.model`) for ``ex``, normalised."""
    tok = (ex.tokens - norm.token_mean) / norm.token_std
    tok = np.where(ex.mask[..., None], tok, 0.0)
    return {
        "tokens": torch.as_tensor(tok, dtype=torch.float32),
        "mask": torch.as_tensor(ex.mask, dtype=torch.bool),
        "query": torch.as_tensor((ex.query - norm.query_mean) / norm.query_std, dtype=torch.float32),
        "last_ratio": torch.as_tensor(np.log(ex.last_pace / ex.ref_pace), dtype=torch.float32),
        "mean7_ratio": torch.as_tensor(np.log(ex.mean7_pace / ex.ref_pace), dtype=torch.float32),
    }


# --------------------------------------------------------------------------- loaded model
@dataclass
class PlanModel:
    """A pace model ready to predict, with its normalisation and metadata.

    Attributes:
        module: the ``nn.Module`` (eval mode, CPU); name: ``"transformer"`` or a baseline name.
        norm: feature statistics; meta: the rest of the artifact; path: where it came from.
    """

    module: nn.Module
    norm: Normalisation
    name: str = "transformer"
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @torch.no_grad()
    def predict(self, ex: Examples, *, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """Predictions for ``ex``: ``pace_s_per_km`` ``[M]``; for the Transformer also
        ``type_probs`` ``[M, 6]`` (order :data:`WORKOUT_TYPES`) and ``gap_days`` ``[M]``."""
        self.module.eval()
        out: dict[str, list[np.ndarray]] = {"pace_s_per_km": [], "type_probs": [], "gap_days": []}
        for s in range(0, len(ex), batch_size):
            part = ex.subset(slice(s, s + batch_size))
            y = self.module(to_inputs(part, self.norm))
            out["pace_s_per_km"].append(part.ref_pace * np.exp(y["pace"].double().numpy()))
            if "type_logits" in y:
                out["type_probs"].append(torch.softmax(y["type_logits"], -1).numpy())
                out["gap_days"].append(np.expm1(y["gap"].double().clamp(0, 5).numpy()))
        res = {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
        if not out["type_probs"]:
            res.pop("type_probs"), res.pop("gap_days")
        return res

    def predict_pace(self, ex: Examples) -> np.ndarray:
        """Predicted pace of each example, s/km."""
        return self.predict(ex)["pace_s_per_km"]


def baseline_model(name: str, norm: Normalisation | None = None) -> PlanModel:
    """A baseline (:data:`~sub3coach.plan.model.BASELINES`) behind the :class:`PlanModel` interface."""
    if name not in BASELINES:
        raise Sub3Error(f"unknown baseline {name!r} (choose from {', '.join(BASELINES)})")
    n = norm or Normalisation(np.zeros(len(TOKEN_FEATURES)), np.ones(len(TOKEN_FEATURES)),
                              np.zeros(len(QUERY_FEATURES)), np.ones(len(QUERY_FEATURES)))
    return PlanModel(BASELINES[name](), n, name=name)


# --------------------------------------------------------------------------- artifact
def default_model_path() -> Path:
    """Path of the bundled default (``sub3coach/models/plan-default.pt``)."""
    return Path(str(resources.files("sub3coach").joinpath("models", DEFAULT_MODEL_NAME)))


def save_plan_model(path: str | Path, model: PlanModel, **meta: Any) -> Path:
    """Write ``model`` (a trained Transformer) as an artifact at ``path`` (temp file, then rename)."""
    from sub3coach import __version__

    module = model.module
    if type(module).__name__ not in MODEL_CLASSES:
        raise Sub3Error(f"cannot save a {type(module).__name__}: baselines need no artifact")
    state = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()) for k, v in module.state_dict().items()}
    obj = {
        "format": FORMAT_VERSION,
        "kind": "plan",
        "package_version": __version__,
        "torch_version": str(torch.__version__),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_class": type(module).__name__,
        "config": module.cfg.to_dict(),  # type: ignore[union-attr]
        "state_dict": state,
        "features": {"token": list(TOKEN_FEATURES), "query": list(QUERY_FEATURES), "types": list(WORKOUT_TYPES),
                     "context_runs": CONTEXT_RUNS, "context_days": CONTEXT_DAYS},
        "normalisation": model.norm.to_dict(),
        **{k: v for k, v in model.meta.items() if k not in ("format", "kind", "features", "normalisation", "config")},
        **meta,
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(p)
    return p


def _check_features(obj: Mapping[str, Any], path: str) -> None:
    f = obj.get("features") or {}
    if list(f.get("token", [])) != list(TOKEN_FEATURES) or list(f.get("query", [])) != list(QUERY_FEATURES):
        raise ModelError("model was trained on different plan features than this sub3coach computes; retrain it", path)


def load_plan_model(path: str | Path | None = None) -> PlanModel:
    """Load a next-run pace model artifact; ``None`` loads the bundled default.

    Raises:
        ModelError: missing file, not a plan artifact, newer incompatible format, inconsistent.
    """
    p = Path(path) if path is not None else default_model_path()
    if not p.exists():
        if path is None:
            raise ModelError("the bundled default plan model is missing from the installation; reinstall sub3coach", str(p))
        raise ModelError("model file not found", str(p))
    from sub3coach.hr.artifact import read_artifact

    obj = read_artifact(p)
    if obj.get("kind") != "plan":
        raise ModelError(f"not a next-workout (plan) model but a {obj.get('kind') or obj.get('arch') or 'different'} model", str(p))
    fmt = obj["format"]
    if not isinstance(fmt, int) or fmt < 1:
        raise ModelError(f"artifact format {fmt!r} is not supported", str(p))
    if fmt > FORMAT_VERSION:
        raise ModelError(f"plan model format {fmt} (sub3coach {obj.get('package_version', '?')}) is newer than this "
                         f"sub3coach supports (format {FORMAT_VERSION}); upgrade sub3coach", str(p))
    _check_features(obj, str(p))
    cls = MODEL_CLASSES.get(str(obj.get("model_class")))
    if cls is None:
        raise ModelError(f"unknown model class {obj.get('model_class')!r}", str(p))
    try:
        cfg = PlanConfig.from_dict(dict(obj["config"]))
        module = cls(cfg)
        module.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in obj["state_dict"].items()})
        norm = Normalisation.from_dict(obj["normalisation"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"inconsistent model artifact: {exc}".splitlines()[0], str(p)) from exc
    module.eval()
    meta = {k: v for k, v in obj.items() if k not in ("state_dict", "normalisation")}
    return PlanModel(module, norm, name="transformer", meta=meta, path=str(p))


# --------------------------------------------------------------------------- data
def examples_for(histories: Mapping[str, pd.DataFrame], *, min_history_days: float = 0.0) -> Examples:
    """All walk-forward examples of several runners (raw histories; features added here)."""
    return Examples.concat([make_examples(add_features(df), min_history_days=min_history_days)
                            for df in histories.values() if len(df) >= 2])


def split_runner_ids(ids: list[str], *, seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.2) -> dict[str, list[str]]:
    """Runner-disjoint train/val/test split, seeded. Runners are shuffled within two strata
    (ids from one-runner files ``d-...`` and the rest, i.e. the many-runner table) so every part
    gets both kinds."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for stratum in (sorted(i for i in ids if i.startswith("d-")), sorted(i for i in ids if not i.startswith("d-"))):
        perm = [stratum[i] for i in rng.permutation(len(stratum))]
        n_test = int(round(test_frac * len(perm)))
        n_val = int(round(val_frac * len(perm)))
        out["test"] += perm[:n_test]
        out["val"] += perm[n_test:n_test + n_val]
        out["train"] += perm[n_test + n_val:]
    return {k: sorted(v) for k, v in out.items()}


# --------------------------------------------------------------------------- training
def _loss(y: dict[str, torch.Tensor], ex: Examples, n_global: int | None = None) -> torch.Tensor:
    """Pace L1 plus weighted type cross-entropy and gap L1, summed over ``ex`` and divided by
    ``n_global`` (the global batch size over all ranks; default ``len(ex)``: the batch mean)."""
    target = torch.as_tensor(np.log(ex.target_pace / ex.ref_pace), dtype=torch.float32)
    loss = torch.nn.functional.l1_loss(y["pace"], target, reduction="sum")
    if "type_logits" in y:
        ce = torch.nn.functional.cross_entropy(y["type_logits"], torch.as_tensor(ex.target_type), reduction="sum")
        gap = torch.as_tensor(np.log1p(np.minimum(ex.target_gap, 30.0)), dtype=torch.float32)
        loss = loss + TYPE_LOSS_WEIGHT * ce + GAP_LOSS_WEIGHT * torch.nn.functional.l1_loss(y["gap"], gap, reduction="sum")
    return loss / float(n_global or len(ex))


def _rank_share(idx: np.ndarray, d: Dist) -> tuple[np.ndarray, float]:
    """This rank's examples of a global batch (every ``world``-th, like DistributedSampler) and
    their weight; a rank left without any runs one example at weight 0 (it still joins the
    gradient all-reduce)."""
    mine = idx[d.rank :: d.world]
    return (mine, 1.0) if len(mine) else (idx[:1], 0.0)


def pace_mae(model: PlanModel, ex: Examples) -> float:
    """Mean absolute pace error over ``ex``, s/km (NaN when empty)."""
    if not len(ex):
        return float("nan")
    return float(np.mean(np.abs(model.predict_pace(ex) - ex.target_pace)))


@dataclass
class _Steps:
    """What one training pass needs: the module (and its DDP wrapper), optimiser, EMA, rank."""

    model: PlanModel
    ddp: nn.Module
    opt: torch.optim.Optimizer
    ema: Any
    d: Dist

    def epoch(self, train: Examples, perm: np.ndarray, batch_size: int, advance: Callable[[], None]) -> float:
        """One pass over ``train`` in global batches of ``perm``; mean loss per example over all ranks."""
        module, d = self.model.module, self.d
        module.train()
        total = 0.0
        for b in range(max(1, math.ceil(len(train) / batch_size))):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            mine, weight = _rank_share(idx, d)
            part = train.subset(mine)
            # DDP averages gradients over ranks: times world, the update is that of the global batch
            loss = _loss(self.ddp(to_inputs(part, self.model.norm)), part, len(idx)) * (weight * d.world)
            self.opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            self.opt.step()
            if self.ema is not None:
                self.ema.update_parameters(module)
            total += loss.item() * len(idx) / d.world
            advance()
        return float(d.all_sum([total])[0]) / max(len(train), 1)

    def validate(self, val: Examples | None) -> tuple[float, dict[str, Any] | None]:
        """Validation pace MAE of the EMA weights (loaded; the live ones returned to restore)."""
        live = None
        if self.ema is not None:  # validate (and maybe keep) the averaged weights
            live = copy.deepcopy(self.model.module.state_dict())
            self.model.module.load_state_dict(self.ema.module.state_dict())
        return (pace_mae(self.model, val) if val is not None and len(val) else float("nan")), live


def fit(
    model: PlanModel,
    train: Examples,
    val: Examples | None,
    *,
    epochs: int = 15,
    lr: float = 5e-4,
    batch_size: int = 128,
    patience: int = 3,
    seed: int = 0,
    weight_decay: float = 1e-4,
    ema_decay: float | None = EMA_DECAY,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    dist: Dist | None = None,
) -> list[dict[str, float]]:
    """Train ``model.module`` in place; keep the weights of the best validation epoch.

    With ``ema_decay`` the weights that are validated and kept are an exponential moving
    average of the training weights (updated every step; 0.99 averages about the last 100
    steps), which evens out the epoch-to-epoch noise of a small, noisy target.
    Early stopping: stop after ``patience`` epochs without a better validation pace MAE (no
    validation set: train all ``epochs``). Returns the per-epoch history
    (``epoch``, ``train_loss``, ``val_pace_mae``, ``seconds``).

    Under torchrun (``dist`` with several ranks) the module is wrapped in DistributedDataParallel
    and every global batch of ``batch_size`` examples is shared out by rank (:func:`_rank_share`);
    every rank holds all examples and validates all of them (the same weights, hence the same
    early-stopping decision everywhere, with no communication)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d = dist or current("cpu")
    module = model.module
    ema = torch.optim.swa_utils.AveragedModel(module, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema_decay)) \
        if ema_decay else None
    steps = _Steps(model, wrap_ddp(module, d), torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay), ema, d)
    best = (math.inf, copy.deepcopy(module.state_dict()))
    hist: list[dict[str, float]] = []
    bad = 0
    n_batches = max(1, math.ceil(len(train) / batch_size))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not (progress and d.is_main), transient=True) as bar:
        task = bar.add_task("epoch 1", total=n_batches)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            bar.reset(task, total=n_batches, description=f"epoch {epoch}/{epochs}")
            train_loss = steps.epoch(train, rng.permutation(len(train)), batch_size, lambda: bar.advance(task))
            val_mae, live = steps.validate(val)
            rec = {"epoch": epoch, "train_loss": train_loss, "val_pace_mae": val_mae, "seconds": time.perf_counter() - t0}
            hist.append(rec)
            log.info("epoch %d: train loss %.4f, val pace MAE %.2f s/km (%.0f s)", epoch, train_loss, val_mae, rec["seconds"])
            if on_epoch:
                on_epoch(rec)
            score = val_mae if math.isfinite(val_mae) else train_loss
            if score < best[0]:
                best, bad = (score, copy.deepcopy(module.state_dict())), 0
            else:
                bad += 1
                if val is not None and len(val) and bad >= patience:
                    break
            if live is not None:
                module.load_state_dict(live)  # go on training the live weights
    module.load_state_dict(best[1])
    module.eval()
    return hist


def train_population(
    histories: Mapping[str, pd.DataFrame],
    *,
    seed: int = 0,
    config: PlanConfig | None = None,
    epochs: int = 15,
    lr: float = 5e-4,
    batch_size: int = 128,
    patience: int = 3,
    test_frac: float = 0.2,
    val_frac: float = 0.1,
    split_seed: int | None = None,
    members: int = 1,
    progress: bool = True,
    dist: Dist | None = None,
) -> PlanModel:
    """Pretrain a :class:`PaceTransformer` on a runner-disjoint split of ``histories``; with
    ``members`` > 1, that many from seeds ``seed``, ``seed + 1``... on the same split, joined in
    one :class:`PaceEnsemble` (:func:`ensemble`).

    The returned model's ``meta`` holds ``split`` (runner ids), ``data`` (counts), ``history``
    (per epoch) and ``train_seconds``; evaluate it on ``meta["split"]["test"]`` (never seen).
    ``seed`` seeds the weights and batches, ``split_seed`` (default ``seed``) the runner split.
    """
    if members < 1:
        raise Sub3Error(f"members must be at least 1, not {members}")
    if members > 1:
        split_seed = seed if split_seed is None else split_seed
        return ensemble([train_population(histories, seed=seed + i, config=config, epochs=epochs, lr=lr, batch_size=batch_size,
                                          patience=patience, test_frac=test_frac, val_frac=val_frac, split_seed=split_seed,
                                          progress=progress, dist=dist) for i in range(members)])
    torch.manual_seed(seed)
    ids = sorted(histories)
    split_seed = seed if split_seed is None else split_seed
    split = split_runner_ids(ids, seed=split_seed, val_frac=val_frac, test_frac=test_frac)
    if not split["train"]:
        raise Sub3Error("not enough runners to train on")
    train = examples_for({k: histories[k] for k in split["train"]})
    val = examples_for({k: histories[k] for k in split["val"]}, min_history_days=28.0)
    if len(train) < 10:
        raise Sub3Error(f"only {len(train)} training examples: need longer histories")
    cfg = config or PlanConfig(n_token_features=len(TOKEN_FEATURES), n_query_features=len(QUERY_FEATURES), max_runs=CONTEXT_RUNS)
    model = PlanModel(PaceTransformer(cfg), Normalisation.fit(train))
    log.info("training on %d examples from %d runners (%d parameters)", len(train), len(split["train"]), n_parameters(model.module))
    t0 = time.perf_counter()
    hist = fit(model, train, val, epochs=epochs, lr=lr, batch_size=batch_size, patience=patience, seed=seed, progress=progress,
               dist=dist)
    model.meta.update({
        "split": split,
        "seed": seed,
        "split_seed": split_seed,
        "data": {"n_runners": {k: len(v) for k, v in split.items()}, "n_train_examples": len(train), "n_val_examples": len(val),
                 "n_runs": int(sum(len(h) for h in histories.values()))},
        "history": hist,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "training": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "patience": patience, "optimizer": "AdamW"},
    })
    return model


def ensemble(models: list[PlanModel]) -> PlanModel:
    """One :class:`PaceEnsemble` of several Transformers trained on the same runners (same
    split, hence the same normalisation), e.g. from different seeds. ``meta`` is the first
    model's, with ``members`` (each member's seed, epochs and best validation MAE)."""
    if not models or not all(isinstance(m.module, PaceTransformer) for m in models):
        raise Sub3Error("an ensemble needs one or more PaceTransformer models")
    first = models[0]
    if any(m.meta.get("split") != first.meta.get("split") or m.norm.to_dict() != first.norm.to_dict() for m in models):
        raise Sub3Error("ensemble members must be trained on the same runner split")
    cfg = PlanConfig.from_dict({**first.module.cfg.to_dict(), "n_members": len(models)})  # type: ignore[union-attr]
    module = PaceEnsemble(cfg)
    for member, m in zip(module.members, models):
        member.load_state_dict(m.module.state_dict())
    module.eval()
    meta = dict(first.meta)
    meta["members"] = [{"seed": m.meta.get("seed"), "epochs_run": len(m.meta.get("history", [])),
                        "best_val_pace_mae": min((h["val_pace_mae"] for h in m.meta.get("history", [])), default=None),
                        "train_seconds": m.meta.get("train_seconds")} for m in models]
    meta["train_seconds"] = round(sum(float(m.meta.get("train_seconds") or 0.0) for m in models), 1)
    return PlanModel(module, first.norm, name="transformer", meta=meta)


def fine_tune(
    model: PlanModel,
    history: pd.DataFrame,
    *,
    min_runs: int = FINE_TUNE_MIN_RUNS,
    epochs: int = 8,
    lr: float = 1e-4,
    seed: int = 0,
    max_examples: int = 1500,
    progress: bool = False,
) -> PlanModel:
    """A copy of ``model`` adapted to one runner's history (unchanged copy when too short).

    The runner's walk-forward examples are split in time: the earliest 80 % train, the latest
    20 % stop early (patience 2); at most the ``max_examples`` most recent runs are used (1500
    was better than 600 on the validation runners: 18.3 vs 18.6 s/km; lr 1e-4, 8 epochs). Needs
    ``min_runs`` runs (:data:`FINE_TUNE_MIN_RUNS`)."""
    if not isinstance(model.module, (PaceTransformer, PaceEnsemble)):
        raise Sub3Error(f"only the Transformer can be fine-tuned, not the {model.name} baseline")
    out = PlanModel(copy.deepcopy(model.module), model.norm, name=model.name, meta=dict(model.meta), path=model.path)
    if len(history) < min_runs:
        log.info("%d runs: below the fine-tuning threshold (%d), using the population model", len(history), min_runs)
        out.meta["fine_tuned"] = False
        return out
    ex = make_examples(add_features(history))
    ex = ex.subset(slice(max(0, len(ex) - max_examples), None))  # the most recent runs (bounded cost)
    cut = int(len(ex) * 0.8)
    hist = fit(out, ex.subset(slice(0, cut)), ex.subset(slice(cut, None)), epochs=epochs, lr=lr, batch_size=64,
               patience=2, seed=seed, ema_decay=None, progress=progress)
    out.meta["fine_tuned"] = True
    out.meta["fine_tune_history"] = hist
    return out


def _save_scored(out: str, model: PlanModel, runners: Mapping[str, pd.DataFrame], world: int) -> tuple[Path, dict]:
    """Save ``model`` at ``out``, score the saved file on its held-out test runners and save it
    again with those metrics. Returns the path and the metrics.

    Raises:
        Sub3Error: ``out`` cannot be written."""
    from sub3coach.plan.evaluate import evaluate

    test = {k: runners[k] for k in model.meta["split"]["test"]}
    try:
        path = save_plan_model(out, model, world_size=world)
        metrics = evaluate(load_plan_model(path), test) if test else {}  # score what was saved
        metrics.pop("per_runner", None)
        metrics.pop("model", None)
        return save_plan_model(out, model, metrics={"test": metrics}, world_size=world), metrics
    except OSError as exc:
        raise Sub3Error(f"cannot write the model: {exc.strerror or exc}", out) from exc


def main(argv: list[str] | None = None) -> int:
    """``[torchrun ...] python -m sub3coach.plan.train --data HISTORIES --out plan.pt``: train the
    pace Transformer (DDP over CPU ranks, gloo), rank 0 saves the artifact and scores the held-out
    runners. Exit 0, 1 (error)."""
    import argparse
    import json
    import sys

    from sub3coach.hr.distributed import joined
    from sub3coach.plan.history import load_histories

    ap = argparse.ArgumentParser(prog="python -m sub3coach.plan.train", description=main.__doc__)
    ap.add_argument("--data", required=True, help="folder (or file) of training histories")
    ap.add_argument("--out", required=True, help="artifact to write (.pt)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128, help="global batch (examples per step over all ranks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--members", type=int, default=1)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="each rank draws its own dropout masks: with dropout > 0 runs on different world sizes "
                         "agree in distribution, not bit for bit")
    a = ap.parse_args(argv)
    cfg = PlanConfig(n_token_features=len(TOKEN_FEATURES), n_query_features=len(QUERY_FEATURES), max_runs=CONTEXT_RUNS,
                     d_model=a.d_model, n_layers=a.layers, dropout=a.dropout)
    try:
        with joined("cpu") as d:
            with d.together("reading the histories"):  # a rank that cannot read them stops every rank
                runners = load_histories(a.data, strict=False)
            model = train_population(runners, seed=a.seed, config=cfg, epochs=a.epochs, batch_size=a.batch_size,
                                     members=a.members, progress=d.is_main, dist=d)
            with d.together("saving the model"):  # the other ranks wait here for rank 0's artifact
                if d.is_main:
                    path, metrics = _save_scored(a.out, model, runners, d.world)
            if not d.is_main:
                return 0
    except Sub3Error as exc:
        print(f"sub3: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"out": str(path), "world_size": d.world, "history": model.meta.get("history"), "metrics": metrics},
                     default=str))
    return 0


if __name__ == "__main__":  # torchrun ... -m sub3coach.plan.train
    from sub3coach.hr.distributed import exit_process
    from sub3coach.plan.train import main as _main

    exit_process(_main())
