"""Figures and animations (matplotlib, Agg backend; GIFs written with Pillow).

Every function takes arrays in SI units (time in unix seconds, speed in m/s, HR in BPM),
writes one file and returns its path. Nothing here computes model outputs.

For people: pace in min/km (faster up), HR zones shaded and labelled (Z1-Z5, % of max HR),
pauses and dropouts (> 30 s without a sample) left as gaps rather than bridged by a line, and
text in the first installed font that has its glyphs (:data:`FONT_FALLBACK`: DejaVu Sans,
then Noto Sans CJK / Droid Sans Fallback / WenQuanYi for Chinese, Japanese and Korean run
names). A missing output folder is created; a path that cannot be written is one
:class:`~sub3coach.errors.Sub3Error` line naming it.
"""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sub3coach.errors import Sub3Error
from sub3coach.load import HR_ZONES

log = logging.getLogger(__name__)

#: Font families tried in order for each glyph (those installed are used; DejaVu ships with matplotlib).
FONT_FALLBACK = ("DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Droid Sans Fallback", "WenQuanYi Zen Hei",
                 "WenQuanYi Micro Hei", "Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew", "Noto Sans Devanagari",
                 "Noto Sans Thai", "Noto Sans Symbols2")
#: Where Debian's packages put those fonts (fonts-droid-fallback, fonts-noto-cjk, fonts-wqy-*).
_FALLBACK_FILES = ("/usr/share/fonts/truetype/droid/DroidSansFallback*.ttf", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                   "/usr/share/fonts/truetype/wqy/wqy-*.tt[fc]")
#: Samples further apart than this (s) are not joined by a line (a pause or a dropout).
GAP_S = 30.0
#: HR zones as fractions of max HR: (label, low, high) (the project's one definition, in sub3coach.load).
ZONES = HR_ZONES
_ZONE_SHADES = ("#f2f2f2", "#e3f2e3", "#fff5d6", "#ffe3cc", "#ffd0d0")
BAND_COLOR = "#f4a3a3"

TRUE_COLOR = "#444444"
PRED_COLOR = "#d62728"
SPEED_COLOR = "#1f77b4"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    _set_fonts()
    return plt


_fonts_set = False


def _set_fonts() -> None:
    """Use :data:`FONT_FALLBACK` (the installed families only, so matplotlib never warns about a
    missing family); matplotlib >= 3.6 falls back per glyph along the list."""
    global _fonts_set
    if _fonts_set:
        return
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed & set(FONT_FALLBACK[1:]):  # installed after matplotlib cached its font list
        for pattern in _FALLBACK_FILES:
            for f in sorted(Path("/").glob(pattern.lstrip("/")))[:2]:
                try:
                    font_manager.fontManager.addfont(str(f))
                except (OSError, RuntimeError, ValueError):
                    log.debug("cannot load font %s", f, exc_info=True)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    families = [f for f in FONT_FALLBACK if f in installed] or ["DejaVu Sans"]
    matplotlib.rcParams["font.family"] = families  # a list: matplotlib falls back per glyph
    _fonts_set = True


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Lay out and write ``fig`` to ``path`` (folders created), then close it.

    Glyphs no installed font has become one warning, not one per character.

    Raises:
        Sub3Error: the file cannot be written (one line naming it).
    """
    plt = _plt()
    p = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.tight_layout()
            if p.parent.exists() and not p.parent.is_dir():
                raise Sub3Error(f"cannot write the plot: {p.parent} is not a folder", str(p))
            p.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(p)
    except OSError as exc:
        raise Sub3Error(f"cannot write the plot: {exc.strerror or exc}", str(p)) from exc
    except ValueError as exc:  # e.g. an extension matplotlib cannot write
        raise Sub3Error(f"cannot write the plot: {' '.join(str(exc).split())} (use .png, .svg or .pdf)", str(p)) from exc
    finally:
        plt.close(fig)
    missing = [w for w in caught if "missing from" in str(w.message)]
    for w in caught:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.warning("%s: some characters of the title have no installed font and show as boxes "
                    "(install fonts-noto-cjk or fonts-droid-fallback)", p)
    return p


def _break_gaps(t: np.ndarray, *ys: np.ndarray | None, gap: float) -> tuple[np.ndarray, ...]:
    """``t`` and ``ys`` with a NaN point inserted wherever ``t`` jumps by more than ``gap``, so a
    line plot shows a gap there instead of a straight bridge."""
    t = np.asarray(t, dtype=np.float64)
    cut = np.flatnonzero(np.diff(t) > gap) + 1
    if cut.size == 0:
        return (t, *[None if y is None else np.asarray(y, dtype=np.float64) for y in ys])
    mid = (t[cut - 1] + t[cut]) / 2.0
    out = [np.insert(t, cut, mid)]
    for y in ys:
        out.append(None if y is None else np.insert(np.asarray(y, dtype=np.float64), cut, np.nan))  # type: ignore[arg-type]
    return tuple(out)  # type: ignore[return-value]


def _zones(ax: Any, max_hr: float, *, assumed: bool = False, outside: bool = False, note: str | None = None) -> None:
    """Shade and label the HR zones (% of ``max_hr``) on ``ax`` (labels right of the axes when
    ``outside``; ``note`` says where the max HR comes from, e.g. ``stated`` or ``estimated``)."""
    from matplotlib.transforms import blended_transform_factory

    tr = blended_transform_factory(ax.transAxes, ax.transData)
    for (label, lo, hi), shade in zip(ZONES, _ZONE_SHADES):
        ax.axhspan(lo * max_hr, hi * max_hr, color=shade, zorder=0, lw=0, alpha=0.6)
        ax.text(1.005 if outside else 0.995, (lo + hi) / 2 * max_hr, f"{label} {lo * 100:.0f}-{hi * 100:.0f}%", transform=tr,
                ha="left" if outside else "right", va="center", fontsize=7, color="#777777", zorder=1, clip_on=not outside)
    note = "assumed" if assumed else note
    ax.text(0.005, 0.98, f"zones: % of max HR {max_hr:.0f}" + (f" ({note})" if note else ""), transform=ax.transAxes,
            fontsize=7, color="#777777", va="top")


def _pace_min_per_km(speed_mps: np.ndarray) -> np.ndarray:
    """Pace in minutes per km (NaN when slower than a walk, 0.8 m/s)."""
    v = np.asarray(speed_mps, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0.8, 1000.0 / v / 60.0, np.nan)


def _pace_ticks(ax: Any) -> None:
    """Format a min/km axis as m:ss."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x)}:{int(round((x % 1) * 60)) % 60:02d}"))


def _pace_limits(ax: Any, pace: np.ndarray) -> None:
    finite = pace[np.isfinite(pace)]
    if finite.size:
        lo, hi = np.percentile(finite, [1, 99])
        ax.set_ylim(hi + 0.3, max(lo - 0.3, 0.0))  # inverted: faster is up


def _minutes(time_s: np.ndarray) -> np.ndarray:
    t = np.asarray(time_s, dtype=np.float64)
    return (t - t[0]) / 60.0 if t.size else t


def _pace_axis(ax: Any, time_min: np.ndarray, speed_mps: np.ndarray | None) -> None:
    """Pace (min/km, faster up) on a twin axis, with gaps left open."""
    if speed_mps is None:
        return
    ax2 = ax.twinx()
    pace = _pace_min_per_km(speed_mps)
    tm, pc = _break_gaps(time_min, pace, gap=GAP_S / 60.0)
    ax2.plot(tm, pc, color=SPEED_COLOR, lw=0.6, alpha=0.45)
    ax2.set_ylabel("pace (min/km)", color=SPEED_COLOR)
    _pace_limits(ax2, pace)
    _pace_ticks(ax2)


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
    hr_lo: np.ndarray | None = None,
    hr_hi: np.ndarray | None = None,
    observed_until_s: float | None = None,
    zones_assumed: bool = False,
) -> Path:
    """Predicted HR over time (optionally beside the true HR, and the pace or, for a planned
    run at an even pace, the altitude profile), as PNG/SVG/PDF.

    Args:
        time_s: sample times (unix s); gaps over :data:`GAP_S` are drawn as gaps.
        hr_pred: predicted HR per sample (BPM).
        path: output file (its folder is created).
        hr_true: recorded HR per sample (BPM).
        speed_mps: speed per sample (m/s), drawn as pace in min/km.
        zones_max_hr: max HR (BPM) for the shaded, labelled zones Z1-Z5 (``zones_assumed``
            marks it as an assumed value in the label).
        altitude_m: altitude profile (m), drawn instead of the pace.
        hr_lo, hr_hi: a prediction band per sample (BPM, e.g. the 10th and 90th percentiles),
            shaded around the predicted curve and labelled "80 % band".
        observed_until_s: a time on the ``time_s`` clock up to which HR was measured: a
            vertical "measured until here" marker.

    Raises:
        Sub3Error: the file cannot be written.
    """
    plt = _plt()
    tm = _minutes(time_s)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    if zones_max_hr:
        _zones(ax, zones_max_hr, assumed=zones_assumed)
    t_g, pred_g, true_g, lo_g, hi_g = _break_gaps(tm, hr_pred, hr_true, hr_lo, hr_hi, gap=GAP_S / 60.0)
    if lo_g is not None and hi_g is not None:
        ax.fill_between(t_g, lo_g, hi_g, color=BAND_COLOR, alpha=0.35, lw=0, label="80 % band", zorder=2)
    if true_g is not None:
        ax.plot(t_g, true_g, color=TRUE_COLOR, lw=1.0, label="recorded HR", zorder=3)
    ax.plot(t_g, pred_g, color=PRED_COLOR, lw=1.4, label="predicted HR", zorder=4)
    if observed_until_s is not None and len(tm):
        x = (float(observed_until_s) - float(np.asarray(time_s, dtype=np.float64)[0])) / 60.0
        ax.axvline(x, color="#333333", lw=1.0, ls="--", zorder=5)
        ax.annotate("measured until here", xy=(x, 0.0), xycoords=("data", "axes fraction"), xytext=(-4, 4),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8, color="#333333")
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
        if speed_mps is not None:
            ax.set_zorder(ax.figure.axes[-1].get_zorder() + 1)  # HR above the pace
            ax.patch.set_visible(False)
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


def runs_panel(curves: Sequence[tuple[str, Any, np.ndarray]], path: str | os.PathLike) -> Path:
    """One panel per (label, Prepared, grid prediction): true vs predicted HR and speed."""
    plt = _plt()
    fig, axes = plt.subplots(len(curves), 1, figsize=(10, 3 * len(curves)), dpi=100, squeeze=False)
    for ax, (label, p, pred) in zip(axes[:, 0], curves):
        tm = _minutes(p.time_s)
        true = np.where(p.mask, p.hr_bpm, np.nan) if p.hr_bpm is not None else None
        tg, true_g, pred_g = _break_gaps(tm, true, pred, gap=GAP_S / 60.0)
        if true_g is not None:
            ax.plot(tg, true_g, color=TRUE_COLOR, lw=1.0, label="recorded")
        ax.plot(tg, pred_g, color=PRED_COLOR, lw=1.3, label="predicted")
        ax.set_title(label, fontsize=9)
        ax.set_ylabel("BPM")
        ax.grid(alpha=0.3)
        _pace_axis(ax, tm, p.speed_mps)
    axes[0, 0].legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("time (min)")
    return _save(fig, path)


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
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(p, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    except OSError as exc:
        raise Sub3Error(f"cannot write the animation: {exc.strerror or exc}", str(p)) from exc
    return p


def plot_workout(workout: Any, path: str | os.PathLike, *, hr_pred_bpm: np.ndarray | None = None,
                 zones_max_hr: float | None = None, zones_assumed: bool = False, zones_note: str | None = None) -> Path:
    """Heart rate, pace and elevation of a :class:`~sub3coach.workout.Workout` against elapsed
    minutes, in three stacked panels (the ``sub3 show --plot`` figure); pauses stay gaps.

    Args:
        workout: the workout (SI units).
        path: output image (PNG, SVG or PDF by extension; its folder is created).
        hr_pred_bpm: optional predicted HR per sample (BPM), drawn beside the recorded HR.
        zones_max_hr: max HR (BPM) for labelled zones on the HR panel (``zones_assumed``: say so;
            ``zones_note``: where it comes from, e.g. ``estimated``).

    Raises:
        Sub3Error: the file cannot be written.
    """
    plt = _plt()
    tm = _minutes(workout.time_s)
    fig, (ax_hr, ax_pace, ax_alt) = plt.subplots(3, 1, figsize=(10, 7.5), dpi=110, sharex=True)
    gap = GAP_S / 60.0
    has_hr = workout.hr_bpm is not None and np.isfinite(workout.hr_bpm).any()
    if zones_max_hr and (has_hr or hr_pred_bpm is not None):
        _zones(ax_hr, zones_max_hr, assumed=zones_assumed, outside=True, note=zones_note)
    if has_hr:
        ax_hr.plot(*_break_gaps(tm, workout.hr_bpm, gap=gap), color=TRUE_COLOR, lw=1.0, label="recorded HR")
    if hr_pred_bpm is not None:
        ax_hr.plot(*_break_gaps(tm, hr_pred_bpm, gap=gap), color=PRED_COLOR, lw=1.2, label="predicted HR")
    if ax_hr.lines:
        ax_hr.legend(loc="lower right")
        finite = np.concatenate([ln.get_ydata()[np.isfinite(ln.get_ydata())] for ln in ax_hr.lines])
        if finite.size:
            ax_hr.set_ylim(max(float(np.min(finite)) - 10, 30), float(np.max(finite)) + 10)
    else:
        ax_hr.text(0.5, 0.5, "no heart rate", transform=ax_hr.transAxes, ha="center", va="center", color="grey")
    ax_hr.set_ylabel("HR (BPM)")
    if workout.speed_mps is not None and np.isfinite(workout.speed_mps).any():
        pace = _pace_min_per_km(workout.speed_mps)
        ax_pace.plot(*_break_gaps(tm, pace, gap=gap), color=SPEED_COLOR, lw=0.8)
        _pace_limits(ax_pace, pace)
        _pace_ticks(ax_pace)
    ax_pace.set_ylabel("pace (min/km)")
    if workout.altitude_m is not None and np.isfinite(workout.altitude_m).any():
        tg, alt = _break_gaps(tm, workout.altitude_m, gap=gap)
        ax_alt.fill_between(tg, alt, float(np.nanmin(alt)), color="#8c564b", alpha=0.35)
        ax_alt.plot(tg, alt, color="#8c564b", lw=0.8)
    else:
        ax_alt.text(0.5, 0.5, "no altitude", transform=ax_alt.transAxes, ha="center", va="center", color="grey")
    ax_alt.set_ylabel("elevation (m)")
    ax_alt.set_xlabel("elapsed time (min)")
    for ax in (ax_hr, ax_pace, ax_alt):
        ax.grid(alpha=0.3)
    title = workout.name or (Path(str(workout.source)).name if workout.source else "workout")
    fig.suptitle(f"{title} ({workout.start_time:%Y-%m-%d %H:%M} UTC)")
    return _save(fig, path)


def plot_load(days: Sequence[Any], path: str | os.PathLike, *, title: str = "Fitness, fatigue and form") -> Path:
    """The fitness/fatigue/form chart: daily TRIMP bars, CTL (fitness) and ATL (fatigue) lines
    on top; TSB (form) below as an area, green when fresh, red when loaded.

    Args:
        days: :class:`sub3coach.load.DayLoad` rows (consecutive days).
        path: output image (PNG, SVG or PDF by extension).

    Raises:
        Sub3Error: the file cannot be written.
    """
    import matplotlib.dates as mdates

    plt = _plt()
    x = np.array([np.datetime64(d.day.isoformat()) for d in days])
    load = np.array([d.load for d in days], dtype=float)
    ctl = np.array([d.ctl for d in days], dtype=float)
    atl = np.array([d.atl for d in days], dtype=float)
    tsb = np.array([d.tsb for d in days], dtype=float)
    fig, (ax, ax_f) = plt.subplots(2, 1, figsize=(11, 6.5), dpi=110, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    ax.bar(x, load, width=0.8, color="#bbbbbb", label="daily load (TRIMP)", zorder=1)
    ax.plot(x, ctl, color="#1f77b4", lw=2.0, label="fitness (CTL, 42 d)", zorder=3)
    ax.plot(x, atl, color="#d62728", lw=1.2, label="fatigue (ATL, 7 d)", zorder=2)
    ax.set_ylabel("TRIMP / day")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax_f.fill_between(x, 0, tsb, where=tsb >= 0, color="#2ca02c", alpha=0.5, lw=0, step="mid", label="fresh")
    ax_f.fill_between(x, 0, tsb, where=tsb < 0, color="#d62728", alpha=0.4, lw=0, step="mid", label="loaded")
    ax_f.axhline(0, color="#555555", lw=0.8)
    ax_f.set_ylabel("form (TSB)")
    ax_f.legend(loc="lower left", fontsize=8)
    for a in (ax, ax_f):
        a.grid(alpha=0.3)
    ax_f.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax_f.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax_f.xaxis.get_major_locator()))
    return _save(fig, path)
