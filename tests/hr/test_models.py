"""Every model is a plain nn.Module mapping (B, T, F) features to (B, T) BPM and can overfit."""
from __future__ import annotations

import pytest
import torch

from sub3coach.hr.models import (
    ARCHITECTURES,
    HRNet,
    LinearBaseline,
    LinearConfig,
    MeanBaseline,
    MeanConfig,
    RNNConfig,
    SeedLSTM,
    n_parameters,
)
from sub3coach.hr.train import masked_mse


def _make(arch: str, f: int) -> torch.nn.Module:
    if arch == "mean":
        return MeanBaseline(MeanConfig(n_features=f))
    if arch == "linear":
        return LinearBaseline(LinearConfig(n_features=f, columns=[0, 1]))
    if arch == "seed-lstm":
        return SeedLSTM(RNNConfig(n_features=f, hidden=32))
    return HRNet(RNNConfig(n_features=f, hidden=32))


def test_seed_lstm_has_the_sub3_v2_size() -> None:
    # SUB3_V2: 2-layer LSTM, 128 hidden, 14 inputs -> ~206K parameters
    m = SeedLSTM(RNNConfig(n_features=14, hidden=128, layers=2))
    assert 205_000 <= n_parameters(m) <= 207_000
    assert n_parameters(SeedLSTM(RNNConfig(n_features=11))) < n_parameters(m)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_shapes_and_causality(arch: str) -> None:
    torch.manual_seed(0)
    m = _make(arch, 5).eval()
    x = torch.randn(3, 40, 5)
    with torch.no_grad():
        y = m(x)
        assert y.shape == (3, 40)
        # changing the future never changes the past (so padding at the end is harmless)
        x2 = x.clone()
        x2[:, 30:] = 7.0
        torch.testing.assert_close(m(x2)[:, :30], y[:, :30])


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_each_model_overfits_one_tiny_batch(arch: str) -> None:
    torch.manual_seed(0)
    b, t, f = 4, 24, 5
    x = torch.randn(b, t, f)
    if arch == "mean":
        target = torch.full((b, t), 151.0)
    elif arch == "linear":
        target = 140.0 + 8.0 * x[..., 0] - 5.0 * x[..., 1]
    else:
        target = 140.0 + 20.0 * torch.tanh(torch.cumsum(x[..., 0], dim=1) / 3.0)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[:, -3:] = False  # masked steps are ignored
    target = torch.where(mask, target, torch.full_like(target, 999.0))
    m = _make(arch, f)
    opt = torch.optim.Adam(m.parameters(), lr=2e-2)
    first = None
    for _ in range(400):
        loss = masked_mse(m(x), target, mask, 20.0)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mae = float((m(x) - target).abs()[mask].mean())
    assert mae < 1.5, f"{arch} did not overfit: MAE {mae:.2f} BPM (start loss {first:.3f})"


def test_masked_mse_ignores_masked_steps() -> None:
    pred = torch.tensor([[100.0, 200.0]])
    tgt = torch.tensor([[110.0, 0.0]])
    mask = torch.tensor([[True, False]])
    assert float(masked_mse(pred, tgt, mask, 10.0)) == pytest.approx(1.0)
