"""Classification (the jet tagger): labels from a branch, cross-entropy on logits, accuracy and
per-class AUC. The firmware output is the logits; softmax exists only offline (argmax and
thresholds do not need it)."""

from pathlib import Path

import numpy as np

from trigger.data import Dataset, Source, Split
from trigger.keras2 import keras
from trigger.models import predict
from trigger.plots import figure, save
from trigger.tasks.base import Task


def softmax(logits: np.ndarray) -> np.ndarray:
    """Offline only: the firmware outputs logits."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classification(Task):
    name = "classification"
    metric = "accuracy"
    drop_names = ("accuracy", "auc")
    loss_label = "cross-entropy loss"

    def labels(self, source: Source, events: int) -> dict:
        label = self.spec.data.label
        y = source.labels(label.branch, len(label.classes), "data.label")
        return {"y": y, "classes": list(label.classes)}

    def outputs(self, data: Dataset) -> int:
        return len(data.classes)

    def targets(self, part: Dataset, x: np.ndarray) -> np.ndarray:
        return part.y

    def loss(self, y: np.ndarray):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]

    def training_report(self, models: dict, x_test: np.ndarray, parts: Split) -> tuple[dict, str]:
        accuracy = {k: float(np.mean(np.argmax(predict(m, x_test), axis=1) == parts.test.y)) for k, m in models.items()}
        per_class = {c: int((parts.train.y == i).sum()) for i, c in enumerate(parts.train.classes)}
        record = {"train_per_class": per_class, "test_accuracy": accuracy}
        return record, f"test accuracy float {accuracy['float']:.4f}, quantized+pruned {accuracy['quantized']:.4f}"

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"logit of class '{c}' (softmax is offline)", "1") for c in self.spec.data.label.classes]

    def evaluate(self, outputs: np.ndarray, sample: Dataset, which: str, trained) -> dict:
        from sklearn.metrics import roc_auc_score

        proba = softmax(outputs)
        auc = {}
        for i, name in enumerate(sample.classes):
            truth = sample.y == i
            auc[name] = float(roc_auc_score(truth, proba[:, i])) if 0 < truth.sum() < len(sample.y) else None
        return {"accuracy": float(np.mean(np.argmax(outputs, axis=1) == sample.y)), "auc": auc}

    def drops(self, reference: dict, other: dict) -> dict:
        """How much worse `other` is than `reference` (positive = worse)."""
        drops = [reference["auc"][c] - other["auc"][c] for c in reference["auc"] if reference["auc"][c] is not None]
        return {"accuracy": reference["accuracy"] - other["accuracy"], "auc": max(drops) if drops else 0.0}

    def headline(self, metrics: dict) -> float:
        return metrics["accuracy"]

    def plots(self, directory: Path, sample: Dataset, outputs: dict[str, np.ndarray], backend: str, trained) -> None:
        """One-vs-rest ROC per class, float against csim."""
        from sklearn.metrics import auc, roc_curve

        fig, (ax,) = figure(1, 1, size=(6.5, 5))
        for which, style, label in (("float", "--", "float"), ("csim", "-", f"csim ({backend})")):
            proba = softmax(outputs[which])
            for i, name in enumerate(sample.classes):
                fpr, tpr, _ = roc_curve(sample.y == i, proba[:, i])
                ax.plot(tpr, np.maximum(fpr, 1e-5), style, color=f"C{i}", label=f"{name} {label}, AUC={auc(fpr, tpr):.3f}")
        ax.set(yscale="log", ylim=(1e-4, 1.05), xlim=(0, 1), xlabel="signal efficiency (true positive rate)",
               ylabel="mistag rate (false positive rate)", title="one-vs-rest ROC per class")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
        save(fig, directory / "roc.png")
