"""The csim harness: build each backend's HLS project, run the test sample through the
compiled C simulation, and hold it against the quantized Keras model (0 LSB), the float
model (task metrics), the fixed-point ranges (overflow) and the budget.

Writes hls_projects/<model>/<backend>/ (atomically, per backend) and
models/<model>/metrics.json + plots/.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

import trigger.keras2  # noqa: F401
from trigger import budget as budget_mod
from trigger import score_weights
from trigger.atomic import atomic_dir, remove_stale, write_text
from trigger.bundle import interface, testbench
from trigger.data.preprocess import Preprocessing
from trigger.data.reader import feature_names
from trigger.errors import TriggerError
from trigger.firmware import convert, finish_project, project_dir, require_gxx, synthesize
from trigger.fixed import FixedType
from trigger.models import firmware_model, float_reference, load_model
from trigger.rtl import flow as rtl_flow
from trigger.rtl.graph import from_hls
from trigger.spec import Spec
from trigger.train import TRAINED, load_test_sample
from trigger.verify import compare as cmp
from trigger.verify import overflow, plots
from trigger.verify.tasks import TASKS


@dataclass
class BackendResult:
    backend: str
    agreement: cmp.Agreement
    output_type: FixedType
    csim_out: np.ndarray
    figures: dict
    synthesis: str
    project: Path
    overflow: dict = field(default_factory=dict)
    estimate: dict = field(default_factory=dict)
    graph_sha256: str | None = None  # of the fixed-point graph (trigger/rtl): ties an RTL twin to this project


def verify(spec: Spec, backends: list[str] | None = None, log=print) -> dict:
    """Run the harness for every backend; write and return metrics.json."""
    require_gxx()
    backends = backends or spec.firmware.backends
    trained = spec.model_dir / TRAINED
    quantized = load_model(trained, "model")
    float_model = load_model(trained, "float_model")
    pre = Preprocessing.load(trained / "preprocessing.json")
    features = feature_names(spec.data.features)
    if pre.features != features:
        raise TriggerError(f"{trained}: trained on features {pre.features}, spec lists {features}; retrain")
    sample = load_test_sample(trained)
    x = pre.apply(sample.x, f"{trained / 'test_sample.npz'}")
    limits = budget_mod.load_budget(spec.model_dir / "budget.yml")
    task = TASKS[spec.task](spec, trained, quantized, float_model, pre)

    weights = score_weights.load_pair(spec, trained, features)
    firmware = firmware_model(spec, quantized, weights["quantized"])
    keras_layers = cmp.keras_layer_outputs(firmware, x)
    keras_out = keras_layers[firmware.layers[-1].name].reshape(len(x), -1)
    float_out = float_reference(spec, float_model, x, weights["float"])
    inputs_true = pre.scaled(sample.x)

    twin = rtl_flow.load_report(spec.model_dir)  # the RTL twin's rtl.json, if `trigger rtl` ran
    results = []
    for backend in backends:
        t0 = time.time()
        result = _run_backend(spec, backend, firmware, x, keras_out, keras_layers, inputs_true, task, twin)
        log(f"{cmp.describe(result.agreement, backend)}  [{time.time() - t0:.0f} s]  {result.synthesis}")
        results.append(result)

    metrics = {"float": task.evaluate(float_out, sample, "float"), "quantized": task.evaluate(keras_out, sample, "quantized")}
    report = _report(spec, sample, metrics, results, limits, task)
    rtl_flow.apply(report, twin, limits)
    plot_dir = spec.model_dir / "plots"
    task.plots(plot_dir, sample, {"float": float_out, "quantized": keras_out, "csim": results[0].csim_out}, results[0].backend)
    for r in results:
        plots.csim_scatter(plot_dir / f"csim_vs_keras_{r.backend}.png", keras_out, r.csim_out, r.output_type.lsb,
                           r.backend, r.agreement.exact_fraction)
    write_text(spec.model_dir / "metrics.json", json.dumps(report, indent=1) + "\n")
    return report


def _run_backend(spec, backend, firmware, x, keras_out, keras_layers, inputs_true, task, twin: dict | None) -> BackendResult:
    final = project_dir(spec, backend)
    remove_stale(final.parent)
    with atomic_dir(final) as tmp:
        hls_model = convert(spec, firmware, backend, tmp)
        csim_out, output_type, agreement = run_csim(hls_model, x, keras_out, keras_layers)
        output = hls_model.get_output_variables()[0]
        audit = overflow.audit(hls_model, keras_layers, inputs_true)
        estimate = budget_mod.estimate(hls_model, spec.firmware.clock_period_ns, spec.firmware.reuse_factor)
        graph_sha256 = _graph_sha256(hls_model, spec.name)
        figures = budget_mod.best(estimate, rtl_flow.figures_for(twin, graph_sha256))
        task.write_firmware_files(tmp, output_type, output.type.name)
        write_test_vectors(tmp, x, csim_out)
        ports = interface.describe(hls_model, task.input_meanings(), task.output_meanings(csim_out.shape[1]), len(x), spec.name)
        testbench.write(tmp, ports)
        finish_project(tmp, final)
    synth = synthesize(final, backend, spec.name)
    if synth.report is not None:
        figures = budget_mod.best(figures, budget_mod.vivado_figures(synth.report))
    interface.write(final, ports, figures, cmp.describe(agreement, backend))
    return BackendResult(backend, agreement, output_type, csim_out, figures, synth.message, final, audit, estimate, graph_sha256)


def _graph_sha256(hls_model, name: str) -> str | None:
    try:
        return from_hls(hls_model, name).fingerprint()
    except TriggerError:  # a layer the RTL twin does not cover: no twin can stand for this project
        return None


def run_csim(hls_model, x: np.ndarray, keras_out: np.ndarray, keras_layers: dict, trace: bool = True) -> tuple[np.ndarray, FixedType, cmp.Agreement]:
    """Compile and run the C simulation; compare with Keras in LSBs and, on a difference, find the first
    diverging layer (`trace`; pointless against a float model, which differs everywhere)."""
    hls_model.compile()
    csim_out = np.asarray(hls_model.predict(np.ascontiguousarray(x)), np.float64).reshape(len(x), -1)
    output_type = FixedType.of(hls_model.get_output_variables()[0].type.precision)
    agreement, bad = cmp.compare(keras_out, csim_out, output_type)
    if len(bad) and trace:
        traced = bad[:200]  # tracing recompiles and runs event by event: a sample of the failures suffices
        _, trace = hls_model.trace(np.ascontiguousarray(x[traced]))
        types = {layer.name: FixedType.of(layer.get_output_variable().type.precision) for layer in hls_model.get_layers()}
        layer, lsb = cmp.first_divergence({k: v[traced] for k, v in keras_layers.items()}, trace, types)
        agreement.first_diverging_layer, agreement.layer_lsb_diff = layer or "output only", lsb
    return csim_out, output_type, agreement


def write_test_vectors(directory: Path, x: np.ndarray, csim_out: np.ndarray) -> None:
    """hls4ml's tb_data files: the test sample's firmware inputs and the csim outputs, one event per line."""
    tb = directory / "tb_data"
    tb.mkdir(exist_ok=True)
    for name, values in (("tb_input_features.dat", x), ("tb_output_predictions.dat", csim_out)):
        np.savetxt(tb / name, np.asarray(values, np.float64).reshape(len(values), -1), fmt="%.17g")


def _report(spec: Spec, sample, metrics: dict, results: list[BackendResult], limits: dict, task) -> dict:
    backends = {}
    for r in results:
        csim_metrics = task.evaluate(r.csim_out, sample, "csim")
        drops = task.drops(metrics["float"], csim_metrics)
        backends[r.backend] = {
            "csim": r.agreement.as_dict(r.backend, r.output_type),
            "metrics": csim_metrics,
            "headline": {"metric": task.metric, "float": task.headline(metrics["float"]), "csim": task.headline(csim_metrics)},
            "budget": budget_mod.evaluate(r.figures, drops, limits),
            "figures": r.figures,
            "estimate": r.estimate,
            "graph_sha256": r.graph_sha256,
            "metric_drops": drops,
            "synthesis": r.synthesis,
            "project": str(r.project),
        }
    primary = backends[results[0].backend]
    return {
        "model": spec.name,
        "task": spec.task,
        "events": int(len(sample.y)),
        "csim": primary["csim"],
        "metrics": {**metrics, "csim": primary["metrics"]},
        "overflow": results[0].overflow,
        "budget": primary["budget"],
        "backends": backends,
        "provenance": {
            "spec_sha256": hashlib.sha256(spec.path.read_bytes()).hexdigest() if spec.path else None,
            "versions": {p: metadata.version(p) for p in ("hls4ml", "qkeras", "tensorflow", "tf-keras")},
            "estimate_method": "trigger.budget docstring (analytic; not a synthesis result)",
        },
    }


def load_metrics(model_dir: Path) -> dict:
    path = Path(model_dir) / "metrics.json"
    if not path.is_file():
        raise TriggerError(f"{path}: no metrics yet; run `make synth` (or `trigger synth {Path(model_dir).name}`)")
    return json.loads(path.read_text())
