"""Pre-flight lint: checks on the model and the data before training."""
