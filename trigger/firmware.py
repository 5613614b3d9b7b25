"""Firmware stage: hls4ml configuration from the spec, and the HLS project on disk.

Precisions: weights, biases and activations come from the QKeras quantizers; every
accumulator and Dense result is 'auto' (hls4ml infers a width that holds the exact
sum), so the firmware computes exactly what the quantized Keras model computes. The
input type is the spec's `input.precision`. Per-layer overrides from `firmware.layers`
are merged last, so a user can trade exactness for area knowingly.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import trigger.keras2  # noqa: F401
from trigger.errors import ToolMissing, TriggerError
from trigger.fixed import FixedType
from trigger.models import INPUT_NAME
from trigger.spec import Spec

SCRIPTS = Path(__file__).resolve().parent.parent / "vivado_scripts"
VENDOR_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}


def projects_root() -> Path:
    return Path(os.environ.get("TRIGGER_HLS_PROJECTS", "hls_projects"))


def project_dir(spec: Spec, backend: str) -> Path:
    return projects_root() / spec.name / backend


def require_gxx() -> str:
    path = shutil.which("g++")
    if path is None:
        raise ToolMissing("g++ not found on PATH; install it (apt-get install g++) to compile the HLS C simulation")
    return path


def hls_config(spec: Spec, model, backend: str) -> dict:
    import hls4ml

    fw = spec.firmware
    config = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend=backend,
        default_precision=fw.default_precision, default_reuse_factor=fw.reuse_factor,
    )
    config["Model"]["Strategy"] = fw.strategy
    config["Model"]["ReuseFactor"] = fw.reuse_factor
    layers = config["LayerName"]
    layers[INPUT_NAME]["Precision"]["result"] = spec.input.precision
    for name, layer in layers.items():
        layer["Trace"] = True  # csim-only (guarded by __SYNTHESIS__): lets the harness find a diverging layer
        layer["ReuseFactor"] = fw.reuse_factor
    _exact_score_head(layers, model)
    for name, override in fw.layers.items():
        if name not in layers:
            raise TriggerError(f"firmware.layers.{name}: no such layer in the model (layers: {', '.join(layers)})")
        merge_config(layers[name], override)
    return config


def _exact_score_head(layers: dict, model) -> None:
    """Autoencoder specifics, so that firmware == quantized Keras bit for bit.

    - A QDense `X` followed by its quantizer `X_q` (latent, reconstruction): hls4ml may drop
      the quantizer, so X's result type (and that of its implicit linear activation) is set
      to the quantizer's, with its rounding and saturation, which makes the drop harmless.
    - The residual/square merges are exact ('auto'), and the score sum uses the exact type of
      its power-of-two weights, accumulating exactly.
    """
    for name in list(layers):
        if name.endswith("_q") and name[:-2] in layers:
            quantized = layers[name]["Precision"]["result"]
            layers[name[:-2]]["Precision"]["result"] = quantized
            if f"{name[:-2]}_linear" in layers:  # the Dense's implicit linear activation: keep it an identity
                layers[f"{name[:-2]}_linear"]["Precision"]["result"] = quantized
    for name in ("residual", "squared"):
        if name in layers:
            layers[name]["Precision"] = {"result": "auto"}
    if "score" in layers:
        exponents = np.log2(model.get_layer("score").get_weights()[0])
        lo, hi = int(exponents.min()), int(exponents.max())
        layers["score"]["Precision"] = {"weight": f"ap_ufixed<{hi - lo + 1},{hi + 1}>", "bias": "ap_ufixed<1,1>",
                                        "result": "auto", "accum": "auto"}


def merge_config(base: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def convert(spec: Spec, model, backend: str, output_dir: Path):
    """The hls4ml ModelGraph for one backend, configured from the spec (not yet written)."""
    import hls4ml

    fw = spec.firmware
    return hls4ml.converters.convert_from_keras_model(
        model,
        hls_config=hls_config(spec, model, backend),
        output_dir=str(output_dir),
        project_name=spec.name,
        backend=backend,
        io_type=fw.io_type,
        part=fw.part,
        clock_period=fw.clock_period_ns,
        write_weights_txt=False,  # weights compiled in: the project (and the emulator library) is relocatable
    )


def firmware_output_type(spec: Spec, model) -> FixedType:
    """The fixed-point type of the firmware output, as hls4ml infers it (conversion only, nothing written)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        hls_model = convert(spec, model, spec.firmware.backends[0], Path(tmp) / "probe")
        return FixedType.of(hls_model.get_output_variables()[0].type.precision)


def write_threshold_header(directory: Path, spec: Spec, threshold: dict, score_type: FixedType, type_name: str) -> Path:
    """The trigger bit as a C++ constant + decision function next to the HLS top function."""
    raw = threshold["value"] / score_type.lsb
    if raw != round(raw) or not score_type.lo <= threshold["value"] <= score_type.hi:
        raise TriggerError(
            f"models/{spec.name}/trained/threshold.json: threshold {threshold['value']} is not a value of the "
            f"firmware score type {score_type}; retrain (`trigger train {spec.name}`) after changing firmware settings"
        )
    guard = f"{spec.name.upper()}_THRESHOLD_H_"
    text = f"""// Trigger bit of {spec.name}: fire when score > threshold.
// Generated by `trigger synth` from models/{spec.name}/trained/threshold.json; do not edit.
// Threshold = {int(raw)} LSB of {score_type}; background FPR {threshold['fpr_achieved']:.3e}
// (target {threshold['fpr_target']:.3e}) on {threshold['background_events']} held-out background events.
#ifndef {guard}
#define {guard}
#include "defines.h"

static const {type_name} {spec.name.upper()}_THRESHOLD = {threshold['value']!r};

inline bool {spec.name}_trigger_bit(const {type_name} &score) {{ return score > {spec.name.upper()}_THRESHOLD; }}

#endif
"""
    path = Path(directory) / "firmware" / f"{spec.name}_threshold.h"
    path.write_text(text)
    return path


def write_units_header(directory: Path, spec: Spec, output_type: FixedType, type_name: str) -> Path:
    """What the regressor's output bits mean: GeV = output << shift, and which output is which."""
    r = spec.regression
    name = spec.name.upper()
    outputs = "\n".join(f"//   [{i}] {target}: {branch}" for i, (target, branch) in enumerate(r.target_map.items()))
    text = f"""// Units of the {spec.name} outputs. Generated by `trigger synth` from models/{spec.name}/spec.yml; do not edit.
// The outputs are {output_type} (rounded to nearest, saturating); GeV = output * 2^{r.output_shift},
// i.e. shift the value left by {r.output_shift} bits: 1 LSB = {output_type.lsb * r.gev_per_unit:g} GeV,
// range {output_type.lo * r.gev_per_unit:g} .. {output_type.hi * r.gev_per_unit:g} GeV.
// Outputs (regression.targets):
{outputs}
#ifndef {name}_UNITS_H_
#define {name}_UNITS_H_
#include <cmath>

#include "defines.h"

static const int {name}_OUTPUT_SHIFT = {r.output_shift};
static const int {name}_N_OUTPUTS = {len(r.target_map)};

// An output in GeV, for testbenches and monitoring (the shift is free in fabric).
inline double {spec.name}_to_gev(const {type_name} &value) {{ return std::ldexp(value.to_double(), {name}_OUTPUT_SHIFT); }}

#endif
"""
    path = Path(directory) / "firmware" / f"{spec.name}_units.h"
    path.write_text(text)
    return path


def finish_project(directory: Path, final: Path) -> None:
    """Make a freshly written project self-contained: our scripts in, build products out."""
    for so in directory.glob("firmware/*.so"):
        so.unlink()
    config = directory / "hls4ml_config.yml"
    if config.exists():  # hls4ml records the temporary output directory; point it at the final one
        config.write_text(config.read_text().replace(str(directory), str(final)))
    target = directory / "vivado_scripts"
    target.mkdir(exist_ok=True)
    for script in SCRIPTS.iterdir():
        if script.is_file():
            shutil.copy2(script, target / script.name)


@dataclass
class SynthesisResult:
    ran: bool
    message: str
    report: Path | None = None


def synthesize(directory: Path, backend: str, project: str) -> SynthesisResult:
    """Run C synthesis + IP export with the vendor tool when it is on PATH; otherwise say it was skipped."""
    tool = VENDOR_TOOLS[backend]
    if shutil.which(tool) is None:
        return SynthesisResult(False, f"synthesis skipped: no Vivado/Vitis on PATH ({tool} not found)")
    log = directory / "vivado_scripts" / "synth.log"
    with open(log, "w") as out:
        proc = subprocess.run(["bash", str(directory / "vivado_scripts" / "run_hls.sh"), str(directory), backend],
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise TriggerError(f"{directory}: {tool} synthesis failed (exit {proc.returncode}); see {log}")
    report = find_csynth_report(directory, project)
    return SynthesisResult(True, f"synthesised with {tool}", report)


def find_csynth_report(directory: Path, project: str) -> Path | None:
    """The top-level csynth report that Vivado HLS / Vitis HLS leave in the project, if any."""
    report = Path(directory) / f"{project}_prj" / "solution1" / "syn" / "report" / f"{project}_csynth.xml"
    return report if report.is_file() else None
