"""Training: schedules, losses, the compiled train step and loop, metrics."""
