"""The RTL twin: the firmware's fixed-point graph as da4ml Verilog, simulated with Icarus against the
csim (0 LSB, latency and II from the data) and synthesised with yosys; models/<name>/rtl.json.
The bundle ships the same twin (`build`) behind the L1 port map (`port_list`) as its RTL core."""

from trigger.rtl.flow import build, da4ml_cost, run
from trigger.rtl.ports import Bus, port_list

__all__ = ["Bus", "build", "da4ml_cost", "port_list", "run"]
