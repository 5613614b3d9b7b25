"""The firmware integration bundle: what a trigger-firmware engineer takes to the board.

`trigger export <model>` assembles hls_projects/<model>/bundle/ from a verified HLS project:
the project itself (with a strict testbench), vendor scripts, a valid-in/valid-out HDL
wrapper, test vectors (hls4ml tb_data + packed hex), the emulator library for CMSSW's
hls4mlEmulator loader with a consumer program, the RTL core with a self-checking Verilog
testbench, and a README with the port/bit-layout table and every verdict.
"""

from trigger.bundle.emulator import check_together, consumer, run_consumer
from trigger.bundle.export import export

__all__ = ["check_together", "consumer", "export", "run_consumer"]
