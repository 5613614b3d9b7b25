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

import trigger.keras2  # noqa: F401
from trigger.errors import ToolMissing, TriggerError
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
    for name, override in fw.layers.items():
        if name not in layers:
            raise TriggerError(f"firmware.layers.{name}: no such layer in the model (layers: {', '.join(layers)})")
        _merge(layers[name], override)
    return config


def _merge(base: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
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
    )


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
