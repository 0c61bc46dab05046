"""Generated training histories for the planner tests (written by code, never copied data)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from sub3coach.plan.history import HISTORY_COLUMNS


def history_frame(n_days: int = 70, *, seed: int = 0, start: datetime = datetime(2024, 1, 1, 7, 0, tzinfo=timezone.utc),
                  run_prob: float = 0.6, base_pace: float = 330.0, user_id: str = "gen") -> pd.DataFrame:
    """A believable one-runner history: runs on ~``run_prob`` of days, an easy/long/tempo mix."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_days):
        if rng.random() > run_prob:
            continue
        kind = rng.choice(["easy", "easy", "long", "tempo", "recovery"])
        dist = {"easy": 8000, "long": 18000, "tempo": 9000, "recovery": 5000}[kind] * rng.uniform(0.8, 1.2)
        pace = base_pace * {"easy": 1.0, "long": 1.05, "tempo": 0.9, "recovery": 1.12}[kind] * rng.uniform(0.97, 1.03)
        t = start + timedelta(days=d, minutes=float(rng.integers(0, 180)))
        rows.append((user_id, pd.Timestamp(t), dist, dist / 1000 * pace, pace, float(rng.uniform(0, 150)), np.nan))
    df = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    df["start_time"] = pd.to_datetime(df["start_time"], utc=True)
    return df


def write_simple_csv(path: Path, df: pd.DataFrame) -> Path:
    """Write a history as the plain ``date,dist_m,mov_s,hr`` log format."""
    lines = ["date,dist_m,mov_s,hr"]
    for st, d, t in zip(df["start_time"], df["distance_m"], df["duration_s"]):
        lines.append(f"{st:%Y-%m-%d %H:%M:%S},{d:.1f},{t:.0f},150")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_many_runners(path: Path, frames: list[pd.DataFrame]) -> Path:
    """Write several runners as the ``;``-separated many-runner table."""
    lines = ["Athlete;Gender;Timestamp;Distance;ElapsedTime;ElevationGain;AverageHeartRate"]
    for i, df in enumerate(frames):
        for st, d, t, g in zip(df["start_time"], df["distance_m"], df["duration_s"], df["elevation_gain_m"]):
            lines.append(f"{1000 + i};M;{st:%d/%m/%Y %H:%M};{d:.1f};{t:.0f};{g:.1f};150")
    path.write_text("\n".join(lines) + "\n")
    return path
