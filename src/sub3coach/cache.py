"""Small JSON caches in the user's cache dir (profiles, per-run training load).

Everything here only saves time: a cache that cannot be read is recomputed, one that cannot be
written is a logged warning, never an error. The folder is ``$SUB3_CACHE_DIR`` or the user cache
dir (platformdirs); tests point ``SUB3_CACHE_DIR`` into a temp folder.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$SUB3_CACHE_DIR``, else ``<user cache dir>/sub3coach``."""
    env = os.environ.get("SUB3_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sub3coach", appauthor=False))


def cache_file(kind: str, *key: Any) -> Path:
    """``<cache root>/<kind>/<hash of key>.json`` (``key``: JSON-able parts)."""
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:24]
    return cache_root() / kind / f"{digest}.json"


def read_json(path: Path, version: int) -> dict[str, Any] | None:
    """The ``data`` of a cache file written by :func:`write_json` with ``version``, else None."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or d.get("version") != version or not isinstance(d.get("data"), dict):
        return None
    return d["data"]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temp file of its own in the same folder (unique
    per call, so threads and processes writing one key never share it) renamed over ``path``.

    Raises:
        OSError: the folder or file cannot be written (the temp file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name + ".", suffix=".tmp",
                                     delete=False, encoding="utf-8") as fh:
        tmp = Path(fh.name)
        try:
            fh.write(text)
        except OSError:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, version: int, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (:func:`write_atomic`); failures are logged, never raised."""
    try:
        write_atomic(path, json.dumps({"version": version, "data": data}, allow_nan=False))
    except (OSError, ValueError) as exc:
        log.warning("cannot write the cache %s: %s", path, exc)
