"""Per-input weights of the anomaly score  sum_i w_i * q(x_i - r_i)^2.

Why normalise: some inputs cannot be reconstructed from a 3-number latent at all (the
angles of the 5th-10th jet), others are almost always zero on the background (the 3rd
electron). With equal weights the first kind dominates the score, so its tail is made of
high-multiplicity jet events and a 3rd or 4th lepton barely moves it. With
`anomaly.score_weights: background` each term is divided by its own mean on the training
background (weighted like the training), so every input counts in units of its typical
background error: unsupervised, no signal is looked at.

On chip the weights are shifts: each is the power of two nearest 1 / mean, the mean
floored at one residual LSB squared (an input the quantized residual never resolves gets
weight 1/LSB^2, not infinity). Explicit `anomaly.input_weights` multiply on top. The float
reference gets its own weights from its own residuals, by the same rule.
"""

import numpy as np

from trigger.errors import TriggerError
from trigger.spec import Spec


def manual_weights(spec: Spec, features: list[str]) -> np.ndarray:
    """`anomaly.input_weights`: powers of two (shifts on chip), default 1."""
    out = np.ones(len(features))
    for name, value in spec.anomaly.input_weights.items():
        if name not in features:
            raise TriggerError(f"anomaly.input_weights.{name}: not a model input ({', '.join(features[:6])}, ...)")
        if value <= 0 or not float(np.log2(value)).is_integer():
            raise TriggerError(f"anomaly.input_weights.{name} = {value}: use a power of two (a shift in firmware)")
        out[features.index(name)] = value
    return out


def fit(spec: Spec, squared_residuals: np.ndarray, event_weights: np.ndarray | None, features: list[str]) -> np.ndarray:
    """Weights from the per-input squared residuals of the training background (events x inputs)."""
    weights = manual_weights(spec, features)
    if spec.anomaly.score_weights == "uniform":
        return weights
    w = np.ones(len(squared_residuals)) if event_weights is None else np.asarray(event_weights, np.float64)
    mean = (squared_residuals * w[:, None]).sum(axis=0) / w.sum()
    lsb_squared = 2.0 ** (-2 * (spec.anomaly.residual_bits - spec.anomaly.residual_integer - 1))
    return weights * np.exp2(np.round(-np.log2(np.maximum(mean, lsb_squared))))
