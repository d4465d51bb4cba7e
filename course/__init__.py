"""Course material that is not a step module: corpora, the demo."""
