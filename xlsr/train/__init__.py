"""Training: config, tri-stage schedule, checkpoints, the trainer."""
