"""Heart-rate models: plain ``nn.Module``s and their config dataclasses, nothing else.

Every model maps normalised features ``x`` of shape ``(B, T, F)`` (batch, grid steps, features)
to HR in BPM of shape ``(B, T)``. Internally the networks predict a standardised HR
``(hr - hr_center) / hr_scale``; the centre and scale are part of the config so an artifact is
self-contained. Padding is handled by the caller's mask (sequences are causal, so padding at the
end never changes earlier outputs).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class ModelConfig:
    """Shared fields of every model config.

    Attributes:
        n_features: input features F.
        hr_center / hr_scale: BPM; the networks predict ``(hr - hr_center) / hr_scale``.
    """

    n_features: int
    hr_center: float = 140.0
    hr_scale: float = 20.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MeanConfig(ModelConfig):
    """Population mean: one learned constant."""


@dataclass
class LinearConfig(ModelConfig):
    """Linear regression on selected feature columns (speed and grade by default).

    Attributes:
        columns: indices of the input features used (the trainer fills them from names).
    """

    columns: list[int] = field(default_factory=list)


@dataclass
class RNNConfig(ModelConfig):
    """A stacked recurrent network with a linear head.

    Attributes:
        hidden: hidden units per layer; layers: stacked layers; dropout: between layers;
        cell: ``"lstm"`` or ``"gru"``.
    """

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.0
    cell: str = "lstm"


class MeanBaseline(nn.Module):
    """Predicts one constant HR for every step (the population mean of the training runners)."""

    def __init__(self, cfg: MeanConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape  # (B, T, F)
        z = self.bias.expand(b, t)  # (B, T)
        return z * self.cfg.hr_scale + self.cfg.hr_center


class LinearBaseline(nn.Module):
    """HR as a linear function of a few features (speed and grade), step by step."""

    def __init__(self, cfg: LinearConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("cols", torch.tensor(list(cfg.columns), dtype=torch.long), persistent=False)
        self.lin = nn.Linear(len(cfg.columns), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sel = x.index_select(-1, self.cols)  # (B, T, C)
        z = self.lin(sel).squeeze(-1)  # (B, T)
        return z * self.cfg.hr_scale + self.cfg.hr_center


class _RNNRegressor(nn.Module):
    """Stacked LSTM/GRU over time + linear head per step."""

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cfg.cell]
        self.rnn = rnn_cls(
            input_size=cfg.n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.head = nn.Linear(cfg.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # (B, T, H)
        z = self.head(h).squeeze(-1)  # (B, T)
        return z * self.cfg.hr_scale + self.cfg.hr_center


class SeedLSTM(_RNNRegressor):
    """The SUB3_V2 architecture: 2-layer LSTM, 128 hidden units, linear head (~206K parameters
    with 14 inputs, ~204K with its 11 honest ones)."""


class HRNet(nn.Module):
    """The default model: an LSTM over the honest features plus a run-level context branch.

    The recurrent part (2-layer LSTM) follows the effort step by step; a small MLP on the
    features averaged over the whole run (e.g. typical pace, total climb so far at the end)
    adds a per-run HR offset, which helps the network separate "this runner's easy pace" from
    "a hard effort" without seeing any HR.
    """

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.rnn = nn.LSTM(
            input_size=cfg.n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.context = nn.Sequential(nn.Linear(cfg.n_features, 32), nn.Tanh(), nn.Linear(32, cfg.hidden))
        self.head = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden // 2), nn.Tanh(), nn.Linear(cfg.hidden // 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # (B, T, H)
        # causal running mean of the inputs: the context at step t uses steps <= t only, so
        # padding at the end of a batch never changes the outputs of real steps
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype).view(1, -1, 1)  # (1, T, 1)
        ctx = self.context(torch.cumsum(x, dim=1) / steps)  # (B, T, H)
        z = self.head(h + ctx).squeeze(-1)  # (B, T)
        return z * self.cfg.hr_scale + self.cfg.hr_center


#: Architecture name (CLI ``--arch``) -> (module class, config class).
ARCHITECTURES: dict[str, tuple[type[nn.Module], type[ModelConfig]]] = {
    "mean": (MeanBaseline, MeanConfig),
    "linear": (LinearBaseline, LinearConfig),
    "seed-lstm": (SeedLSTM, RNNConfig),
    "hrnet": (HRNet, RNNConfig),
}

#: Module class name -> architecture name (for artifacts).
CLASS_TO_ARCH: dict[str, str] = {cls.__name__: arch for arch, (cls, _) in ARCHITECTURES.items()}


def build_model(arch: str, cfg: ModelConfig) -> nn.Module:
    """Instantiate architecture ``arch`` with ``cfg``."""
    cls, _ = ARCHITECTURES[arch]
    return cls(cfg)


def config_from_dict(arch: str, d: dict) -> ModelConfig:
    """Rebuild the config dataclass of ``arch`` from its ``to_dict()``."""
    _, cfg_cls = ARCHITECTURES[arch]
    return cfg_cls(**d)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
