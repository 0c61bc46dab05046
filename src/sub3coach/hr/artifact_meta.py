"""What an HR model artifact says about itself, read without PyTorch.

An artifact (:mod:`sub3coach.hr.artifact`) is a ``torch.save`` zip whose ``data.pkl`` holds a
plain dict; tensors in it are references to storages. :func:`read_metadata` unpickles that dict
with a restricted unpickler that knows only ``OrderedDict`` and turns every tensor into a
:class:`TensorInfo` (its shape), so ``sub3 hr info`` answers in a fraction of a second instead of
importing torch. Anything else in the pickle is refused (nothing is executed).
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sub3coach.errors import ModelError

#: File name of the bundled default model inside ``sub3coach/models/``.
DEFAULT_MODEL_NAME: str = "hr-default.pt"


def default_model_path() -> Path:
    """Path of the bundled default model (``sub3coach/models/hr-default.pt``)."""
    return Path(str(resources.files("sub3coach").joinpath("models", DEFAULT_MODEL_NAME)))


@dataclass(frozen=True)
class TensorInfo:
    """A tensor of the artifact, by its shape only."""

    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _rebuild_tensor(storage: Any, offset: int, size: tuple[int, ...], *args: Any) -> TensorInfo:
    return TensorInfo(tuple(int(s) for s in size))


class _Storage:
    """Stands for a torch storage class in the pickle (never instantiated with data)."""


class _MetaUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _Storage
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a sub3coach artifact")

    def persistent_load(self, pid: Any) -> None:
        return None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The artifact's dict with tensors replaced by :class:`TensorInfo` (no torch needed).

    Raises:
        ModelError: missing file, not a zip artifact, or an unexpected pickle.
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            name = next((n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if name is None:
                raise ModelError("not a sub3coach model artifact (no data.pkl)", str(p))
            obj = _MetaUnpickler(io.BytesIO(z.read(name))).load()
    except FileNotFoundError as exc:
        raise ModelError("model file not found", str(p)) from exc
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(f"not a readable sub3coach model artifact ({type(exc).__name__})", str(p)) from exc
    if not isinstance(obj, dict) or "format" not in obj:
        raise ModelError("not a sub3coach model artifact (no format field)", str(p))
    return obj


def describe_file(path: str | Path | None = None) -> dict[str, Any]:
    """The same summary as :func:`sub3coach.hr.artifact.describe`, from the file alone."""
    p = Path(path) if path is not None else default_model_path()
    m = read_metadata(p)
    state = m.get("state_dict") or {}
    personal = m.get("personal") or None
    return {
        "name": m.get("name") or m.get("arch"),
        "arch": m.get("arch"),
        "parameters": sum(t.numel for t in state.values() if isinstance(t, TensorInfo)),
        "features": list((m.get("features") or {}).get("names", [])),
        "step_s": (m.get("features") or {}).get("step_s"),
        "format": m.get("format"),
        "package_version": m.get("package_version"),
        "created_utc": m.get("created_utc"),
        "data": m.get("data"),
        "metrics": m.get("metrics"),
        "personal_head": bool(m.get("personal_head")),
        "personalised_for": (m.get("athlete") or {}).get("name") if personal else None,
        "personal_runs": personal.get("n_runs") if personal else None,
        "path": str(p),
    }
