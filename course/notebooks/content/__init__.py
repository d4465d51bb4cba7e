"""The content of the course notebooks, one module per notebook (instructor copy only: it holds the model answers)."""
