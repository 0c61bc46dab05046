"""Figures and animations (matplotlib, Agg backend; GIFs written with Pillow).

Every function takes arrays in SI units (time in unix seconds, speed in m/s, HR in BPM),
writes one file and returns its path. Nothing here computes model outputs.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TRUE_COLOR = "#444444"
PRED_COLOR = "#d62728"
SPEED_COLOR = "#1f77b4"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _minutes(time_s: np.ndarray) -> np.ndarray:
    t = np.asarray(time_s, dtype=np.float64)
    return (t - t[0]) / 60.0 if t.size else t


def _pace_axis(ax: Any, time_min: np.ndarray, speed_mps: np.ndarray | None) -> None:
    if speed_mps is None:
        return
    ax2 = ax.twinx()
    v = np.asarray(speed_mps, dtype=np.float64) * 3.6
    ax2.plot(time_min, v, color=SPEED_COLOR, lw=0.6, alpha=0.45)
    ax2.set_ylabel("speed (km/h)", color=SPEED_COLOR)
    ax2.set_ylim(0, max(20.0, float(np.nanmax(v)) * 1.1 if np.isfinite(v).any() else 20.0))


def plot_hr(
    time_s: np.ndarray,
    hr_pred: np.ndarray,
    path: str | os.PathLike,
    *,
    hr_true: np.ndarray | None = None,
    speed_mps: np.ndarray | None = None,
    title: str = "Predicted heart rate",
    zones_max_hr: float | None = None,
    altitude_m: np.ndarray | None = None,
) -> Path:
    """Predicted HR over time (optionally beside the true HR, and the speed or, for a planned
    run at an even pace, the altitude profile), as PNG/SVG/PDF."""
    plt = _plt()
    tm = _minutes(time_s)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    if zones_max_hr:
        shades = ("#f2f2f2", "#e3f2e3", "#fff5d6", "#ffe3cc", "#ffd0d0")
        for i, lo in enumerate((0.5, 0.6, 0.7, 0.8, 0.9)):
            ax.axhspan(lo * zones_max_hr, (lo + 0.1) * zones_max_hr, color=shades[i], zorder=0, lw=0, alpha=0.6)
    if hr_true is not None:
        ax.plot(tm, hr_true, color=TRUE_COLOR, lw=1.0, label="recorded HR")
    ax.plot(tm, hr_pred, color=PRED_COLOR, lw=1.4, label="predicted HR")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("heart rate (BPM)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    if altitude_m is not None and np.isfinite(altitude_m).any():
        ax2 = ax.twinx()
        ax2.fill_between(tm, np.nanmin(altitude_m), altitude_m, color="#8c6d31", alpha=0.15, lw=0)
        ax2.set_ylabel("altitude (m)", color="#8c6d31")
        ax.set_zorder(ax2.get_zorder() + 1)  # HR above the profile
        ax.patch.set_visible(False)
    else:
        _pace_axis(ax, tm, speed_mps)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p


def scatter_pred_true(y: np.ndarray, yh: np.ndarray, path: str | os.PathLike, *, title: str = "Predicted vs true HR") -> Path:
    """Density (hexbin) of predicted against true HR with the identity line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    lo, hi = 60, 210
    ax.hexbin(y, yh, gridsize=60, extent=(lo, hi, lo, hi), bins="log", cmap="viridis", mincnt=1)
    ax.plot([lo, hi], [lo, hi], color="white", lw=1, ls="--")
    ax.set_xlabel("true HR (BPM)")
    ax.set_ylabel("predicted HR (BPM)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p


def error_histogram(err: np.ndarray, path: str | os.PathLike) -> Path:
    """Histogram of prediction errors (predicted minus true, BPM) with MAE and bias."""
    plt = _plt()
    e = np.asarray(err, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.hist(np.clip(e, -60, 60), bins=120, color=PRED_COLOR, alpha=0.8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("predicted - true (BPM)")
    ax.set_ylabel("grid steps")
    ax.set_title(f"MAE {np.abs(e).mean():.1f} BPM, bias {e.mean():+.1f} BPM")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p


def per_type_bars(per_type: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """MAE per workout type (types with no workout are shown empty)."""
    plt = _plt()
    names = list(per_type)
    mae = [per_type[k].get("mae_bpm") or 0.0 for k in names]
    counts = [per_type[k].get("n_workouts", 0) for k in names]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.bar(names, mae, color=SPEED_COLOR)
    for i, (m, c) in enumerate(zip(mae, counts)):
        ax.text(i, m, f"{m:.1f}\n(n={c})", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("MAE (BPM)")
    ax.set_ylim(0, max(mae + [1.0]) * 1.3)
    ax.set_title("MAE by workout type (type from speed only)")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p


def runs_panel(curves: Sequence[tuple[str, Any, np.ndarray]], path: str | os.PathLike) -> Path:
    """One panel per (label, Prepared, grid prediction): true vs predicted HR and speed."""
    plt = _plt()
    fig, axes = plt.subplots(len(curves), 1, figsize=(10, 3 * len(curves)), dpi=100, squeeze=False)
    for ax, (label, p, pred) in zip(axes[:, 0], curves):
        tm = _minutes(p.time_s)
        true = np.where(p.mask, p.hr_bpm, np.nan) if p.hr_bpm is not None else None
        if true is not None:
            ax.plot(tm, true, color=TRUE_COLOR, lw=1.0, label="recorded")
        ax.plot(tm, pred, color=PRED_COLOR, lw=1.3, label="predicted")
        ax.set_title(label, fontsize=9)
        ax.set_ylabel("BPM")
        ax.grid(alpha=0.3)
        _pace_axis(ax, tm, p.speed_mps)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("time (min)")
    fig.tight_layout()
    p_out = Path(path)
    fig.savefig(p_out)
    plt.close(fig)
    return p_out


def animate_hr(
    time_s: np.ndarray,
    hr_true: np.ndarray | None,
    hr_pred: np.ndarray,
    path: str | os.PathLike,
    *,
    speed_mps: np.ndarray | None = None,
    title: str = "Predicted vs true heart rate",
    frames: int = 40,
    fps: int = 10,
) -> Path:
    """An animated GIF: the predicted curve draws itself beside the true one.

    Frames are rendered with matplotlib (Agg) and assembled with Pillow; ``frames`` bounds the
    file size (40 frames of 640x320 px: a few hundred KB)."""
    plt = _plt()
    from PIL import Image

    tm = _minutes(time_s)
    n = tm.size
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    yt = np.asarray(hr_true, dtype=np.float64) if hr_true is not None else None
    lo = np.nanmin([np.nanmin(hr_pred)] + ([np.nanmin(yt)] if yt is not None and np.isfinite(yt).any() else [])) - 10
    hi = np.nanmax([np.nanmax(hr_pred)] + ([np.nanmax(yt)] if yt is not None and np.isfinite(yt).any() else [])) + 10
    ax.set_xlim(0, max(float(tm[-1]) if n else 1.0, 1e-3))
    ax.set_ylim(lo, hi)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("BPM")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    (lt,) = ax.plot([], [], color=TRUE_COLOR, lw=1.0, label="recorded")
    (lp,) = ax.plot([], [], color=PRED_COLOR, lw=1.5, label="predicted")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    images = []
    frames = max(2, min(frames, max(n, 2)))
    for k in np.linspace(1, n, frames).astype(int):
        if yt is not None:
            lt.set_data(tm[:k], yt[:k])
        lp.set_data(tm[:k], hr_pred[:k])
        fig.canvas.draw()
        buf = np.asarray(fig.canvas.buffer_rgba())
        images.append(Image.fromarray(buf[:, :, :3].copy()).convert("P", palette=Image.ADAPTIVE, colors=64))
    plt.close(fig)
    p = Path(path)
    durations = [int(1000 / fps)] * (len(images) - 1) + [2000]
    images[0].save(p, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    return p


def plot_workout(workout: Any, path: str | os.PathLike, *, hr_pred_bpm: np.ndarray | None = None) -> Path:
    """Heart rate, pace and elevation of a :class:`~sub3coach.workout.Workout` against elapsed
    minutes, in three stacked panels (the ``sub3 show --plot`` figure).

    Args:
        workout: the workout (SI units).
        path: output image (PNG, SVG or PDF by extension).
        hr_pred_bpm: optional predicted HR per sample (BPM), drawn beside the recorded HR.
    """
    plt = _plt()
    tm = _minutes(workout.time_s)
    fig, (ax_hr, ax_pace, ax_alt) = plt.subplots(3, 1, figsize=(10, 7.5), dpi=110, sharex=True)
    if workout.hr_bpm is not None and np.isfinite(workout.hr_bpm).any():
        ax_hr.plot(tm, workout.hr_bpm, color=TRUE_COLOR, lw=1.0, label="recorded HR")
    if hr_pred_bpm is not None:
        ax_hr.plot(tm, hr_pred_bpm, color=PRED_COLOR, lw=1.2, label="predicted HR")
    if ax_hr.lines:
        ax_hr.legend(loc="lower right")
    else:
        ax_hr.text(0.5, 0.5, "no heart rate", transform=ax_hr.transAxes, ha="center", va="center", color="grey")
    ax_hr.set_ylabel("HR (BPM)")
    if workout.speed_mps is not None and np.isfinite(workout.speed_mps).any():
        with np.errstate(divide="ignore", invalid="ignore"):
            pace = np.where(workout.speed_mps > 0.8, 1000.0 / workout.speed_mps / 60.0, np.nan)
        ax_pace.plot(tm, pace, color=SPEED_COLOR, lw=0.8)
        finite = pace[np.isfinite(pace)]
        if finite.size:
            lo, hi = np.percentile(finite, [1, 99])
            ax_pace.set_ylim(hi + 0.3, max(lo - 0.3, 0.0))  # inverted: faster is up
    ax_pace.set_ylabel("pace (min/km)")
    if workout.altitude_m is not None and np.isfinite(workout.altitude_m).any():
        alt = workout.altitude_m
        ax_alt.fill_between(tm, alt, float(np.nanmin(alt)), color="#8c564b", alpha=0.35)
        ax_alt.plot(tm, alt, color="#8c564b", lw=0.8)
    else:
        ax_alt.text(0.5, 0.5, "no altitude", transform=ax_alt.transAxes, ha="center", va="center", color="grey")
    ax_alt.set_ylabel("elevation (m)")
    ax_alt.set_xlabel("elapsed time (min)")
    for ax in (ax_hr, ax_pace, ax_alt):
        ax.grid(alpha=0.3)
    title = workout.name or (Path(str(workout.source)).name if workout.source else "workout")
    fig.suptitle(f"{title} ({workout.start_time:%Y-%m-%d %H:%M} UTC)")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p)
    plt.close(fig)
    return p
