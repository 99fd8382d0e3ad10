"""Scoring a task model on the device: the harness's own program, and the helpers that ship a model to it.

A task trains a model in the cloud and ships it as message fields (``model_message``);
the device rebuilds it and scores it on its test data (``evaluate_program``). The
harness books these calls to the ``model`` phase and keeps them out of the transcript:
they measure the run, they are not a release.
"""

from __future__ import annotations

import numpy as np
import torch

from ..ml.backbone import load_state_dict_bytes, state_dict_bytes
from ..ml.flops import forward_flops
from ..ml.models import create_task_model
from ..ml.training import accuracy, to_tensor
from .context import ScoringContext
from .device import Device
from .link import Message, as_field, deserialize, serialize
from .phases import MODEL


def evaluate_program(ctx: ScoringContext, msg: Message) -> Message:
    """The harness's scoring program: a shipped task model's accuracy on the device's test data.

    The device runtime runs it itself (never in the program worker), on the test split no other program reaches.
    """
    model = create_task_model(msg["model"], int(msg["num_classes"]), int(msg["image_size"]))
    load_state_dict_bytes(model, msg["weights"].tobytes())
    x = to_tensor(ctx.images, int(msg["image_size"]))
    acc = accuracy(model, x, ctx.labels)  # leaves the model in eval mode
    ctx.meter.add_flops(forward_flops(model, int(msg["image_size"])) * len(x))
    return {"accuracy": acc, "n_test": len(ctx.labels)}


#: The scoring program's reference, as the harness recognises it in a request (derived, so it follows the function).
SCORING_PROGRAM = f"{evaluate_program.__module__}:{evaluate_program.__qualname__}"


def evaluate_on_device(device: Device, model: torch.nn.Module, model_name: str, num_classes: int,
                       image_size: int = 32) -> float:
    """Ship the trained model to the device (phase ``model``) and let it score itself on its test data."""
    return float(device.call(evaluate_program, model_message(model, model_name, num_classes, image_size),
                             phase=MODEL, label="evaluate")["accuracy"])


def model_message(model: torch.nn.Module, model_name: str, num_classes: int, image_size: int) -> Message:
    """A trained task model as message fields: what the scoring program rebuilds and scores."""
    return {
        "model": model_name,
        "num_classes": num_classes,
        "image_size": image_size,
        "weights": np.frombuffer(state_dict_bytes(model), dtype=np.uint8),
    }


def reference_accuracy(device: Device, model: torch.nn.Module, model_name: str, num_classes: int, image_size: int) -> float:
    """A model's accuracy on the device's test set for analysis only: a ``reference`` request, off the ledger."""
    msg = model_message(model, model_name, num_classes, image_size)
    reply = device.request({"op": "reference", "payload": as_field(serialize(msg))})
    return float(deserialize(reply["payload"].tobytes())["accuracy"])
