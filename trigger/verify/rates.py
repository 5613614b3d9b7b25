"""Anomaly-trigger operating point: threshold for a target rate, TPR per signal, ROC figures.

Conventions (also in the README):
- The background sample stands in for the L1 input stream: FPR = (L1 rate) / (crossing
  rate), e.g. 10 kHz at 40 MHz is FPR 2.5e-4, and it is a *weighted* fraction when the
  sample carries per-event weights (cross-section mixture).
- The trigger fires when score > threshold. The threshold is the smallest score value
  whose weighted background fraction above it is <= the target FPR; it is therefore a
  value the firmware score can take, i.e. a fixed-point number of the score type.
- TPR uncertainties are binomial, sqrt(p (1 - p) / n); when no event (or every event)
  passes, that formula says 0, so the error is then the distance to the one-sided 68.3% CL
  Clopper-Pearson limit, 1 - 0.317^(1/n) (about 1.15 / n). FPR uncertainties use the
  weights: sqrt(sum of w^2 above threshold) / sum of w.
- "Smallest measurable FPR" is 1 / N_eff with N_eff = (sum w)^2 / sum w^2; a requested
  FPR below that is reported at 1 / N_eff instead, and says so.
"""

from __future__ import annotations

import numpy as np

REFERENCE_FPRS = (1e-3, 1e-4)
ONE_SIGMA = 0.6827


def threshold_for(scores: np.ndarray, weights: np.ndarray, fpr: float) -> float:
    """Smallest score value t with weighted fraction(score > t) <= fpr."""
    values, inverse = np.unique(scores, return_inverse=True)  # ascending
    per_value = np.bincount(inverse, weights=weights)
    above = (per_value[::-1].cumsum()[::-1] - per_value) / weights.sum()  # strictly above each value
    return float(values[np.flatnonzero(above <= fpr)[0]])


def fpr_at(scores: np.ndarray, weights: np.ndarray, threshold: float) -> tuple[float, float]:
    fire = scores > threshold
    total = weights.sum()
    return float(weights[fire].sum() / total), float(np.sqrt((weights[fire] ** 2).sum()) / total)


def tpr_at(scores: np.ndarray, threshold: float) -> tuple[float, float]:
    n = max(len(scores), 1)
    p = float(np.mean(scores > threshold)) if len(scores) else 0.0
    if p in (0.0, 1.0):
        return p, float(1 - (1 - ONE_SIGMA) ** (1 / n))
    return p, float(np.sqrt(p * (1 - p) / n))


def effective_events(weights: np.ndarray) -> float:
    return float(weights.sum() ** 2 / (weights**2).sum())


def signal_report(bkg: np.ndarray, w_bkg: np.ndarray, signals: dict[str, np.ndarray], threshold: float) -> dict:
    """Per signal: TPR at the threshold (+- binomial), ROC AUC, TPR at the reference FPRs."""
    from sklearn.metrics import roc_auc_score

    smallest = 1.0 / effective_events(w_bkg)
    references = {fpr: (max(fpr, smallest), threshold_for(bkg, w_bkg, max(fpr, smallest))) for fpr in REFERENCE_FPRS}
    out = {}
    for name, sig in signals.items():
        tpr, err = tpr_at(sig, threshold)
        y = np.concatenate([np.zeros(len(bkg)), np.ones(len(sig))])
        s = np.concatenate([bkg, sig])
        sw = np.concatenate([w_bkg / w_bkg.sum(), np.full(len(sig), 1.0 / max(len(sig), 1))])
        entry = {"tpr": tpr, "tpr_err": err, "events": int(len(sig)), "auc": float(roc_auc_score(y, s, sample_weight=sw))}
        for fpr, (used, t) in references.items():
            p, e = tpr_at(sig, t)
            entry[f"tpr_at_fpr_{fpr:g}"] = {"tpr": p, "tpr_err": e, "fpr_used": used,
                                           "note": "requested FPR" if used == fpr else "smallest FPR this sample can measure (1/N_eff)"}
        out[name] = entry
    return out


def split_scores(scores: np.ndarray, y: np.ndarray, w, classes: list[str], signals: list[str]):
    """(background scores, background weights, {signal: scores})."""
    scores = np.asarray(scores).reshape(-1)
    ids = [classes.index(s) for s in signals]
    bkg = ~np.isin(y, ids)
    weights = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    return scores[bkg], weights[bkg], {s: scores[y == classes.index(s)] for s in signals}


def set_thresholds(spec, quantized, float_model, test, x_test, score_weights: dict) -> dict:
    """Thresholds of the quantized (firmware) and float scores on the held-out background.

    `score_weights`: {"quantized": ..., "float": ...} per-input weights (trigger/score_weights.py).
    Returns what is stored with the model (`stored`, the trigger-bit constant) and a report
    of the operating point on the full test set (`report`).
    """
    from trigger.firmware import firmware_output_type
    from trigger.models import firmware_model, float_reference

    fw = firmware_model(spec, quantized, score_weights["quantized"])
    q_scores = fw.predict(x_test, batch_size=4096, verbose=0).astype(np.float64)
    f_scores = float_reference(spec, float_model, x_test, score_weights["float"])
    fpr = spec.anomaly.target.false_positive_rate
    score_type = firmware_output_type(spec, fw)
    q_bkg, w_bkg, q_sig = split_scores(q_scores, test.y, test.w, test.classes, spec.anomaly.signals)
    f_bkg, _, f_sig = split_scores(f_scores, test.y, test.w, test.classes, spec.anomaly.signals)
    t_q, t_f = threshold_for(q_bkg, w_bkg, fpr), threshold_for(f_bkg, w_bkg, fpr)
    achieved, err = fpr_at(q_bkg, w_bkg, t_q)
    stored = {
        "value": t_q,
        "raw": int(round(t_q / score_type.lsb)),
        "type": str(score_type),
        "decision": "score > threshold",
        "fpr_target": fpr,
        "fpr_achieved": achieved,
        "fpr_achieved_err": err,
        "background_events": int(len(q_bkg)),
        "background_effective_events": effective_events(w_bkg),
        "float_threshold": t_f,
        "float_fpr_achieved": fpr_at(f_bkg, w_bkg, t_f)[0],
    }
    report = {
        "target": {"fpr": fpr, "rate_khz": spec.anomaly.target.rate_khz, "crossing_rate_mhz": spec.anomaly.target.crossing_rate_mhz},
        "quantized": signal_report(q_bkg, w_bkg, q_sig, t_q),
        "float": signal_report(f_bkg, w_bkg, f_sig, t_f),
        "sample": "full held-out test set (background + all signal events); quantized = the firmware score in Keras",
    }
    return {"stored": stored, "report": report}
