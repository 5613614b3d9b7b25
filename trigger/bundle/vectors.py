"""Test vectors as packed hex words, one event per line, for link-level pattern files.

Each port's elements are two's-complement integers in LSB units, packed little-end first:
element i occupies bits [W*i+W-1 : W*i] of the word (the layout of an ARRAY_RESHAPE'd
io_parallel port and of the wrapper's in_data/out_data). A line is the whole word in
hex, most significant digit first, zero-padded to ceil(W*N/4) digits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trigger.atomic import write_text
from trigger.errors import TriggerError


def to_raw(values: np.ndarray, port: dict, source: str) -> np.ndarray:
    """Fixed-point values -> integers in LSB units; a value off the grid or out of range is an error."""
    frac = port["width"] - port["integer"]
    scaled = np.asarray(values, np.float64) * 2.0**frac
    raw = np.round(scaled)
    lo = -(2 ** (port["width"] - 1)) if port["signed"] else 0
    hi = (2 ** (port["width"] - 1) if port["signed"] else 2 ** port["width"]) - 1
    if np.any(raw != scaled) or np.any(raw < lo) or np.any(raw > hi):
        raise TriggerError(f"{source}: values are not all {port['type']} values; regenerate the project (`trigger synth`)")
    return raw.astype(np.int64)


def pack(raw: np.ndarray, width: int) -> list[str]:
    """One hex word per event (rows of `raw`), element 0 in the least significant bits."""
    mask = (1 << width) - 1
    digits = -(-raw.shape[1] * width // 4)
    lines = []
    for row in raw.tolist():
        word = 0
        for i, value in enumerate(row):
            word |= (value & mask) << (width * i)
        lines.append(f"{word:0{digits}x}")
    return lines


def unpack(line: str, width: int, count: int, signed: bool) -> list[int]:
    word, mask = int(line, 16), (1 << width) - 1
    values = [(word >> (width * i)) & mask for i in range(count)]
    return [v - (1 << width) if signed and v >> (width - 1) else v for v in values]


def write_hex(project: Path, directory: Path, ports: dict) -> dict[str, Path]:
    """<top>_inputs.hex and <top>_outputs.hex from the project's tb_data (the csim outputs)."""
    written = {}
    for kind, dat in (("input", "tb_input_features.dat"), ("output", "tb_output_predictions.dat")):
        source = Path(project) / "tb_data" / dat
        values = np.loadtxt(source, ndmin=2)
        raw = to_raw(values, ports[kind], str(source))
        path = Path(directory) / f"{ports['top']}_{kind}s.hex"
        write_text(path, "\n".join(pack(raw, ports[kind]["width"])) + "\n")
        written[kind] = path
    return written
