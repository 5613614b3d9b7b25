"""Cut triggers an anomaly trigger is compared against, at the same rate.

A physicist asks what the network adds over the simple L1 seeds, so each baseline is one
number per event computed from the raw inputs, thresholded like the anomaly score (on the
same setting half of the background, measured on the same other half; trigger/tasks/rates.py):
  leptons:         the number of electrons + muons (pT > 0), ties broken by their scalar pT sum,
                   i.e. ">= N leptons with sum pT > X" (a bare count cannot hit a rate exactly);
  HT:              the generator's HT (trigger/generators/anomaly.py): jets pT > 30 GeV, |eta| < 2.4;
  MET:             the missing transverse momentum;
  single object:   the largest pT of any one electron, muon or jet (the best single-object seed).
They need the generator's feature names (met_pt, e<i>_pt, mu<i>_pt, jet<i>_pt, jet<i>_eta); a
spec without them has no baselines.
"""

import re

import numpy as np

from trigger.generators import HT_JET_ETA, HT_JET_PT_GEV
LEPTON_SUM_SCALE = 1e-4  # sum pT (GeV) x this < 1 for any real event, so it only orders events of equal count

DESCRIPTIONS = {
    "leptons": ">= N leptons (e + mu), ties by their sum pT",
    "HT": f"HT (jets pT > {HT_JET_PT_GEV:g} GeV, |eta| < {HT_JET_ETA:g})",
    "MET": "MET",
    "single object": "max pT of one e, mu or jet",
}


def _columns(features: list[str], pattern: str) -> list[int]:
    return [i for i, f in enumerate(features) if re.fullmatch(pattern, f)]


def available(features: list[str]) -> bool:
    return "met_pt" in features and bool(_columns(features, r"(e|mu)\d+_pt")) and bool(_columns(features, r"jet\d+_pt"))


def scores(x: np.ndarray, features: list[str]) -> dict[str, np.ndarray]:
    """Each baseline's per-event value from raw (unshifted) inputs; higher = more signal-like."""
    leptons = x[:, _columns(features, r"(e|mu)\d+_pt")]
    jet_pt = x[:, _columns(features, r"jet\d+_pt")]
    jet_eta = x[:, [features.index(features[i].replace("_pt", "_eta")) for i in _columns(features, r"jet\d+_pt")]]
    central = (jet_pt > HT_JET_PT_GEV) & (np.abs(jet_eta) < HT_JET_ETA)
    return {
        "leptons": (leptons > 0).sum(axis=1) + LEPTON_SUM_SCALE * leptons.sum(axis=1),
        "HT": np.where(central, jet_pt, 0.0).sum(axis=1),
        "MET": x[:, features.index("met_pt")].astype(np.float64),
        "single object": np.max(np.concatenate([leptons, jet_pt], axis=1), axis=1),
    }


def cut(name: str, threshold: float) -> str:
    """The cut a threshold means, in the words of a trigger menu."""
    if name == "leptons":
        n = int(np.floor(threshold))
        more = f">= {n + 1} lepton{'s' if n else ''}"
        return f"{more}, or {n} with sum pT > {(threshold - n) / LEPTON_SUM_SCALE:.0f} GeV" if n else more
    return f"{name} > {threshold:.1f} GeV"


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the (positive) weight lies: where a signal sits against the background."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
