"""What "close to the float reference" means per task: metrics, their drops, headline, plots.

Each task turns the firmware-equivalent outputs (float reference, quantized Keras, csim)
into task metrics on the committed test sample:
- classification: accuracy and per-class AUC from the logits;
- anomaly: TPR per signal at the stored trigger threshold (+- binomial), ROC AUC, TPR at
  FPR 1e-3 / 1e-4 (or the smallest FPR the sample measures), background FPR;
- regression: per output R^2, bias and RMS in GeV, the same in bins of the truth variable
  (true top pT), and the mass of a regressed four-vector (trigger/verify/regression.py);
- compression: per-variable relative residual (reconstructed - original) / original of
  the offline-decoded jet (m, pT, eta, phi): mean, RMS, and the median |residual|, which
  is what the budget uses (eta and phi near 0 give the relative residual heavy tails).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trigger.verify import metrics as classification_metrics
from trigger.verify import plots, rates


class Task:
    """What every task shares: the spec, the input port's meaning, and no extra firmware files unless the task has some."""

    def __init__(self, spec, trained: Path, quantized, float_model, pre):
        self.spec = spec
        self.input_shifts = dict(zip(pre.features, pre.shifts))

    def write_firmware_files(self, project: Path, output_type, type_name: str) -> None:
        """Task-specific files next to the HLS top function (the anomaly trigger bit)."""

    def input_meanings(self) -> list[tuple[str, str]]:
        """(meaning, unit) of every firmware input: the spec's expression, shifted by the preprocessing."""
        return [(f"{name} * 2^{-self.input_shifts[name]}" + (f", {name} = {expression}" if expression != name else ""), unit)
                for name, expression, unit in feature_descriptions(self.spec.data)]

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        raise NotImplementedError


class Classification(Task):
    metric = "accuracy"

    def evaluate(self, outputs: np.ndarray, sample, which: str = "csim") -> dict:
        return classification_metrics.classification(outputs, sample.y, sample.classes)

    def drops(self, reference: dict, other: dict) -> dict:
        return classification_metrics.classification_drops(reference, other)

    def headline(self, m: dict) -> float:
        return m["accuracy"]

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"logit of class '{c}' (softmax is offline)", "1") for c in self.spec.data.label.classes]

    def plots(self, directory: Path, sample, outputs: dict[str, np.ndarray], backend: str) -> None:
        plots.roc_curves(directory / "roc.png", sample.y, sample.classes, outputs["float"], outputs["csim"], backend)


class Anomaly(Task):
    metric = "mean TPR"

    def __init__(self, spec, trained: Path, quantized, float_model, pre):
        super().__init__(spec, trained, quantized, float_model, pre)
        path = trained / "threshold.json"
        if not path.is_file():
            from trigger.errors import TriggerError

            raise TriggerError(f"{path}: threshold missing; retrain (`trigger train {spec.name}`)")
        self.threshold = json.loads(path.read_text())

    def write_firmware_files(self, project: Path, output_type, type_name: str) -> None:
        from trigger.firmware import write_threshold_header

        write_threshold_header(project, self.spec, self.threshold, output_type, type_name)

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        name = self.spec.name
        return [(f"anomaly score; trigger bit = score > {name.upper()}_THRESHOLD ({name}_threshold.h)", "1")]

    def _threshold(self, which: str) -> float:
        return self.threshold["float_threshold" if which == "float" else "value"]

    def evaluate(self, outputs: np.ndarray, sample, which: str = "csim") -> dict:
        bkg, w, sig = rates.split_scores(outputs, sample.y, sample.w, sample.classes, self.spec.anomaly.signals)
        t = self._threshold(which)
        fpr, err = rates.fpr_at(bkg, w, t)
        return {"threshold": t, "background_fpr": fpr, "background_fpr_err": err, "background_events": int(len(bkg)),
                "signals": rates.signal_report(bkg, w, sig, t)}

    def drops(self, reference: dict, other: dict) -> dict:
        """Worst relative TPR loss (positive = csim below float) and worst AUC loss over the signals."""
        pairs = list(zip(reference["signals"].values(), other["signals"].values()))
        rel = [(r["tpr"] - o["tpr"]) / r["tpr"] for r, o in pairs if r["tpr"] > 0]
        return {"tpr_rel": max(rel) if rel else 0.0, "auc": max(r["auc"] - o["auc"] for r, o in pairs) if pairs else 0.0}

    def headline(self, m: dict) -> float:
        return float(np.mean([s["tpr"] for s in m["signals"].values()]))

    def plots(self, directory: Path, sample, outputs: dict[str, np.ndarray], backend: str) -> None:
        plots.anomaly_scores(directory / "scores.png", sample, outputs, self.spec.anomaly.signals,
                             {k: self._threshold(k) for k in outputs}, backend)
        plots.anomaly_roc(directory / "roc.png", sample, outputs, self.spec.anomaly.signals, backend)


class Regression(Task):
    metric = "min R2"

    def __init__(self, spec, trained: Path, quantized, float_model, pre):
        super().__init__(spec, trained, quantized, float_model, pre)
        self.r = spec.regression

    def gev(self, outputs: np.ndarray) -> np.ndarray:
        """Firmware units -> GeV: the documented left shift by regression.output_shift."""
        return np.asarray(outputs, np.float64) * self.r.gev_per_unit

    def evaluate(self, outputs: np.ndarray, sample, which: str = "csim") -> dict:
        from trigger.verify.regression import report

        return report(sample.y, self.gev(outputs), sample.classes, sample.binning, self.r.bin_edges)

    def drops(self, reference: dict, other: dict) -> dict:
        """Worst R^2 loss over the outputs (positive = csim below float)."""
        r, o = reference["components"], other["components"]
        return {"r2": max(r[k]["r2"] - o[k]["r2"] for k in r)}

    def headline(self, m: dict) -> float:
        return min(c["r2"] for c in m["components"].values())

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"regressed {target} * 2^{-self.r.output_shift} (truth: {branch})", "GeV")
                for target, branch in self.r.target_map.items()]

    def write_firmware_files(self, project: Path, output_type, type_name: str) -> None:
        from trigger.firmware import write_units_header

        write_units_header(project, self.spec, output_type, type_name)

    def plots(self, directory: Path, sample, outputs: dict[str, np.ndarray], backend: str) -> None:
        from trigger.verify.regression import four_vector, invariant_mass

        gev = {k: self.gev(v) for k, v in outputs.items()}
        names = sample.classes
        plots.true_vs_predicted(directory / "true_vs_predicted.png", sample.y, gev, names, backend)
        reports = {k: self.evaluate(v, sample, k) for k, v in outputs.items()}
        plots.binned_residuals(directory / "resolution.png", reports, names, self.r.bin_label, backend)
        columns = four_vector(names)
        if columns is not None:
            masses = {"truth": invariant_mass(sample.y[:, columns])}
            masses.update({k: invariant_mass(v[:, columns]) for k, v in gev.items() if k != "quantized"})
            plots.regressed_mass(directory / "mass.png", masses, backend)


class Compression(Task):
    metric = "median |rel. residual|"

    def __init__(self, spec, trained: Path, quantized, float_model, pre):
        from trigger.models import decoder

        super().__init__(spec, trained, quantized, float_model, pre)
        self.pre = pre
        self.decoders = {"quantized": decoder(quantized), "float": decoder(float_model)}

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        return [(f"latent {i} of the jet autoencoder (decoded offline)", "1") for i in range(n)]

    def reconstruct(self, latent: np.ndarray, which: str) -> np.ndarray:
        """Offline decoder on the latent, back in physical units (the power-of-two shifts undone)."""
        decoded = self.decoders["float" if which == "float" else "quantized"].predict(latent, batch_size=4096, verbose=0)
        return decoded.astype(np.float64) * np.exp2(np.asarray(self.pre.shifts, np.float64))

    def evaluate(self, outputs: np.ndarray, sample, which: str = "csim") -> dict:
        rel = (self.reconstruct(outputs, which) - sample.x) / sample.x
        return {"residuals": {name: {"mean": float(np.mean(rel[:, j])), "rms": float(np.sqrt(np.mean(rel[:, j] ** 2))),
                                     "median_abs": float(np.median(np.abs(rel[:, j])))}
                              for j, name in enumerate(sample.features)}}

    def drops(self, reference: dict, other: dict) -> dict:
        r, o = reference["residuals"], other["residuals"]
        return {"residual_median_abs": max(o[v]["median_abs"] - r[v]["median_abs"] for v in r)}

    def headline(self, m: dict) -> float:
        return float(np.mean([r["median_abs"] for r in m["residuals"].values()]))

    def plots(self, directory: Path, sample, outputs: dict[str, np.ndarray], backend: str) -> None:
        relative = {k: (self.reconstruct(v, k) - sample.x) / sample.x for k, v in outputs.items()}
        plots.residuals(directory / "residuals.png", relative, sample.features, backend)


def feature_descriptions(data) -> list[tuple[str, str, str]]:
    """(input name, branch expression, unit) in column order; the names are feature_names'."""
    from trigger.data.reader import feature_names
    from trigger.spec import CollectionSpec

    described = []  # (expression, unit) per input column
    for name, feature in data.features.items():
        unit = data.units.get(name, "as the branch")
        if isinstance(feature, CollectionSpec):
            described += [(f"{expr} of object {i}", data.units.get(f"{name}.{f}", unit))
                          for i in range(feature.count) for f, expr in feature.fields.items()]
        else:
            described.append((feature, unit))
    return [(name, expr, unit) for name, (expr, unit) in zip(feature_names(data.features), described, strict=True)]


TASKS = {"classification": Classification, "anomaly": Anomaly, "regression": Regression, "compression": Compression}
