"""Next-workout planner.

* :mod:`~sub3coach.plan.history` - per-runner run tables, features, workout types, model examples;
* :mod:`~sub3coach.plan.model` - the pace Transformer and baselines (``nn.Module``s only);
* :mod:`~sub3coach.plan.train` - pretraining, fine-tuning, the artifact and ``load_plan_model``;
* :mod:`~sub3coach.plan.evaluate` - walk-forward evaluation on unseen runners;
* :mod:`~sub3coach.plan.suggest` - ``plan_week`` (one planner) and ``suggest_next`` (its first run) under coach rules;
* :mod:`~sub3coach.plan.sessions` - training zones from VDOT, structured sessions (steps);
* :mod:`~sub3coach.plan.export` - a week to iCalendar (``--ics``) and FIT workouts (``--fit-workouts``);
* :mod:`~sub3coach.plan.api` - ``week_plan(lib, athlete)``: the week of a library's athlete (CLI and web app);
* :mod:`~sub3coach.plan.race` - Riegel and Daniels VDOT race prediction, training paces;
* :mod:`~sub3coach.plan.cli` - the ``sub3 plan`` Typer app (``plan_app``).

Submodules are imported on use (torch is only needed for the model, train and evaluate parts).
"""
