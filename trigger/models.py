"""Model builders: the QKeras network that becomes firmware, and its float twin.

Layer names are fixed (`dense_1`, `relu_1`, ..., `logits`; `outputs`, `outputs_q` for a
regressor; `latent`, `reconstruction` for autoencoders) because they become the names in the
HLS project, the per-layer precision overrides in the spec and the overflow audit. The
firmware heads built on top of these (encoder, anomaly score) belong to the tasks.
"""

import io
import json
from pathlib import Path

import numpy as np

from trigger.atomic import write_bytes, write_json
from trigger.errors import TriggerError
from trigger.keras2 import keras, tf
from trigger.fixed import FixedType
from trigger.spec import ModelSpec

INPUT_NAME = "inputs"  # 'input' is reserved in hls4ml


def quantizer(bits: int, integer: int) -> str:
    """String form: a quantizer object does not survive save/load; alpha=1 keeps it a plain fixed-point grid."""
    return f"quantized_bits({bits},{integer},alpha=1)"


def build_model(m: ModelSpec, input_precision: str, n_in: int, n_out: int, quantized: bool,
                output_precision: str | None = None) -> keras.Model:
    """The trainable network: ReLU layers m.hidden (an autoencoder's encoder), then

    - mlp: a classifier's logits, or a regressor's outputs rounded (saturating) into
      `output_precision`, the firmware output type;
    - autoencoder: latent -> decoder (m.decoder or the encoder mirrored) -> reconstruction.
      Quantized: the latent is a signed ap_fixed<latent_bits, latent_integer+1> (default: the
      activations' bits and integer bits), and the
      reconstruction is rounded into the input type so that input - reconstruction is exact.
    - vae: the encoder has two heads, mu (`latent`, quantized as an autoencoder's latent: the only
      head that goes on chip) and h = log(sigma) (`log_sigma`, training only). The decoder reads
      z = mu + sigma * eps; eps is drawn by a GaussianNoise layer, so it is 0 at inference and
      the graph uses built-in layers only (saved as JSON, pruned by tfmot). The output is
      [reconstruction, mu, h] side by side, for `vae_loss`.
    """
    dense, activation = _layers(m, quantized)
    inputs = keras.Input((n_in,), name=INPUT_NAME)
    x = _stack(inputs, m.hidden, 1, dense, activation)
    flavour = "quantized" if quantized else "float"
    if m.kind == "mlp":
        if output_precision is None:
            return keras.Model(inputs, dense(n_out, "logits")(x), name=flavour)
        out_type = FixedType.parse(output_precision)
        out = activation("outputs_q", kind="bits", bits=out_type.width, integer=out_type.integer - 1)(dense(n_out, "outputs")(x))
        return keras.Model(inputs, out, name=f"{flavour}_regressor")
    latent_bits = m.activation_bits if m.latent_bits is None else m.latent_bits
    latent_integer = m.activation_integer if m.latent_integer is None else m.latent_integer
    z = activation("latent_q", kind="bits", bits=latent_bits, integer=latent_integer)(dense(m.latent, "latent")(x))
    if m.kind == "vae":
        mu, log_sigma = z, dense(m.latent, "log_sigma")(x)
        noisy = keras.layers.GaussianNoise(1.0, name="noisy")(log_sigma)
        eps = keras.layers.Subtract(name="epsilon")([noisy, log_sigma])  # N(0, 1) in training, 0 at inference
        sigma = keras.layers.Activation("exponential", name="sigma")(log_sigma)
        z = keras.layers.Add(name="z")([mu, keras.layers.Multiply(name="spread")([sigma, eps])])
    x = _stack(z, m.decoder if m.decoder is not None else list(reversed(m.hidden)), len(m.hidden) + 1, dense, activation)
    in_type = FixedType.parse(input_precision)
    rounded = activation("reconstruction_q", kind="bits", bits=in_type.width, integer=in_type.integer - 1)
    reconstruction = rounded(dense(n_in, "reconstruction")(x))
    if m.kind == "vae":
        outputs = keras.layers.Concatenate(name="vae_outputs")([reconstruction, mu, log_sigma])
        return keras.Model(inputs, outputs, name=f"{flavour}_vae")
    return keras.Model(inputs, reconstruction, name=f"{flavour}_ae")


def vae_loss(n_in: int, latent: int, beta: float, input_weights: np.ndarray | None = None):
    """Per event: mean over inputs of w_i (x_i - r_i)^2 + beta * KL(N(mu, sigma^2) || N(0, 1)), the KL summed over
    the latent (= sum of (mu^2 + sigma^2 - 1) / 2 - log sigma), on the [r, mu, log sigma] output of a vae; w = 1
    unless `input_weights` are given."""
    w = tf.constant(np.ones(n_in) if input_weights is None else input_weights, dtype="float32")

    def loss(x, out):
        r, mu, h = out[:, :n_in], out[:, n_in:n_in + latent], out[:, n_in + latent:]
        mse = tf.reduce_mean(w * tf.square(tf.cast(x, out.dtype) - r), axis=-1)
        kl = tf.reduce_sum(0.5 * (tf.square(mu) + tf.exp(2.0 * h) - 1.0) - h, axis=-1)
        return mse + beta * kl

    return loss


def reconstruction(model: keras.Model) -> keras.Model:
    """inputs -> reconstruction of an autoencoder or a vae (at inference a vae decodes z = mu)."""
    names = [l.name for l in model.layers]
    return keras.Model(model.input, model.get_layer("reconstruction_q" if "reconstruction_q" in names else
                                                    "reconstruction").output, name="reconstruction")


def _layers(m: ModelSpec, quantized: bool):
    """Factories for a dense layer and its activation, quantized (QKeras) or float (plain Keras: also HGQ2's twin,
    in a process where `qkeras` is not QKeras)."""
    if quantized:
        from qkeras import QActivation, QDense

    def dense(width, name, relu=False):
        if quantized:
            kernel = quantizer(m.bits(name, "weight_bits"), m.bits(name, "weight_integer"))
            bias = quantizer(m.bits(name, "bias_bits"), m.bits(name, "bias_integer"))
            return QDense(width, kernel_quantizer=kernel, bias_quantizer=bias, kernel_initializer="lecun_uniform", name=name)
        return keras.layers.Dense(width, activation="relu" if relu else None, kernel_initializer="lecun_uniform", name=name)

    def activation(name, kind="relu", bits=None, integer=None):
        """relu_<i> follows dense_<i> and takes that layer's activation bits unless `bits` are given."""
        if not quantized:
            return lambda x: x  # float: ReLU is inside the Dense, outputs stay linear
        layer = name.replace("relu_", "dense_")
        bits = m.bits(layer, "activation_bits") if bits is None else bits
        integer = m.bits(layer, "activation_integer") if integer is None else integer
        if kind == "relu":
            return QActivation(f"quantized_relu({bits},{integer})", name=name)
        return QActivation(quantizer(bits, integer), name=name)

    return dense, activation


def _stack(x, widths, first_index, dense, activation):
    for i, width in enumerate(widths, start=first_index):
        x = dense(width, f"dense_{i}", relu=True)(x)
        x = activation(f"relu_{i}")(x)
    return x


def encoder(model: keras.Model) -> keras.Model:
    """The encoder half (inputs -> latent) of a trained autoencoder, sharing its layers."""
    latent = model.get_layer("latent_q") if "latent_q" in [l.name for l in model.layers] else model.get_layer("latent")
    return keras.Model(model.input, latent.output, name="encoder")


def decoder(model: keras.Model) -> keras.Model:
    """The decoder half (latent -> reconstruction), re-applying the trained layers to a new input."""
    names = [l.name for l in model.layers]
    start = names.index("latent_q" if "latent_q" in names else "latent") + 1
    z = keras.Input(model.get_layer("latent").output.shape[1:], name="latent_in")
    x = z
    for layer in model.layers[start:]:
        x = layer(x)
    return keras.Model(z, x, name="decoder")


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """A Keras model's outputs in float64 (the precision every comparison here works in)."""
    return model.predict(x, batch_size=4096, verbose=0).astype(np.float64)


def custom_objects() -> dict:
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return objects


NONFINITE = "__nonfinite__"  # {"__nonfinite__": "inf"}: how an architecture keeps a float that JSON cannot hold


def save_model(model: keras.Model, directory: Path, stem: str) -> None:
    """Architecture as strict JSON and weights as .npz: both byte-reproducible (HDF5 embeds timestamps). A float JSON
    cannot hold (HGQ2: a quantizer's infinite i_decay_speed) is written as {"__nonfinite__": "inf"}; load_model
    restores it."""
    write_json(directory / f"{stem}.json", _tag_nonfinite(json.loads(model.to_json())), sort_keys=True)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"w{i:03d}": w for i, w in enumerate(model.get_weights())})
    write_bytes(directory / f"{stem}_weights.npz", buffer.getvalue())


def _tag_nonfinite(node):
    if isinstance(node, float) and not np.isfinite(node):
        return {NONFINITE: repr(node)}
    if isinstance(node, dict):
        return {k: _tag_nonfinite(v) for k, v in node.items()}
    return [_tag_nonfinite(v) for v in node] if isinstance(node, list) else node


def _untag_nonfinite(node: dict):
    return float(node[NONFINITE]) if set(node) == {NONFINITE} else node


def load_model(directory: Path, stem: str, objects: dict | None = None) -> keras.Model:
    """`objects`: the custom objects of the model's engine (default QKeras's)."""
    arch, weights = Path(directory) / f"{stem}.json", Path(directory) / f"{stem}_weights.npz"
    for p in (arch, weights):
        if not p.is_file():
            raise TriggerError(f"{p}: trained model file missing; run `make train` (or `trigger train <spec>`)")
    config = json.loads(arch.read_text(), object_hook=_untag_nonfinite)
    # Keras 3 keeps the training's compile settings (a regressor's loss is a function of ours): a loaded model only
    # predicts, so they are not restored
    config.pop("compile_config", None)
    model = keras.models.model_from_json(json.dumps(config), custom_objects=custom_objects() if objects is None else objects)
    with np.load(weights) as w:
        model.set_weights([w[k] for k in sorted(w.files)])
    return model
