"""Task metrics, computed the same way for the float model, the quantized model and csim."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Offline only: the firmware outputs logits."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification(logits: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    from sklearn.metrics import roc_auc_score

    proba = softmax(logits)
    auc = {}
    for i, name in enumerate(classes):
        truth = y == i
        auc[name] = float(roc_auc_score(truth, proba[:, i])) if 0 < truth.sum() < len(y) else None
    return {"accuracy": float(np.mean(np.argmax(logits, axis=1) == y)), "auc": auc}


def classification_drops(reference: dict, other: dict) -> dict:
    """How much worse `other` is than `reference` (positive = worse)."""
    drops = [reference["auc"][c] - other["auc"][c] for c in reference["auc"] if reference["auc"][c] is not None]
    return {"accuracy": reference["accuracy"] - other["accuracy"], "auc": max(drops) if drops else 0.0}
