"""The firmware integration bundle: what a trigger-firmware engineer takes to the board.

`trigger export <model>` assembles hls_projects/<model>/bundle/ from a verified HLS project:
the project itself (with a strict testbench), vendor scripts, a valid-in/valid-out HDL
wrapper, test vectors (hls4ml tb_data + packed hex), an emulator shared library with a
dlopen test program, and a README with the port/bit-layout table.
"""

from trigger.bundle.export import export

__all__ = ["export"]
