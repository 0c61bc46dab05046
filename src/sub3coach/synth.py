"""Synthetic but believable courses and runs, for test fixtures and demos.

Everything is deterministic given ``seed`` (one :class:`numpy.random.Generator` per call) and
in SI units.

* :func:`synthetic_course` - a planned route: a meandering loop that ends near its start,
  with rolling hills (sum of a few sinusoids of random wavelength, grades scaled by
  ``hilliness``), as lat/lon/altitude/distance every few metres.
* :func:`synthetic_run` - a recording along such a course: warm-up, steady running with slow
  pace wander, a few surges, a cool-down; speed slowed by climbs and helped a little by
  descents; GPS noise (correlated, ~2.5 m); barometric altitude noise; cadence; and heart
  rate from a small physiological model:

  - metabolic demand ``D = v * c(grade) / v_threshold`` with ``c = 1 + 6 g`` uphill and
    ``1 + 4 g`` downhill (at least 0.6), roughly Minetti's cost of running on slopes;
  - target HR ``= HR_rest + (0.15 + 0.75 D) (HR_max - HR_rest) + drift`` where the cardiac
    drift grows with the accumulated demand (a few bpm per hour of running);
  - first-order response toward the target (time constant ~28 s rising, ~45 s falling);
  - small AR(1) sensor noise, rounded to whole beats and bounded to 40-210 bpm.

The athlete's resting/max HR and threshold speed are drawn from the seed and stored in
``workout.metadata`` together with the surge schedule, so tests can check the model.

* :func:`synthetic_history` - a training log (one :class:`~sub3coach.workout.RunSummary` per
  run) with a marathoner's weekly pattern, for the planner's demo and tests.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from sub3coach import geo
from sub3coach.workout import RunSummary, Workout, normalise_sport

__all__ = ["synthetic_course", "synthetic_run", "synthetic_history", "DEFAULT_START"]

#: Default start of :func:`synthetic_run` (a Saturday morning, UTC).
DEFAULT_START = datetime(2024, 5, 4, 7, 0, 0, tzinfo=timezone.utc)

_M_PER_DEG_LAT = math.pi * geo.EARTH_RADIUS_M / 180.0


def _ar1(rng: np.random.Generator, n: int, sd: float, tau_steps: float) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation ``sd`` and correlation time ``tau_steps``."""
    if n == 0:
        return np.zeros(0)
    phi = math.exp(-1.0 / max(tau_steps, 1e-9))
    innov = rng.normal(0.0, sd * math.sqrt(max(1.0 - phi * phi, 1e-12)), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + innov[i]
    return out


def _smooth_ramp(x: np.ndarray) -> np.ndarray:
    """0 -> 1 cosine ramp for x in [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def synthetic_course(
    distance_m: float = 10000.0,
    *,
    seed: int = 0,
    hilliness: float = 1.0,
    start_lat: float = 47.3769,
    start_lon: float = 8.5417,
    step_m: float = 5.0,
) -> Workout:
    """A planned route of ``distance_m`` metres: a meandering loop with rolling hills.

    Args:
        distance_m: route length, metres (> 0).
        seed: random seed (same seed, same route).
        hilliness: scales the altitude profile; 1.0 gives typical rolling terrain (grades
            mostly within +-6 %, ~10-15 m of climb per km), 0 a flat route.
        start_lat, start_lon: start point, degrees.
        step_m: spacing of the route points, metres.

    Returns:
        A workout with ``lat_deg``, ``lon_deg``, ``altitude_m`` and ``distance_m`` (the
        haversine length along the points, 0 .. ``distance_m`` within 0.01 %; the loop ends
        where it starts). ``time_s`` is a placeholder grid (the time a 5:00/km runner
        would reach each point, from 0); ``metadata["planned"]`` is True.
    """
    if not distance_m > 0:
        raise ValueError("distance_m must be positive")
    if not step_m > 0:
        raise ValueError("step_m must be positive")
    rng = np.random.default_rng(seed)
    n = max(int(math.ceil(distance_m / step_m)) + 1, 2)
    d = np.linspace(0.0, float(distance_m), n)
    # heading: one full turn over the route (a loop) plus meanders on several scales
    h0 = rng.uniform(0.0, 2.0 * math.pi)
    heading = h0 + 2.0 * math.pi * d / distance_m
    for _ in range(3):
        lam = rng.uniform(250.0, 2000.0)
        heading += rng.uniform(0.2, 0.7) * np.sin(2.0 * math.pi * d / lam + rng.uniform(0.0, 2.0 * math.pi))
    heading += np.cumsum(rng.normal(0.0, 0.02, n))  # small wiggles
    step = np.diff(d)
    east = np.concatenate([[0.0], np.cumsum(step * np.sin(heading[:-1]))])
    north = np.concatenate([[0.0], np.cumsum(step * np.cos(heading[:-1]))])
    # close the loop: spread the end-point miss evenly along the route
    east -= d / distance_m * east[-1]
    north -= d / distance_m * north[-1]
    cos_lat = math.cos(math.radians(start_lat))
    lat = start_lat + north / _M_PER_DEG_LAT
    lon = start_lon + east / (_M_PER_DEG_LAT * max(cos_lat, 1e-6))
    # rescale so the haversine length matches distance_m (projection error is tiny, but exact is nicer)
    hav = geo.cumulative_distance_m(lat, lon)
    if hav[-1] > 0:
        k = distance_m / hav[-1]
        lat = start_lat + (lat - start_lat) * k
        lon = start_lon + (lon - start_lon) * k
    dist = geo.cumulative_distance_m(lat, lon)
    # altitude: rolling hills (long and short waves), grade of each wave <= ~amplitude*2pi/lambda
    base = rng.uniform(50.0, 600.0)
    alt = np.full(n, base)
    for lam_lo, lam_hi, g_lo, g_hi in ((1500.0, 4000.0, 0.015, 0.03), (500.0, 1500.0, 0.015, 0.035), (120.0, 400.0, 0.005, 0.015)):
        lam = rng.uniform(lam_lo, lam_hi)
        amp = rng.uniform(g_lo, g_hi) * lam / (2.0 * math.pi)
        alt += hilliness * amp * np.sin(2.0 * math.pi * d / lam + rng.uniform(0.0, 2.0 * math.pi))
    return Workout(
        time_s=d / (1000.0 / 300.0),
        altitude_m=alt,
        distance_m=dist,
        lat_deg=lat,
        lon_deg=lon,
        sport="run",
        name=f"Synthetic course {distance_m / 1000.0:.1f} km (seed {seed})",
        source=f"synthetic:course:seed={seed}",
        source_format="synthetic",
        metadata={"synthetic": True, "planned": True, "placeholder_time": True, "seed": seed, "hilliness": hilliness},
    )


def _grade_at(course: Workout, window_m: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Course distance grid and grade (rise/run) smoothed over ``window_m`` metres."""
    d = course.distance_m  # type: ignore[assignment]
    alt = course.altitude_m  # type: ignore[assignment]
    assert d is not None and alt is not None
    g = np.gradient(alt, d)
    k = max(int(round(window_m / max(float(np.median(np.diff(d))), 1e-6))), 1)
    if k > 1:
        g = np.convolve(g, np.ones(k) / k, mode="same")
    return d, g


def synthetic_run(
    *,
    duration_s: float = 3600.0,
    pace_s_per_km: float = 300.0,
    seed: int = 0,
    hr: bool = True,
    gps: bool = True,
    start: datetime = DEFAULT_START,
    sport: str = "run",
    sample_s: float = 1.0,
    hilliness: float = 1.0,
) -> Workout:
    """A believable recorded workout (see the module docstring for the models).

    Args:
        duration_s: length of the recording, seconds.
        pace_s_per_km: steady-state pace on flat ground, seconds per km.
        seed: random seed; the same arguments give the same workout.
        hr: include ``hr_bpm``.
        gps: include ``lat_deg``/``lon_deg``/``altitude_m`` along a hilly course; without
            GPS the run is on flat ground (treadmill-like) and has no position or altitude.
        start: start time (naive datetimes are taken as UTC).
        sport: sport label (normalised); cadence is steps/min for running, rpm for cycling.
        sample_s: sampling interval, seconds.
        hilliness: passed to :func:`synthetic_course`.

    Returns:
        A workout with ``time_s``, ``speed_mps`` (device speed), ``distance_m``,
        ``cadence_spm`` (run/walk/bike) and, as asked, ``hr_bpm`` and GPS channels.
    """
    if not duration_s > 0 or not pace_s_per_km > 0 or not sample_s > 0:
        raise ValueError("duration_s, pace_s_per_km and sample_s must be positive")
    rng = np.random.default_rng(seed)
    sport_n = normalise_sport(sport)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    t = np.arange(0.0, float(duration_s) + 1e-9, float(sample_s))
    n = t.size
    dt = float(sample_s)
    v0 = 1000.0 / pace_s_per_km

    # ----- intended speed profile ---------------------------------------------------------
    warm = min(600.0, 0.15 * duration_s)
    cool = min(300.0, 0.08 * duration_s)
    factor = np.ones(n)
    if warm > 0:
        factor *= 0.78 + 0.22 * _smooth_ramp(t / warm)
    if cool > 0:
        factor *= 1.0 - 0.15 * _smooth_ramp((t - (duration_s - cool)) / cool)
    surges: list[dict[str, float]] = []
    steady_lo, steady_hi = warm + 60.0, duration_s - cool - 150.0
    n_surges = int(rng.integers(2, 5)) if steady_hi - steady_lo > 600 else (1 if steady_hi - steady_lo > 120 else 0)
    for _ in range(n_surges):
        s0 = float(rng.uniform(steady_lo, steady_hi))
        length = float(rng.uniform(20.0, 90.0))
        f = float(rng.uniform(1.15, 1.35))
        ramp = _smooth_ramp((t - s0) / 5.0) * (1.0 - _smooth_ramp((t - s0 - length) / 8.0))
        factor *= 1.0 + (f - 1.0) * ramp
        surges.append({"start_s": s0, "duration_s": length, "factor": f})
    factor *= np.exp(_ar1(rng, n, 0.03, 60.0 / dt))  # slow pace wander
    factor *= 1.0 - np.exp(-t / 4.0)  # starts from standstill
    v_intent = v0 * factor

    # ----- course and grade feedback ------------------------------------------------------
    if gps:
        expected = v0 * duration_s
        course = synthetic_course(max(expected * 1.6 + 500.0, 1000.0), seed=seed + 7919, hilliness=hilliness,
                                  start_lat=float(rng.uniform(-50.0, 60.0)), start_lon=float(rng.uniform(-120.0, 150.0)))
        cd, cg = _grade_at(course)
    else:
        course = None
        cd = np.array([0.0, 1.0e9])
        cg = np.zeros(2)
    v = np.empty(n)
    dist = np.empty(n)
    grade = np.empty(n)
    d_now = 0.0
    for i in range(n):
        g = float(np.interp(d_now, cd, cg))
        gf = 1.0 / (1.0 + 4.0 * g) if g > 0 else 1.0 + 1.5 * min(-g, 0.10)
        v[i] = v_intent[i] * gf
        grade[i] = g
        dist[i] = d_now
        d_now += v[i] * dt
    speed_dev = np.clip(v + rng.normal(0.0, 0.05, n), 0.0, None)

    # ----- heart rate -----------------------------------------------------------------------
    hr_rest = float(rng.uniform(48.0, 60.0))
    hr_max = float(rng.uniform(182.0, 198.0))
    v_thr = v0 * float(rng.uniform(1.15, 1.30))
    drift_rate = float(rng.uniform(4.0, 9.0))  # bpm per hour at threshold-ish demand
    cost = np.where(grade > 0, 1.0 + 6.0 * grade, np.maximum(1.0 + 4.0 * grade, 0.6))
    demand = v * cost / v_thr
    drift = drift_rate * np.cumsum(np.clip(demand, 0.0, 1.3)) * dt / 3600.0
    frac = np.clip(0.15 + 0.75 * demand, 0.05, 1.0)
    target = np.minimum(hr_rest + frac * (hr_max - hr_rest) + drift, hr_max)
    hr_true = np.empty(n)
    h = hr_rest + float(rng.uniform(10.0, 25.0))
    a_up = 1.0 - math.exp(-dt / 28.0)
    a_dn = 1.0 - math.exp(-dt / 45.0)
    for i in range(n):
        h += (target[i] - h) * (a_up if target[i] > h else a_dn)
        hr_true[i] = h
    hr_obs = np.clip(np.round(hr_true + _ar1(rng, n, 1.5, 10.0 / dt)), 40.0, 210.0)

    # ----- cadence --------------------------------------------------------------------------
    cad: np.ndarray | None
    if sport_n == "run":
        cad = np.where(v < 0.5, 0.0, np.clip(130.0 + 14.0 * v, 140.0, 200.0))
    elif sport_n in ("walk", "hike"):
        cad = np.where(v < 0.3, 0.0, np.clip(90.0 + 15.0 * v, 90.0, 135.0))
    elif sport_n == "bike":
        cad = np.where(v < 0.5, 0.0, np.clip(70.0 + 2.0 * v, 60.0, 110.0))
    else:
        cad = None
    if cad is not None:
        cad = np.round(np.where(cad > 0, cad + rng.normal(0.0, 1.5, n), 0.0))

    # ----- GPS ------------------------------------------------------------------------------
    lat = lon = alt = None
    if course is not None:
        lat_c = np.interp(dist, course.distance_m, course.lat_deg)  # type: ignore[arg-type]
        lon_c = np.interp(dist, course.distance_m, course.lon_deg)  # type: ignore[arg-type]
        alt_c = np.interp(dist, course.distance_m, course.altitude_m)  # type: ignore[arg-type]
        e_noise = _ar1(rng, n, 2.5, 20.0 / dt)
        n_noise = _ar1(rng, n, 2.5, 20.0 / dt)
        lat = lat_c + n_noise / _M_PER_DEG_LAT
        lon = lon_c + e_noise / (_M_PER_DEG_LAT * max(math.cos(math.radians(float(lat_c[0]))), 1e-6))
        alt = alt_c + _ar1(rng, n, 0.5, 60.0 / dt) + float(rng.normal(0.0, 3.0))

    t0 = start.timestamp()
    pace_min, pace_sec = divmod(int(round(pace_s_per_km)), 60)
    return Workout(
        time_s=t0 + t,
        hr_bpm=hr_obs if hr else None,
        speed_mps=speed_dev,
        altitude_m=alt,
        distance_m=dist,
        lat_deg=lat,
        lon_deg=lon,
        cadence_spm=cad,
        sport=sport_n,
        name=f"Synthetic {sport_n} {duration_s / 60.0:.0f} min @ {pace_min}:{pace_sec:02d}/km (seed {seed})",
        source=f"synthetic:run:seed={seed}",
        source_format="synthetic",
        device="sub3coach synth",
        metadata={
            "synthetic": True,
            "seed": seed,
            "hr_rest_bpm": hr_rest,
            "hr_max_bpm": hr_max,
            "threshold_speed_mps": v_thr,
            "drift_bpm_per_h": drift_rate,
            "surges": surges,
            "warmup_s": warm,
            "cooldown_s": cool,
            "hilliness": hilliness if gps else 0.0,
        },
    )


#: The weekly pattern of :func:`synthetic_history`: weekday (0 = Monday) -> (workout, share of
#: the week's volume, pace relative to easy pace). Monday and Friday are rest days.
_WEEK_PATTERN: dict[int, tuple[str, float, float]] = {
    1: ("Intervals 6x800 m", 0.16, 0.90),
    2: ("Easy run", 0.18, 1.00),
    3: ("Tempo run", 0.18, 0.92),
    5: ("Easy run", 0.20, 1.02),
    6: ("Long run", 0.28, 1.05),
}


#: Weeks of :func:`synthetic_history` over which volume and pace build (then they level off).
MAX_BUILD_WEEKS: int = 24


def synthetic_history(
    weeks: int = 16,
    *,
    easy_pace_s_per_km: float = 330.0,
    start_km_per_week: float = 35.0,
    seed: int = 0,
    end: datetime | None = None,
) -> list[RunSummary]:
    """A believable training log of one runner: five runs a week (intervals Tuesday, easy
    Wednesday, tempo Thursday, easy Saturday, long run Sunday; rest Monday and Friday), weekly
    volume building about 3 % a week for :data:`MAX_BUILD_WEEKS` weeks then level, every fourth
    week easier, pace improving slowly while the volume builds, with day-to-day noise and the odd
    missed run.

    Args:
        weeks: number of weeks; easy_pace_s_per_km: the easy pace at the start, s/km;
        start_km_per_week: the first week's volume, km; seed: random seed (same seed, same log);
        end: the log's last week is the week of this time, and holds only runs before it
            (default: a fixed time, 2026-01-05 00:00 UTC, so the log is the same on every machine).

    Returns:
        :class:`~sub3coach.workout.RunSummary` rows (UTC start times, morning runs), oldest first.
    """
    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 1, 5, tzinfo=timezone.utc)
    this_monday = (end - timedelta(days=end.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first_monday = this_monday - timedelta(weeks=weeks - 1)
    out: list[RunSummary] = []
    for w in range(weeks):
        build = min(w, MAX_BUILD_WEEKS)  # then the volume and pace level off
        volume_km = start_km_per_week * (1.03 ** build) * (0.75 if w % 4 == 3 else 1.0)
        fitness = 1.0 - 0.004 * build  # a little faster every week
        for wd, (name, share, rel) in _WEEK_PATTERN.items():
            if rng.random() < 0.06:
                continue  # a missed run
            d_m = 1000.0 * volume_km * share * rng.uniform(0.9, 1.1)
            pace = easy_pace_s_per_km * fitness * rel * rng.uniform(0.97, 1.03)
            start = first_monday + timedelta(weeks=w, days=wd, hours=6.5 + float(rng.uniform(0, 1.5)))
            if start >= end:
                continue
            gain = d_m / 1000.0 * float(rng.uniform(3, 12))
            hr = 150.0 + 60.0 * (1.0 - rel) * 2 + float(rng.normal(0, 3))
            out.append(RunSummary(start_time=start, sport="run", distance_m=round(d_m, 1), duration_s=round(d_m / 1000.0 * pace),
                                  moving_time_s=round(d_m / 1000.0 * pace), elevation_gain_m=round(gain, 1),
                                  avg_hr_bpm=round(hr), name=name))
    return out
