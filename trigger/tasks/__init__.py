"""Task plugins: one class per kind of model, found by `spec.task` in one registry.

Each class (trigger/tasks/base.py says what it answers) owns its labels, output size, loss,
firmware head, float reference, operating point, firmware files, metrics and plots. A new
task is one new class added to TASKS.
"""

from trigger.tasks.anomaly import Anomaly
from trigger.tasks.base import Task
from trigger.tasks.classification import Classification, softmax
from trigger.tasks.compression import Compression
from trigger.tasks import baselines, rates, score_weights
from trigger.tasks.regression import Regression

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Classification, Anomaly, Regression, Compression)}


def task_of(spec) -> Task:
    return TASKS[spec.task](spec)


__all__ = ["TASKS", "Task", "task_of", "Classification", "Anomaly", "Regression", "Compression", "softmax",
           "baselines", "rates", "score_weights"]
