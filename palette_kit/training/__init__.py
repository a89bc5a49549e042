"""Training: the epoch loop and the run's outputs (local folder and Weights & Biases)."""
