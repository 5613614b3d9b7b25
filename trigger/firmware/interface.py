"""The firmware interface of an HLS project, written as interface.json beside it.

Everything a firmware engineer needs to wire the io_parallel core, in one place: the top
function, each port's C type and fixed-point type, where every element sits in the
packed word, what it means physically, and the timing/resource figures with their
source. It is taken from the hls4ml model objects at synth time, so the bundle never has
to re-run the conversion; a test holds it against the generated C++ signature.
"""

import math
from pathlib import Path

from trigger.atomic import read_json, write_json
from trigger.errors import TriggerError
from trigger.fixed import FixedType

FILE = "interface.json"


def port(variable, meanings: list[tuple[str, str]]) -> dict:
    """One top-level array port: names, types and the packed layout (element i at bits [W*i+W-1 : W*i])."""
    precision = variable.type.precision
    ftype = FixedType.of(precision)
    count = math.prod(int(dim) for dim in variable.shape)
    if len(meanings) != count:
        raise TriggerError(f"port '{variable.name}': {count} elements but {len(meanings)} descriptions")
    return {"name": variable.name, "c_type": variable.type.name, "type": precision.definition_cpp(), "width": ftype.width,
            "integer": ftype.integer, "signed": ftype.signed, "count": count,
            "elements": [{"index": i, "bits": [ftype.width * i + ftype.width - 1, ftype.width * i], "meaning": m, "unit": u}
                         for i, (m, u) in enumerate(meanings)]}


def describe(hls_model, input_meanings, output_meanings, events: int, project: str) -> dict:
    """The project's ports; `write` adds the figures and the verification line, known after synthesis."""
    inputs, outputs = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(inputs) != 1 or len(outputs) != 1:
        raise TriggerError(f"{project}: {len(inputs)} input and {len(outputs)} output arrays; the bundle supports one of each")
    value = hls_model.config.get_config_value
    return {"top": project, "backend": value("Backend"), "part": value("Part"), "clock_ns": float(value("ClockPeriod")),
            "io_type": value("IOType"), "input": port(inputs[0], input_meanings), "output": port(outputs[0], output_meanings),
            "test_events": int(events)}


def write(directory: Path, ports: dict, figures: dict[str, dict], verification: str) -> None:
    """`figures` per core: {"hls": the HLS core's (vivado or estimate), "rtl": the RTL twin's (rtl; {} if not built)}."""
    write_json(Path(directory) / FILE, {**ports, "figures": figures, "verification": verification})


def load(directory: Path) -> dict:
    return read_json(Path(directory) / FILE, "missing; regenerate the project with `trigger synth` (or `trigger convert`)")
