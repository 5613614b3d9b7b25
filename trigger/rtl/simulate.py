"""Cycle-by-cycle simulation of the RTL twin with Icarus Verilog, and what it measures.

The testbench feeds one event per clock (back to back, in_valid high), then idles, and logs
out_valid and the output bus after every rising edge. Latency and II are then read off the
log, not assumed: the latency is the one clock offset at which the logged outputs equal the
expected outputs of every event, and feeding events back to back at that offset proves
II = 1. The valid chain of the wrapper must agree with the data.
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger.errors import TriggerError, require
from trigger.rtl.ports import Bus

SLACK_CYCLES = 32  # the testbench idles depth + this after the last event, and searches that far for the latency


def require_iverilog() -> list[str]:
    return require("iverilog", "vvp", install="apt-get install iverilog, or run `make rtl`, which installs it")


def _testbench(name: str, events: int, inputs: Bus, outputs: Bus, idle: int) -> str:
    cycles = events + idle
    return f"""`timescale 1 ns / 1 ps
module tb;
    reg clk = 1'b0;
    reg in_valid = 1'b0;
    reg [{inputs.bits - 1}:0] in_data = {inputs.bits}'b0;
    wire out_valid;
    wire [{outputs.bits - 1}:0] out_data;
    reg [{inputs.bits - 1}:0] vectors [0:{events - 1}];
    integer cycle, log;
    {name}_rtl dut (.clk(clk), .rst(1'b0), .in_valid(in_valid), .in_data(in_data), .out_valid(out_valid), .out_data(out_data));
    initial begin
        $readmemh("../../sim/inputs.hex", vectors);  // run from src/memfiles (see memfiles())
        log = $fopen("../../sim/outputs.log", "w");
        for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin
            in_valid = cycle < {events};
            in_data = cycle < {events} ? vectors[cycle] : {inputs.bits}'b0;
            #1 clk = 1'b1;
            #1 $fdisplay(log, "%0d %b %h", cycle, out_valid, out_data);
            clk = 1'b0;
        end
        $fclose(log);
        $finish;
    end
endmodule
"""


@dataclass
class Waveform:
    """What the simulation logged after each rising edge."""

    valid: np.ndarray  # (cycles,) bool
    words: list[str]  # (cycles,) hex output bus


def run(rtl_dir: Path, name: str, x: np.ndarray, inputs: Bus, outputs: Bus, idle: int) -> Waveform:
    """Compile the twin + testbench with iverilog and run it on the events `x` (on the input grid),
    then `idle` more clocks."""
    iverilog, vvp = require_iverilog()
    sim = rtl_dir / "sim"
    sim.mkdir(exist_ok=True)
    (sim / "inputs.hex").write_text("\n".join(inputs.pack(x)) + "\n")
    (sim / "tb.v").write_text(_testbench(name, len(x), inputs, outputs, idle))
    sources = [without_attributes(p, sim).relative_to(rtl_dir) for p in sorted((rtl_dir / "src").rglob("*.v"))]
    run_tool([iverilog, "-g2012", "-o", "sim/tb.vvp", "-s", "tb", "sim/tb.v", *sources], rtl_dir, "iverilog")
    run_tool([vvp, "-n", "../../sim/tb.vvp"], memfiles(rtl_dir), "vvp")
    valid, words = [], []
    for line in (sim / "outputs.log").read_text().splitlines():
        _, v, word = line.split()
        valid.append(v == "1")
        words.append(word)
    return Waveform(np.array(valid), words)


def without_attributes(source: Path, directory: Path) -> Path:
    """lookup_table.v's parameter-dependent rom_style attribute is beyond Icarus (syntax) and
    yosys 0.23 (no mapping): they get a copy without attributes, which carry no function."""
    text = source.read_text()
    if "(*" not in text:
        return source
    copy = directory / f"plain_{source.name}"
    copy.write_text(re.sub(r"\(\*.*?\*\)", "", text, flags=re.S))
    return copy


def memfiles(rtl_dir: Path) -> Path:
    """Where da4ml's lookup tables are: their $readmemh names are bare, so tools run from here."""
    path = rtl_dir / "src" / "memfiles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_tool(cmd: list[str], cwd: Path, what: str) -> None:
    """Run an external tool; a failure is a one-line error with the tail of its output."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise TriggerError(f"{what} failed in {cwd}: {' | '.join(tail)}")


@dataclass
class Timing:
    latency_cycles: int | None  # data offset at which every event's output matched (None: none did)
    valid_latency_cycles: int | None  # first out_valid after the first in_valid
    ii_cycles: int | None  # 1 when back-to-back events all came out right
    mismatches: int  # output elements that differ at the best offset
    bad_events: int  # events with at least one differing output
    first_mismatch: dict | None  # event, output, got, expected, lsb difference
    events: int


def measure(wave: Waveform, expected: np.ndarray, outputs: Bus, lsb: float) -> Timing:
    """Latency from the data: the offset L with got[e + L] == expected[e] for the most elements;
    differences are counted in `lsb`, the LSB of the firmware output type."""
    expected = np.asarray(expected, np.float64).reshape(len(expected), -1)
    n = len(expected)
    got = np.array([[np.nan if v is None else v for v in outputs.unpack(w)] for w in wave.words])
    best, best_bad = 0, None
    for offset in range(0, len(got) - n + 1):
        bad = ~(got[offset:offset + n] == expected)
        if best_bad is None or bad.sum() < best_bad.sum():
            best, best_bad = offset, bad
        if not bad.any():
            break
    mismatches = int(best_bad.sum())
    first = None
    if mismatches:
        e, j = map(int, np.argwhere(best_bad)[0])
        g = got[best + e, j]
        first = {"event": e, "output": j, "got": None if np.isnan(g) else float(g), "expected": float(expected[e, j]),
                 "lsb_diff": None if np.isnan(g) else int(round(abs(g - expected[e, j]) / lsb))}
    valid_at = np.flatnonzero(wave.valid)
    exact = mismatches == 0
    return Timing(best if exact else None, int(valid_at[0]) if len(valid_at) else None, 1 if exact else None,
                  mismatches, int(best_bad.any(axis=1).sum()), first, n)
