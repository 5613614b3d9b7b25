"""Overflow audit: for each firmware layer, the values it must hold vs the range of its type.

The 'true' value of a layer is what the arithmetic produces before the layer's own
rounding/saturation: a Dense result is the exact sum (the quantized Keras output); a
quantized ReLU's true value is max(0, previous output), before its saturation. A value
that, once rounded onto the type's grid, falls outside the type's range is counted as
saturated (or wrapped, for WRAP types).

`clip_in_keras` tells the two kinds apart: a QKeras activation (and the input
preprocessing) clips exactly like the firmware, so its saturations are part of the
trained model; anywhere else a saturation would be a firmware-only overflow. An HGQ2
quantizer (hls4ml's FixedPointQuantizer) takes the previous output as its true value and
counts it against each element's own type; it wraps (or saturates) in Keras too. In a
`narrowed` project (hls4ml's bit-exact flow for HGQ2) every other layer keeps only the bits
the next quantizer reads: its wraps drop bits that Keras drops too, so they count as part of
the trained model (`narrowed: true`), not as firmware-only overflows.
"""

import numpy as np

from trigger.firmware import element_types
from trigger.fixed import ROUNDINGS, FixedType, cast


def audit(hls_model, keras_layers: dict[str, np.ndarray], inputs_true: np.ndarray, clipping: set[str],
          narrowed: bool = False) -> dict[str, dict]:
    """Per layer: saturations on the sample, the type's range, the observed range; `clipping`: the Keras layers
    (QKeras activations) that clip the way the firmware does; `narrowed`: see the module docstring."""
    report: dict[str, dict] = {}
    previous: np.ndarray = inputs_true
    for layer in hls_model.get_layers():
        precision = layer.get_output_variable().type.precision
        ftype = FixedType.of(precision)
        relu = _is_relu(layer) and layer.name in clipping  # a float ReLU does not clip: Keras is unbounded there
        quantizer = layer.class_name == "FixedPointQuantizer"
        if layer.class_name == "Input":
            true = inputs_true
        elif quantizer:
            true = previous
        elif layer.name in keras_layers:
            true = np.maximum(previous, 0.0) if _is_relu(layer) else keras_layers[layer.name]
        else:
            continue
        # the input is rounded to nearest by the preprocessing; layers round as their type says
        rounding = "RND_CONV" if layer.class_name == "Input" or ftype.rounding not in ROUNDINGS else ftype.rounding
        if quantizer:
            saturated = _beyond_element_types(true, element_types(layer))
        else:
            stored = cast(true, ftype.with_modes(rounding, "WRAP"), overflows=False)
            saturated = int(((stored < ftype.lo) | (stored > ftype.hi)).sum())
        report[layer.name] = {
            "saturated": saturated,
            "range": [ftype.lo, ftype.hi],
            "observed": [float(true.min()), float(true.max())],
            "type": str(ftype),
            "clip_in_keras": (relu or layer.class_name == "Input" or (quantizer and layer.name in clipping)
                              or (narrowed and not quantizer)),
        }
        if narrowed and not quantizer and layer.class_name != "Input":
            report[layer.name]["narrowed"] = True
        previous = keras_layers.get(layer.name, true)
    return report


def _beyond_element_types(true: np.ndarray, types) -> int:
    """Values outside their element's own type once rounded onto its grid (None: the element is held at 0)."""
    true = true.reshape(len(true), -1)
    beyond = 0
    for j, t in enumerate(types):
        if t is not None:
            stored = cast(true[:, j], t.with_modes(overflow="WRAP"), overflows=False)
            beyond += int(((stored < t.lo) | (stored > t.hi)).sum())
    return beyond


def _is_relu(layer) -> bool:
    return layer.class_name in ("Activation", "ReLU") and str(layer.get_attr("activation", "")).lower() == "relu"
