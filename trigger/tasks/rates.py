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
- Signed weights (`data.negative_weights: allow`, e.g. NLO samples): the same formulas hold
  (fractions of the signed sum, Kish N_eff), but the fraction above a threshold is then no
  longer monotonic in it; the threshold is the smallest value above which *every* higher
  threshold stays within the target. A background whose weights do not sum above 0 is an error.
"""

import numpy as np

from trigger.errors import TriggerError

REFERENCE_FPRS = (1e-3, 1e-4, 1e-5)
ONE_SIGMA = 0.6827


def threshold_for(scores: np.ndarray, weights: np.ndarray, fpr: float) -> float:
    """Smallest score value t with weighted fraction(score > t') <= fpr for every t' >= t."""
    if weights.sum() <= 0:
        raise TriggerError(f"background weights sum to {weights.sum():g} (<= 0) in the held-out background; rates need "
                           f"a positive total weight (check anomaly.weight_branch and data.negative_weights)")
    values, inverse = np.unique(scores, return_inverse=True)  # ascending
    per_value = np.bincount(inverse, weights=weights)
    above = (per_value[::-1].cumsum()[::-1] - per_value) / weights.sum()  # strictly above each value
    never_above = np.maximum.accumulate(above[::-1])[::-1]  # the largest fraction at this value or any higher one
    return float(values[np.flatnonzero(never_above <= fpr)[0]])


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


def paired_change(reference: np.ndarray, other: np.ndarray, t_reference: float, t_other: float) -> dict:
    """The same signal events through two triggers (e.g. the float model and the firmware): pass counts, the events
    only one of them keeps, and the relative TPR change other/reference - 1. Its error is McNemar's: only the
    discordant events carry information, so sigma = sqrt(only_reference + only_other) / pass_reference."""
    a, b = reference > t_reference, other > t_other
    n_a, only_a, only_b = int(a.sum()), int((a & ~b).sum()), int((b & ~a).sum())
    out = {"events": int(len(a)), "pass_reference": n_a, "pass_other": int(b.sum()), "only_reference": only_a,
           "only_other": only_b, "relative_change": None, "relative_change_err": None}
    if n_a:
        out |= {"relative_change": (int(b.sum()) - n_a) / n_a, "relative_change_err": float(np.sqrt(only_a + only_b) / n_a)}
    return out


def split_scores(scores: np.ndarray, y: np.ndarray, w, classes: list[str], signals: list[str]):
    """(background scores, background weights, {signal: scores})."""
    scores = np.asarray(scores).reshape(-1)
    ids = [classes.index(s) for s in signals]
    bkg = ~np.isin(y, ids)
    weights = np.ones(len(y)) if w is None else np.asarray(w, np.float64)
    return scores[bkg], weights[bkg], {s: scores[y == classes.index(s)] for s in signals}
