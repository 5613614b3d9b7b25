"""Model builders: the QKeras network that becomes firmware, and its float twin.

Layer names are fixed (`dense_1`, `relu_1`, ..., `logits`) because they become the
names in the HLS project, the per-layer precision overrides in the spec and the
overflow audit. The trigger output is the logits; softmax exists only offline.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

import trigger.keras2  # noqa: F401  (Keras 2 before QKeras)
from trigger.errors import TriggerError
from trigger.keras2 import keras
from trigger.spec import ModelSpec

INPUT_NAME = "inputs"  # 'input' is reserved in hls4ml


def quantizer(bits: int, integer: int) -> str:
    """String form: a quantizer object does not survive save/load; alpha=1 keeps it a plain fixed-point grid."""
    return f"quantized_bits({bits},{integer},alpha=1)"


def build_quantized(spec: ModelSpec, n_in: int, n_out: int) -> keras.Model:
    from qkeras import QActivation, QDense

    inputs = keras.Input((n_in,), name=INPUT_NAME)
    x = inputs
    kernel = quantizer(spec.weight_bits, spec.weight_integer)
    bias = quantizer(spec.bias_bits, spec.bias_integer)
    for i, width in enumerate(spec.hidden, start=1):
        x = QDense(width, kernel_quantizer=kernel, bias_quantizer=bias, kernel_initializer="lecun_uniform", name=f"dense_{i}")(x)
        x = QActivation(f"quantized_relu({spec.activation_bits},{spec.activation_integer})", name=f"relu_{i}")(x)
    x = QDense(n_out, kernel_quantizer=kernel, bias_quantizer=bias, kernel_initializer="lecun_uniform", name="logits")(x)
    return keras.Model(inputs, x, name="quantized")


def build_float(spec: ModelSpec, n_in: int, n_out: int) -> keras.Model:
    inputs = keras.Input((n_in,), name=INPUT_NAME)
    x = inputs
    for i, width in enumerate(spec.hidden, start=1):
        x = keras.layers.Dense(width, activation="relu", kernel_initializer="lecun_uniform", name=f"dense_{i}")(x)
    x = keras.layers.Dense(n_out, kernel_initializer="lecun_uniform", name="logits")(x)
    return keras.Model(inputs, x, name="float")


def custom_objects() -> dict:
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return objects


def save_model(model: keras.Model, directory: Path, stem: str) -> None:
    """Architecture as JSON and weights as .npz: both byte-reproducible (HDF5 embeds timestamps)."""
    from trigger.atomic import write_bytes, write_text

    write_text(directory / f"{stem}.json", json.dumps(json.loads(model.to_json()), indent=1, sort_keys=True) + "\n")
    buffer = io.BytesIO()
    np.savez(buffer, **{f"w{i:03d}": w for i, w in enumerate(model.get_weights())})
    write_bytes(directory / f"{stem}_weights.npz", buffer.getvalue())


def load_model(directory: Path, stem: str) -> keras.Model:
    arch, weights = Path(directory) / f"{stem}.json", Path(directory) / f"{stem}_weights.npz"
    for p in (arch, weights):
        if not p.is_file():
            raise TriggerError(f"{p}: trained model file missing; run `make train` (or `trigger train <spec>`)")
    model = keras.models.model_from_json(arch.read_text(), custom_objects=custom_objects())
    with np.load(weights) as w:
        model.set_weights([w[k] for k in sorted(w.files)])
    return model
