"""Next-workout planner.

* :mod:`~sub3coach.plan.history` - per-runner run tables, features, workout types, model examples;
* :mod:`~sub3coach.plan.model` - the pace Transformer and baselines (``nn.Module``s only);
* :mod:`~sub3coach.plan.train` - pretraining, fine-tuning, the artifact and ``load_plan_model``;
* :mod:`~sub3coach.plan.evaluate` - walk-forward evaluation on unseen runners;
* :mod:`~sub3coach.plan.suggest` - ``suggest_next`` / ``plan_week`` under coach rules;
* :mod:`~sub3coach.plan.race` - Riegel and Daniels VDOT race prediction, training paces;
* :mod:`~sub3coach.plan.cli` - the ``sub3 plan`` Typer app (``plan_app``).

Submodules are imported on use (torch is only needed for the model, train and evaluate parts).
"""
