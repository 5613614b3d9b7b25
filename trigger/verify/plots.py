"""Plots beside metrics.json: ROC curves per class (float vs csim) and csim vs Keras scatter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trigger.plots import figure, save
from trigger.verify.metrics import softmax


def roc_curves(path: Path, y: np.ndarray, classes: list[str], float_logits: np.ndarray, csim_logits: np.ndarray, backend: str) -> Path:
    from sklearn.metrics import auc, roc_curve

    fig, axes = figure(1, 1, size=(6.5, 5))
    ax = axes[0]
    for outputs, style, label in ((float_logits, "--", "float"), (csim_logits, "-", f"csim ({backend})")):
        proba = softmax(outputs)
        for i, name in enumerate(classes):
            fpr, tpr, _ = roc_curve(y == i, proba[:, i])
            ax.plot(tpr, np.maximum(fpr, 1e-5), style, color=f"C{i}",
                    label=f"{name} {label}, AUC={auc(fpr, tpr):.3f}")
    ax.set(yscale="log", ylim=(1e-4, 1.05), xlim=(0, 1), xlabel="signal efficiency (true positive rate)",
           ylabel="mistag rate (false positive rate)", title="one-vs-rest ROC per class")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def csim_scatter(path: Path, keras_out: np.ndarray, csim_out: np.ndarray, lsb: float, backend: str, exact_fraction: float) -> Path:
    fig, axes = figure(1, 2, size=(10, 4.5))
    k, c = np.ravel(keras_out), np.ravel(csim_out)
    axes[0].scatter(k, c, s=2, alpha=0.3)
    lim = [min(k.min(), c.min()), max(k.max(), c.max())]
    axes[0].plot(lim, lim, "k--", lw=0.8)
    axes[0].set(xlabel="quantized Keras output", ylabel=f"csim output ({backend})",
                title=f"{100 * exact_fraction:.2f}% of events bit-exact")
    diff = np.round((c - k) / lsb).astype(int)
    edges = np.arange(diff.min() - 1.5, diff.max() + 2.5)
    axes[1].hist(diff, bins=edges, log=True)
    axes[1].set(xlabel="csim − Keras  [LSB]", ylabel="outputs", title="difference in output LSBs")
    for ax in axes:
        ax.grid(alpha=0.3)
    return save(fig, path)
