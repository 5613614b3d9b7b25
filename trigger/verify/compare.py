"""Bit-exact comparison of csim with the quantized Keras model, and divergence tracing.

Differences are counted in LSBs of the firmware type at that point, never with a
floating tolerance: 0 LSB on every event is the only pass.
"""

import math
from dataclasses import dataclass

import numpy as np

from trigger.fixed import FixedType, cast
from trigger.keras2 import keras


@dataclass
class Agreement:
    events: int
    exact_events: int
    max_lsb_diff: int
    first_diverging_layer: str | None = None
    layer_lsb_diff: int | None = None
    cause: str | None = None  # what is known about why it diverges (float32_limit), else None

    @property
    def exact_fraction(self) -> float:
        return self.exact_events / self.events if self.events else 0.0

    def as_dict(self, backend: str, output_type: FixedType) -> dict:
        return {
            "backend": backend,
            "events": self.events,
            "exact_fraction": self.exact_fraction,
            "max_lsb_diff": self.max_lsb_diff,
            "first_diverging_layer": self.first_diverging_layer,
            "first_diverging_layer_lsb_diff": self.layer_lsb_diff,
            "output_type": str(output_type),
        } | ({"cause": self.cause} if self.cause else {})


FLOAT32_SIGNIFICANT_BITS = 24


def float32_limit(layer: str, layer_type: FixedType) -> str | None:
    """Keras computes in float32, which holds 24 significant bits: where a layer's exact values need more (a wide
    accumulator: many weight bits times many activation bits), the quantized Keras model itself rounds, and the
    firmware, exact in fixed point, cannot match it. Why `layer` may diverge, or None."""
    if layer_type.width <= FLOAT32_SIGNIFICANT_BITS:
        return None
    return (f"{layer} is {layer_type} ({layer_type.width} bits), more than the {FLOAT32_SIGNIFICANT_BITS} float32 "
            "holds: the Keras reference rounds there; use fewer weight or activation bits")


def lsb_diff(a: np.ndarray, b: np.ndarray, lsb: float) -> np.ndarray:
    """|a - b| in LSBs, rounded up (a value off the grid still counts as a difference)."""
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / lsb
    return np.ceil(diff - 1e-9).astype(np.int64)


def compare(keras_out: np.ndarray, csim_out: np.ndarray, output_type: FixedType) -> tuple[Agreement, np.ndarray]:
    """Agreement summary plus the indices of events that differ."""
    keras_out = np.asarray(keras_out).reshape(len(keras_out), -1)
    csim_out = np.asarray(csim_out).reshape(len(csim_out), -1)
    diff = lsb_diff(keras_out, csim_out, output_type.lsb)
    per_event = diff.max(axis=1)
    bad = np.flatnonzero(per_event > 0)
    return Agreement(len(per_event), int(len(per_event) - len(bad)), int(per_event.max(initial=0))), bad


def first_divergence(keras_layers: dict[str, np.ndarray], hls_trace: dict[str, np.ndarray], hls_types: dict[str, FixedType],
                     tolerance=None, narrowed: bool = False) -> tuple[str | None, int | None]:
    """Walk the layers in firmware order; return the first whose outputs differ, with its LSB difference.
    `tolerance(reference)` (a float model): the first whose |difference| exceeds what it allows instead. `narrowed`
    (hls4ml's bit-exact flow, HGQ2): a layer holds the reference cast into its type, which keeps only the bits later
    layers read."""
    for name, traced in hls_trace.items():
        if name not in keras_layers:
            continue
        ref, got = keras_layers[name].reshape(len(traced), -1), traced.reshape(len(traced), -1)
        if narrowed:
            ref = cast(ref, hls_types[name])
        diff = lsb_diff(ref, got, hls_types[name].lsb)
        if diff.max(initial=0) > 0 and (tolerance is None or np.any(np.abs(got - ref) > tolerance(ref))):
            return name, int(diff.max())
    return None, None


def keras_layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output of the Keras model, by layer name (the names hls4ml keeps)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe.predict(x, batch_size=4096, verbose=0)
    if len(layers) == 1:
        outputs = [outputs]
    return {layer.name: np.asarray(out, np.float64) for layer, out in zip(layers, outputs)}


def describe(agreement: Agreement, backend: str) -> str:
    if agreement.exact_events == agreement.events:
        return f"{backend}: csim == quantized Keras on {agreement.events}/{agreement.events} events (0 LSB)"
    where = agreement.first_diverging_layer or "unknown layer"
    layer = f"{agreement.layer_lsb_diff} LSB" if agreement.layer_lsb_diff is not None else "n/a"
    pct = math.floor(1000 * agreement.exact_fraction) / 10
    return (
        f"{backend}: csim differs from quantized Keras on {agreement.events - agreement.exact_events}/{agreement.events} "
        f"events ({pct}% exact), up to {agreement.max_lsb_diff} LSB at the output; first diverging layer: {where} ({layer})"
        + (f"; {agreement.cause}" if agreement.cause else "")
    )
