"""The csim-vs-Keras plot beside metrics.json: scatter and the difference in output LSBs (task plots: trigger/tasks)."""

from pathlib import Path

import numpy as np

from trigger.plots import figure, save


def csim_scatter(path: Path, keras_out: np.ndarray, csim_out: np.ndarray, lsb: float, backend: str, exact_fraction: float) -> Path:
    fig, axes = figure(1, 2, size=(10, 4.5))
    k, c = np.ravel(keras_out), np.ravel(csim_out)
    axes[0].scatter(k, c, s=2, alpha=0.3)
    lim = [min(k.min(), c.min()), max(k.max(), c.max())]
    axes[0].plot(lim, lim, "k--", lw=0.8)
    axes[0].set(xlabel="quantized Keras output", ylabel=f"csim output ({backend})",
                title=f"{100 * exact_fraction:.2f}% of events bit-exact")
    diff = np.round((c - k) / lsb).astype(int)
    edges = np.arange(diff.min() - 1.5, diff.max() + 2.5) if np.ptp(diff) < 200 else 100  # a float model: far off
    axes[1].hist(diff, bins=edges, log=True)
    axes[1].set(xlabel="csim − Keras  [LSB]", ylabel="outputs", title="difference in output LSBs")
    for ax in axes:
        ax.grid(alpha=0.3)
    return save(fig, path)
