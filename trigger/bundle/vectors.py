"""Test vectors as packed hex words, one event per line, for link-level pattern files.

Each port's elements are two's-complement integers in LSB units, packed little-end first:
element i occupies bits [W*i+W-1 : W*i] of the word (the layout of an ARRAY_RESHAPE'd
io_parallel port and of the wrapper's in_data/out_data). A line is the whole word in
hex, most significant digit first, zero-padded to ceil(W*N/4) digits.
"""

from pathlib import Path

import numpy as np

from trigger.atomic import write_text
from trigger.fixed import FixedType, pack, to_raw


def write_hex(project: Path, directory: Path, ports: dict) -> dict[str, Path]:
    """<top>_inputs.hex and <top>_outputs.hex from the project's tb_data (the csim outputs)."""
    written = {}
    for kind, dat in (("input", "tb_input_features.dat"), ("output", "tb_output_predictions.dat")):
        source = Path(project) / "tb_data" / dat
        values = np.loadtxt(source, ndmin=2)
        port = ports[kind]
        raw = to_raw(values, FixedType(port["width"], port["integer"], port["signed"]), str(source))
        path = Path(directory) / f"{ports['top']}_{kind}s.hex"
        write_text(path, "\n".join(pack(raw, port["width"])) + "\n")
        written[kind] = path
    return written
