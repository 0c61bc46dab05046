"""Next-run pace models: plain ``nn.Module``s only.

Every model takes the same input, a dict of tensors built from
:class:`sub3coach.plan.history.Examples` (normalised by the artifact's statistics):

* ``tokens`` ``[B, N, F]``: the previous runs, most recent first; ``mask`` ``[B, N]`` (True = run);
* ``query`` ``[B, Q]``: the day being predicted;
* ``last_ratio`` / ``mean7_ratio`` ``[B]``: log(last run's pace / ref pace), log(mean 7-day pace / ref pace).

and returns a dict whose ``"pace"`` ``[B]`` is the predicted **log ratio of the next run's pace
to the runner's 28-day median pace** (``ref_pace``): a normalised target that means the same for
a 3:30/km and a 7:00/km runner. Pace in s/km = ``ref_pace * exp(pace)``. The Transformer also
returns ``"type_logits"`` ``[B, 6]`` (next workout type) and ``"gap"`` ``[B]`` (log1p of days
since the last run); :class:`PaceEnsemble` averages several Transformers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

Inputs = dict[str, torch.Tensor]


@dataclass
class PlanConfig:
    """Sizes of :class:`PaceTransformer` (defaults: the seed's d_model 128, 8 heads, 4 layers)."""

    n_token_features: int = 17
    n_query_features: int = 25
    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 4
    dim_feedforward: int = 256
    dropout: float = 0.1
    max_runs: int = 16
    n_types: int = 6
    n_members: int = 1  # PaceEnsemble: how many PaceTransformers are averaged

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def sinusoidal_encoding(n_positions: int, d_model: int) -> torch.Tensor:
    """The Transformer paper's fixed positional encoding, ``[n_positions, d_model]``."""
    pos = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)  # [P, 1]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10_000.0) / d_model))  # [D/2]
    pe = torch.zeros(n_positions, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
    return pe


class PaceTransformer(nn.Module):
    """Encoder–decoder Transformer: the encoder reads the previous runs (position = recency
    rank, sinusoidal encoding), the decoder's single query token is the day to predict and
    attends to them; heads give next-run pace (log ratio to the reference pace), type, gap."""

    def __init__(self, cfg: PlanConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.token_in = nn.Linear(cfg.n_token_features, d)
        self.query_in = nn.Linear(cfg.n_query_features, d)
        self.register_buffer("pos", sinusoidal_encoding(cfg.max_runs, d), persistent=False)
        enc_layer = nn.TransformerEncoderLayer(d, cfg.n_heads, cfg.dim_feedforward, cfg.dropout, batch_first=True, norm_first=True)
        dec_layer = nn.TransformerDecoderLayer(d, cfg.n_heads, cfg.dim_feedforward, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, cfg.n_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, cfg.n_layers, norm=nn.LayerNorm(d))
        self.pace_head = nn.Linear(d, 1)
        self.type_head = nn.Linear(d, cfg.n_types)
        self.gap_head = nn.Linear(d, 1)
        nn.init.zeros_(self.pace_head.weight)  # start at the 28-day median (ratio 0)
        nn.init.zeros_(self.pace_head.bias)

    def forward(self, x: Inputs) -> dict[str, torch.Tensor]:
        tokens, mask, query = x["tokens"], x["mask"], x["query"]
        n = tokens.shape[1]
        h = self.token_in(tokens) + self.pos[:n]  # [B, N, D]
        pad = ~mask  # [B, N] True = padding
        mem = self.encoder(h, src_key_padding_mask=pad)  # [B, N, D]
        q = self.query_in(query).unsqueeze(1)  # [B, 1, D]
        out = self.decoder(q, mem, memory_key_padding_mask=pad).squeeze(1)  # [B, D]
        w = mask.unsqueeze(-1).to(mem.dtype)  # [B, N, 1]
        pooled = (mem * w).sum(1) / w.sum(1).clamp_min(1.0)  # [B, D]
        return {
            "pace": self.pace_head(out).squeeze(-1),  # [B]
            "type_logits": self.type_head(out),  # [B, T]
            "gap": self.gap_head(pooled).squeeze(-1),  # [B]
        }


class PaceEnsemble(nn.Module):
    """``cfg.n_members`` :class:`PaceTransformer` s trained from different seeds; every output is
    the members' mean (pace as a mean log ratio, i.e. a geometric mean of paces)."""

    def __init__(self, cfg: PlanConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList([PaceTransformer(cfg) for _ in range(cfg.n_members)])

    def forward(self, x: Inputs) -> dict[str, torch.Tensor]:
        outs = [m(x) for m in self.members]
        return {k: torch.stack([o[k] for o in outs]).mean(0) for k in outs[0]}  # each [B] or [B, T]


class LastRunPace(nn.Module):
    """Baseline: the next run's pace is the last run's."""

    def forward(self, x: Inputs) -> dict[str, torch.Tensor]:
        return {"pace": x["last_ratio"]}


class MeanPace7d(nn.Module):
    """Baseline: the mean pace of the last 7 days' runs (the last run's when none)."""

    def forward(self, x: Inputs) -> dict[str, torch.Tensor]:
        return {"pace": x["mean7_ratio"]}


class MedianPace28d(nn.Module):
    """Baseline: the runner's median pace over the last 28 days (the reference pace itself)."""

    def forward(self, x: Inputs) -> dict[str, torch.Tensor]:
        return {"pace": torch.zeros_like(x["last_ratio"])}


#: Baselines by the name reported in evaluations.
BASELINES: dict[str, type[nn.Module]] = {
    "last_run": LastRunPace,
    "mean_7d": MeanPace7d,
    "median_28d": MedianPace28d,
}
#: Trainable architectures by class name (what artifacts record).
MODEL_CLASSES: dict[str, type[nn.Module]] = {"PaceTransformer": PaceTransformer, "PaceEnsemble": PaceEnsemble}


def n_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
