"""Cleaning and resampling of recorded workouts.

:func:`clean` turns a freshly read :class:`~sub3coach.workout.Workout` into one a sports
scientist would accept for analysis. It is a composition of small pure functions on numpy
arrays (no I/O), each documented with the rule it applies and why:

1. **Time order** (:func:`sort_and_dedupe`, :func:`future_time_mask`): samples sorted by time;
   for a duplicated time stamp one sample is kept, taking per channel the first non-missing
   value. Non-finite times, and stray times after 2100, are dropped.
2. **Relative time** (:func:`is_relative_time`): a recording whose first sample lies before the
   year 2000 counts from the epoch (Keep-app GPX). It is shifted to ``start_hint`` when known,
   else kept and flagged (``metadata["relative_time"]``).
3. **Gaps and pauses** (:func:`find_gaps`, :func:`find_pauses`, :func:`moving_time_s`): intervals
   longer than ``max_gap_s`` (30 s) are gaps, never interpolated across; a gap is a pause
   unless the distance advanced across it at a walk or faster (1 m/s: smart recording, a
   lost signal), and an interval counts as moving at 0.5 m/s or faster. Distance comes from
   the best evidence (:meth:`Workout.distance_track_m`): a sparse device distance channel is
   interpolated between its values, following speed or GPS, never read as standing still.
4. **Heart rate** (:func:`hr_out_of_range`, :func:`hr_stuck_mask`,
   :func:`interpolate_short_gaps`): values outside 30-230 BPM are missing; a value that stays
   exactly constant for more than 120 s is a lost sensor; holes of at most 10 s are linearly
   filled, longer ones stay missing.
5. **Position, distance and speed** (:func:`gps_spike_mask`, :func:`fix_distance_steps`,
   :func:`derive_speed`): GPS spikes (a detour implying more than the sport's maximum speed or
   6 m/s^2) are removed; distance steps faster than the sport's maximum are replaced; a speed is
   derived from the distance channel, else from GPS, when the device recorded none (lightly
   smoothed when it comes from GPS); absurd device speeds become missing.
6. **Altitude** (:func:`hampel_mask`, :func:`smooth_time`): spikes found by a Hampel filter are
   removed and the series smoothed with a 30-s moving mean (a window in seconds, not samples).
0. **Plausibility** (:mod:`sub3coach.clean.plausible`): infinite and beyond-human values are
   set missing and samples time-stamped far outside the rest of the recording dropped, point
   by point; after cleaning, a workout beyond the bounds (100 h, 1,000 km on foot, 1M
   samples, faster than 10 m/s on average on foot) is refused with ``ImplausibleWorkout``.
7. **Sport** (:func:`detect_sport`): when the file has no sport label, from the median moving
   speed and cadence.

:func:`resample` puts a workout on a uniform time grid without interpolating across pauses, and
:func:`validate` lists what makes a workout unusable.

Smoothing is not idempotent by nature, so :func:`clean` records what it smoothed in
``metadata`` (``altitude_smoothed_s``, ``speed_source``) and never smooths a series twice; all
other rules are fixed points, so ``clean(clean(w))`` equals ``clean(w)``.
"""
from __future__ import annotations

from sub3coach.clean.config import (
    FUTURE_TIME_LIMIT_S,
    MAX_SPEED_MPS,
    MOVING_SPEED_MPS,
    RELATIVE_TIME_LIMIT_S,
    CleanConfig,
    CleanReport,
)
from sub3coach.clean.heart import hr_out_of_range, hr_stuck_mask, interpolate_short_gaps
from sub3coach.clean.plausible import (
    MAX_DURATION_S,
    MAX_SAMPLES,
    check_bounds,
    implausible_values,
    time_outlier_mask,
)
from sub3coach.clean.pipeline import clean, resample, validate
from sub3coach.clean.sport import detect_sport, hampel_mask
from sub3coach.clean.timing import (
    find_gaps,
    find_pauses,
    future_time_mask,
    is_relative_time,
    moving_time_s,
    sort_and_dedupe,
)
from sub3coach.clean.track import (
    derive_speed,
    fix_distance_steps,
    gps_invalid_mask,
    gps_spike_mask,
    smooth_time,
    speed_from_track,
)

__all__ = [
    "CleanConfig",
    "CleanReport",
    "MAX_DURATION_S",
    "MAX_SAMPLES",
    "MAX_SPEED_MPS",
    "check_bounds",
    "implausible_values",
    "time_outlier_mask",
    "clean",
    "derive_speed",
    "detect_sport",
    "find_gaps",
    "find_pauses",
    "fix_distance_steps",
    "future_time_mask",
    "gps_invalid_mask",
    "gps_spike_mask",
    "hampel_mask",
    "hr_out_of_range",
    "hr_stuck_mask",
    "interpolate_short_gaps",
    "is_relative_time",
    "moving_time_s",
    "resample",
    "smooth_time",
    "sort_and_dedupe",
    "speed_from_track",
    "validate",
]
