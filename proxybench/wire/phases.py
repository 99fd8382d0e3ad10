"""The phases of a run, as the ledger and the meter book them: every phase name is spelled here.

``select``: the sampler's device calls; ``task``: the task's own device calls; ``model``:
shipping a trained model to the device for scoring. The harness books a request to the
stage it is in (``SELECT`` until the selection is handed in, then ``TASK``); a task may
book its requests to ``MODEL`` instead.
"""

from __future__ import annotations

from typing import Literal

Phase = Literal["select", "task", "model"]
SELECT: Phase = "select"
TASK: Phase = "task"
MODEL: Phase = "model"
PHASES: tuple[Phase, ...] = (SELECT, TASK, MODEL)
#: The stages of a run that may use the device, in order (a call's stage is where it happened; its phase is where it is booked).
STAGES: tuple[Phase, ...] = (SELECT, TASK)
