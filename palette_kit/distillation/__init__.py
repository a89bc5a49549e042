"""Few-step students of any palette-kit model: progressive distillation and its command."""
