"""Overflow audit: for each firmware layer, the values it must hold vs the range of its type.

The 'true' value of a layer is what the arithmetic produces before the layer's own
rounding/saturation: a Dense result is the exact sum (the quantized Keras output); a
quantized ReLU's true value is max(0, previous output), before its saturation. Values
outside the type's range are counted as saturated (or wrapped, for WRAP types).
"""

from __future__ import annotations

import numpy as np

from trigger.fixed import FixedType


def audit(hls_model, keras_layers: dict[str, np.ndarray], inputs_true: np.ndarray) -> dict[str, dict]:
    report: dict[str, dict] = {}
    previous: np.ndarray = inputs_true
    for layer in hls_model.get_layers():
        ftype = FixedType.of(layer.get_output_variable().type.precision)
        if layer.class_name == "Input":
            true = inputs_true
        elif layer.name in keras_layers:
            true = np.maximum(previous, 0.0) if _is_relu(layer) else keras_layers[layer.name]
        else:
            continue
        report[layer.name] = {
            "saturated": int(((true < ftype.lo) | (true > ftype.hi)).sum()),
            "range": [ftype.lo, ftype.hi],
            "observed": [float(true.min()), float(true.max())],
            "type": str(ftype),
        }
        previous = keras_layers.get(layer.name, true)
    return report


def _is_relu(layer) -> bool:
    return layer.class_name in ("Activation", "ReLU") and str(layer.get_attr("activation", "")).lower() == "relu"
