"""The anomaly trigger: an autoencoder trained on background only, whose score is computed on chip.

Score (one number per event):
  reconstruction: sum_i w_i * q(x_i - r_i)^2, q = ap_fixed<residual_bits, residual_integer+1>,
                  w_i powers of two (trigger/tasks/score_weights.py);
  latent:         sum_j z_j^2 over the quantized latent of the encoder;
  mu2 (vae):      sum_j mu_j^2 over the quantized mu head of the VAE encoder (the decoder and the
                  sigma head stay off chip).
The square and the sum run in float64 on the Keras side so that they are exact. The trigger
fires when score > threshold; the threshold for `anomaly.target` is set on the held-out
background and stored with the model (conventions in trigger/tasks/rates.py). Metrics: TPR per
signal at the threshold (+- binomial), ROC AUC, TPR at FPR 1e-3 / 1e-4 / 1e-5, background FPR.
"""

from pathlib import Path

import numpy as np

from trigger.data import Dataset, Source, Split
from trigger.errors import TriggerError
from trigger.keras2 import keras
from trigger.models import encoder, predict, quantizer, vae_loss
from trigger.plots import STYLES, figure, save
from trigger.tasks import baselines, rates
from trigger.tasks.base import Task
from trigger.tasks.score_weights import fit as fit_weights


class Anomaly(Task):
    """With signal processes the headline is the mean TPR at the threshold; a background-only spec (no
    anomaly.signals) has no signal section, no metric drops, and its headline is the background FPR."""

    name = "anomaly"

    def __init__(self, spec):
        super().__init__(spec)
        self.a = spec.anomaly
        self.metric = "mean TPR" if self.a.signals else "background FPR"
        self.drop_names = ("tpr_rel", "auc") if self.a.signals else ()

    # ------------------------------------------------------------------ data
    def labels(self, source: Source, events: int) -> dict:
        a = self.a
        y = (np.zeros(events, np.int64) if a.process_branch is None else
             source.labels(a.process_branch, len(a.processes), "anomaly.process_branch"))
        out = {"y": y, "classes": list(a.processes)}
        if a.weight_branch:
            out["w"] = source.weights(a.weight_branch, "anomaly.weight_branch")
        return out

    def test_only(self, data: Dataset) -> np.ndarray:
        return np.isin(data.y, [data.classes.index(s) for s in self.a.signals])

    @property
    def test_fraction(self) -> float:
        return self.a.background_test_fraction

    def test_sample(self, test: Dataset) -> Dataset:
        """Half background (from the half that did not set the threshold), the rest shared equally by the signals."""
        n = self.spec.verify.events
        signals = [test.classes.index(s) for s in self.a.signals]
        measuring = self.halves(test)[1]
        background = measuring[~np.isin(test.y[measuring], signals)][: n // 2 if signals else n]
        per_signal = (n - len(background)) // max(len(signals), 1)
        chosen = [background] + [np.flatnonzero(test.y == s)[:per_signal] for s in signals]
        return test.take(np.concatenate(chosen))

    # ------------------------------------------------------------------ training
    def loss(self, y: np.ndarray):
        m = self.spec.model
        if m.kind == "vae":
            weights = None
            if m.loss_weights == "inverse_variance":  # every input counts in units of its spread (a constant: 0)
                var = np.var(y, axis=0)
                weights = np.divide(1.0, var, out=np.zeros_like(var), where=var > 0)
            return vae_loss(y.shape[1], m.latent, m.beta, weights), []
        return super().loss(y)

    # ------------------------------------------------------------------ score
    @property
    def latent_norm(self) -> bool:
        """The score is the squared norm of the encoder output (an autoencoder's latent, a vae's mu)."""
        return self.a.score in ("latent", "mu2")

    @property
    def weighted(self) -> bool:
        """Only the reconstruction score has per-input weights (the latent norm sums its terms as they are)."""
        return self.a.score == "reconstruction"

    def score_model(self, model: keras.Model, weights: np.ndarray | None) -> keras.Model:
        """The autoencoder with its on-chip score: what becomes the HLS project."""
        from qkeras import QActivation

        if self.latent_norm:
            terms = encoder(model).output
            weights = np.ones(self.spec.model.latent)
        else:
            residual = keras.layers.Subtract(name="residual")([model.input, model.output])
            terms = QActivation(quantizer(self.a.residual_bits, self.a.residual_integer), name="residual_q")(residual)
            weights = np.ones(model.input.shape[-1]) if weights is None else weights
        squared = keras.layers.Multiply(name="squared", dtype="float64")([terms, terms])
        score = keras.layers.Dense(1, use_bias=False, trainable=False, dtype="float64", name="score")(squared)
        head = keras.Model(model.input, score, name="anomaly_score")
        head.get_layer("score").set_weights([np.asarray(weights, np.float64).reshape(-1, 1)])
        return head

    def squared_terms(self, model: keras.Model, x: np.ndarray, quantized: bool) -> np.ndarray:
        """Per-input squared residuals (events x inputs): q(x - r)^2 as on chip, or (x - r)^2 for the float model."""
        if quantized:
            head = self.score_model(model, None)
            return predict(keras.Model(head.input, head.get_layer("squared").output), x)
        return (x - predict(model, x)) ** 2

    def float_score(self, model: keras.Model, x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if self.latent_norm:
            return np.sum(predict(encoder(model), x) ** 2, axis=1, keepdims=True)
        weights = np.ones(x.shape[1]) if weights is None else weights
        return np.sum(weights * self.squared_terms(model, x, quantized=False), axis=1, keepdims=True)

    def weights(self, trained, which: str) -> np.ndarray | None:
        if not self.weighted:
            return None
        if trained.score_weights is None:
            raise TriggerError(f"{trained.directory}/score_weights.json: anomaly score weights missing; retrain "
                               f"(`trigger train {self.spec.name}`)")
        return np.asarray(trained.score_weights[which], np.float64)

    # ------------------------------------------------------------------ training
    def operating_point(self, models: dict, x_train: np.ndarray, x_test: np.ndarray, parts: Split, firmware_type) -> dict:
        """Score weights from the training background, then the thresholds of the quantized (firmware) and float
        scores on the held-out background; `report` describes the operating point on the full test set."""
        train, test, features = parts.train, parts.test, parts.train.features
        weights = {"quantized": None, "float": None}
        out: dict = {}
        if self.weighted:
            weights = {k: fit_weights(self.spec, self.squared_terms(m, x_train, k == "quantized"), train.w, features)
                       for k, m in models.items()}
            out["score_weights"] = {"method": self.a.score_weights, "features": features,
                                    **{k: v.tolist() for k, v in weights.items()}}
        head = self.score_model(models["quantized"], weights["quantized"])
        scores = {"quantized": predict(head, x_test), "float": self.float_score(models["float"], x_test, weights["float"])}
        fpr = self.a.target.false_positive_rate
        score_type = firmware_type(head)
        setting, measuring = self.halves(test)
        (q_set, w_set, _), (q_bkg, w_bkg, q_sig) = self.split_halves(scores["quantized"], test, setting, measuring)
        (f_set, _, _), (f_bkg, _, f_sig) = self.split_halves(scores["float"], test, setting, measuring)
        t_q, t_f = rates.threshold_for(q_set, w_set, fpr), rates.threshold_for(f_set, w_set, fpr)
        achieved, err = rates.fpr_at(q_bkg, w_bkg, t_q)
        signed = test.w is not None and bool((w_set < 0).any() or (w_bkg < 0).any())
        out["threshold"] = {
            "value": t_q, "raw": int(round(t_q / score_type.lsb)), "type": str(score_type), "decision": "score > threshold",
            "fpr_target": fpr, "fpr_achieved": achieved, "fpr_achieved_err": err, "background_events": int(len(q_bkg)),
            "background_effective_events": rates.effective_events(w_bkg),
            "fpr_on_setting_half": rates.fpr_at(q_set, w_set, t_q)[0], "setting_events": int(len(q_set)),
            "float_threshold": t_f, "float_fpr_achieved": rates.fpr_at(f_bkg, w_bkg, t_f)[0],
            "weights": "signed (data.negative_weights: allow)" if signed else "none" if test.w is None else "positive",
            "method": "threshold set on one half of the held-out background (even positions), FPR measured on the other",
        }
        out["report"] = {
            "target": {"fpr": fpr, "rate_khz": self.a.target.rate_khz, "crossing_rate_mhz": self.a.target.crossing_rate_mhz},
            "background": {"fpr": achieved, "fpr_err": err, "rate_khz": achieved * self.a.target.crossing_rate_mhz * 1e3,
                           "events": int(len(q_bkg)), "effective_events": rates.effective_events(w_bkg)},
            "sample": "the measuring half of the held-out background + all held-out signal events; quantized = the "
                      "firmware score in Keras",
        }
        if self.a.signals:
            out["report"] |= {"quantized": rates.signal_report(q_bkg, w_bkg, q_sig, t_q),
                              "float": rates.signal_report(f_bkg, w_bkg, f_sig, t_f)}
            if baselines.available(features):
                out["report"]["baselines"] = self.baseline_report(test, setting, measuring)
            cuts = {b["description"]: b for b in out["report"].get("baselines", {}).values()}
            self._roc_plot(self.spec.model_dir / "plots" / "operating_point.png", {"float": (f_bkg, w_bkg, f_sig),
                           "quantized": (q_bkg, w_bkg, q_sig)}, "", cuts, fpr)
        return out

    def baseline_report(self, test: Dataset, setting: np.ndarray, measuring: np.ndarray) -> dict:
        """Each cut trigger of trigger/tasks/baselines.py at the target FPR, with the anomaly score's halves."""
        fpr, out = self.a.target.false_positive_rate, {}
        for name, values in baselines.scores(test.x, test.features).items():
            (b_set, w_set, _), (bkg, w, sig) = self.split_halves(values, test, setting, measuring)
            t = rates.threshold_for(b_set, w_set, fpr)
            achieved, err = rates.fpr_at(bkg, w, t)
            medians = {"background": baselines.weighted_median(bkg, w)} | {k: float(np.median(v)) for k, v in sig.items()}
            out[name] = {"description": baselines.DESCRIPTIONS[name], "cut": baselines.cut(name, t), "threshold": t,
                         "fpr": achieved, "fpr_err": err, "median": medians, "signals": rates.signal_report(bkg, w, sig, t)}
        return out

    def split_halves(self, values: np.ndarray, test: Dataset, setting: np.ndarray, measuring: np.ndarray) -> list:
        """rates.split_scores of the setting half and of the measuring half."""
        return [rates.split_scores(np.asarray(values).reshape(-1)[idx], test.y[idx], None if test.w is None else
                                   test.w[idx], test.classes, self.a.signals) for idx in (setting, measuring)]

    def halves(self, test: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Indices of `test`: (the background half that sets the threshold, the other half + every signal event).
        An FPR measured on the events that chose the threshold is biased low; the committed sample is drawn from the
        measuring half only."""
        signal = np.isin(test.y, [test.classes.index(s) for s in self.a.signals])
        background = np.flatnonzero(~signal)
        return background[0::2], np.sort(np.r_[background[1::2], np.flatnonzero(signal)])

    # ------------------------------------------------------------------ firmware
    def firmware_model(self, trained) -> keras.Model:
        return self.score_model(trained.model, self.weights(trained, "quantized"))

    def float_reference(self, trained, x: np.ndarray) -> np.ndarray:
        return self.float_score(trained.float_model, x, self.weights(trained, "float"))

    def head_precisions(self, layers: dict, model: keras.Model) -> None:
        """Also: the residual and square are exact ('auto'), and the score sum uses the exact type of its
        power-of-two weights, accumulating exactly."""
        super().head_precisions(layers, model)
        for name in ("residual", "squared"):
            if name in layers:
                layers[name]["Precision"] = {"result": "auto"}
        exponents = np.log2(model.get_layer("score").get_weights()[0])
        lo, hi = int(exponents.min()), int(exponents.max())
        layers["score"]["Precision"] = {"weight": f"ap_ufixed<{hi - lo + 1},{hi + 1}>", "bias": "ap_ufixed<1,1>",
                                        "result": "auto", "accum": "auto"}

    def threshold(self, trained, which: str = "quantized") -> float:
        if trained.threshold is None:
            raise TriggerError(f"{trained.directory}/threshold.json: threshold missing; retrain (`trigger train {self.spec.name}`)")
        return trained.threshold["float_threshold" if which == "float" else "value"]

    def firmware_files(self, trained, output_type, type_name: str) -> dict[str, str]:
        """The trigger bit as a C++ constant + decision function next to the HLS top function."""
        name, t = self.spec.name, trained.threshold
        raw = self.threshold(trained) / output_type.lsb
        if raw != round(raw) or not output_type.lo <= t["value"] <= output_type.hi:
            raise TriggerError(f"models/{name}/trained/threshold.json: threshold {t['value']} is not a value of the firmware "
                               f"score type {output_type}; retrain (`trigger train {name}`) after changing firmware settings")
        guard = f"{name.upper()}_THRESHOLD_H_"
        return {f"{name}_threshold.h": f"""// Trigger bit of {name}: fire when score > threshold.
// Generated by `trigger synth` from models/{name}/trained/threshold.json; do not edit.
// Threshold = {int(raw)} LSB of {output_type}; background FPR {t['fpr_achieved']:.3e}
// (target {t['fpr_target']:.3e}) on {t['background_events']} held-out background events.
#ifndef {guard}
#define {guard}
#include "defines.h"

static const {type_name} {name.upper()}_THRESHOLD = {t['value']!r};

inline bool {name}_trigger_bit(const {type_name} &score) {{ return score > {name.upper()}_THRESHOLD; }}

#endif
"""}

    def output_meanings(self, n: int) -> list[tuple[str, str]]:
        name = self.spec.name
        return [(f"anomaly score; trigger bit = score > {name.upper()}_THRESHOLD ({name}_threshold.h)", "1")]

    # ------------------------------------------------------------------ metrics
    def evaluate(self, outputs: np.ndarray, sample: Dataset, which: str, trained) -> dict:
        bkg, w, sig = rates.split_scores(outputs, sample.y, sample.w, sample.classes, self.a.signals)
        t = self.threshold(trained, which)
        fpr, err = rates.fpr_at(bkg, w, t)
        out = {"threshold": t, "background_fpr": fpr, "background_fpr_err": err, "background_events": int(len(bkg)),
               "background_rate_khz": fpr * self.a.target.crossing_rate_mhz * 1e3}
        if self.a.signals:
            out["signals"] = rates.signal_report(bkg, w, sig, t)
        return out

    def drops(self, reference: dict, other: dict) -> dict:
        """Worst relative TPR loss (positive = csim below float) and worst AUC loss over the signals (none without)."""
        if not self.a.signals:
            return {}
        pairs = list(zip(reference["signals"].values(), other["signals"].values()))
        rel = [(r["tpr"] - o["tpr"]) / r["tpr"] for r, o in pairs if r["tpr"] > 0]
        return {"tpr_rel": max(rel) if rel else 0.0, "auc": max(r["auc"] - o["auc"] for r, o in pairs) if pairs else 0.0}

    def headline(self, metrics: dict) -> float:
        if not self.a.signals:
            return metrics["background_fpr"]
        return float(np.mean([s["tpr"] for s in metrics["signals"].values()]))

    def plots(self, directory: Path, sample: Dataset, outputs: dict[str, np.ndarray], backend: str, trained) -> None:
        split = {k: rates.split_scores(outputs[k], sample.y, sample.w, sample.classes, self.a.signals) for k in ("float", "csim")}
        self._scores_plot(directory / "scores.png", split, {k: self.threshold(trained, k) for k in split}, backend)
        if self.a.signals:
            self._roc_plot(directory / "roc.png", split, backend)

    @staticmethod
    def _scores_plot(path: Path, split: dict, thresholds: dict, backend: str) -> None:
        """Score distributions, background (weighted) vs each signal, float and csim, with the trigger thresholds."""
        fig, axes = figure(1, 2, size=(12, 4.5))
        for ax, (which, (bkg, w, sig)) in zip(axes, split.items()):
            everything = np.concatenate([bkg, *sig.values()])
            bins = np.linspace(0, np.percentile(everything, 99.5) * 1.1 + 1e-9, 61)
            ax.hist(np.clip(bkg, None, bins[-1]), bins=bins, weights=w / w.sum(), histtype="stepfilled", alpha=0.3,
                    color="grey", label="SM background")
            for i, (name, s) in enumerate(sig.items()):
                ax.hist(np.clip(s, None, bins[-1]), bins=bins, histtype="step", density=False,
                        weights=np.full(len(s), 1.0 / max(len(s), 1)), color=f"C{i}", label=name)
            ax.axvline(thresholds[which], color="k", ls="--", lw=1, label="trigger threshold")
            ax.set(yscale="log", xlabel="anomaly score" + (" (float)" if which == "float" else f" (csim, {backend})"),
                   ylabel="fraction of events", title="last bin includes overflow")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        save(fig, path)

    @staticmethod
    def _roc_plot(path: Path, curves: dict, backend: str, points: dict | None = None, target: float | None = None) -> None:
        """ROC per signal for each flavour in `curves` ({"float"|"quantized"|"csim": (bkg, w, {signal: scores})}),
        with a binomial 1 sigma band on the firmware curve; `points`: cut baselines at the target FPR (with errors)."""
        from sklearn.metrics import roc_curve

        fig, (ax,) = figure(1, 1, size=(7.5, 5.5))
        names = {"float": "float", "quantized": "firmware score (quantized Keras = csim)", "csim": f"csim ({backend})"}
        for which, (bkg, w, sig) in curves.items():
            for i, (name, s) in enumerate(sig.items()):
                y = np.concatenate([np.zeros(len(bkg)), np.ones(len(s))])
                fpr, tpr, _ = roc_curve(y, np.concatenate([bkg, s]), sample_weight=np.concatenate([w, np.ones(len(s))]))
                ax.plot(np.maximum(fpr, 1e-6), tpr, STYLES[which], color=f"C{i}", label=f"{name} {names[which]}")
                if which != "float":  # binomial 1 sigma band of the TPR (the signal sample's size)
                    err = np.sqrt(tpr * (1 - tpr) / max(len(s), 1))
                    ax.fill_between(np.maximum(fpr, 1e-6), tpr - err, tpr + err, color=f"C{i}", alpha=0.25, lw=0)
        for k, (cut, entry) in enumerate((points or {}).items()):
            for i, (name, e) in enumerate(entry["signals"].items()):
                ax.errorbar(max(entry["fpr"], 1e-6), e["tpr"], xerr=entry["fpr_err"], yerr=e["tpr_err"], color=f"C{i}",
                            marker="osD^v"[k % 5], ls="none", ms=5, mfc="none", label=f"cut: {cut}" if i == 0 else None)
        if target:
            ax.axvline(target, color="k", ls=":", lw=1, label="target rate")
        last = list(curves.values())[-1]
        ax.axvspan(1e-6, 1.0 / rates.effective_events(last[1]), color="grey", alpha=0.15,
                   label="below 1/N_eff of the background")
        ax.set(xscale="log", xlim=(1e-5, 1), ylim=(0, 1.02), xlabel="background FPR (weighted)",
               ylabel="signal efficiency (TPR)", title="anomaly score ROC per signal (band: TPR ± 1σ)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, ncol=2)
        save(fig, path)
