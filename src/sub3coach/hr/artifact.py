"""Self-describing HR model artifacts and the ONE loader used everywhere.

An artifact is a single file written with ``torch.save`` holding a plain dict (no pickled
classes, so it loads with ``weights_only=True``):

* ``format`` (int, :data:`FORMAT_VERSION`), ``package_version``, ``created_utc``;
* ``arch`` (e.g. ``"hrnet"``), ``model_class`` and ``config`` (the config dataclass as a dict);
* ``state_dict`` (tensors);
* ``features`` (:class:`~sub3coach.features.FeatureSpec` dict) and ``normaliser``;
* ``data`` (training-data summary), ``metrics`` (validation/test numbers), ``split``
  (runner ids per part), ``history`` (per-epoch metrics);
* since format 2: ``personal_head`` (the personal head's population prior, noise model, in-run
  filter and calibrated bands, :class:`~sub3coach.hr.personal.HeadPrior`) and, in a
  personalised artifact, ``personal`` (one runner's fitted parameters,
  :class:`~sub3coach.hr.personal.Personal`) and ``athlete`` (who, and from which runs).

:func:`load_model` is what evaluate, predict, the CLI and the web app call. An artifact written
by a newer, incompatible format fails with a clear :class:`~sub3coach.errors.ModelError`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sub3coach.errors import ModelError
from sub3coach.hr.artifact_meta import DEFAULT_MODEL_NAME, default_model_path  # noqa: F401  (re-exported)
from sub3coach.features import FeatureSpec, Normaliser
from sub3coach.hr.models import ARCHITECTURES, CLASS_TO_ARCH, build_model, config_from_dict
from sub3coach.hr.personal import HeadPrior, Personal

log = logging.getLogger(__name__)

#: Artifact format written by this version. Bump on incompatible layout changes.
FORMAT_VERSION: int = 2


@dataclass
class LoadedModel:
    """A model ready for inference, with everything needed to featurise its input.

    Attributes:
        module: the ``nn.Module`` in eval mode (on CPU).
        arch: architecture name; spec: feature spec; normaliser: fitted statistics.
        meta: the rest of the artifact (data summary, metrics, split, history, versions).
        path: where it was loaded from (None when built in memory).
        head: the personal head (None in format-1 artifacts: a wide default is used then).
        personal: a runner's fitted parameters (None: cold start).
    """

    module: nn.Module
    arch: str
    spec: FeatureSpec
    normaliser: Normaliser
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    head: HeadPrior | None = None
    personal: Personal | None = None

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.arch


def artifact_dict(
    module: nn.Module,
    arch: str,
    spec: FeatureSpec,
    normaliser: Normaliser,
    **meta: Any,
) -> dict[str, Any]:
    """The artifact payload (plain types and tensors only)."""
    from sub3coach import __version__

    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    return {
        "format": FORMAT_VERSION,
        "package_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arch": arch,
        "model_class": type(module).__name__,
        "config": module.cfg.to_dict(),  # type: ignore[union-attr]
        "state_dict": state,
        "features": spec.to_dict(),
        "normaliser": normaliser.to_dict(),
        **meta,
    }


def save_model(path: str | Path, module: nn.Module, arch: str, spec: FeatureSpec, normaliser: Normaliser, *,
               head: HeadPrior | None = None, personal: Personal | None = None, **meta: Any) -> Path:
    """Write an artifact to ``path`` (atomically: temp file then rename)."""
    if head is not None:
        meta["personal_head"] = head.to_dict()
    if personal is not None:
        meta["personal"] = personal.to_dict()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(artifact_dict(module, arch, spec, normaliser, **meta), tmp)
        tmp.replace(path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise ModelError(f"cannot write model ({exc.strerror or exc})", str(path)) from exc
    return path


def save_loaded(path: str | Path, lm: LoadedModel, **meta: Any) -> Path:
    """Write a loaded model (e.g. after personalising it) as a new artifact, keeping its metadata."""
    keep = {k: v for k, v in lm.meta.items() if k not in ("format", "package_version", "created_utc", "arch",
                                                         "model_class", "config")}
    keep.update(meta)
    return save_model(path, lm.module, lm.arch, lm.spec, lm.normaliser, head=lm.head, personal=lm.personal, **keep)


def read_artifact(path: Path) -> dict[str, Any]:
    """The raw dict of a sub3coach artifact file (HR or plan), loaded with ``weights_only``.

    Raises:
        ModelError: missing, unreadable or not a sub3coach artifact.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelError("model file not found", str(path)) from exc
    except Exception as exc:  # garbage makes torch.load fail in many ways (KeyError, UnpicklingError...)
        raise ModelError(f"not a readable sub3coach model artifact ({type(exc).__name__})", str(path)) from exc
    if not isinstance(obj, dict) or "format" not in obj:
        raise ModelError("not a sub3coach model artifact (no format field)", str(path))
    return obj


def from_artifact(obj: dict[str, Any], path: str | None = None) -> LoadedModel:
    """Build a :class:`LoadedModel` from an artifact dict (see module docs)."""
    fmt = obj.get("format")
    if not isinstance(fmt, int):
        raise ModelError(f"artifact format {fmt!r} is not a version number", path)
    if fmt > FORMAT_VERSION:
        raise ModelError(
            f"model artifact format {fmt} (written by sub3coach {obj.get('package_version', '?')}) is newer than "
            f"this sub3coach supports (format {FORMAT_VERSION}); upgrade sub3coach",
            path,
        )
    if fmt < 1:
        raise ModelError(f"artifact format {fmt} is not supported", path)
    arch = obj.get("arch") or CLASS_TO_ARCH.get(str(obj.get("model_class")), "")
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown model architecture {arch!r}", path)
    try:
        cfg = config_from_dict(arch, dict(obj["config"]))
        module = build_model(arch, cfg)
        module.load_state_dict(obj["state_dict"])
        spec = FeatureSpec.from_dict(obj["features"])
        norm = Normaliser.from_dict(obj["normaliser"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"inconsistent model artifact: {exc}".splitlines()[0], path) from exc
    if tuple(norm.names) != tuple(spec.names):
        raise ModelError("inconsistent model artifact: normaliser and feature names differ", path)
    try:
        head = HeadPrior.from_dict(obj["personal_head"]) if obj.get("personal_head") else None
        personal = Personal.from_dict(obj["personal"]) if obj.get("personal") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"inconsistent personal head in model artifact: {exc}".splitlines()[0], path) from exc
    module.eval()
    skip = ("state_dict", "config", "features", "normaliser", "personal_head", "personal")
    meta = {k: v for k, v in obj.items() if k not in skip}
    meta["config"] = dict(obj["config"])
    return LoadedModel(module=module, arch=arch, spec=spec, normaliser=norm, meta=meta, path=path, head=head,
                       personal=personal)


_CACHE: dict[tuple[str, float], LoadedModel] = {}


def load_model(path: str | Path | None = None) -> LoadedModel:
    """Load an HR model artifact; ``None`` loads the bundled default model.

    The result is cached per (path, modification time), so the web app and repeated CLI calls
    in one process load each file once.

    Raises:
        ModelError: missing file, not an artifact, newer incompatible format, or inconsistent.
    """
    p = Path(path) if path is not None else default_model_path()
    if not p.exists():
        if path is None:
            raise ModelError("the bundled default HR model is missing from the installation; reinstall sub3coach", str(p))
        raise ModelError("model file not found", str(p))
    key = (str(p.resolve()), p.stat().st_mtime)
    if key in _CACHE:
        return _CACHE[key]
    from sub3coach.hr.predict import configure_threads

    configure_threads()
    lm = from_artifact(read_artifact(p), str(p))
    _CACHE[key] = lm
    log.debug("loaded %s model from %s", lm.arch, p)
    return lm


def describe(lm: LoadedModel) -> dict[str, Any]:
    """A JSON-safe summary of a loaded model (for ``--json`` and the web app)."""
    from sub3coach.hr.models import n_parameters

    m = lm.meta
    return {
        "name": lm.name,
        "arch": lm.arch,
        "parameters": n_parameters(lm.module),
        "features": list(lm.spec.names),
        "step_s": lm.spec.step_s,
        "format": m.get("format"),
        "package_version": m.get("package_version"),
        "created_utc": m.get("created_utc"),
        "data": m.get("data"),
        "metrics": m.get("metrics"),
        "personal_head": lm.head is not None,
        "personalised_for": (m.get("athlete") or {}).get("name") if lm.personal is not None else None,
        "personal_runs": lm.personal.n_runs if lm.personal is not None else None,
        "path": lm.path,
    }
