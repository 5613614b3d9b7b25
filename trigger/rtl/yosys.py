"""Resources of the RTL twin from yosys `synth_xilinx`, and a pre-route timing estimate.

The cell counts are measured (label `rtl`, with the yosys version): LUT = LUT1..LUT6 + INV
(yosys keeps inverters as cells; Vivado folds them into LUTs, so this errs high) + SRL
shift registers; FF = FDRE/FDSE/FDCE/FDPE; CARRY = the carry cells yosys emits (yosys 0.23
maps UltraScale+ carry chains to CARRY4, which Vivado packs two to a CARRY8); DSP = DSP48E*;
BRAM in 18 Kb units (a RAMB36 counts 2), as HLS reports them.

Timing is NOT measured: no place and route happens here. `ltp` gives the longest chain of
cells between registers; its delay is estimated as LUT_NS per LUT/MUX cell (logic + a
typical net) and CARRY_NS per carry-chain hop, UltraScale+ -2 ballpark figures. It is
labelled `estimate` everywhere it appears.
"""

import re
import subprocess
from collections import Counter
from pathlib import Path

from trigger.errors import TriggerError, require
from trigger.rtl.simulate import memfiles, run_tool, without_attributes

FAMILIES = {"xcvu": "xcup", "xcku": "xcup", "xczu": "xcup", "xcau": "xcup", "xc7": "xc7"}
LUT_NS = 0.5
CARRY_NS = 0.1


def require_yosys() -> str:
    return require("yosys", install="apt-get install yosys, or run `make rtl`, which installs it")[0]


def version() -> str:
    out = subprocess.run([require_yosys(), "-V"], capture_output=True, text=True).stdout.strip()
    return out.split(" (")[0]


def family(part: str) -> str:
    """synth_xilinx's -family for an AMD part number (UltraScale+ parts carry 'p' in the name)."""
    part = part.lower()
    if part.startswith(("xcvu", "xcku")) and "p" not in part[4:8]:
        return "xcu"
    for prefix, fam in FAMILIES.items():
        if part.startswith(prefix):
            return fam
    raise TriggerError(f"firmware.part '{part}': no yosys synth_xilinx family known for it (UltraScale(+), 7-series)")


def synthesize(rtl_dir: Path, top: str, part: str) -> dict:
    """Run synth_xilinx on every Verilog file of the twin; return cell counts and the timing estimate."""
    yosys = require_yosys()
    src = rtl_dir / "src"
    (rtl_dir / "yosys").mkdir(exist_ok=True)
    sources = [without_attributes(p, rtl_dir / "yosys") for p in sorted(src.glob("*.v")) + sorted(src.glob("static/*.v"))]
    script = "\n".join([
        "# run from src/memfiles: da4ml's lookup tables are read by bare file name",
        # -defer: a library module the design does not use (lookup_table) is never elaborated
        f"read_verilog -defer -sv {' '.join(f'../../{p.relative_to(rtl_dir)}' for p in sources)}",
        f"synth_xilinx -family {family(part)} -top {top} -flatten -noiopad",
        "tee -q -o ../../yosys_stat.txt stat",
        "tee -q -o ../../yosys_ltp.txt ltp -noff t:FD* t:SRL* %u %n",  # registers cut the paths
    ]) + "\n"
    (rtl_dir / "synth.ys").write_text(script)
    run_tool([yosys, "-q", "-l", "../../yosys.log", "../../synth.ys"], memfiles(rtl_dir), "yosys (see yosys.log)")
    cells = parse_cells((rtl_dir / "yosys_stat.txt").read_text())
    path = parse_path((rtl_dir / "yosys_ltp.txt").read_text())
    return {"cells": dict(cells), **resources(cells), "path": path}


def parse_cells(stat: str) -> Counter:
    cells: Counter = Counter()
    section = stat.split("Number of cells:")[-1]
    for name, count in re.findall(r"^\s+(\w+)\s+(\d+)\s*$", section, re.M):
        cells[name] += int(count)
    return cells


def resources(cells: Counter) -> dict:
    def total(pattern: str) -> int:
        return sum(n for name, n in cells.items() if re.fullmatch(pattern, name))

    return {
        "lut": total(r"LUT[1-6]|INV|SRL16E|SRLC32E"),
        "ff": total(r"FD[RSCP]E"),
        "carry": total(r"CARRY[48]"),
        "dsp": total(r"DSP48E\d?"),
        "bram": total(r"RAMB18E\d?") + 2 * total(r"RAMB36E\d?"),
    }


def parse_path(ltp: str) -> dict:
    """The longest register-to-register (or port) path: its cells, and their estimated delay."""
    vias = re.findall(r"\(via ([^)]*)\)", ltp)
    carry = sum("carry" in v.lower() for v in vias)
    logic = len(vias) - carry
    return {"cells": len(vias), "carry_hops": carry, "logic_cells": logic,
            "delay_ns": round(logic * LUT_NS + carry * CARRY_NS, 2)}
