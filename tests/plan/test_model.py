"""The pace Transformer (tiny CPU overfit, masking), the baselines, and the artifact round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sub3coach.errors import ModelError, Sub3Error
from sub3coach.plan.history import QUERY_FEATURES, TOKEN_FEATURES, Examples, add_features, make_examples
from sub3coach.plan.model import BASELINES, PaceTransformer, PlanConfig, sinusoidal_encoding
from sub3coach.plan.train import (
    Normalisation, PlanModel, baseline_model, fine_tune, fit, load_plan_model, pace_mae, save_plan_model,
    split_runner_ids, to_inputs,
)
from tests.plan.gen import history_frame

TINY = PlanConfig(n_token_features=len(TOKEN_FEATURES), n_query_features=len(QUERY_FEATURES), d_model=32, n_heads=4,
                  n_layers=2, dim_feedforward=64, dropout=0.0)


def _examples(n_runners: int = 2, days: int = 80) -> Examples:
    return Examples.concat([make_examples(add_features(history_frame(days, seed=s, base_pace=300 + 30 * s)))
                            for s in range(n_runners)])


def test_sinusoidal_encoding() -> None:
    pe = sinusoidal_encoding(16, 8)
    assert pe.shape == (16, 8)
    assert torch.allclose(pe[0, 0::2], torch.zeros(4)) and torch.allclose(pe[0, 1::2], torch.ones(4))
    assert not torch.allclose(pe[1], pe[2])


def test_default_config_is_the_seed() -> None:
    cfg = PlanConfig()
    assert (cfg.d_model, cfg.n_heads, cfg.n_layers) == (128, 8, 4)
    m = PaceTransformer(cfg)
    assert len(m.encoder.layers) == 4 and len(m.decoder.layers) == 4
    assert PlanConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        PlanConfig.from_dict({"bogus": 1})


def test_forward_shapes_and_padding_is_ignored() -> None:
    ex = _examples(1, 50)
    torch.manual_seed(0)
    m = PaceTransformer(TINY).eval()
    norm = Normalisation.fit(ex)
    x = to_inputs(ex, norm)
    y = m(x)
    assert y["pace"].shape == (len(ex),) and y["type_logits"].shape == (len(ex), 6) and y["gap"].shape == (len(ex),)
    x2 = dict(x)
    x2["tokens"] = torch.where(x["mask"][..., None], x["tokens"], torch.randn_like(x["tokens"]) * 100)
    y2 = m(x2)
    assert torch.allclose(y["pace"], y2["pace"], atol=1e-5)


def test_tiny_transformer_overfits_on_cpu() -> None:
    ex = _examples(1, 60).subset(slice(0, 12))
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    try:
        model = PlanModel(PaceTransformer(TINY), Normalisation.fit(ex))
        before = pace_mae(model, ex)
        fit(model, ex, None, epochs=40, lr=5e-3, batch_size=12, ema_decay=None, progress=False)
        after = pace_mae(model, ex)
    finally:
        torch.set_num_threads(threads)
    assert before > 10.0 and after < 0.25 * before and after < 8.0, (before, after)


def test_baselines_behind_the_same_interface() -> None:
    ex = _examples(1, 60)
    last = baseline_model("last_run").predict_pace(ex)
    assert np.allclose(last, ex.last_pace)
    assert np.allclose(baseline_model("mean_7d").predict_pace(ex), ex.mean7_pace)
    assert np.allclose(baseline_model("median_28d").predict_pace(ex), ex.ref_pace)
    assert set(BASELINES) == {"last_run", "mean_7d", "median_28d"}


def test_split_is_runner_disjoint_and_seeded() -> None:
    ids = [f"d-{i:06x}" for i in range(12)] + [str(1000 + i) for i in range(30)]
    s = split_runner_ids(ids, seed=1)
    parts = [set(s[k]) for k in ("train", "val", "test")]
    assert set().union(*parts) == set(ids) and sum(map(len, parts)) == len(ids)
    assert any(i.startswith("d-") for i in s["test"]) and any(not i.startswith("d-") for i in s["test"])
    assert s == split_runner_ids(ids, seed=1) and s != split_runner_ids(ids, seed=2)


def test_artifact_round_trip_and_errors(tmp_path) -> None:
    ex = _examples(1, 50)
    torch.manual_seed(0)
    model = PlanModel(PaceTransformer(TINY), Normalisation.fit(ex), meta={"split": {"train": ["a"]}})
    p = save_plan_model(tmp_path / "m.pt", model, metrics={"x": 1.0})
    lm = load_plan_model(p)
    assert lm.meta["metrics"] == {"x": 1.0} and lm.meta["split"] == {"train": ["a"]}
    assert lm.meta["config"]["d_model"] == 32 and "torch_version" in lm.meta and "package_version" in lm.meta
    assert np.allclose(lm.predict_pace(ex), model.predict_pace(ex), rtol=2e-3)  # float16 storage
    with pytest.raises(ModelError, match="not found"):
        load_plan_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="readable"):
        load_plan_model(tmp_path / "junk.pt")
    obj = torch.load(p, weights_only=True)
    torch.save({**obj, "format": 99}, tmp_path / "new.pt")
    with pytest.raises(ModelError, match="newer"):
        load_plan_model(tmp_path / "new.pt")
    torch.save({**obj, "kind": None, "arch": "hrnet"}, tmp_path / "hr.pt")
    with pytest.raises(ModelError, match="not a next-workout"):
        load_plan_model(tmp_path / "hr.pt")
    torch.save({**obj, "features": {"token": ["x"], "query": []}}, tmp_path / "feat.pt")
    with pytest.raises(ModelError, match="different plan features"):
        load_plan_model(tmp_path / "feat.pt")


def test_fine_tune_threshold_and_copy() -> None:
    torch.manual_seed(0)
    ex = _examples(1, 50)
    model = PlanModel(PaceTransformer(TINY), Normalisation.fit(ex))
    short = history_frame(30, seed=9)
    same = fine_tune(model, short, min_runs=100)
    assert same.meta["fine_tuned"] is False and same.module is not model.module
    long = history_frame(120, seed=9)
    tuned = fine_tune(model, long, min_runs=40, epochs=2)
    assert tuned.meta["fine_tuned"] is True
    w0 = model.module.pace_head.weight.detach().clone()
    assert not torch.equal(tuned.module.pace_head.weight, w0)
    assert torch.equal(model.module.pace_head.weight, w0)  # the original is untouched


def test_bundled_default_loads() -> None:
    from sub3coach.plan.train import default_model_path

    if not default_model_path().exists():
        pytest.skip("bundled plan model not built yet")
    lm = load_plan_model()
    assert lm.meta["split"]["test"] and lm.meta["metrics"]["test"]["n_predictions"] > 0
    ex = _examples(1, 50)
    p = lm.predict_pace(ex)
    assert np.isfinite(p).all() and (p > 150).all() and (p < 900).all()


def test_fit_keeps_the_moving_average_of_the_weights() -> None:
    """With ``ema_decay`` the kept weights are the average, while training goes on from the live
    weights: the per-epoch training losses are the same as without the average."""
    ex = _examples(1, 60).subset(slice(0, 24))
    torch.manual_seed(0)
    model = PlanModel(PaceTransformer(TINY), Normalisation.fit(ex))
    start = {k: v.clone() for k, v in model.module.state_dict().items()}
    raw = PlanModel(PaceTransformer(TINY), model.norm)
    raw.module.load_state_dict(start)
    h_avg = fit(model, ex, ex, epochs=4, lr=5e-3, batch_size=8, ema_decay=0.9, patience=10, progress=False, seed=1)
    h_raw = fit(raw, ex, ex, epochs=4, lr=5e-3, batch_size=8, ema_decay=None, patience=10, progress=False, seed=1)
    assert [h["train_loss"] for h in h_avg] == pytest.approx([h["train_loss"] for h in h_raw], rel=1e-5)
    assert [h["val_pace_mae"] for h in h_avg] != pytest.approx([h["val_pace_mae"] for h in h_raw], rel=1e-3)
    k = "pace_head.weight"
    assert not torch.allclose(model.module.state_dict()[k], raw.module.state_dict()[k])


def test_ensemble_averages_its_members_and_round_trips(tmp_path) -> None:
    from sub3coach.plan.train import ensemble

    ex = _examples(1, 60)
    norm = Normalisation.fit(ex)
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(PlanModel(PaceTransformer(TINY), norm, meta={"split": {"train": ["a"]}, "seed": seed}))
    ens = ensemble(members)
    assert ens.meta["members"][1]["seed"] == 1 and ens.module.cfg.n_members == 2
    logp = np.mean([np.log(m.predict_pace(ex)) for m in members], axis=0)
    assert np.allclose(np.log(ens.predict_pace(ex)), logp, atol=1e-5)
    back = load_plan_model(save_plan_model(tmp_path / "ens.pt", ens))
    assert type(back.module).__name__ == "PaceEnsemble"
    assert np.allclose(back.predict_pace(ex), ens.predict_pace(ex), rtol=2e-3)  # float16 weights on disk
    other = PlanModel(PaceTransformer(TINY), norm, meta={"split": {"train": ["b"]}})
    with pytest.raises(Sub3Error, match="same runner split"):
        ensemble([members[0], other])
