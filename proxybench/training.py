"""Old path of the trainer, kept importable for callers not yet moved (tests/benchmarks/).

New code imports from ``proxybench`` (the public face) or ``proxybench.ml.training``. Nothing in proxybench imports this.
"""

from .ml.training import (
    MEAN,
    STD,
    ImageTensors,
    Loss,
    TrainConfig,
    UnlabeledTerm,
    accuracy,
    cross_entropy_loss,
    predict_logits,
    random_crop,
    to_tensor,
    train,
)

__all__ = ["MEAN", "STD", "ImageTensors", "Loss", "TrainConfig", "UnlabeledTerm", "accuracy", "cross_entropy_loss",
           "predict_logits", "random_crop", "to_tensor", "train"]
