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


STYLES = {"float": "--", "quantized": ":", "csim": "-"}


def anomaly_scores(path: Path, sample, outputs: dict[str, np.ndarray], signals: list[str], thresholds: dict, backend: str) -> Path:
    """Score distributions, background (weighted) vs each signal, float and csim, with the trigger thresholds."""
    from trigger.verify.rates import split_scores

    fig, axes = figure(1, 2, size=(12, 4.5))
    for ax, which in zip(axes, ("float", "csim")):
        bkg, w, sig = split_scores(outputs[which], sample.y, sample.w, sample.classes, signals)
        everything = np.concatenate([bkg, *sig.values()])
        bins = np.linspace(0, np.percentile(everything, 99.5) * 1.1 + 1e-9, 61)
        ax.hist(np.clip(bkg, None, bins[-1]), bins=bins, weights=w / w.sum(), histtype="stepfilled", alpha=0.3, color="grey", label="SM background")
        for i, (name, s) in enumerate(sig.items()):
            ax.hist(np.clip(s, None, bins[-1]), bins=bins, histtype="step", density=False,
                    weights=np.full(len(s), 1.0 / max(len(s), 1)), color=f"C{i}", label=name)
        ax.axvline(thresholds[which], color="k", ls="--", lw=1, label="trigger threshold")
        ax.set(yscale="log", xlabel="anomaly score" + (" (float)" if which == "float" else f" (csim, {backend})"),
               ylabel="fraction of events", title="last bin includes overflow")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(fig, path)


def anomaly_roc(path: Path, sample, outputs: dict[str, np.ndarray], signals: list[str], backend: str) -> Path:
    from sklearn.metrics import roc_curve

    from trigger.verify.rates import split_scores

    fig, axes = figure(1, 1, size=(6.5, 5))
    ax = axes[0]
    for which in ("float", "csim"):
        bkg, w, sig = split_scores(outputs[which], sample.y, sample.w, sample.classes, signals)
        for i, (name, s) in enumerate(sig.items()):
            y = np.concatenate([np.zeros(len(bkg)), np.ones(len(s))])
            fpr, tpr, _ = roc_curve(y, np.concatenate([bkg, s]), sample_weight=np.concatenate([w, np.ones(len(s))]))
            ax.plot(np.maximum(fpr, 1e-6), tpr, STYLES[which], color=f"C{i}",
                    label=f"{name} {'float' if which == 'float' else 'csim (' + backend + ')'}")
    ax.set(xscale="log", xlim=(1e-5, 1), ylim=(0, 1.02), xlabel="background FPR (weighted)", ylabel="signal efficiency (TPR)",
           title="anomaly score ROC per signal")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)


def residuals(path: Path, relative: dict[str, np.ndarray], variables: list[str], backend: str) -> Path:
    """Relative residual (reconstructed - original) / original per variable, annotated with mean and RMS."""
    labels = {"jet_m": "m", "jet_pt": "p_{T}", "jet_eta": r"\eta", "jet_phi": r"\phi"}
    fig, axes = figure(1, len(variables), size=(4.2 * len(variables), 4))
    for j, (ax, var) in enumerate(zip(axes, variables)):
        name = labels.get(var, var)
        core = np.concatenate([np.abs(rel[:, j]) for rel in relative.values()])
        lim = max(float(np.percentile(core, 97)) * 1.5, 1e-3)
        bins = np.linspace(-lim, lim, 81)
        text = []
        for which, rel in relative.items():
            r = rel[:, j]
            ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, histtype="step", ls=STYLES.get(which, "-"),
                    label=which if which != "csim" else f"csim ({backend})")
            text.append(f"{which}: mean {np.mean(r):+.3g}, RMS {np.sqrt(np.mean(r ** 2)):.3g}")
        ax.set(xlabel=rf"$({name}^{{reco}} - {name}^{{orig}}) / {name}^{{orig}}$ (edges: overflow)", ylabel="jets", yscale="log")
        ax.text(0.02, 0.98, "\n".join(text), transform=ax.transAxes, va="top", fontsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    return save(fig, path)


def true_vs_predicted(path: Path, true: np.ndarray, predicted: dict[str, np.ndarray], names: list[str], backend: str) -> Path:
    """2D histograms of predicted vs true per output (GeV), float on top, csim below, with R^2."""
    from matplotlib.colors import LogNorm

    from trigger.verify.regression import r2

    rows = [w for w in ("float", "csim") if w in predicted]
    fig, axes = figure(len(rows), len(names), size=(3.8 * len(names), 3.5 * len(rows)))
    for i, which in enumerate(rows):
        for j, name in enumerate(names):
            ax = axes[i * len(names) + j]
            t, p = true[:, j], predicted[which][:, j]
            lo, hi = np.percentile(np.concatenate([t, p]), [0.5, 99.5])
            ax.hist2d(t, p, bins=60, range=[[lo, hi], [lo, hi]], norm=LogNorm(), cmap="viridis")
            ax.plot([lo, hi], [lo, hi], "w--", lw=0.8)
            label = "float" if which == "float" else f"csim ({backend})"
            ax.set(xlabel=f"true {name} [GeV]", ylabel=f"predicted {name} [GeV]", title=f"{label}: R² = {r2(t, p):.4f}")
    return save(fig, path)


def binned_residuals(path: Path, reports: dict[str, dict], names: list[str], label: str, backend: str) -> Path:
    """Residual mean (bias) and RMS per bin of the truth variable, per output, for each model flavour."""
    fig, axes = figure(2, len(names), size=(3.8 * len(names), 6.5))
    for which, report in reports.items():
        b = report["binned"]
        edges = np.asarray(b["edges"])
        centres, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
        tag = which if which != "csim" else f"csim ({backend})"
        for j, name in enumerate(names):
            for row, key in enumerate(("bias", "rms")):
                values = np.array([np.nan if v is None else v for v in b[name][key]])
                axes[row * len(names) + j].errorbar(centres, values, xerr=half, fmt="o", ms=3, ls=STYLES[which], label=tag)
    for j, name in enumerate(names):
        axes[j].axhline(0, color="k", lw=0.6)
        axes[j].set(xlabel=label, ylabel=f"mean residual {name} [GeV]", title=name)
        axes[len(names) + j].set(xlabel=label, ylabel=f"RMS residual {name} [GeV]")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(fig, path)


def regressed_mass(path: Path, masses: dict[str, np.ndarray], backend: str) -> Path:
    """Invariant mass of the regressed four-vector (signed: negative = space-like) against the truth."""
    fig, axes = figure(1, 1, size=(6.5, 4.5))
    ax = axes[0]
    bins = np.linspace(-100, 400, 101)
    for which, mass in masses.items():
        tag = which if which != "csim" else f"csim ({backend})"
        ax.hist(np.clip(mass, bins[0], bins[-1]), bins=bins, histtype="step", ls=STYLES.get(which, "-"),
                label=f"{tag}: median {np.median(mass):.1f} GeV")
    ax.set(xlabel="invariant mass of the regressed four-vector [GeV] (edges: overflow)", ylabel="events")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)
