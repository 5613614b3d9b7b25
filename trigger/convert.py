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

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

import trigger.keras2  # noqa: F401
from trigger import budget as budget_mod
from trigger.atomic import atomic_dir, remove_stale, write_text
from trigger.bundle import interface, testbench
from trigger.bundle.export import export
from trigger.data.preprocess import Preprocessing
from trigger.errors import TriggerError
from trigger.firmware import finish_project, merge_config, projects_root, require_gxx, synthesize
from trigger.fixed import FixedType
from trigger.keras2 import keras
from trigger.spec import FirmwareSpec, InputSpec
from trigger.verify import compare as cmp
from trigger.verify import overflow, plots
from trigger.verify.harness import run_csim, write_test_vectors

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
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
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
    from trigger.data.reader import feature_names, read_columns
    from trigger.spec import load_mapping

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
    from trigger.spec import read_yaml

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


def hls_config(model, options: ConvertOptions, user: dict) -> dict:
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=options.backend,
                                                  default_precision=options.input_precision)
    first = next(iter(config["LayerName"]))
    config["LayerName"][first]["Precision"]["result"] = options.input_precision
    for layer in config["LayerName"].values():
        layer["Trace"] = True  # csim-only: lets the harness name the first diverging layer
    merge_config(config, copy.deepcopy(user.get("HLSConfig", {})))
    return config


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
        frac = current.width - current.integer
        kind = "ap_fixed" if current.signed else "ap_ufixed"
        action = "widen" if need > current.integer else "narrow" if need < current.integer else "keep"
        out[name] = {"current": str(current), "recommended": f"{kind}<{need + frac},{need}>", "action": action,
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


def convert(model, raw_x: np.ndarray, feature_names: list[str], units: dict, options: ConvertOptions, user_config: dict,
            limits: dict, out_dir: Path, regenerate: str = "trigger convert", log=print) -> dict:
    """Project, csim harness, metrics.json and bundle for a user model; returns the report."""
    import hls4ml

    require_gxx()
    check_convertible(model)
    quantized = is_quantized(model)
    reference = "quantized" if quantized else "float"
    backend = user_config.get("Backend", options.backend)
    pre = Preprocessing(feature_names, [0] * len(feature_names), options.input_precision, options.saturation)
    x = pre.apply(raw_x[: options.events], "input sample")
    probe = layer_probe(model)
    keras_layers = cmp.keras_layer_outputs(probe, x)
    keras_out = np.asarray(model.predict(x, batch_size=4096, verbose=0), np.float64).reshape(len(x), -1)

    final = projects_root() / options.name / backend
    remove_stale(final.parent)
    with atomic_dir(final) as tmp:
        config = hls_config(model, options, user_config)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=config,
            output_dir=str(tmp), project_name=options.name, backend=backend, io_type="io_parallel",
            part=user_config.get("Part", options.part), clock_period=user_config.get("ClockPeriod", options.clock_ns),
            write_weights_txt=False)
        in_type = FixedType.of(hls_model.get_input_variables()[0].type.precision)
        if in_type != FixedType.parse(options.input_precision):
            raise TriggerError(f"hls4ml config: input type {in_type} differs from --input-precision {options.input_precision}; use one")
        csim_out, output_type, agreement = run_csim(hls_model, x, keras_out, keras_layers, trace=quantized)
        audit = overflow.audit(hls_model, keras_layers, pre.scaled(raw_x[: options.events]))
        figures = budget_mod.estimate(hls_model, float(hls_model.config.get_config_value("ClockPeriod")), 1)
        write_test_vectors(tmp, x, csim_out)
        meanings_in = [(name, units.get(name, "as the sample")) for name in feature_names]
        meanings_out = [(f"output {j} of {options.name}", "as the model") for j in range(csim_out.shape[1])]
        ports = interface.describe(hls_model, meanings_in, meanings_out, len(x), options.name)
        testbench.write(tmp, ports)
        finish_project(tmp, final)
    synth = synthesize(final, backend, options.name)
    if synth.report is not None:
        figures = budget_mod.best(figures, budget_mod.vivado_figures(synth.report))

    csim_block = agreement.as_dict(backend, output_type)
    close = tolerance_metrics(keras_out, csim_out, options.tolerance)
    if quantized:
        verdict = cmp.describe(agreement, backend)
        drops = {"max_lsb_diff": float(agreement.max_lsb_diff)}
    else:
        verdict = (f"{backend}: csim within {options.tolerance:g} of float Keras on {close['within_tolerance_fraction']:.2%} of "
                   f"{len(x)} events (max |diff| {close['max_abs_diff']:.4g}); float models are not bit-exact")
        drops = {"max_abs_diff": close["max_abs_diff"], "outside_tolerance": 1 - close["within_tolerance_fraction"]}
    interface.write(final, ports, figures, verdict)
    log(verdict)
    recommendations = recommend_precisions(audit)
    report = {
        "model": options.name, "task": "conversion", "reference": reference, "events": int(len(x)),
        "csim": csim_block,
        "metrics": {reference: _summary(keras_out), "csim": {**_summary(csim_out), "vs_keras": close}},
        "overflow": audit,
        "recommended_precisions": recommendations,
        "budget": budget_mod.evaluate(figures, drops, limits),
        "figures": figures, "metric_drops": drops, "synthesis": synth.message, "project": str(final),
    }
    out_dir = Path(out_dir)
    write_text(out_dir / "metrics.json", json.dumps(report, indent=1) + "\n")
    if quantized:
        plots.csim_scatter(out_dir / "plots" / f"csim_vs_keras_{backend}.png", keras_out, csim_out, output_type.lsb, backend,
                           agreement.exact_fraction)
    write_recommendations(out_dir / "recommended_hls_config.yml", recommendations, config["LayerName"], log)
    export(final, projects_root() / options.name / "bundle", regenerate, log)
    return report


def write_recommendations(path: Path, recommendations: dict, layers: dict, log=print) -> None:
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
