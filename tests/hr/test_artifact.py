"""One self-describing artifact file and one loader; clear errors for bad or newer files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sub3coach.errors import ModelError
from sub3coach.hr.artifact import FORMAT_VERSION, default_model_path, describe, load_model
from sub3coach.hr.predict import predict_workout
from sub3coach.synth import synthetic_run


def test_round_trip_keeps_everything(tiny_model_path: Path) -> None:
    lm = load_model(tiny_model_path)
    raw = torch.load(tiny_model_path, weights_only=True)
    assert raw["format"] == FORMAT_VERSION and raw["arch"] == "hrnet" and raw["model_class"] == "HRNet"
    for key in ("package_version", "config", "state_dict", "features", "normaliser", "data", "history", "train_config"):
        assert key in raw, key
    assert tuple(raw["features"]["names"]) == lm.spec.names
    d = describe(lm)
    assert d["arch"] == "hrnet" and d["parameters"] > 0 and d["features"] == list(lm.spec.names)
    # a fresh load of the same file predicts the same thing
    from sub3coach.hr.artifact import read_artifact, from_artifact

    lm2 = from_artifact(read_artifact(tiny_model_path), str(tiny_model_path))
    w = synthetic_run(duration_s=600, seed=11)
    np.testing.assert_array_equal(predict_workout(lm, w), predict_workout(lm2, w))


def test_newer_format_fails_clearly(tiny_model_path: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_model_path, weights_only=True)
    raw["format"] = FORMAT_VERSION + 1
    raw["package_version"] = "9.0.0"
    p = tmp_path / "future.pt"
    torch.save(raw, p)
    with pytest.raises(ModelError) as ei:
        load_model(p)
    msg = str(ei.value)
    assert "newer" in msg and "upgrade" in msg and str(p) in msg and "\n" not in msg


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04garbage"])
def test_garbage_and_missing_files_fail_clearly(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(ModelError, match="bad.pt"):
        load_model(p)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_wrong_shapes_fail_clearly(tiny_model_path: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_model_path, weights_only=True)
    raw["config"]["hidden"] = 7
    p = tmp_path / "inconsistent.pt"
    torch.save(raw, p)
    with pytest.raises(ModelError, match="inconsistent"):
        load_model(p)


def test_bundled_default_model_loads() -> None:
    if not default_model_path().exists():
        pytest.fail("the bundled default model sub3coach/models/hr-default.pt is missing")
    lm = load_model()
    assert lm.arch == "hrnet"
    assert default_model_path().stat().st_size < 5_000_000
    assert lm.meta["format"] >= 2 and lm.head is not None and set(lm.head.band) == {"cold", "personal", "in-run"}
    proto = (lm.meta.get("metrics") or {}).get("protocol") or {}
    assert proto.get("folds", 0) >= 3, "the bundled model carries the K-fold protocol's figures"
    assert all(proto[m]["mae_bpm"] is not None for m in ("cold", "personal", "in-run"))


def test_personal_artifact_round_trip(tiny_model_path: Path, tmp_path: Path) -> None:
    from sub3coach.hr.artifact import save_loaded
    from sub3coach.hr.personalize import personalize
    from sub3coach.synth import synthetic_run

    lm = load_model(tiny_model_path)
    me = personalize(lm, [synthetic_run(duration_s=900, seed=k) for k in range(3)], stated={"max_hr_bpm": 190.0}, athlete="me")
    p = save_loaded(tmp_path / "me.pt", me)
    back = load_model(p)
    assert back.personal is not None and back.personal.n_runs == 3
    np.testing.assert_allclose(back.personal.theta, me.personal.theta)
    assert back.meta["athlete"]["name"] == "me" and back.meta["athlete"]["stated"] == {"max_hr_bpm": 190.0}


def test_format_1_artifacts_still_load(tiny_model_path: Path, tmp_path: Path) -> None:
    raw = torch.load(tiny_model_path, weights_only=True)
    raw["format"] = 1
    raw.pop("personal_head", None)
    p = tmp_path / "old.pt"
    torch.save(raw, p)
    lm = load_model(p)
    assert lm.head is None
    from sub3coach.hr.predict import predict_full
    from sub3coach.synth import synthetic_run

    pr = predict_full(lm, synthetic_run(duration_s=600, seed=1))
    assert (pr.hr_hi > pr.hr_lo).all()  # a wide default band


@pytest.mark.parametrize("content", [b"junk\n", b"\x80\x02}q\x00.", b"PK\x03\x04" + b"\0" * 100])
def test_garbage_model_file_is_a_model_error(tmp_path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    from sub3coach.errors import ModelError

    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(ModelError, match="bad.pt"):
        load_model(p)


def test_info_reads_metadata_without_torch(tmp_path: Path) -> None:
    """``sub3 hr info`` (and describe_file) never import torch, and agree with the full loader."""
    import json
    import subprocess
    import sys

    from sub3coach.hr.artifact import describe
    from sub3coach.hr.artifact_meta import describe_file

    code = ("import sys, json; from typer.testing import CliRunner; from sub3coach.hr.cli import hr_app; "
            "r = CliRunner().invoke(hr_app, ['info', '--json']); assert r.exit_code == 0, r.output; "
            "print(json.dumps({'torch': 'torch' in sys.modules, 'info': json.loads(r.stdout)}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out["torch"] is False
    full = describe(load_model())
    for key in ("parameters", "features", "format", "created_utc", "arch"):
        assert out["info"][key] == full[key], key
    assert describe_file()["parameters"] == full["parameters"]
    bad = tmp_path / "evil.pt"
    import io
    import pickle
    import zipfile

    buf = io.BytesIO()
    pickle.dump(eval, buf)  # a pickle that would call a builtin: refused, never executed
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("evil/data.pkl", buf.getvalue())
    with pytest.raises(ModelError, match="evil.pt"):
        describe_file(bad)
