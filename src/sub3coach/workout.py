"""The :class:`Workout` (samples) and :class:`RunSummary` (one row per run) types.

Every reader returns workouts in SI units: ``time_s`` is unix seconds (UTC, float64) and each
channel is a float64 numpy array of the same length, NaN where a sample is missing. A channel
the recording never had is ``None``.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sub3coach import geo

#: Sample channels a workout can carry, all in SI units (see the attribute docs).
CHANNELS: tuple[str, ...] = (
    "hr_bpm",
    "speed_mps",
    "altitude_m",
    "distance_m",
    "lat_deg",
    "lon_deg",
    "cadence_spm",
    "power_w",
)

#: Normalised sport names.
SPORTS: tuple[str, ...] = ("run", "bike", "walk", "hike", "swim", "ski", "other", "unknown")


@dataclass
class Workout:
    """One recorded activity: metadata plus equal-length sample columns.

    Attributes:
        time_s: sample times, unix seconds UTC (float64).
        hr_bpm: heart rate, beats per minute.
        speed_mps: speed, metres per second.
        altitude_m: altitude, metres.
        distance_m: cumulative distance, metres.
        lat_deg, lon_deg: position, degrees (WGS84).
        cadence_spm: cadence, steps (running) or revolutions (cycling) per minute.
        power_w: power, watts.
        sport: one of :data:`SPORTS`.
        source: where it came from (path, ``zip!member``, corpus source...).
        source_format: ``fit``, ``gpx``, ``tcx``, ``corpus``, ``endomondo``, ``apple_health``...
        workout_id: a stable id (the corpus id when there is one, else a content hash).
        device_distance_m / device_timer_s / device_elapsed_s: totals the device itself wrote in
            its session or lap summary, when the file has one (for validation).
        metadata: anything else worth keeping (Strava name/type/gear, quality flags...).
    """

    time_s: np.ndarray
    hr_bpm: np.ndarray | None = None
    speed_mps: np.ndarray | None = None
    altitude_m: np.ndarray | None = None
    distance_m: np.ndarray | None = None
    lat_deg: np.ndarray | None = None
    lon_deg: np.ndarray | None = None
    cadence_spm: np.ndarray | None = None
    power_w: np.ndarray | None = None
    sport: str = "unknown"
    sub_sport: str | None = None
    name: str | None = None
    source: str | None = None
    source_format: str | None = None
    device: str | None = None
    workout_id: str | None = None
    user_id: str | None = None
    gender: str | None = None
    device_distance_m: float | None = None
    device_timer_s: float | None = None
    device_elapsed_s: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=np.float64).reshape(-1)
        n = self.time_s.shape[0]
        for ch in CHANNELS:
            v = getattr(self, ch)
            if v is None:
                continue
            arr = np.asarray(v, dtype=np.float64).reshape(-1)
            if arr.shape[0] != n:
                raise ValueError(f"channel {ch} has {arr.shape[0]} samples, time_s has {n}")
            setattr(self, ch, arr)
        if self.sport not in SPORTS:
            self.sport = normalise_sport(self.sport)

    # ----- basic properties -------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def start_time(self) -> datetime:
        """UTC start time (first sample)."""
        if len(self) == 0:
            raise ValueError("empty workout has no start time")
        return datetime.fromtimestamp(float(self.time_s[0]), tz=timezone.utc)

    @property
    def elapsed_s(self) -> float:
        """Seconds from first to last sample."""
        return float(self.time_s[-1] - self.time_s[0]) if len(self) > 1 else 0.0

    def channels(self) -> list[str]:
        """Names of the channels present with at least one finite sample."""
        return [c for c in CHANNELS if self.has(c)]

    def has(self, channel: str) -> bool:
        """Whether ``channel`` is present with at least one finite sample."""
        v = getattr(self, channel, None)
        return v is not None and bool(np.isfinite(v).any())

    def replace(self, **changes: Any) -> "Workout":
        """A copy with some fields replaced (arrays are not copied)."""
        return dataclasses.replace(self, **changes)

    def copy(self) -> "Workout":
        """A deep copy of arrays and metadata."""
        kw = {c: (None if getattr(self, c) is None else getattr(self, c).copy()) for c in CHANNELS}
        return dataclasses.replace(self, time_s=self.time_s.copy(), metadata=dict(self.metadata), **kw)

    def slice(self, mask_or_index: np.ndarray | slice) -> "Workout":
        """A workout keeping only the selected samples (boolean mask, index array or slice)."""
        kw = {c: (None if getattr(self, c) is None else getattr(self, c)[mask_or_index]) for c in CHANNELS}
        return dataclasses.replace(self, time_s=self.time_s[mask_or_index], **kw)

    def to_frame(self) -> "Any":
        """The samples as a pandas DataFrame with one column per present channel."""
        import pandas as pd

        data: dict[str, np.ndarray] = {"time_s": self.time_s}
        for c in CHANNELS:
            if getattr(self, c) is not None:
                data[c] = getattr(self, c)
        return pd.DataFrame(data)

    # ----- derived ----------------------------------------------------------------------
    def distance_track_m(self) -> np.ndarray | None:
        """Cumulative distance in metres (0 at the first sample) from the best evidence: the
        device's distance channel where present, its holes filled following speed or GPS
        (never read as standing still), else integrated speed, else haversine over GPS; see
        :func:`sub3coach.geo.best_distance_track_m`. ``None`` when none of these exists."""
        return geo.best_distance_track_m(self.time_s, self.distance_m, self.speed_mps, self.lat_deg, self.lon_deg)

    def content_id(self) -> str:
        """A 16-hex-digit hash of the sample content (stable across file formats only when the
        samples are identical; see the library for cross-format duplicate detection)."""
        h = hashlib.sha256()
        h.update(self.sport.encode())
        h.update(np.round(self.time_s, 3).tobytes())
        for c in CHANNELS:
            v = getattr(self, c)
            if v is not None:
                h.update(c.encode())
                h.update(np.nan_to_num(np.round(v, 4), nan=-1.0).tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> "RunSummary":
        """Per-run summary (distance, durations, elevation gain, HR, pace)."""
        dist = self.distance_track_m()
        distance = float(np.nanmax(dist)) if dist is not None and dist.size else None
        meta: dict[str, Any] = {}
        if self.device_distance_m and self.device_distance_m > 0:
            # The device's own session/lap total is what the runner saw on the watch; it also
            # covers stretches the file has no samples for (e.g. a Suunto TCX whose first laps
            # carry no trackpoints). It is used unless the samples clearly run past it (lap
            # summaries that stop before the recording does, as in some Movescount exports).
            meta["distance_from_samples_m"] = distance
            if distance is None or distance <= 1.05 * self.device_distance_m:
                distance = float(self.device_distance_m)
        pauses = self.metadata.get("timer_pauses_s")
        moving = geo.moving_time_s(self.time_s, dist, pauses=pauses) if dist is not None else None
        gain = geo.elevation_gain_m(self.altitude_m) if self.has("altitude_m") else None
        avg_hr = max_hr = None
        if self.has("hr_bpm"):
            hr = self.hr_bpm[np.isfinite(self.hr_bpm)]  # type: ignore[index]
            # time-weighted mean would over-weight gaps; sample mean matches device summaries
            avg_hr, max_hr = float(hr.mean()), float(hr.max())
        return RunSummary(
            start_time=self.start_time,
            sport=self.sport,
            distance_m=distance,
            duration_s=self.elapsed_s,
            moving_time_s=moving,
            elevation_gain_m=gain,
            avg_hr_bpm=avg_hr,
            max_hr_bpm=max_hr,
            name=self.name,
            source=self.source,
            user_id=self.user_id,
            gender=self.gender,
            summary_only=False,
            metadata=meta,
        )


@dataclass
class RunSummary:
    """One run as a row of a training history (no samples).

    Attributes:
        start_time: UTC start (timezone-aware).
        distance_m: metres; duration_s: elapsed seconds; moving_time_s: seconds moving.
        elevation_gain_m: total ascent, metres. avg_hr_bpm / max_hr_bpm: BPM or None.
        summary_only: True when it came from a history file (no samples behind it).
    """

    start_time: datetime
    sport: str = "run"
    distance_m: float | None = None
    duration_s: float | None = None
    moving_time_s: float | None = None
    elevation_gain_m: float | None = None
    avg_hr_bpm: float | None = None
    max_hr_bpm: float | None = None
    name: str | None = None
    source: str | None = None
    user_id: str | None = None
    gender: str | None = None
    summary_only: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def avg_pace_s_per_km(self) -> float | None:
        """Average pace over moving time (falls back to elapsed), seconds per km."""
        t = self.moving_time_s or self.duration_s
        if not t or not self.distance_m or self.distance_m < 1.0:
            return None
        return float(t / (self.distance_m / 1000.0))


_SPORT_ALIASES: dict[str, str] = {
    "running": "run", "run": "run", "trail_running": "run", "trail run": "run", "trailrun": "run",
    "treadmill_running": "run", "virtualrun": "run", "virtual run": "run", "track_running": "run",
    "indoor_running": "run", "street_running": "run", "jogging": "run", "race": "run",
    "hkworkoutactivitytyperunning": "run", "trail running": "run",
    "cycling": "bike", "biking": "bike", "bike": "bike", "ride": "bike", "virtualride": "bike",
    "road_biking": "bike", "mountain_biking": "bike", "ebikeride": "bike", "e-bike ride": "bike",
    "hkworkoutactivitytypecycling": "bike", "indoor_cycling": "bike", "virtual ride": "bike",
    "walking": "walk", "walk": "walk", "hkworkoutactivitytypewalking": "walk",
    "hiking": "hike", "hike": "hike", "hkworkoutactivitytypehiking": "hike",
    "swimming": "swim", "swim": "swim", "lap_swimming": "swim", "open_water_swimming": "swim",
    "cross_country_skiing": "ski", "alpine_skiing": "ski", "nordicski": "ski", "alpineski": "ski",
    "backcountryski": "ski",
}


def normalise_sport(label: str | None) -> str:
    """Map a sport label from any file format (FIT enum name, Strava type, TCX Sport attribute,
    Apple HKWorkoutActivityType, Endomondo sport) onto one of :data:`SPORTS`."""
    if not label:
        return "unknown"
    key = str(label).strip().lower().replace("-", "_")
    if key in SPORTS:
        return key
    if key in _SPORT_ALIASES:
        return _SPORT_ALIASES[key]
    key2 = key.replace("_", " ")
    if key2 in _SPORT_ALIASES:
        return _SPORT_ALIASES[key2]
    for word, sport in (("run", "run"), ("bik", "bike"), ("cycl", "bike"), ("ride", "bike"), ("walk", "walk"), ("hik", "hike"), ("swim", "swim"), ("ski", "ski")):
        if word in key:
            return sport
    return "other"
