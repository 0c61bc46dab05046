"""Readers: one module per format, each returning :class:`~sub3coach.workout.Workout` objects
(or :class:`~sub3coach.workout.RunSummary` rows for training-history files).

Single-file readers take a path, bytes or a binary file object (``Source``):

* :func:`sub3coach.io.fit.read_fit` — FIT (one workout per session; multisport kept apart)
* :func:`sub3coach.io.gpx.read_gpx` — GPX 1.0/1.1 with HR extensions
* :func:`sub3coach.io.tcx.read_tcx` — TCX

Streaming readers take a path and yield:

* :func:`sub3coach.io.corpus.iter_corpus` — corpus Parquet (runs-dev / SUB3_V2 layout)
* :func:`sub3coach.io.endomondo.iter_endomondo` — FitRec ``endomondoHR*.json``
* :func:`sub3coach.io.strava_export.iter_strava_export` — Strava bulk export (folder or zip)
* :func:`sub3coach.io.apple_health.iter_apple_health` — Apple Health ``export.zip``/``export.xml``
* :func:`sub3coach.io.history.iter_history` — per-run summaries from history files

:func:`read_workout` and :func:`iter_workouts` dispatch on content (see :mod:`sub3coach.io.dispatch`).
"""
from __future__ import annotations
