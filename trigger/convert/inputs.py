"""What a user brings to `trigger convert`, each checked with a one-line error naming the file, layer or key.

- The model: .h5 / .keras written by Keras 2 (tf_keras), or architecture JSON + weights; QKeras
  layers are understood. Keras's own reason is shown when it cannot read the file.
- Its layers: a dense chain (Dense, QDense, activations, BatchNormalization, softmax). Layers that
  are identities at inference (Dropout, noise, ...) are removed and reported as skipped. A final
  softmax is found and, with --strip-softmax, removed, so the firmware outputs the logits.
- The input sample: .npy, hls4ml's .dat test vectors, .csv (an optional header names the features),
  or ROOT files with a feature mapping.
- An hls4ml config: the HLSConfig block, or a full hls4ml project YAML; layer names, precision
  strings, reuse factors and strategies are checked before anything is converted.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger.data import read_columns
from trigger.errors import TriggerError
from trigger.keras2 import keras
from trigger.models import custom_objects
from trigger.spec import feature_names, load_mapping, read_yaml

DENSE_LAYERS = ("InputLayer", "Dense", "QDense", "Activation", "QActivation", "BatchNormalization", "QBatchNormalization",
                "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")
INFERENCE_IDENTITIES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
                        "GaussianDropout", "AlphaDropout", "ActivityRegularization")
HLS_YAML_KEYS = {"HLSConfig", "Part", "ClockPeriod", "Backend", "IOType", "ProjectName", "OutputDir", "KerasModel",
                 "KerasJson", "KerasH5", "InputData", "OutputPredictions"}
PRECISION_RE = re.compile(r"^(auto|(ap_)?u?fixed<\s*\d+\s*,\s*-?\d+\s*(,\s*\w+\s*){0,3}>|(ap_)?u?int<\s*\d+\s*>)$")
PRECISION_KEYS = {"default", "maximum", "result", "weight", "bias", "accum", "table", "exp_table", "inv_table", "inv_inp",
                  "inp_norm", "scale", "pointwise", "depthwise"}


@dataclass
class UserModel:
    model: keras.Model  # what is converted: identities removed, the softmax too with --strip-softmax
    probe: keras.Model  # the same with fused activations split and named as hls4ml names them
    quantized: bool
    skipped: list[str]  # "name (Class)" of the layers removed as identities at inference
    softmax: str | None  # the final softmax layer kept in the firmware (its hls4ml name)
    stripped: str | None  # the softmax removed by --strip-softmax


def load_user_model(keras_file: Path | None = None, json_file: Path | None = None, weights: Path | None = None):
    """Keras model from .h5/.keras, or architecture JSON + weights; QKeras layers are understood."""
    objects = custom_objects()
    if keras_file is not None:
        path = _existing(keras_file, "Keras model")
        try:
            return keras.models.load_model(path, custom_objects=objects, compile=False)
        except Exception as exc:  # h5py/keras raise many types for a bad file
            raise TriggerError(f"{path}: not a readable Keras model: {_reason(exc)}") from None
    if json_file is None or weights is None:
        raise TriggerError("give --keras MODEL.h5, or --json MODEL.json together with --weights WEIGHTS.h5")
    json_file, weights = _existing(json_file, "model JSON"), _existing(weights, "weights file")
    try:
        model = keras.models.model_from_json(json_file.read_text(), custom_objects=objects)
    except Exception as exc:
        raise TriggerError(f"{json_file}: not a Keras model JSON: {_reason(exc)}") from None
    try:
        model.load_weights(weights)
    except Exception as exc:
        raise TriggerError(f"{weights}: weights do not fit {json_file} ({_first_line(exc)})") from None
    return model


def _existing(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise TriggerError(f"{path}: {what} not found")
    return path


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _reason(exc: Exception) -> str:
    """Keras's own reason, and what to do about it."""
    text = _first_line(exc)
    unknown = re.search(r"layer=(\w+) of type <class 'str'>", text)  # Sequential's way of saying "Unknown layer"
    text = f"Unknown layer: '{unknown.group(1)}'" if unknown else text
    if "batch_shape" in text or "keras_version" in text and "3." in text:
        advice = ("the file was written by Keras 3; trigger convert reads Keras 2 (tf_keras) models: save it from "
                  "tf_keras (TF_USE_LEGACY_KERAS=1), or give --json and --weights")
    elif "Unknown" in text:
        advice = "a custom layer or object: only Keras and QKeras layers can be converted; replace it and re-save"
    else:
        advice = "re-save it from tf_keras with model.save('model.h5')"
    return f"{text}; {advice}"


def prepare(model: keras.Model, strip_softmax: bool = False) -> UserModel:
    """The model as converted and as probed, layer kinds checked before anything else is."""
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in DENSE_LAYERS + INFERENCE_IDENTITIES:
            raise TriggerError(f"layer '{layer.name}' ({kind}) is not supported: trigger convert takes dense models "
                               f"({', '.join(DENSE_LAYERS[1:])}; skipped as identities at inference: "
                               f"{', '.join(INFERENCE_IDENTITIES)})")
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 2 or len(model.outputs[0].shape) != 2:
        shapes = [tuple(t.shape) for t in model.inputs + model.outputs]
        raise TriggerError(f"model inputs/outputs {shapes}: only one flat input vector and one flat output vector are supported")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    skipped = [f"{layer.name} ({type(layer).__name__})" for layer in layers if type(layer).__name__ in INFERENCE_IDENTITIES]
    kept = [layer for layer in layers if type(layer).__name__ not in INFERENCE_IDENTITIES]
    softmax = _final_softmax(kept[-1])
    if strip_softmax and softmax is None:
        raise TriggerError(f"--strip-softmax: the model ends in layer '{kept[-1].name}' ({type(kept[-1]).__name__}), not a softmax")
    strip = softmax if strip_softmax else None
    return UserModel(_chain(model, kept, split=False, strip=strip), _chain(model, kept, split=True, strip=strip),
                     any(type(layer).__module__.startswith("qkeras") for layer in layers), skipped,
                     None if strip else softmax, strip)


def _final_softmax(layer) -> str | None:
    """The hls4ml name of a final softmax: the layer itself, or `<dense>_softmax` for a fused Dense activation."""
    activation = layer.get_config().get("activation")
    if type(layer).__name__ == "Softmax" or (type(layer).__name__ in ("Activation", "QActivation") and activation == "softmax"):
        return layer.name
    return f"{layer.name}_softmax" if type(layer).__name__ == "Dense" and activation == "softmax" else None


def _chain(model: keras.Model, layers: list, split: bool, strip: str | None) -> keras.Model:
    """Fresh layers (the user's own keep their graph) applied in order; `split`: fused Dense activations as separate
    layers named <dense>_<activation>; `strip`: without the final softmax."""
    x = inputs = keras.Input(model.inputs[0].shape[1:], name="probe_input" if split else model.inputs[0].name.split(":")[0])
    for layer in layers:
        if layer.name == strip:
            break
        config = layer.get_config()
        activation = config.get("activation")
        fused = type(layer) is keras.layers.Dense and activation not in (None, "linear")
        if fused and (split or f"{layer.name}_{activation}" == strip):
            config["activation"] = "linear"
        clone = type(layer).from_config(config)
        x = clone(x)
        clone.set_weights(layer.get_weights())
        if fused and split and f"{layer.name}_{activation}" != strip:
            x = keras.layers.Activation(activation, name=f"{layer.name}_{activation}")(x)
    return keras.Model(inputs, x, name=model.name)


def load_sample(n_features: int, path: Path | None = None, root: list[Path] | None = None,
                mapping: Path | None = None) -> tuple[np.ndarray, list[str], dict]:
    """The input sample (events x features), its feature names and units."""
    if path is not None:
        path = _existing(path, "input sample")
        names = [f"x{i}" for i in range(n_features)]
        try:
            if path.suffix == ".npy":
                x = np.load(path, allow_pickle=False)
            elif path.suffix == ".csv":
                header = path.read_text().splitlines()[:1]
                named = bool(header) and not _numeric(header[0].split(",")[0])
                x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=int(named))
                names = [h.strip() for h in header[0].split(",")] if named else names
            else:  # hls4ml's tb_input_features.dat: whitespace-separated, one event per line
                x = np.loadtxt(path, ndmin=2)
        except (ValueError, OSError) as exc:
            raise TriggerError(f"{path}: not a numeric .npy, .csv or .dat sample ({_first_line(exc)}); one event per row") from None
        if x.ndim != 2 or x.shape[1] != n_features:
            raise TriggerError(f"{path}: shape {x.shape}, the model expects (events, {n_features}); fix the sample")
        return np.asarray(x, np.float64), names if len(names) == n_features else [f"x{i}" for i in range(n_features)], {}
    if not root or mapping is None:
        raise TriggerError("give an input sample: --input SAMPLE.npy|.csv|.dat, or --root FILE.root with --mapping MAPPING.yml")
    m = load_mapping(mapping)
    names = feature_names(m.features)
    if len(names) != n_features:
        raise TriggerError(f"{mapping}: maps {len(names)} features ({', '.join(names)}), the model expects {n_features}")
    columns = read_columns([Path(p) for p in root], m.tree, m.features, what=f"{mapping}:features")
    return np.column_stack([columns[n] for n in names]), names, m.units


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_hls_config(path: Path | None, layer_names: list[str]) -> dict:
    """An hls4ml config, the HLSConfig block or a full hls4ml project YAML, validated against the model's layers."""
    if path is None:
        return {}
    raw = read_yaml(Path(path), "hls4ml config") or {}
    if not isinstance(raw, dict):
        raise TriggerError(f"{path}: must be a mapping (hls4ml config)")
    if "HLSConfig" in raw:
        unknown = set(raw) - HLS_YAML_KEYS
        if unknown:
            raise TriggerError(f"{path}: unknown key '{sorted(unknown)[0]}' (allowed: {', '.join(sorted(HLS_YAML_KEYS))})")
        if raw.get("IOType", "io_parallel") != "io_parallel":
            raise TriggerError(f"{path}: IOType {raw['IOType']!r}; the harness and bundle support io_parallel only")
        block, where = raw["HLSConfig"], "HLSConfig."
    else:
        block, where, raw = raw, "", {"HLSConfig": raw}
    _check_block(Path(path), block, where, layer_names)
    return raw


def _check_block(path: Path, block, where: str, layer_names: list[str]) -> None:
    if not isinstance(block, dict):
        raise TriggerError(f"{path}: '{where or '<top>'}' must be a mapping with Model, LayerName or LayerType")
    unknown = set(block) - {"Model", "LayerName", "LayerType"}
    if unknown:
        raise TriggerError(f"{path}: unknown key '{where}{sorted(unknown)[0]}' (an HLSConfig block has Model, LayerName, LayerType)")
    _check_settings(path, block.get("Model", {}), f"{where}Model")
    for group in ("LayerName", "LayerType"):
        for name, settings in (block.get(group) or {}).items():
            if group == "LayerName" and name not in layer_names:
                raise TriggerError(f"{path}: '{where}LayerName.{name}' is not a layer of the model (layers: {', '.join(layer_names)})")
            _check_settings(path, settings, f"{where}{group}.{name}")


def _check_settings(path: Path, settings, key: str) -> None:
    """Precisions are precision strings, ReuseFactor a positive integer, Strategy Latency or Resource."""
    if not isinstance(settings, dict):
        raise TriggerError(f"{path}: '{key}' must be a mapping, got {settings!r}")
    for name, value in settings.items():
        if name == "Precision" and isinstance(value, dict):
            for part in value:
                if part not in PRECISION_KEYS:
                    raise TriggerError(f"{path}: '{key}.Precision.{part}' is not a precision key (one of "
                                       f"{', '.join(sorted(PRECISION_KEYS))}); in YAML flow style quote the type: "
                                       f"{{result: 'ap_fixed<18,8>'}}")
            for part, precision in value.items():
                _check_precision(path, precision, f"{key}.Precision.{part}")
        elif name == "Precision" or name.endswith("_t"):
            _check_precision(path, value, f"{key}.{name}")
        elif name == "ReuseFactor" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise TriggerError(f"{path}: '{key}.ReuseFactor' must be a positive integer, got {value!r}")
        elif name == "Strategy" and str(value).lower() not in ("latency", "resource"):
            raise TriggerError(f"{path}: '{key}.Strategy' must be Latency or Resource, got {value!r}")


def _check_precision(path: Path, value, key: str) -> None:
    if not PRECISION_RE.match(str(value).replace(" ", "")):
        cut = "; cut at a comma? quote it" if "<" in str(value) and ">" not in str(value) else ""
        raise TriggerError(f"{path}: '{key}' = {value!r} is not a precision (ap_fixed<W,I>, ap_ufixed<W,I> with optional "
                           f"rounding/saturation, ap_int<W>, ap_uint<W> or auto){cut}")
