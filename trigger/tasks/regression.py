"""Regression (the top momentum): targets in firmware units, the normalised-MSE loss, and the
figures of merit, the same for the float model, the quantized model and csim.

The firmware output is `regression.output_precision`; GeV = output * 2**output_shift (a
left shift), so the network learns targets * 2**-output_shift and a firmware engineer reads
GeV off the bits (firmware/<name>_units.h). The loss is each output's squared error divided
by its variance, the mean of (1 - R^2), so that pz and E do not drown px and py.

Metrics, all in GeV (the firmware output shifted left by `regression.output_shift`):
- per output: R^2 = 1 - sum (pred - true)^2 / sum (true - mean)^2, bias = mean(pred - true),
  RMS = sqrt(mean((pred - true)^2)) (includes the bias);
- per output and bin of the truth variable `regression.bin_by` (true top pT): bias and RMS;
- when the outputs are a four-vector (<p>_px, <p>_py, <p>_pz, <p>_e): the invariant mass of
  the regressed vector, whose width says how physical the regression is.
"""

from pathlib import Path

import numpy as np

from trigger.data import Dataset, Source, Split
from trigger.errors import TriggerError
from trigger.fixed import FixedType
from trigger.keras2 import tf
from trigger.engines import engine_of
from trigger.models import predict
from trigger.plots import STYLES, figure, save
from trigger.tasks.base import Task

COMPONENTS = ("px", "py", "pz", "e")


def r2(true: np.ndarray, predicted: np.ndarray) -> float:
    true, predicted = np.asarray(true, np.float64), np.asarray(predicted, np.float64)
    return float(1.0 - np.sum((predicted - true) ** 2) / np.sum((true - true.mean()) ** 2))


def components(true: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    out = {}
    for j, name in enumerate(names):
        residual = predicted[:, j] - true[:, j]
        out[name] = {"r2": r2(true[:, j], predicted[:, j]), "bias": float(residual.mean()),
                     "rms": float(np.sqrt(np.mean(residual**2)))}
    return out


def binned(true: np.ndarray, predicted: np.ndarray, names: list[str], variable: np.ndarray, edges: list[float]) -> dict:
    """Bias and RMS per bin of `variable`; None where a bin is empty. Events outside the edges are left out."""
    index = np.digitize(variable, edges) - 1
    inside = [index == b for b in range(len(edges) - 1)]
    out: dict = {"edges": [float(e) for e in edges], "events": [int(m.sum()) for m in inside]}
    for j, name in enumerate(names):
        residual = predicted[:, j] - true[:, j]
        out[name] = {"bias": [float(residual[m].mean()) if m.any() else None for m in inside],
                     "rms": [float(np.sqrt(np.mean(residual[m] ** 2))) if m.any() else None for m in inside]}
    return out


def four_vector(names: list[str]) -> list[int] | None:
    """Column indices of (px, py, pz, e) when the outputs are one particle's four-vector, else None."""
    for name in names:
        if name.endswith("_px"):
            prefix = name[: -len("px")]
            wanted = [prefix + c for c in COMPONENTS]
            if all(w in names for w in wanted):
                return [names.index(w) for w in wanted]
    return None


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Signed mass: -sqrt(-m^2) when the regressed vector is space-like, so nothing is hidden."""
    m2 = p4[:, 3] ** 2 - np.sum(p4[:, :3] ** 2, axis=1)
    return np.sign(m2) * np.sqrt(np.abs(m2))


def mass_summary(mass: np.ndarray) -> dict:
    lo, median, hi = np.percentile(mass, [16, 50, 84])
    return {"median": float(median), "half_width_68": float((hi - lo) / 2), "spacelike_fraction": float(np.mean(mass < 0))}


def report(true: np.ndarray, predicted: np.ndarray, names: list[str], variable: np.ndarray, edges: list[float]) -> dict:
    out = {"components": components(true, predicted, names), "binned": binned(true, predicted, names, variable, edges)}
    columns = four_vector(names)
    if columns is not None:
        out["mass"] = mass_summary(invariant_mass(predicted[:, columns]))
    return out


class Regression(Task):
    name = "regression"
    metric = "min R2"
    drop_names = ("r2",)
    loss_label = "normalised MSE (mean of 1 - R2)"

    def __init__(self, spec):
        super().__init__(spec)
        self.r = spec.regression

    def labels(self, source: Source, events: int) -> dict:
        """Targets (events x outputs, GeV) and the binning variable, read with the same mapping rules as the inputs."""
        r = self.r
        targets = source.columns(r.target_map, "regression.targets")
        y = np.stack([np.asarray(targets[name], np.float64) for name in r.target_map], axis=1)
        return {"y": y, "classes": list(r.target_map), "binning": source.column(r.bin_by, "regression.bin_by")}

    def outputs(self, data: Dataset) -> int:
        return len(data.classes)

    def targets(self, part: Dataset, x: np.ndarray) -> np.ndarray:
        """Targets in firmware units (GeV * 2**-output_shift); a target the output type cannot hold is an error."""
        r = self.r
        scaled = np.asarray(part.y, np.float64) / r.gev_per_unit
        out = FixedType.parse(r.output_precision)
        over = (scaled < out.lo) | (scaled > out.hi)
        if over.any():
            j = int(np.argmax(over.sum(axis=0)))
            raise TriggerError(
                f"regression.targets.{part.classes[j]}: {int(over.sum())} targets (|y| up to {np.abs(part.y[:, j]).max():.4g} "
                f"GeV) exceed the output range {out.lo * r.gev_per_unit:g}..{out.hi * r.gev_per_unit:g} GeV of "
                f"{r.output_precision} with output_shift {r.output_shift}; raise regression.output_shift or the integer bits")
        return scaled

    def loss(self, y: np.ndarray):
        """Squared error of each output divided by its target variance, averaged: the mean of (1 - R^2)."""
        inverse = tf.constant(1.0 / np.maximum(np.var(y, axis=0), 1e-12), tf.float32)

        def normalized_mse(y_true, y_pred):
            return tf.reduce_mean(tf.square(y_true - y_pred) * inverse, axis=-1)

        return normalized_mse, []

    def build(self, n_in: int, n_out: int, quantized: bool):
        return engine_of(self.spec).build(n_in, n_out, quantized, self.r.output_precision)

    def training_report(self, models: dict, x_test: np.ndarray, parts: Split) -> tuple[dict, str]:
        y = self.targets(parts.test, x_test)
        r2s = {k: {name: round(r2(y[:, j], p[:, j]), 6) for j, name in enumerate(parts.test.classes)}
               for k, p in ((k, predict(m, x_test)) for k, m in models.items())}
        summary = "test R2 float " + ", ".join(f"{k} {v:.4f}" for k, v in r2s["float"].items())
        return {"test_r2": r2s}, summary + "; quantized+pruned " + ", ".join(f"{k} {v:.4f}" for k, v in r2s["quantized"].items())

    def gev(self, outputs: np.ndarray) -> np.ndarray:
        """Firmware units -> GeV: the documented left shift by regression.output_shift."""
        return np.asarray(outputs, np.float64) * self.r.gev_per_unit

    def firmware_files(self, trained, output_type, type_name: str) -> dict[str, str]:
        """What the output bits mean: GeV = output << shift, and which output is which."""
        r, name = self.r, self.spec.name
        upper = name.upper()
        outputs = "\n".join(f"//   [{i}] {target}: {branch}" for i, (target, branch) in enumerate(r.target_map.items()))
        return {f"{name}_units.h": f"""// Units of the {name} outputs. Generated by `trigger synth` from models/{name}/spec.yml; do not edit.
// The outputs are {output_type} (rounded to nearest, saturating); GeV = output * 2^{r.output_shift},
// i.e. shift the value left by {r.output_shift} bits: 1 LSB = {output_type.lsb * r.gev_per_unit:g} GeV,
// range {output_type.lo * r.gev_per_unit:g} .. {output_type.hi * r.gev_per_unit:g} GeV.
// Outputs (regression.targets):
{outputs}
#ifndef {upper}_UNITS_H_
#define {upper}_UNITS_H_
#include <cmath>

#include "defines.h"

static const int {upper}_OUTPUT_SHIFT = {r.output_shift};
static const int {upper}_N_OUTPUTS = {len(r.target_map)};

// An output in GeV, for testbenches and monitoring (the shift is free in fabric).
inline double {name}_to_gev(const {type_name} &value) {{ return std::ldexp(value.to_double(), {upper}_OUTPUT_SHIFT); }}

#endif
"""}

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"regressed {target} * 2^{-self.r.output_shift} (truth: {branch})", "GeV")
                for target, branch in self.r.target_map.items()]

    def evaluate(self, outputs: np.ndarray, sample: Dataset, which: str, trained) -> dict:
        return report(sample.y, self.gev(outputs), sample.classes, sample.binning, self.r.bin_edges)

    def drops(self, reference: dict, other: dict) -> dict:
        """Worst R^2 loss over the outputs (positive = csim below float)."""
        r, o = reference["components"], other["components"]
        return {"r2": max(r[k]["r2"] - o[k]["r2"] for k in r)}

    def headline(self, metrics: dict) -> float:
        return min(c["r2"] for c in metrics["components"].values())

    def plots(self, directory: Path, sample: Dataset, outputs: dict[str, np.ndarray], backend: str, trained) -> None:
        gev = {k: self.gev(v) for k, v in outputs.items()}
        names = sample.classes
        _true_vs_predicted(directory / "true_vs_predicted.png", sample.y, gev, names, backend)
        reports = {k: self.evaluate(v, sample, k, trained) for k, v in outputs.items()}
        _binned_residuals(directory / "resolution.png", reports, names, self.r.bin_label, backend)
        columns = four_vector(names)
        if columns is not None:
            masses = {"truth": invariant_mass(sample.y[:, columns])}
            masses.update({k: invariant_mass(v[:, columns]) for k, v in gev.items() if k != "quantized"})
            _regressed_mass(directory / "mass.png", masses, backend)


def _true_vs_predicted(path: Path, true: np.ndarray, predicted: dict[str, np.ndarray], names: list[str], backend: str) -> None:
    """2D histograms of predicted vs true per output (GeV), float on top, csim below, with R^2."""
    from matplotlib.colors import LogNorm

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
    save(fig, path)


def _binned_residuals(path: Path, reports: dict[str, dict], names: list[str], label: str, backend: str) -> None:
    """Residual mean (bias) and RMS per bin of the truth variable, per output, for each model flavour."""
    fig, axes = figure(2, len(names), size=(3.8 * len(names), 6.5))
    for which, rep in reports.items():
        b = rep["binned"]
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
    save(fig, path)


def _regressed_mass(path: Path, masses: dict[str, np.ndarray], backend: str) -> None:
    """Invariant mass of the regressed four-vector (signed: negative = space-like) against the truth."""
    fig, (ax,) = figure(1, 1, size=(6.5, 4.5))
    bins = np.linspace(-100, 400, 101)
    for which, mass in masses.items():
        tag = which if which != "csim" else f"csim ({backend})"
        ax.hist(np.clip(mass, bins[0], bins[-1]), bins=bins, histtype="step", ls=STYLES.get(which, "-"),
                label=f"{tag}: median {np.median(mass):.1f} GeV")
    ax.set(xlabel="invariant mass of the regressed four-vector [GeV] (edges: overflow)", ylabel="events")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)
