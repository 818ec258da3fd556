"""Training forms: hyperparameters (from a job's config), generate, train, schedules."""
