"""The bundle's alternative core, rtl/: the RTL twin (da4ml Verilog of the same fixed-point graph,
bit-exact with the csim) behind the L1 port map of the HLS core's wrapper, with a self-checking
Verilog testbench on the bundle's hex vectors.

The testbench is what a firmware engineer re-runs in their own simulator. It holds the core to
the port protocol, not only to the data: after a reset, every event back to back (II = 1), then
the first GAP_EVENTS again with random gaps (random data while in_valid is low); each result
must come out exactly LATENCY clocks after the edge that took its event, with out_valid low in
every other cycle. It ends with a PASS or FAIL line, and a FAIL is a non-zero exit ($fatal).
Icarus takes milliseconds per clock on a big twin, hence the shorter second phase and
`+events=N` (the first N events only; the verdict says how many).
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from trigger.emulate import Emulator
from trigger.errors import TriggerError
from trigger.firmware import read_test_vectors
from trigger.fixed import FixedType
from trigger.rtl import Bus, build
from trigger.verify import compare

SCRIPT = "run_testbench.sh"
REPORTED_MISMATCHES = 10  # printed in full by the testbench; the rest are counted
GAP_EVENTS = 1000  # events replayed with random gaps


def port_bus(port: dict) -> Bus:
    """The packed layout of an interface.json port (the hex vectors')."""
    return Bus.of_type(FixedType(port["width"], port["integer"], port["signed"]), port["count"])


def write(directory: Path, graph, project: Path, ports: dict) -> tuple[int | None, str | None]:
    """rtl/src (the twin's Verilog, <top>_rtl the top module), rtl/tb_<top>.v and rtl/run_testbench.sh, for the
    project's `graph`: (the pipeline depth = the latency in clocks, None), or (None, why there is no RTL core). The
    twin is built only from a graph whose emulation equals the project's csim on every test event, and its ports
    must be exactly the HLS core's."""
    top = ports["top"]
    if graph is None:
        return None, "the fixed-point graph cannot represent this project's layers"
    if graph.name != top:
        raise TriggerError(f"RTL core: the graph is of '{graph.name}', the project's top function is '{top}'")
    x, csim = read_test_vectors(project, top)
    agreement, _ = compare(csim, Emulator(graph)(x), graph.output.result)
    if agreement.exact_fraction != 1.0:
        return None, (f"the fixed-point graph it would be built from differs from the csim on "
                      f"{agreement.events - agreement.exact_events} of {agreement.events} test events (up to "
                      f"{agreement.max_lsb_diff} LSB): it would not be this core")
    with tempfile.TemporaryDirectory() as scratch:
        try:
            twin = build(graph, Path(scratch), ports["part"], ports["clock_ns"])
        except TriggerError as e:
            return None, f"da4ml cannot build it: {e}"
        for kind, bus in (("input", twin.inputs), ("output", twin.outputs)):
            if bus != port_bus(ports[kind]):
                raise TriggerError(f"RTL core of {top}: its {kind} bus {bus} differs from interface.json's "
                                   f"{ports[kind]['type']} x {ports[kind]['count']}; regenerate with `trigger synth`")
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(scratch) / "src", directory / "src")
    (directory / f"tb_{top}.v").write_text(testbench(ports, twin.depth))
    script = directory / SCRIPT
    script.write_text(run_script(top))
    script.chmod(0o755)
    return twin.depth, None


def check(directory: Path, events: int | None = None) -> str:
    """Run the testbench with Icarus (run_testbench.sh) on all test events, or the first `events`; returns its verdict
    line; a FAIL is an error."""
    script = directory / SCRIPT
    if not (shutil.which("iverilog") and shutil.which("vvp")):
        return f"not run: no iverilog/vvp on PATH (apt-get install iverilog); run `{script}` where they are"
    proc = subprocess.run(["sh", str(script), *([f"+events={events}"] if events else [])], capture_output=True, text=True)
    shutil.rmtree(directory / "build", ignore_errors=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    verdict = next((line for line in reversed(lines) if line.startswith(("PASS", "FAIL"))), None)
    if proc.returncode != 0 or verdict is None or not verdict.startswith("PASS"):
        first = next((line for line in lines if line.startswith(("MISMATCH", "FAIL", "ERROR")) or "error" in line),
                     lines[-1] if lines else "no output")
        raise TriggerError(f"{script}: the RTL core testbench failed (exit {proc.returncode}): {first}")
    return verdict


def testbench(ports: dict, latency: int) -> str:
    top, inp, out = ports["top"], port_bus(ports["input"]), port_bus(ports["output"])
    events, half = ports["test_events"], ports["clock_ns"] / 2
    element = (f"$signed(out_data[j * OUT_W +: OUT_W])", f"$signed(expected[taken][j * OUT_W +: OUT_W])") if out.signed[0] else \
        (f"{{1'b0, out_data[j * OUT_W +: OUT_W]}}", f"{{1'b0, expected[taken][j * OUT_W +: OUT_W]}}")
    return f"""`timescale 1 ns / 1 ps
// tb_{top}: self-checking testbench of the RTL core {top}_rtl on the bundle's test vectors.
// Generated by `trigger export`; do not edit. Run ./run_testbench.sh (Icarus), or in any simulator:
// compile src/**/*.v and this file, top module tb_{top}, and run from src/memfiles (da4ml's lookup
// tables are read by bare name). +inputs=<hex> +outputs=<hex> name other vector files.
//
// After 4 clocks of reset: the {events} events back to back, then the first {GAP_EVENTS} again with random
// gaps (random in_data while in_valid is low). Each result must equal the expected word bit for bit
// and come out exactly LATENCY clocks after the edge that took its event; out_valid must be low in
// every other cycle. Ends with PASS (exit 0) or FAIL ($fatal: non-zero exit). +events=N: the first
// N events only.
`ifndef DUT
`define DUT {top}_rtl
`endif
module tb_{top};
    localparam integer EVENTS = {events};
    localparam integer IN_BITS = {inp.bits};
    localparam integer OUT_BITS = {out.bits}, OUT_W = {out.width}, OUT_N = {out.n};
    localparam integer LATENCY = {latency};  // clocks from the edge that takes in_valid to out_valid
    localparam real HALF_PERIOD = {half:g};  // ns ({ports['clock_ns']:g} ns clock)

    reg clk = 1'b0;
    reg rst = 1'b1;
    reg in_valid = 1'b0;
    reg [IN_BITS - 1:0] in_data = {{IN_BITS{{1'b0}}}};
    wire out_valid;
    wire [OUT_BITS - 1:0] out_data;
    `DUT dut (.clk(clk), .rst(rst), .in_valid(in_valid), .in_data(in_data), .out_valid(out_valid), .out_data(out_data));
    always #(HALF_PERIOD) clk = ~clk;

    reg [IN_BITS - 1:0] inputs [0:EVENTS - 1];
    reg [OUT_BITS - 1:0] expected [0:EVENTS - 1];
    reg [8 * 1024 - 1:0] input_file, output_file;
    reg [8 * 16 - 1:0] phase;
    integer in_flight [0:LATENCY];  // the event taken at each of the last LATENCY + 1 edges; -1: none
    integer events = EVENTS, gap_events, cycle = 0, checked = 0, errors = 0, seed = 1, e, i;

    function [IN_BITS - 1:0] noise(input integer unused);  // random data for the cycles without an event
        integer k;
        reg [IN_BITS + 31:0] word;
        begin
            for (k = 0; k < IN_BITS; k = k + 32) word[k +: 32] = $random(seed);
            noise = word[IN_BITS - 1:0];
        end
    endfunction

    task check;  // just after an edge: out_valid/out_data against the event taken LATENCY edges ago
        integer taken, j, first, lsb;
        reg signed [OUT_W + 1:0] got, want;
        begin
            taken = in_flight[LATENCY];
            if (out_valid !== (taken >= 0)) begin
                errors = errors + 1;
                if (errors <= {REPORTED_MISMATCHES})
                    $display("MISMATCH cycle %0d (%0s): out_valid = %b where %0s", cycle, phase, out_valid,
                             taken >= 0 ? "a result is due" : "none is due");
            end else if (taken >= 0) begin
                checked = checked + 1;
                if (out_data !== expected[taken]) begin
                    for (j = OUT_N - 1; j >= 0; j = j - 1) begin  // the lowest differing element is reported
                        got = {element[0]};
                        want = {element[1]};
                        if (got !== want) begin
                            first = j;
                            lsb = got > want ? got - want : want - got;
                        end
                    end
                    errors = errors + 1;
                    if (errors <= {REPORTED_MISMATCHES})
                        $display("MISMATCH event %0d (%0s) output %0d: got %h, expected %h (%0d LSB apart)", taken, phase,
                                 first, out_data[first * OUT_W +: OUT_W], expected[taken][first * OUT_W +: OUT_W], lsb);
                end
            end
        end
    endtask

    task step(input integer index);  // present event `index` (-1: none) and clock it in, then check the outputs
        begin
            in_valid = index >= 0;
            in_data = index >= 0 ? inputs[index] : noise(0);
            @(posedge clk);
            for (i = LATENCY; i > 0; i = i - 1) in_flight[i] = rst ? -1 : in_flight[i - 1];
            in_flight[0] = (rst || !in_valid) ? -1 : index;
            cycle = cycle + 1;
            #(HALF_PERIOD / 2) check;
        end
    endtask

    function integer lines(input [8 * 1024 - 1:0] path);  // lines in a file; -1: it cannot be opened
        integer fd;
        reg [8 * 8192 - 1:0] line;
        begin
            fd = $fopen(path, "r");
            lines = fd == 0 ? -1 : 0;
            if (fd != 0) begin
                while ($fgets(line, fd)) lines = lines + 1;
                $fclose(fd);
            end
        end
    endfunction

    task fail(input [8 * 300 - 1:0] why);
        begin
            $display("FAIL: tb_{top}: %0s", why);
            $fatal(1);
        end
    endtask

    task bad_vectors(input [8 * 1024 - 1:0] path, input integer found);
        begin
            if (found < 0) $display("FAIL: tb_{top}: %0s: cannot be opened; give the vectors with +inputs=/+outputs=", path);
            else $display("FAIL: tb_{top}: %0s: %0d lines; the vectors are EVENTS = %0d lines (events) of hex words", path,
                          found, EVENTS);
            $fatal(1);
        end
    endtask

    initial begin
        if (!$value$plusargs("inputs=%s", input_file)) input_file = "../../../vectors/{top}_inputs.hex";
        if (!$value$plusargs("outputs=%s", output_file)) output_file = "../../../vectors/{top}_outputs.hex";
        if (lines(input_file) != EVENTS) bad_vectors(input_file, lines(input_file));
        if (lines(output_file) != EVENTS) bad_vectors(output_file, lines(output_file));
        $readmemh(input_file, inputs, 0, EVENTS - 1);
        $readmemh(output_file, expected, 0, EVENTS - 1);
        if (^inputs[EVENTS - 1] === 1'bx || ^expected[EVENTS - 1] === 1'bx) fail("the vectors hold digits that are not hex");
        if ($value$plusargs("events=%d", events) && (events < 1 || events > EVENTS)) fail("+events must be 1 to {events}");
        gap_events = events < {GAP_EVENTS} ? events : {GAP_EVENTS};
        for (i = 0; i <= LATENCY; i = i + 1) in_flight[i] = -1;

        phase = "reset";
        repeat (4) step(-1);
        rst = 1'b0;
        phase = "back to back";
        for (e = 0; e < events; e = e + 1) step(e);
        phase = "random gaps";
        e = 0;
        while (e < gap_events) begin
            if ({{$random(seed)}} % 3 == 0) step(-1);
            else begin
                step(e);
                e = e + 1;
            end
        end
        phase = "drain";
        repeat (LATENCY + 4) step(-1);

        if (errors != 0 || checked != events + gap_events) begin
            $display("FAIL: tb_{top}: %0d mismatches; %0d of %0d results checked", errors, checked, events + gap_events);
            $fatal(1);
        end
        $display("PASS: tb_{top}: %0d/%0d results bit-exact (%0d of the %0d test events back to back, then %0d with random gaps), each %0d clocks after its in_valid; out_valid low in every other cycle",
                 checked, events + gap_events, events, EVENTS, gap_events, LATENCY);
        $finish;
    end
endmodule
"""


def run_script(top: str) -> str:
    return f"""#!/bin/sh
# Compile and run tb_{top}.v with Icarus Verilog (iverilog 11 or newer); exit 0 on PASS, non-zero on FAIL.
# usage: rtl/run_testbench.sh [+events=N] [+inputs=<hex>] [+outputs=<hex>]
#   default: every event of the bundle's vectors/{top}_inputs.hex and vectors/{top}_outputs.hex
# Generated by `trigger export`; do not edit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for arg in "$@"; do  # the simulation runs in src/memfiles: vector paths are made absolute
    shift
    case "$arg" in
        +inputs=*|+outputs=*) set -- "$@" "${{arg%%=*}}=$(realpath "${{arg#*=}}")" ;;
        *) set -- "$@" "$arg" ;;
    esac
done
build="$here/build"
rm -rf "$build" && mkdir -p "$build"
# da4ml's lookup_table.v carries a parameter-dependent rom_style attribute that Icarus cannot parse;
# attributes carry no function, so the simulation compiles copies without them.
find "$here/src" -name '*.v' | sort | while read -r source; do
    perl -0pe 's/\\(\\*.*?\\*\\)//gs' "$source" > "$build/$(echo "${{source#$here/src/}}" | tr / _)"
done
iverilog -g2012 -s tb_{top} -o "$build/tb.vvp" "$build"/*.v "$here/tb_{top}.v"
cd "$here/src/memfiles"
vvp -n "$build/tb.vvp" "$@"
"""
