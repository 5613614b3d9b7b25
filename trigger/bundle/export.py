"""`trigger export`: assemble hls_projects/<model>/bundle/ from a verified HLS project.

The bundle is the project itself plus what integration needs (see trigger/bundle/__init__).
Before it is moved into place the bundle checks itself: the strict HLS testbench, the emulator
library loaded as CMSSW loads it, and the RTL core's Verilog testbench must each reproduce the
test vectors bit for bit. It is written atomically, so an interrupted export leaves the previous
bundle intact.
"""

import shutil
import subprocess
from pathlib import Path

from trigger.atomic import atomic_dir, remove_stale
from trigger.bundle import emulator, readme, rtl_core, vectors, wrapper
from trigger.errors import TriggerError
from trigger.firmware import interface, testbench

BUILD_PRODUCTS = ("*.so", "*_prj", "*_tb", "reports", "csim_results.log")
VENDOR_TOOLS = ("vitis-run", "vitis_hls", "vivado_hls")


def export(project: Path, bundle: Path, regenerate: str, emulator_name: str, graph_of, log=print,
           rtl_events: int | None = None) -> Path:
    """`graph_of()`: the project's fixed-point graph, for the RTL core (None: the graph cannot represent the project,
    and the bundle says it has no RTL core), asked for once the project is found; `rtl_events`: the RTL core's
    testbench runs on the first N test events only."""
    project, bundle = Path(project), Path(bundle)
    if not project.is_dir():
        raise TriggerError(f"{project}: no HLS project; run `trigger synth` for this model first")
    ports = interface.load(project)
    graph = graph_of()
    if graph is not None and ports.get("graph_sha256") != graph.fingerprint():
        raise TriggerError(f"{project}: the project was not written from this model (its graph differs); "
                           f"run `trigger synth` again, then export")
    remove_stale(bundle.parent)
    with atomic_dir(bundle) as tmp:
        shutil.copytree(project, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*BUILD_PRODUCTS))
        vectors.write_hex(tmp, tmp / "vectors", ports)
        wrapper.write(tmp / "wrapper", ports)
        emulator.write(tmp / "emulator", ports, emulator_name)
        checks = {"HLS testbench (g++)": testbench.check(tmp, ports["top"]),
                  "emulator library (CMSSW-style consumer)": emulator.build_and_check(tmp / "emulator")}
        testbench.firmware_object(tmp, ports["top"]).unlink()  # the bundle ships sources
        log("  RTL core: da4ml Verilog, self-checking testbench (Icarus) ...")
        latency, missing = rtl_core.write(tmp / "rtl", graph, tmp, ports)
        checks["RTL core testbench (Icarus)"] = f"no RTL core: {missing}" if missing else rtl_core.check(tmp / "rtl", rtl_events)
        readme.write(tmp, ports, regenerate, checks, emulator_name, latency)
    for name, verdict in checks.items():
        log(f"  {name}: {verdict}")
    log(f"  {vendor_flow(bundle)}")
    return bundle


def vendor_flow(bundle: Path) -> str:
    """Run csim/csynth/cosim/IP export where a vendor tool exists; otherwise say what would run."""
    script = bundle / "vivado_scripts" / "run_export.sh"
    if not any(shutil.which(tool) for tool in VENDOR_TOOLS):
        return f"IP export skipped: no Vivado/Vitis HLS on PATH; where one is, run `{script}`"
    proc = subprocess.run(["bash", str(script), str(bundle)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise TriggerError(f"{script}: vendor flow failed (exit {proc.returncode}); see {bundle / 'vivado_scripts' / 'export.log'}")
    return proc.stdout.strip().splitlines()[-1]
