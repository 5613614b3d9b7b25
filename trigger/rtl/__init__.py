"""The RTL twin: the firmware's fixed-point graph as da4ml Verilog, simulated with Icarus against the
csim (0 LSB, latency and II from the data) and synthesised with yosys; models/<name>/rtl.json."""

from trigger.rtl.flow import run

__all__ = ["run"]
