"""Rule 4 of cleaning: heart rate (range, stuck sensor, short holes)."""
from __future__ import annotations

import numpy as np



# ============================================================================================
# Rule 4: heart rate
# ============================================================================================
def hr_out_of_range(hr_bpm: np.ndarray, lo: float = 30.0, hi: float = 230.0) -> np.ndarray:
    """Mask of finite HR samples outside ``[lo, hi]`` BPM (0 is what many straps send when
    they lose contact; >230 is beyond any human maximum)."""
    hr = np.asarray(hr_bpm, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(hr) & ((hr < lo) | (hr > hi))


def _finite_runs(time_s: np.ndarray, values: np.ndarray, bridge_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal finite values (NaN holes spanning at most ``bridge_s`` do not break a run).

    Returns (finite indices, run start positions, run end positions) into the finite indices."""
    f = np.flatnonzero(np.isfinite(values))
    if f.size == 0:
        return f, f, f
    v = values[f]
    tf = time_s[f]
    brk = (np.diff(v) != 0) | (np.diff(tf) > bridge_s)
    starts = np.concatenate([[0], np.flatnonzero(brk) + 1])
    ends = np.concatenate([starts[1:] - 1, [f.size - 1]])
    return f, starts, ends


def hr_stuck_mask(time_s: np.ndarray, hr_bpm: np.ndarray, max_constant_s: float = 120.0, bridge_s: float = 10.0) -> np.ndarray:
    """Mask of HR samples belonging to a stretch of one exactly repeated value lasting longer
    than ``max_constant_s`` seconds (first to last sample).

    Why 120 s: a strap or optical sensor that loses contact often repeats its last value.
    Plateaus of a minute are common in real optical-HR recordings (about one run in five of the
    development set has one lasting > 60 s while speed varies), whereas a value frozen for more
    than two minutes is rare and almost always a dropout. Holes of at most ``bridge_s`` seconds
    do not break a stretch (they would otherwise be filled with the same value and make the
    rule change its mind on a second pass); the NaN samples inside a flagged stretch are
    included in the mask."""
    t = np.asarray(time_s, dtype=np.float64)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    mask = np.zeros(hr.shape, dtype=bool)
    f, starts, ends = _finite_runs(t, hr, bridge_s)
    if f.size == 0:
        return mask
    dur = t[f[ends]] - t[f[starts]]
    for a, b in zip(starts[dur > max_constant_s], ends[dur > max_constant_s]):
        mask[f[a] : f[b] + 1] = True
    return mask


def interpolate_short_gaps(time_s: np.ndarray, values: np.ndarray, max_gap_s: float = 10.0) -> np.ndarray:
    """Linearly fill NaN holes whose bounding valid samples are at most ``max_gap_s`` seconds
    apart; longer holes, and leading/trailing NaNs, stay NaN. Returns a new array."""
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).copy()
    ok = np.isfinite(v)
    if ok.all() or ok.sum() < 2:
        return v
    n = v.size
    idx = np.arange(n)
    prev = np.where(ok, idx, -1)
    np.maximum.accumulate(prev, out=prev)
    nxt = np.where(ok, idx, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    hole = ~ok & (prev >= 0) & (nxt < n)
    if not hole.any():
        return v
    span = np.full(n, np.inf)
    span[hole] = t[nxt[hole]] - t[prev[hole]]
    fill = hole & (span <= max_gap_s)
    if fill.any():
        v[fill] = np.interp(t[fill], t[ok], v[ok])
    return v
