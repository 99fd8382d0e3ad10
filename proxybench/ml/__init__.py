"""The ML parts: the trainer, task models, phi (backbone and extractor), FLOP counting, clustering geometry."""
