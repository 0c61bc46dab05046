"""Heart-rate model: predict a runner's HR from speed and altitude (never from HR itself).

Public entry points (imported lazily so ``import sub3coach.hr`` stays cheap):

* :func:`sub3coach.hr.artifact.load_model` — the one loader (``None`` = bundled default);
* :class:`sub3coach.hr.train.HRModel` — ``fit(workouts)`` / ``predict(workout)``;
* :func:`sub3coach.hr.predict.predict_workout`, :func:`~sub3coach.hr.predict.predict_many`,
  :func:`~sub3coach.hr.predict.course_workout`, :func:`~sub3coach.hr.predict.hr_summary`;
* :func:`sub3coach.hr.evaluate.evaluate` and :func:`~sub3coach.hr.evaluate.write_report`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["HRModel", "load_model", "predict_workout", "evaluate"]


def __getattr__(name: str) -> Any:
    if name == "load_model":
        from sub3coach.hr.artifact import load_model

        return load_model
    if name == "HRModel":
        from sub3coach.hr.train import HRModel

        return HRModel
    if name == "predict_workout":
        from sub3coach.hr.predict import predict_workout

        return predict_workout
    if name == "evaluate":
        from sub3coach.hr.evaluate import evaluate

        return evaluate
    raise AttributeError(name)
