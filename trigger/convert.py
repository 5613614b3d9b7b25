"""`trigger convert`: bring your own Keras/QKeras model to the same firmware, harness and bundle.

A dense model trained elsewhere (h5, or JSON + weights), an input sample (.npy, or ROOT +
a feature mapping), an optional hls4ml config and budget. The sample is rounded into the
firmware input type (saturation is an error unless asked to clip) and fed to both Keras
and the C simulation:
- a quantized (QKeras) model must match csim at 0 LSB on every event, as our own models;
- a float Keras model cannot match bit for bit, so csim is compared with its outputs
  through a stated absolute tolerance, and the overflow audit recommends per-layer
  precisions (written as an hls4ml config to pass back with --hls-config).
Writes hls_projects/<name>/<backend>/, hls_projects/<name>/bundle/ and <out>/metrics.json.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from trigger.atomic import write_text
from trigger.bundle import export
from trigger.data import Preprocessing, read_columns
from trigger.errors import TriggerError
from trigger.firmware import FirmwareProject, Settings, interface, projects_root, require_gxx
from trigger.fixed import FixedType
from trigger.keras2 import keras
from trigger.models import custom_objects
from trigger.report import load_budget
from trigger.report import metrics as report_file
from trigger.spec import FirmwareSpec, InputSpec, feature_names, load_mapping, read_yaml
from trigger.verify import Reference, csim_scatter, describe, run

HLS_YAML_KEYS = {"HLSConfig", "Part", "ClockPeriod", "Backend", "IOType", "ProjectName", "OutputDir", "KerasModel",
                 "KerasJson", "KerasH5", "InputData", "OutputPredictions"}


RECOMMENDATION_HEADER = """\
# Precisions recommended by `trigger convert` from the overflow audit on the input sample: each layer
# keeps its fractional bits and gets the integer bits its observed values need. Only layers that
# saturated on the sample are listed; layers that could be narrowed are in metrics.json
# (recommended_precisions, action 'narrow'). Pass this file back with --hls-config.
"""


@dataclass
class ConvertOptions:
    """Settings of a conversion; the firmware and input defaults are those of a model spec."""

    name: str
    backend: str = "Vitis"
    part: str = FirmwareSpec.part
    clock_ns: float = FirmwareSpec.clock_period_ns
    input_precision: str = InputSpec.precision
    saturation: str = InputSpec.saturation
    tolerance: float = 0.05  # float models: |csim - Keras| allowed, in output units
    events: int = 6000


# --------------------------------------------------------------------------- the user's files
def load_user_model(keras_file: Path | None = None, json_file: Path | None = None, weights: Path | None = None):
    """Keras model from .h5/.keras, or architecture JSON + weights; QKeras layers are understood."""
    objects = custom_objects()
    if keras_file is not None:
        path = Path(keras_file)
        _exists(path, "Keras model")
        try:
            return keras.models.load_model(path, custom_objects=objects, compile=False)
        except Exception as exc:  # h5py/keras raise many types for a bad file
            raise TriggerError(f"{path}: not a readable Keras model ({type(exc).__name__}); save it with model.save('model.h5')") from None
    if json_file is None or weights is None:
        raise TriggerError("give --keras MODEL.h5, or --json MODEL.json together with --weights WEIGHTS.h5")
    _exists(Path(json_file), "model JSON")
    _exists(Path(weights), "weights file")
    try:
        model = keras.models.model_from_json(Path(json_file).read_text(), custom_objects=objects)
    except Exception as exc:
        raise TriggerError(f"{json_file}: not a Keras model JSON ({type(exc).__name__}); write it with model.to_json()") from None
    try:
        model.load_weights(weights)
    except Exception as exc:
        raise TriggerError(f"{weights}: weights do not fit {json_file} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return model


def _exists(path: Path, what: str) -> None:
    if not path.is_file():
        raise TriggerError(f"{path}: {what} not found")


def check_convertible(model) -> None:
    """One input vector, one output vector, and only layers hls4ml converts; else name the layer."""
    import hls4ml

    supported = set(hls4ml.converters.get_supported_keras_layers())
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in supported:
            raise TriggerError(f"layer '{layer.name}' ({kind}) cannot be converted by hls4ml "
                               f"{hls4ml.__version__}; replace it (supported include Dense, QDense, Activation, QActivation, BatchNormalization)")
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 2 or len(model.outputs[0].shape) != 2:
        shapes = [tuple(t.shape) for t in model.inputs + model.outputs]
        raise TriggerError(f"model inputs/outputs {shapes}: only one flat input vector and one flat output vector are supported")


def is_quantized(model) -> bool:
    return any(type(layer).__module__.startswith("qkeras") for layer in model.layers)


def load_sample(n_features: int, npy: Path | None = None, root: list[Path] | None = None, mapping: Path | None = None) -> tuple[np.ndarray, list[str], dict]:
    """The input sample (events x features), its feature names and units."""
    if npy is not None:
        path = Path(npy)
        _exists(path, "input sample")
        try:
            x = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise TriggerError(f"{path}: not a numpy .npy array ({type(exc).__name__}); save it with np.save") from None
        if x.ndim != 2 or x.shape[1] != n_features:
            raise TriggerError(f"{path}: shape {x.shape}, the model expects (events, {n_features}); fix the sample")
        return np.asarray(x, np.float64), [f"x{i}" for i in range(n_features)], {}
    if not root or mapping is None:
        raise TriggerError("give an input sample: --input SAMPLE.npy, or --root FILE.root with --mapping MAPPING.yml")
    m = load_mapping(mapping)
    names = feature_names(m.features)
    if len(names) != n_features:
        raise TriggerError(f"{mapping}: maps {len(names)} features ({', '.join(names)}), the model expects {n_features}")
    columns = read_columns([Path(p) for p in root], m.tree, m.features, what=f"{mapping}:features")
    return np.column_stack([columns[n] for n in names]), names, m.units


# --------------------------------------------------------------------------- configuration
def load_hls_config(path: Path | None) -> dict:
    """An hls4ml config: either a full hls4ml project YAML (with HLSConfig) or the HLSConfig block itself."""
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
        return raw
    unknown = set(raw) - {"Model", "LayerName", "LayerType"}
    if unknown:
        raise TriggerError(f"{path}: unknown key '{sorted(unknown)[0]}' (an HLSConfig block has Model, LayerName, LayerType)")
    return {"HLSConfig": raw}


def settings(options: ConvertOptions, user: dict) -> Settings:
    """Firmware settings from the options; a full hls4ml project YAML's Backend, Part and ClockPeriod win."""
    return Settings(options.name, user.get("Backend", options.backend), user.get("Part", options.part),
                    user.get("ClockPeriod", options.clock_ns), options.input_precision, options.input_precision,
                    hls_config=user.get("HLSConfig", {}))


# --------------------------------------------------------------------------- the run
def layer_probe(model):
    """A twin whose fused activations are separate layers named as hls4ml names them (<dense>_<activation>),
    so every hls4ml layer has a Keras output to compare with (pre-activation included)."""
    x = inputs = keras.Input(model.inputs[0].shape[1:], name="probe_input")
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        config = layer.get_config()
        activation = config.get("activation")
        split = type(layer) is keras.layers.Dense and activation not in (None, "linear")
        if split:
            config["activation"] = "linear"
        clone = type(layer).from_config(config)  # fresh layers: the user model's own keep their graph
        x = clone(x)
        clone.set_weights(layer.get_weights())
        if split:
            x = keras.layers.Activation(activation, name=f"{layer.name}_{activation}")(x)
    return keras.Model(inputs, x)


def recommend_precisions(audit: dict) -> dict:
    """Per layer: the integer bits the observed values need, keeping the fractional bits; saturation widens."""
    out = {}
    for name, entry in audit.items():
        current = FixedType.parse(f"ap_{entry['type']}")  # the audit writes fixed<W,I> / ufixed<W,I>
        lo, hi = entry["observed"]
        need = _integer_bits(lo, hi, current.signed, current.lsb)
        kind = "ap_fixed" if current.signed else "ap_ufixed"
        action = "widen" if need > current.integer else "narrow" if need < current.integer else "keep"
        out[name] = {"current": str(current), "recommended": f"{kind}<{need + current.frac},{need}>", "action": action,
                     "observed": [lo, hi], "saturated": entry["saturated"]}
    return out


def _integer_bits(lo: float, hi: float, signed: bool, lsb: float) -> int:
    top = max(hi + lsb, lsb)
    bits = math.floor(math.log2(top)) + 1 if top > 0 else 0
    if signed:
        bits = max(bits + 1, math.ceil(math.log2(-lo)) + 1 if lo < 0 else 1)
    return bits


def tolerance_metrics(reference: np.ndarray, csim: np.ndarray, tolerance: float) -> dict:
    """How close csim is to Keras: the fraction of events within `tolerance` on every output, and more."""
    diff = np.abs(csim - reference)
    spread = np.maximum(((reference - reference.mean(axis=0)) ** 2).sum(axis=0), 1e-300)
    out = {"tolerance": tolerance, "within_tolerance_fraction": float((diff.max(axis=1) <= tolerance).mean()),
           "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
           "r2_vs_keras": (1 - (diff**2).sum(axis=0) / spread).tolist()}
    if reference.shape[1] > 1:
        out["argmax_agreement"] = float((csim.argmax(axis=1) == reference.argmax(axis=1)).mean())
    return out


def convert(model, raw_x: np.ndarray, features: list[str], units: dict, options: ConvertOptions, user_config: dict,
            budget: Path | None, out_dir: Path, regenerate: str = "trigger convert", log=print) -> dict:
    """Project, csim harness, metrics.json and bundle for a user model; returns the report."""
    require_gxx()
    check_convertible(model)
    quantized = is_quantized(model)
    reference_name = "quantized" if quantized else "float"
    drop_names = ("max_lsb_diff",) if quantized else ("max_abs_diff", "outside_tolerance")
    limits = load_budget(budget, drop_names) if budget else {}
    firmware = settings(options, user_config)
    pre = Preprocessing(features, [0] * len(features), options.input_precision, options.saturation)
    x = pre.apply(raw_x[: options.events], "input sample")
    reference = Reference.of(model, x, pre.scaled(raw_x[: options.events]), probe=layer_probe(model))

    def meanings(n_outputs: int):
        return ([(name, units.get(name, "as the sample")) for name in features],
                [(f"output {j} of {options.name}", "as the model") for j in range(n_outputs)])

    final = projects_root() / options.name / firmware.backend
    result = run(lambda d: FirmwareProject(model, firmware, d), final, reference, lambda project: {}, meanings, trace=quantized)
    backend, csim_out = result.backend, result.csim_out
    close = tolerance_metrics(reference.outputs, csim_out, options.tolerance)
    if quantized:
        verdict = describe(result.agreement, backend)
        drops = {"max_lsb_diff": float(result.agreement.max_lsb_diff)}
        headline = {"metric": "events bit-exact", "float": 1.0, "csim": result.agreement.exact_fraction}
    else:
        verdict = (f"{backend}: csim within {options.tolerance:g} of float Keras on {close['within_tolerance_fraction']:.2%} of "
                   f"{len(x)} events (max |diff| {close['max_abs_diff']:.4g}); float models are not bit-exact")
        drops = {"max_abs_diff": close["max_abs_diff"], "outside_tolerance": 1 - close["within_tolerance_fraction"]}
        headline = {"metric": f"within {options.tolerance:g}", "float": 1.0, "csim": close["within_tolerance_fraction"]}
    log(verdict)
    entry = report_file.backend_entry(result, {**_summary(csim_out), "vs_keras": close}, drops, headline)
    recommendations = recommend_precisions(result.overflow)
    report = report_file.assemble(options.name, "conversion", len(x), {reference_name: _summary(reference.outputs)},
                                  result.overflow, {backend: entry}, limits, None, reference=reference_name,
                                  recommended_precisions=recommendations)
    interface.write(result.project, result.ports, entry["figures"], verdict)
    out_dir = Path(out_dir)
    report_file.write(out_dir, report)
    if quantized:
        csim_scatter(out_dir / "plots" / f"csim_vs_keras_{backend}.png", reference.outputs, csim_out, result.output_type.lsb,
                     backend, result.agreement.exact_fraction)
    write_recommendations(out_dir / "recommended_hls_config.yml", recommendations, result.config_layers, log)
    export(final, projects_root() / options.name / "bundle", regenerate, log)
    return report


def write_recommendations(path: Path, recommendations: dict, layers: list[str], log=print) -> None:
    """The layers that saturated, widened, as an hls4ml config to pass back; the input type is an option instead."""
    input_layer = next(iter(recommendations))  # the audit walks the graph from its Input layer
    changes = {}
    for name, r in recommendations.items():
        if r["action"] == "widen" and name != input_layer:
            changes[name] = {"Precision": {"result": r["recommended"]}}
            if f"{name}_linear" in layers:  # hls4ml keeps a Dense's linear activation once its type is set
                changes[f"{name}_linear"] = {"Precision": {"result": r["recommended"]}}
        if r["action"] == "widen" or (name == input_layer and r["action"] != "keep"):
            log(f"  precision: {name} holds {r['observed'][0]:.4g}..{r['observed'][1]:.4g} in {r['current']} "
                f"({r['saturated']} saturated): {r['action']} to {r['recommended']}"
                + (" (--input-precision)" if name == input_layer else ""))
    write_text(path, RECOMMENDATION_HEADER + yaml.safe_dump({"LayerName": changes}, sort_keys=False))
    if changes:
        log(f"  recommended precisions: {path} (pass it back with --hls-config)")


def _summary(outputs: np.ndarray) -> dict:
    return {"mean": outputs.mean(axis=0).tolist(), "std": outputs.std(axis=0).tolist()}
