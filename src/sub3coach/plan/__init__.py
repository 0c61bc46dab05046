"""Next-workout planner: history tables, a Transformer pace model, coach-rule suggestions, race prediction."""
