"""Regression figures of merit, the same for the float model, the quantized model and csim.

All in GeV (the firmware output shifted left by `regression.output_shift`):
- per output: R^2 = 1 - sum (pred - true)^2 / sum (true - mean)^2, bias = mean(pred - true),
  RMS = sqrt(mean((pred - true)^2)) (includes the bias);
- per output and bin of the truth variable `regression.bin_by` (true top pT): bias and RMS;
- when the outputs are a four-vector (<p>_px, <p>_py, <p>_pz, <p>_e): the invariant mass of
  the regressed vector, whose width says how physical the regression is.
"""

from __future__ import annotations

import numpy as np

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
