"""`trigger convert`: a user's Keras/QKeras model through the same firmware path, harness, report and bundle.

The sample is rounded into the firmware input type (saturation is an error unless
--saturation clip) and fed to Keras and to the C simulation. What counts as verified:
- a QKeras model: csim == Keras at 0 LSB on every event; with a final softmax (kept), up to
  the softmax's input (the logits, traced on every event), and the softmax, a lookup-table
  approximation, within the tolerance, with its argmax agreement and largest probability
  difference reported; --strip-softmax converts up to the logits (0 LSB throughout);
- a float model: csim within the tolerance of Keras on every event (absolute, or a percentage
  of each output's range on the sample), the first layer that exceeds it named otherwise; the
  overflow audit recommends precisions (an hls4ml config to pass back with --hls-config).
Anything else is a failed verification, and the command exits 1. Writes
hls_projects/<name>/<backend>/, hls_projects/<name>/bundle/ and <out>/metrics.json.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger.bundle import export
from trigger.convert.inputs import UserModel
from trigger.convert.precisions import recommend, softmax_types, write_recommendations
from trigger.data import Preprocessing
from trigger.errors import TriggerError
from trigger.figures import best
from trigger.firmware import FirmwareProject, Settings, interface, projects_root, require_gxx
from trigger.report import load_budget
from trigger.report import metrics as report_file
from trigger.spec import FirmwareSpec, InputSpec, check_emulator_name, default_emulator_name
from trigger.verify import Reference, csim_scatter, describe, run

LARGE_MODEL = 20_000  # weights: above this, g++ takes minutes per build of an io_parallel Latency project
CPP_KEYWORDS = {"and", "auto", "bool", "break", "case", "catch", "char", "class", "const", "continue", "default", "delete",
                "do", "double", "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
                "if", "inline", "int", "long", "namespace", "new", "not", "operator", "or", "private", "protected", "public",
                "register", "return", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this",
                "throw", "true", "try", "typedef", "union", "unsigned", "using", "virtual", "void", "volatile", "while"}


@dataclass
class ConvertOptions:
    """Settings of a conversion; the firmware and input defaults are those of a model spec."""

    name: str
    backend: str = "Vitis"
    part: str = FirmwareSpec.part
    clock_ns: float = FirmwareSpec.clock_period_ns
    input_precision: str = InputSpec.precision
    saturation: str = InputSpec.saturation
    tolerance: str = "0.05"  # |csim - Keras| allowed: output units, or "<p>%" of each output's range on the sample
    events: int = 6000
    strip_softmax: bool = False
    emulator_name: str | None = None  # <Model>_v<N> of the emulator library (default: from the name)


def tolerance_of(text: str):
    """`tolerance(reference)`, the allowed |difference| for an array of reference values."""
    text = str(text).strip()
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = -1.0
    if value < 0:
        raise TriggerError(f"--tolerance {text!r}: give a non-negative number (output units) or a percentage, e.g. 2%")
    if text.endswith("%"):
        return lambda ref: value / 100 * (np.ptp(ref, axis=0) if np.ndim(ref) > 1 else np.ptp(ref))
    return lambda ref: value


def closeness(reference: np.ndarray, csim: np.ndarray, tolerance, text: str) -> dict:
    """How close csim is to Keras: events within the tolerance on every output, the differences, R² and argmax."""
    diff = np.abs(csim - reference)
    spread = ((reference - reference.mean(axis=0)) ** 2).sum(axis=0)
    defined = spread > 1e-12 * len(reference)
    out = {"tolerance": text if text.endswith("%") else float(text), "within_tolerance_fraction": float(np.all(diff <= tolerance(reference), axis=1).mean()),
           "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
           "r2_vs_keras": [float(1 - (d**2).sum() / s) if ok else None for d, s, ok in zip(diff.T, spread, defined)]}
    if not defined.all():
        out["r2_note"] = "undefined (null) where the Keras output is constant on the sample"
    if reference.shape[1] > 1:
        out["argmax_agreement"] = float((csim.argmax(axis=1) == reference.argmax(axis=1)).mean())
    return out


def convert(user: UserModel, raw_x: np.ndarray, features: list[str], units: dict, options: ConvertOptions, hls_config: dict,
            budget: Path | None, out_dir: Path, regenerate: str = "trigger convert", log=print) -> dict:
    """Project, csim harness, metrics.json and bundle for a user model; returns the report, whose `verification`
    says whether the firmware computes what the model computes."""
    require_gxx()
    if not options.name.isidentifier() or options.name in CPP_KEYWORDS:
        raise TriggerError(f"project name {options.name!r} is not a C++ identifier (it names the top function); give --name")
    emulator_name = check_emulator_name(options.emulator_name or default_emulator_name(options.name), "--emulator-name")
    limits = load_budget(budget, ("max_lsb_diff",) if user.quantized else ("max_abs_diff", "outside_tolerance"),
                         required=True) if budget else {}
    tolerance = tolerance_of(options.tolerance)
    firmware = Settings(options.name, hls_config.get("Backend", options.backend), hls_config.get("Part", options.part),
                        hls_config.get("ClockPeriod", options.clock_ns), options.input_precision, options.input_precision,
                        hls_config=hls_config.get("HLSConfig", {}))
    pre = Preprocessing(features, [0] * len(features), options.input_precision, options.saturation)
    raw = raw_x[: options.events]
    x = pre.apply(raw, "input sample", remedy="use --saturation clip or a wider --input-precision")
    reference = Reference.of(user.model, x, pre.scaled(raw), probe=user.probe)
    exact_layer = _announce(user, log)
    n_outputs = reference.outputs.shape[1]

    def head(layers: dict, model) -> None:
        if user.softmax:
            layers[user.softmax].update(softmax_types(n_outputs))
            log(f"  softmax types: {', '.join(f'{k} {v}' for k, v in softmax_types(n_outputs).items())} "
                f"(a --hls-config entry for '{user.softmax}' wins)")

    def meanings(n: int):
        return ([(name, units.get(name, "as the sample")) for name in features],
                [(f"output {j} of {options.name}", "as the model") for j in range(n)])

    final = projects_root() / options.name / firmware.backend
    log(f"  converting with hls4ml, compiling the firmware once with g++ and running the csim on {len(x)} events ...")
    t0 = time.time()
    result = run(lambda d: FirmwareProject(user.model, firmware, d, head), final, reference, lambda project: {}, meanings,
                 trace=True, exact_layer=exact_layer if user.quantized else None,
                 tolerance=None if user.quantized else tolerance)
    log(f"  converted, compiled and run in {time.time() - t0:.0f} s; writing the bundle (testbench and emulator checks) ...")
    close = closeness(reference.outputs, result.csim_out, tolerance, str(options.tolerance).strip())
    verification = _verdict(user, result, close, exact_layer)
    drops = ({"max_lsb_diff": float(result.agreement.max_lsb_diff)} if user.quantized else
             {"max_abs_diff": close["max_abs_diff"], "outside_tolerance": 1 - close["within_tolerance_fraction"]})
    headline = ({"metric": "events bit-exact", "float": 1.0, "csim": result.agreement.exact_fraction} if user.quantized else
                {"metric": f"within {options.tolerance}", "float": 1.0, "csim": close["within_tolerance_fraction"]})
    csim_block = {**_summary(result.csim_out), "vs_keras": close}
    entry = report_file.backend_entry(result, csim_block, drops, headline)
    if exact_layer:
        entry["csim"]["checked_layer"] = exact_layer
    recommendations = recommend(result.overflow)
    report = report_file.assemble(options.name, "conversion", len(x), {"quantized" if user.quantized else "float":
                                  _summary(reference.outputs)}, result.overflow, {result.backend: entry}, limits, None,
                                  reference="quantized" if user.quantized else "float", verification=verification,
                                  layers={"skipped_at_inference": user.skipped, "softmax": user.softmax,
                                         "stripped_softmax": user.stripped},
                                  recommended_precisions=recommendations)
    interface.write(result.project, {**result.ports, "agreement": verification["agreement"]},
                    {"hls": best(result.estimate, result.vivado), "rtl": {}}, verification["line"])
    out_dir = Path(out_dir)
    report_file.write(out_dir, report)
    csim_scatter(out_dir / "plots" / f"csim_vs_keras_{result.backend}.png", reference.outputs, result.csim_out,
                 result.output_type.lsb, result.backend, result.agreement.exact_fraction)
    write_recommendations(out_dir / "recommended_hls_config.yml", recommendations, result.config_layers, log)
    export(final, projects_root() / options.name / "bundle", regenerate, emulator_name, lambda: result.graph, log)
    return report


def _announce(user: UserModel, log) -> str | None:
    """Say what was skipped, what happens to a softmax, and how big the work is; the layer checked bit for bit
    before a kept softmax (None: the output)."""
    if user.skipped:
        log(f"  skipped (identities at inference): {', '.join(user.skipped)}")
    if user.stripped:
        log(f"  softmax '{user.stripped}' stripped (--strip-softmax): the firmware outputs the logits")
    exact_layer = None
    if user.softmax:
        names = [layer.name for layer in user.probe.layers]
        exact_layer = names[names.index(user.softmax) - 1]
        log(f"  softmax '{user.softmax}' found: hls4ml computes it with lookup tables, so it is checked within the tolerance "
            f"(argmax agreement, largest probability difference); '{exact_layer}' before it"
            + (" bit for bit" if user.quantized else "") + ". --strip-softmax converts up to the logits")
    weights = sum(int(np.prod(w.shape)) for w in user.model.get_weights())
    if weights > LARGE_MODEL:
        log(f"  {weights} weights: every g++ build of this io_parallel project takes minutes (and Vivado more); "
            "consider Strategy: Resource or a ReuseFactor > 1 in --hls-config")
    return exact_layer


def _verdict(user: UserModel, result, close: dict, exact_layer: str | None) -> dict:
    """PASS/FAIL of the verification and one line saying what was checked, and what the bundle may claim."""
    a, backend = result.agreement, result.backend
    extra = ", ".join(f"{k.replace('_', ' ')} {close[k]:.4g}" for k in ("argmax_agreement",) if k in close)
    r2 = [r for r in close["r2_vs_keras"] if r is not None]
    extra += (", " if extra else "") + (f"R² ≥ {min(r2):.4g}" if r2 else "R² undefined")
    softmax = f"softmax within {close['tolerance']} on {close['within_tolerance_fraction']:.2%} (max |Δp| {close['max_abs_diff']:.3g}, {extra})"
    if user.quantized:
        exact = a.exact_events == a.events
        passed = exact and (not user.softmax or close["within_tolerance_fraction"] == 1.0)
        line = describe(a, backend) + (f" up to '{exact_layer}'; {softmax}" if exact_layer else "")
        agreement = "bit-exact with the quantized model" + (f" up to '{exact_layer}'; the softmax within "
                                                             f"{close['tolerance']}" if exact_layer else "")
    else:
        passed = close["within_tolerance_fraction"] == 1.0
        where = f"; first layer beyond the tolerance: {a.first_diverging_layer}" if not passed and a.first_diverging_layer else ""
        line = (f"{backend}: csim within {close['tolerance']} of float Keras on {close['within_tolerance_fraction']:.2%} of "
                f"{a.events} events (max |diff| {close['max_abs_diff']:.4g}, {extra}){where}; float models are not bit-exact")
        agreement = (f"compared with the float Keras model: within {close['tolerance']} on "
                     f"{close['within_tolerance_fraction']:.2%} of the events; not bit-exact")
    return {"pass": passed, "line": line, "agreement": agreement}


def _summary(outputs: np.ndarray) -> dict:
    return {"mean": outputs.mean(axis=0).tolist(), "std": outputs.std(axis=0).tolist()}
