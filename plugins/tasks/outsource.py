"""``outsource``: selective manual labeling (DESIGN §7).

The device's data is unlabeled; the selection is labeled by an annotation oracle (the
pool's true labels). A pick outside the label space (a distractor) is a bought label
that is wasted. The cloud trains the task model from scratch on the labeled picks,
ships it to the device, and the device scores it on its test data. The device
releases nothing beyond what the sampler asked for, so the task adds no privacy cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from proxybench import OUTSIDE_LABEL_SPACE, SupervisedTask, TaskContext, TaskResult, hookimpl


@dataclass
class Outsource(SupervisedTask):
    name: ClassVar[str] = "outsource"
    description: ClassVar[str] = "selection labeled by an annotation oracle; distractor picks are wasted labels"
    pool_labels_visible: ClassVar[bool] = False
    device_has_labels: ClassVar[bool] = False

    def run(self, ctx: TaskContext) -> TaskResult:
        labels = ctx.pool_true_labels
        useful = labels != OUTSIDE_LABEL_SPACE
        metrics = self.score(ctx, self.fit(ctx, ctx.images[useful], labels[useful]))
        metrics.update(labels_bought=int(len(labels)), labels_wasted=int((~useful).sum()))
        return TaskResult(metrics=metrics)


@hookimpl
def proxybench_tasks():
    return [Outsource]
