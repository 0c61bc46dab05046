"""Figures: written where asked (folders made, errors one line), pace in min/km, labelled
zones, gaps left open, the prediction band and the "measured until here" marker, and run
names in any script."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sub3coach import viz
from sub3coach.errors import Sub3Error
from sub3coach.synth import synthetic_run
from sub3coach.workout import CHANNELS


def _with_pause(seconds: float = 300.0):  # type: ignore[no-untyped-def]
    w = synthetic_run(duration_s=1800, seed=4)
    keep = (w.time_s - w.time_s[0] < 600) | (w.time_s - w.time_s[0] > 600 + seconds)
    return w.replace(time_s=w.time_s[keep], **{c: getattr(w, c)[keep] for c in CHANNELS if getattr(w, c) is not None})


def test_break_gaps_inserts_a_nan_at_each_pause() -> None:
    t = np.array([0.0, 1, 2, 100, 101, 300])
    tg, y = viz._break_gaps(t, t * 2, gap=30)
    assert tg.size == 8 and np.isnan(y).sum() == 2
    assert np.isnan(y[3]) and 2 < tg[3] < 100 and np.isnan(y[6])
    assert viz._break_gaps(t[:3], t[:3] * 2, gap=30)[1].tolist() == [0, 2, 4]


def test_plot_hr_band_marker_zones_and_pace(tmp_path: Path) -> None:
    w = _with_pause()
    out = viz.plot_hr(w.time_s, w.hr_bpm + 2, tmp_path / "new" / "dir" / "hr.svg", hr_true=w.hr_bpm, speed_mps=w.speed_mps,
                      zones_max_hr=188, hr_lo=w.hr_bpm - 8, hr_hi=w.hr_bpm + 8, observed_until_s=float(w.time_s[300]))
    svg = out.read_text()
    for text in ("80 % band", "measured until here", "Z1 50-60%", "Z5 90-100%", "pace (min/km)", "zones: % of max HR 188"):
        assert f"<!-- {text} -->" in svg, text
    assert "km/h" not in svg
    plain = viz.plot_hr(w.time_s, w.hr_bpm, tmp_path / "plain.svg").read_text()  # the new arguments are optional
    assert "measured until here" not in plain and "80 % band" not in plain


def test_plot_workout_zones_and_gaps(tmp_path: Path) -> None:
    w = _with_pause()
    svg = viz.plot_workout(w, tmp_path / "w.svg", zones_max_hr=190, zones_assumed=True).read_text()
    assert "<!-- zones: % of max HR 190 (assumed) -->" in svg and "<!-- Z3 70-80% -->" in svg
    assert "<!-- 5:00 -->" in svg or "<!-- 6:00 -->" in svg  # pace ticks as m:ss


def test_unwritable_plot_is_one_line_naming_the_file(tmp_path: Path) -> None:
    w = synthetic_run(duration_s=900, seed=1)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(Sub3Error) as e:
        viz.plot_hr(w.time_s, w.hr_bpm, blocker / "hr.png")
    assert str(e.value).startswith(str(blocker / "hr.png")) and "not a folder" in str(e.value)
    with pytest.raises(Sub3Error, match="use .png, .svg or .pdf"):
        viz.plot_workout(w, tmp_path / "x.unknownext")


def test_non_latin_run_names_render_or_warn_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import warnings

    from matplotlib import font_manager

    w = synthetic_run(duration_s=900, seed=2)
    w.name = "晨跑 Лёгкий бег ñ"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no glyph warning escapes
        with caplog.at_level(logging.WARNING, logger="sub3coach.viz"):
            viz.plot_workout(w, tmp_path / "cjk.png")
    viz._set_fonts()
    cjk = {f.name for f in font_manager.fontManager.ttflist} & set(viz.FONT_FALLBACK[1:6])
    boxes = [r for r in caplog.records if "boxes" in r.getMessage()]
    assert len(boxes) == (0 if cjk else 1)
