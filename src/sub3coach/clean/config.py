"""Thresholds, limits and the report of :func:`sub3coach.clean.clean` (all SI units)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("sub3coach.clean")


#: 2000-01-01T00:00:00Z; a first sample before it means time counts from the epoch.
RELATIVE_TIME_LIMIT_S = 946_684_800.0
#: 2100-01-01T00:00:00Z; later time stamps are a unit error (milliseconds read as seconds...).
FUTURE_TIME_LIMIT_S = 4_102_444_800.0

#: Fastest plausible sustained speed per sport, m/s (sprinters peak at ~12.4 m/s).
MAX_SPEED_MPS: dict[str, float] = {
    "run": 12.0,
    "walk": 4.0,
    "hike": 4.0,
    "bike": 30.0,
    "swim": 3.0,
    "ski": 30.0,
    "other": 30.0,
    "unknown": 30.0,
}

#: Speed below which an interval counts as stopped (same as :func:`geo.moving_mask`).
MOVING_SPEED_MPS = 0.5


@dataclass
class CleanConfig:
    """Thresholds used by :func:`clean` (all SI units).

    Attributes:
        max_gap_s: an interval longer than this is a pause/gap (never interpolated across).
        hr_min_bpm, hr_max_bpm: plausible heart-rate range, inclusive.
        hr_stuck_s: an exactly constant HR lasting longer than this is a sensor dropout.
        hr_max_interp_s: HR holes whose bounding valid samples are at most this far apart are
            linearly filled.
        max_accel_mps2: largest plausible acceleration; a GPS point whose detour implies more
            is a spike.
        speed_smooth_s: window of the centred moving mean applied to GPS-derived speed.
        alt_window_s: window of the Hampel filter and of the altitude moving mean.
        alt_n_sigma, alt_min_dev_m: Hampel threshold: max(n_sigma * 1.4826 * MAD, min_dev).
        alt_valid_m: altitudes outside this range are invalid (sensor codes, unit errors).
        gps_max_iter: iterations of the GPS spike filter.
    """

    max_gap_s: float = 30.0
    hr_min_bpm: float = 30.0
    hr_max_bpm: float = 230.0
    hr_stuck_s: float = 120.0
    hr_max_interp_s: float = 10.0
    max_accel_mps2: float = 6.0
    speed_smooth_s: float = 5.0
    alt_window_s: float = 30.0
    alt_n_sigma: float = 3.0
    alt_min_dev_m: float = 10.0
    alt_valid_m: tuple[float, float] = (-500.0, 9000.0)
    gps_max_iter: int = 20


@dataclass
class CleanReport:
    """What :func:`clean` changed: human-readable notes plus counters.

    Attributes:
        notes: one line per change, in the order applied.
        n_nonfinite_time_dropped: samples dropped for a missing time stamp.
        n_future_time_dropped: samples dropped for a time stamp after 2100 (see
            :func:`future_time_mask`).
        n_time_outliers_dropped: samples dropped for a time stamp far outside the rest of the
            recording (see :func:`sub3coach.clean.plausible.time_outlier_mask`).
        n_implausible_values: per channel, infinite or beyond-human values set missing.
        n_distance_interpolated: missing samples of a sparse distance channel filled between
            the device's values.
        n_duplicates_dropped: samples merged into an earlier one with the same time stamp.
        reordered: whether the samples were out of time order.
        relative_time: whether the time stamps counted from the epoch.
        relative_time_fixed: whether they were shifted to a known start.
        gaps: (start_s, end_s) of every interval longer than ``max_gap_s``.
        pauses: (start_s, end_s) of every stretch of intervals spent not moving.
        n_hr_invalid: HR samples outside the plausible range set missing.
        n_hr_dropout: HR samples of a stuck (constant) stretch set missing.
        n_hr_interpolated: HR samples filled in short holes.
        n_gps_invalid: positions outside lat/lon range or at (0, 0), set missing.
        n_gps_spikes: GPS points removed as spikes.
        n_distance_fixed: distance steps replaced (too fast or negative).
        n_speed_invalid: device speeds set missing (negative or above the sport's maximum).
        n_speed_filled: missing device speeds filled from the derived speed.
        speed_source: ``device``, ``distance``, ``gps`` or ``none``.
        n_alt_invalid: altitudes outside the plausible range set missing.
        n_alt_spikes: altitude samples removed by the Hampel filter.
        sport_detected: the sport found by :func:`detect_sport`, when the file had none.
    """

    notes: list[str] = field(default_factory=list)
    n_nonfinite_time_dropped: int = 0
    n_future_time_dropped: int = 0
    n_duplicates_dropped: int = 0
    n_time_outliers_dropped: int = 0
    n_implausible_values: dict[str, int] = field(default_factory=dict)
    n_distance_interpolated: int = 0
    reordered: bool = False
    relative_time: bool = False
    relative_time_fixed: bool = False
    gaps: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    n_hr_invalid: int = 0
    n_hr_dropout: int = 0
    n_hr_interpolated: int = 0
    n_gps_invalid: int = 0
    n_gps_spikes: int = 0
    n_distance_fixed: int = 0
    n_speed_invalid: int = 0
    n_speed_filled: int = 0
    speed_source: str = "none"
    n_alt_invalid: int = 0
    n_alt_spikes: int = 0
    sport_detected: str | None = None

    def note(self, message: str) -> None:
        """Record one change (also logged at DEBUG level)."""
        self.notes.append(message)
        log.debug("clean: %s", message)
