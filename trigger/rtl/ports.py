"""The L1 port map that both cores present, and the packed bus layouts behind it.

A firmware engineer wires one module: clk, rst, in_valid/in_data in, out_valid/out_data out,
element i of a bus of W-bit elements at bits [W*i+W-1 : W*i], in the HLS core's port types.
The HLS core gets it from bundle/wrapper/<top>_l1_wrapper.v; the RTL twin from
<name>_rtl.v, written here. The twin's own buses (da4ml's) are as narrow as its interval
analysis allows, so the twin's module re-packs them into the HLS layout: the two cores are
interchangeable, and the twin is simulated through the same port map it ships with.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger import fixed
from trigger.errors import TriggerError
from trigger.fixed import FixedType


@dataclass(frozen=True)
class Bus:
    """A uniform bus of `n` elements, `width` bits each, LSB worth 2^-frac; element 0 in the low bits."""

    n: int
    width: int
    frac: int
    signed: tuple[bool, ...]

    @classmethod
    def of(cls, qints) -> "Bus":
        """The layout da4ml's <name>_wrapper gives a list of element intervals."""
        from da4ml.types import minimal_kif

        kifs = [minimal_kif(q) for q in qints]
        integer = max(i for _, i, _ in kifs) + max(k for k, _, _ in kifs)
        frac = max(f for _, _, f in kifs)
        return cls(len(kifs), integer + frac, frac, tuple(bool(k) for k, _, _ in kifs))

    @classmethod
    def of_type(cls, fmt: FixedType, n: int) -> "Bus":
        """The layout of an HLS io_parallel port of `n` elements of `fmt` (and of the hex vectors)."""
        return cls(n, fmt.width, fmt.frac, (fmt.signed,) * n)

    @property
    def bits(self) -> int:
        return self.n * self.width

    def pack(self, values: np.ndarray) -> list[str]:
        """One hex word per event (values already on the grid and in range)."""
        return fixed.pack(np.rint(np.asarray(values, np.float64) * 2.0**self.frac).astype(np.int64), self.width)

    def unpack(self, word: str) -> list[float | None]:
        """Element values of one logged hex word; None where a bit is x or z."""
        if any(c in "xXzZ" for c in word):
            return [None] * self.n
        return [raw * 2.0**-self.frac for raw in fixed.unpack(word, self.width, self.n, self.signed)]


def port_list(in_bits: int, out_bits: int) -> str:
    """The ports of an L1 wrapper, whichever core is inside."""
    return f"""    input  wire                 clk,        // the core clock
    input  wire                 rst,        // synchronous, active high
    input  wire                 in_valid,   // in_data holds an event
    input  wire [{in_bits - 1}:0]  in_data,    // packed inputs
    output wire                 out_valid,  // out_data holds a result
    output wire [{out_bits - 1}:0]  out_data    // packed outputs"""


def repack(source: Bus, target: Bus, source_name: str, target_name: str) -> list[str]:
    """Verilog that moves every element of `source` into the layout of `target` without changing its value:
    sign- (or zero-) extended, shifted left onto the target's finer grid, cut to the target's width (exact for the
    values the target type holds). A coarser target grid would drop bits: refused."""
    if target.n != source.n or target.frac < source.frac:
        raise TriggerError(f"cannot re-pack {source_name} ({source.n} x {source.width} bits, LSB 2^-{source.frac}) into "
                           f"{target_name} ({target.n} x {target.width} bits, LSB 2^-{target.frac}) without losing bits")
    if source == target:
        return [f"    assign {target_name} = {source_name};"]
    shift = target.frac - source.frac
    pad = max(0, target.width - source.width - shift)
    lines = []
    for j in range(source.n):
        element = f"{source_name}[{source.width * j + source.width - 1}:{source.width * j}]"
        sign = f"{source_name}[{source.width * j + source.width - 1}]" if source.signed[j] else "1'b0"
        parts = ([f"{{{pad}{{{sign}}}}}"] if pad else []) + [element] + ([f"{shift}'b0"] if shift else [])
        wide = f"{target_name}_{j}"
        lines.append(f"    wire [{pad + source.width + shift - 1}:0] {wide} = {{{', '.join(parts)}}};")
        lines.append(f"    assign {target_name}[{target.width * j + target.width - 1}:{target.width * j}] = "
                     f"{wide}[{target.width - 1}:0];")
    return lines


def write_twin_wrapper(rtl_dir: Path, name: str, depth: int, port_in: Bus, port_out: Bus, core_in: Bus,
                       core_out: Bus) -> Path:
    """src/<name>_rtl.v: the da4ml pipeline behind the L1 port map. The pipeline registers its input and each of its
    `depth` stages, so out_valid is in_valid `depth` clocks later; rst clears the valid chain (the data needs none)."""
    body = "\n".join([*repack(port_in, core_in, "in_data", "core_in"), *repack(core_out, port_out, "core_out", "out_data")])
    path = rtl_dir / "src" / f"{name}_rtl.v"
    path.write_text(f"""`timescale 1 ns / 1 ps
// {name}_rtl: the RTL twin of {name} (da4ml) behind the L1 port map of the HLS core's {name}_l1_wrapper:
// the same ports and the same bit layout, so either core can be wired in. Generated by trigger; do not edit.
//   in_data : {port_in.n} x {port_in.width} bits, element i at [{port_in.width}*i+{port_in.width - 1}:{port_in.width}*i], LSB = 2^-{port_in.frac}
//   out_data: {port_out.n} x {port_out.width} bits, element j at [{port_out.width}*j+{port_out.width - 1}:{port_out.width}*j], LSB = 2^-{port_out.frac}
//   a new event on every clock (II = 1, never stalls); out_valid/out_data {depth} clocks after the edge that
//   takes in_valid/in_data; rst clears the valid chain only (results in flight are dropped).
module {name}_rtl (
{port_list(port_in.bits, port_out.bits)}
);
    wire [{core_in.bits - 1}:0] core_in;    // da4ml's layout: {core_in.n} x {core_in.width} bits, LSB = 2^-{core_in.frac}
    wire [{core_out.bits - 1}:0] core_out;  // {core_out.n} x {core_out.width} bits, LSB = 2^-{core_out.frac}
{body}

    reg [{depth}:0] valid = {depth + 1}'b0;
    always @(posedge clk) valid <= rst ? {depth + 1}'b0 : {{valid[{depth - 1}:0], in_valid}};
    assign out_valid = valid[{depth}];
    {name}_wrapper core (.clk(clk), .model_inp(core_in), .model_out(core_out));
endmodule
""")
    return path
