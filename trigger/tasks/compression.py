"""Compression (the jet encoder): the firmware is the encoder half of an autoencoder; the decoder
stays offline. Metrics: per-variable relative residual (reconstructed - original) / original of
the offline-decoded jet (m, pT, eta, phi): mean, RMS and median |residual|. The budget limits the
worst median; the headline is the mean over the variables of the median |residual| (eta and phi
near 0 give the relative residual heavy tails, which the median ignores)."""

from pathlib import Path

import numpy as np

from trigger.data import Dataset
from trigger.keras2 import keras
from trigger.models import decoder, encoder, predict
from trigger.plots import STYLES, figure, save
from trigger.tasks.base import Task

LABELS = {"jet_m": "m", "jet_pt": "p_{T}", "jet_eta": r"\eta", "jet_phi": r"\phi"}


class Compression(Task):
    name = "compression"
    metric = "mean median |rel. residual|"
    higher_is_better = False
    drop_names = ("residual_median_abs",)

    def firmware_model(self, trained) -> keras.Model:
        return encoder(trained.model)

    def float_reference(self, trained, x: np.ndarray) -> np.ndarray:
        return predict(encoder(trained.float_model), x)

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"latent {i} of the jet autoencoder (decoded offline)", "1") for i in range(n)]

    def relative_residuals(self, latent: np.ndarray, sample: Dataset, which: str, trained) -> np.ndarray:
        """Offline decoder on the latent, back in physical units (the power-of-two shifts undone), against the input."""
        model = trained.float_model if which == "float" else trained.model
        decoded = predict(decoder(model), latent) * np.exp2(np.asarray(trained.preprocessing.shifts, np.float64))
        return (decoded - sample.x) / sample.x

    def evaluate(self, outputs: np.ndarray, sample: Dataset, which: str, trained) -> dict:
        rel = self.relative_residuals(outputs, sample, which, trained)
        return {"residuals": {name: {"mean": float(np.mean(rel[:, j])), "rms": float(np.sqrt(np.mean(rel[:, j] ** 2))),
                                     "median_abs": float(np.median(np.abs(rel[:, j])))}
                              for j, name in enumerate(sample.features)}}

    def drops(self, reference: dict, other: dict) -> dict:
        r, o = reference["residuals"], other["residuals"]
        return {"residual_median_abs": max(o[v]["median_abs"] - r[v]["median_abs"] for v in r)}

    def headline(self, metrics: dict) -> float:
        return float(np.mean([r["median_abs"] for r in metrics["residuals"].values()]))

    def plots(self, directory: Path, sample: Dataset, outputs: dict[str, np.ndarray], backend: str, trained) -> None:
        """Relative residual per variable, annotated with mean and RMS."""
        relative = {k: self.relative_residuals(v, sample, k, trained) for k, v in outputs.items()}
        variables = sample.features
        fig, axes = figure(1, len(variables), size=(4.2 * len(variables), 4))
        for j, (ax, var) in enumerate(zip(axes, variables)):
            name = LABELS.get(var, var)
            lim = max(float(np.percentile(np.concatenate([np.abs(rel[:, j]) for rel in relative.values()]), 97)) * 1.5, 1e-3)
            bins = np.linspace(-lim, lim, 81)
            text = []
            for which, rel in relative.items():
                r = rel[:, j]
                ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, histtype="step", ls=STYLES.get(which, "-"),
                        label=which if which != "csim" else f"csim ({backend})")
                text.append(f"{which}: mean {np.mean(r):+.3g}, RMS {np.sqrt(np.mean(r ** 2)):.3g}")
            ax.set(xlabel=rf"$({name}^{{reco}} - {name}^{{orig}}) / {name}^{{orig}}$ (edges: overflow)", ylabel="jets",
                   yscale="log")
            ax.text(0.02, 0.98, "\n".join(text), transform=ax.transAxes, va="top", fontsize=7)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper right")
        save(fig, directory / "residuals.png")
